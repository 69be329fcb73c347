//! The tantivy schema, defined once, with named fields and their boosts.

use tantivy::schema::{
    FAST, FacetOptions, Field, IndexRecordOption, NumericOptions, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
};

/// English text: split on non-alphanumerics, lowercase, stem. `CLOSE_WAIT`
/// becomes `close wait`, so it matches however the engineer types it.
pub const TOKENIZER: &str = "faultline_en";

/// The `kind` of a playbook document.
pub const KIND_PLAYBOOK: &str = "playbook";
/// The `kind` of a postmortem document.
pub const KIND_POSTMORTEM: &str = "postmortem";
/// The fast field scores are multiplied by.
pub const WEIGHT: &str = "weight";

#[derive(Clone, Copy)]
pub struct Fields {
    pub id: Field,
    /// `playbook` or `postmortem`.
    pub kind: Field,
    /// `kind/id`: what an update replaces (a playbook could be called "7").
    pub key: Field,
    /// Multiplies the score: postmortems retell a playbook in an incident's
    /// words and must not push the playbook itself down.
    pub weight: Field,
    pub title: Field,
    /// A playbook's id as words (`crashing-endpoint-refused` →
    /// "crashing endpoint refused"): a short name its authors chose, which
    /// alert names often echo. Searched for alert names only.
    pub name: Field,
    pub alert: Field,
    pub tags_text: Field,
    pub symptoms: Field,
    pub steps: Field,
    pub root_cause: Field,
    pub fix: Field,
    pub prevention: Field,
    /// Every text field together: the source of snippets.
    pub content: Field,
    /// Every word of a playbook with names split as well as whole
    /// (`CrashLoopBackOff` also as "Crash Loop Back Off"): what says whether
    /// a playbook mentions an alert's word at all. Not scored.
    pub words: Field,
    pub tag: Field,
    pub layer: Field,
    pub facet: Field,
}

impl Fields {
    /// Text fields searched, with how much a match in each counts.
    /// Fields an alert name's words are searched in, and their weights:
    /// what a playbook is called and what it arrives as, far above its body
    /// (`content`, which still breaks ties and gives the snippet).
    pub fn alert_boosted(&self) -> [(Field, f32); 6] {
        [
            (self.title, 4.0),
            (self.alert, 3.0),
            (self.name, 3.0),
            (self.tags_text, 2.5),
            (self.symptoms, 0.5),
            (self.content, 0.1),
        ]
    }

    pub fn boosted(&self) -> [(Field, f32); 9] {
        [
            (self.title, 4.0),
            (self.alert, 3.0),
            (self.tags_text, 2.5),
            (self.symptoms, 2.0),
            (self.root_cause, 1.5),
            (self.steps, 1.2),
            (self.fix, 1.0),
            (self.prevention, 0.8),
            (self.content, 0.3),
        ]
    }
}

pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(TOKENIZER)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let stored_text = TextOptions::default()
        .set_indexing_options(indexing.clone())
        .set_stored();
    let text = TextOptions::default().set_indexing_options(indexing);
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        kind: b.add_text_field("kind", STRING | STORED),
        key: b.add_text_field("key", STRING),
        weight: b.add_f64_field(WEIGHT, NumericOptions::default().set_fast()),
        title: b.add_text_field("title", stored_text.clone()),
        name: b.add_text_field("name", text.clone()),
        alert: b.add_text_field("alert", stored_text.clone()),
        tags_text: b.add_text_field("tags_text", text.clone()),
        symptoms: b.add_text_field("symptoms", text.clone()),
        steps: b.add_text_field("steps", text.clone()),
        root_cause: b.add_text_field("root_cause", text.clone()),
        fix: b.add_text_field("fix", text.clone()),
        prevention: b.add_text_field("prevention", text.clone()),
        content: b.add_text_field("content", stored_text),
        words: b.add_text_field("words", text),
        tag: b.add_text_field("tag", STRING | STORED | FAST),
        layer: b.add_text_field("layer", STRING | STORED | FAST),
        facet: b.add_facet_field("facet", FacetOptions::default()),
    };
    (b.build(), fields)
}

pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
}
