//! Full-text search over the playbooks and postmortems with tantivy.
//!
//! The index lives in memory: it is rebuilt from the store at start and kept
//! current on every change, so the store stays the one source of truth. A
//! postmortem's score counts [`POSTMORTEM_WEIGHT`] of a playbook's: it often
//! repeats its playbook's words, and the playbook is what an engineer
//! searching an error needs first.

mod alert;
mod schema;

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use tantivy::collector::{Count, FacetCollector, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Facet, Field, IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::core::markdown::to_plain_text;
use crate::core::playbook::{Playbook, SectionKind};
use crate::core::postmortem::{PmSection, Postmortem};
pub use alert::{ALERT_HITS, AlertMatch, STRONG_RATIO};
use schema::{Fields, KIND_PLAYBOOK, KIND_POSTMORTEM};

/// The longest query accepted, in characters: longer input is pasted logs,
/// not a search, and would only make slow queries.
pub const MAX_QUERY_CHARS: usize = 500;
const WRITER_HEAP: usize = 30_000_000;
/// What a postmortem's score is multiplied by.
pub const POSTMORTEM_WEIGHT: f64 = 0.5;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the search query is empty; type an error message, a counter name or a symptom")]
    EmptyQuery,
    #[error("the search query is too long ({0} characters; at most {MAX_QUERY_CHARS})")]
    QueryTooLong(usize),
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// What to search for.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub text: String,
    pub tag: Option<String>,
    pub layer: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// `playbook` or `postmortem`.
    pub kind: String,
    pub id: String,
    pub title: String,
    pub score: f32,
    /// HTML: escaped text with matched words in `<b>`.
    pub snippet: String,
    pub layer: String,
    pub tags: Vec<String>,
}

impl Hit {
    pub fn is_postmortem(&self) -> bool {
        self.kind == KIND_POSTMORTEM
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct SearchResults {
    pub total: usize,
    pub hits: Vec<Hit>,
    /// Matching playbooks per tag and per layer, before the filters apply
    /// (postmortems have neither).
    pub tags: BTreeMap<String, u64>,
    pub layers: BTreeMap<String, u64>,
}

pub struct SearchIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

impl SearchIndex {
    pub fn new() -> Result<SearchIndex, SearchError> {
        let (schema, fields) = schema::build();
        let index = Index::create_in_ram(schema);
        index
            .tokenizers()
            .register(schema::TOKENIZER, schema::analyzer());
        let writer = index.writer(WRITER_HEAP)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            reader,
            writer: Mutex::new(writer),
            fields,
        })
    }

    /// Replaces every indexed playbook with these (postmortems stay).
    pub fn rebuild<'a>(
        &self,
        playbooks: impl IntoIterator<Item = &'a Playbook>,
    ) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.delete_term(Term::from_field_text(self.fields.kind, KIND_PLAYBOOK));
        for p in playbooks {
            writer.add_document(self.document(p))?;
        }
        self.commit(&mut writer)
    }

    /// Replaces every indexed postmortem with these (playbooks stay).
    pub fn rebuild_postmortems<'a>(
        &self,
        postmortems: impl IntoIterator<Item = &'a Postmortem>,
    ) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.delete_term(Term::from_field_text(self.fields.kind, KIND_POSTMORTEM));
        for p in postmortems {
            writer.add_document(self.postmortem_document(p))?;
        }
        self.commit(&mut writer)
    }

    /// Adds a playbook or replaces the indexed copy of it.
    pub fn upsert(&self, playbook: &Playbook) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.delete_term(self.key(KIND_PLAYBOOK, playbook.id()));
        writer.add_document(self.document(playbook))?;
        self.commit(&mut writer)
    }

    /// Adds a postmortem or replaces the indexed copy of it.
    pub fn upsert_postmortem(&self, postmortem: &Postmortem) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.delete_term(self.key(KIND_POSTMORTEM, &postmortem.meta.id.to_string()));
        writer.add_document(self.postmortem_document(postmortem))?;
        self.commit(&mut writer)
    }

    /// Removes a playbook.
    pub fn remove(&self, id: &str) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.delete_term(self.key(KIND_PLAYBOOK, id));
        self.commit(&mut writer)
    }

    fn key(&self, kind: &str, id: &str) -> Term {
        Term::from_field_text(self.fields.key, &format!("{kind}/{id}"))
    }

    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn commit(&self, writer: &mut IndexWriter) -> Result<(), SearchError> {
        writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// The fields every document has: its id, kind, key and weight.
    fn new_document(&self, kind: &str, id: &str, weight: f64) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, id);
        doc.add_text(f.kind, kind);
        doc.add_text(f.key, format!("{kind}/{id}"));
        doc.add_f64(f.weight, weight);
        doc
    }

    /// A postmortem: its symptoms, investigation, root cause, fix and
    /// prevention in the playbook fields; everything in `content`.
    fn postmortem_document(&self, p: &Postmortem) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = self.new_document(KIND_POSTMORTEM, &p.meta.id.to_string(), POSTMORTEM_WEIGHT);
        doc.add_text(f.title, &p.meta.title);
        let mut content = String::new();
        for kind in PmSection::ALL {
            let text = to_plain_text(p.section_markdown(kind));
            let field = match kind {
                PmSection::Symptoms => Some(f.symptoms),
                PmSection::Investigation => Some(f.steps),
                PmSection::RootCause => Some(f.root_cause),
                PmSection::Fix => Some(f.fix),
                PmSection::Prevention => Some(f.prevention),
                _ => None,
            };
            if let Some(field) = field {
                doc.add_text(field, &text);
            }
            content.push_str(&text);
        }
        doc.add_text(f.content, content);
        doc
    }

    fn document(&self, p: &Playbook) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = self.new_document(KIND_PLAYBOOK, p.id(), 1.0);
        doc.add_text(f.title, &p.meta.title);
        doc.add_text(f.name, p.id());
        doc.add_text(f.alert, &p.meta.alert);
        doc.add_text(f.tags_text, p.meta.tags.join(" "));
        let mut content = format!("{}\n{}\n", p.meta.alert, p.meta.tags.join(" "));
        for (kind, field) in [
            (SectionKind::Symptoms, f.symptoms),
            (SectionKind::Investigation, f.steps),
            (SectionKind::RootCause, f.root_cause),
            (SectionKind::Fix, f.fix),
            (SectionKind::Prevention, f.prevention),
        ] {
            let text = to_plain_text(p.section_markdown(kind));
            content.push_str(&text);
            doc.add_text(field, text);
        }
        let all = format!("{} {} {content}", p.meta.title, p.id());
        doc.add_text(f.words, crate::core::words::split_name(&all));
        doc.add_text(f.words, all);
        doc.add_text(f.content, content);
        for tag in &p.meta.tags {
            doc.add_text(f.tag, tag);
            doc.add_facet(f.facet, Facet::from_path(["tag", tag.as_str()]));
        }
        doc.add_text(f.layer, p.meta.layer.as_str());
        doc.add_facet(f.facet, Facet::from_path(["layer", p.meta.layer.as_str()]));
        doc
    }

    pub fn search(&self, req: &SearchRequest) -> Result<SearchResults, SearchError> {
        let text = req.text.trim();
        let chars = text.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(SearchError::QueryTooLong(chars));
        }
        let terms = self.terms(text);
        if terms.is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        self.collect(self.text_query(&terms), req)
    }

    /// The top hits of `matching` under the request's filters, weighted
    /// (postmortems count less), with snippets and facet counts.
    fn collect(
        &self,
        matching: Box<dyn Query>,
        req: &SearchRequest,
    ) -> Result<SearchResults, SearchError> {
        let filtered = self.with_filters(matching.box_clone(), req);
        let searcher = self.reader.searcher();
        let limit = req.limit.clamp(1, 100);
        let weighted =
            TopDocs::with_limit(limit).tweak_score(|segment: &tantivy::SegmentReader| {
                let weight = segment
                    .fast_fields()
                    .f64(schema::WEIGHT)
                    .map(|c| c.first_or_default_col(1.0))
                    .ok();
                move |doc: tantivy::DocId, score: tantivy::Score| match &weight {
                    Some(w) => score * w.get_val(doc) as f32,
                    None => score,
                }
            });
        let (top, total) = searcher.search(&filtered, &(weighted, Count))?;

        let mut facets = FacetCollector::for_field("facet");
        facets.add_facet("/tag");
        facets.add_facet("/layer");
        let counts = searcher.search(&matching, &facets)?;
        let facet_map = |root: &str| {
            counts
                .get(root)
                .map(|(f, n)| (last_segment(f), n))
                .collect::<BTreeMap<_, _>>()
        };

        let mut snippets = SnippetGenerator::create(&searcher, &*filtered, self.fields.content)?;
        snippets.set_max_num_chars(220);
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            hits.push(Hit {
                kind: self.first_text(&doc, self.fields.kind),
                id: self.first_text(&doc, self.fields.id),
                title: self.first_text(&doc, self.fields.title),
                score,
                snippet: snippets.snippet_from_doc(&doc).to_html(),
                layer: self.first_text(&doc, self.fields.layer),
                tags: doc
                    .get_all(self.fields.tag)
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            });
        }
        Ok(SearchResults {
            total,
            hits,
            tags: facet_map("/tag"),
            layers: facet_map("/layer"),
        })
    }

    /// The floor for benchmarks: one term on one field of the same index,
    /// top 10 by score, nothing else (no boosts, phrases, facets, snippets).
    #[doc(hidden)]
    pub fn baseline_term_query(&self, word: &str) -> Result<usize, SearchError> {
        let Some(term) = self.terms(word).into_iter().next() else {
            return Ok(0);
        };
        let query = TermQuery::new(
            Term::from_field_text(self.fields.content, &term),
            IndexRecordOption::WithFreqs,
        );
        let top = self
            .reader
            .searcher()
            .search(&query, &TopDocs::with_limit(10).order_by_score())?;
        Ok(top.len())
    }

    /// The query's words as the index sees them (lowercased, stemmed).
    fn terms(&self, text: &str) -> Vec<String> {
        let mut analyzer = schema::analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            out.push(token.text.clone());
        }
        out.truncate(32);
        out
    }

    /// Every word in every field, weighted by field; the whole phrase in a
    /// field counts double, so "exactly 60 seconds" beats scattered words.
    fn text_query(&self, terms: &[String]) -> Box<dyn Query> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, boost) in self.fields.boosted() {
            for t in terms {
                let term = Term::from_field_text(field, t);
                let q = TermQuery::new(term, IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
            }
            if terms.len() > 1 {
                clauses.push(phrase(field, terms, boost * 2.0));
            }
            // Adjacent pairs: "restart count" counts even when the rest of
            // the sentence is worded differently.
            if terms.len() > 2 {
                for pair in terms.windows(2) {
                    clauses.push(phrase(field, pair, boost));
                }
            }
        }
        Box::new(BooleanQuery::new(clauses))
    }

    fn with_filters(&self, query: Box<dyn Query>, req: &SearchRequest) -> Box<dyn Query> {
        let mut must: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, query)];
        for (field, value) in [(self.fields.tag, &req.tag), (self.fields.layer, &req.layer)] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                let term = Term::from_field_text(field, v);
                must.push((
                    Occur::Must,
                    Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
                ));
            }
        }
        Box::new(BooleanQuery::new(must))
    }

    fn first_text(&self, doc: &TantivyDocument, field: Field) -> String {
        doc.get_first(field)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

fn phrase(field: Field, terms: &[String], boost: f32) -> (Occur, Box<dyn Query>) {
    let terms = terms
        .iter()
        .map(|t| Term::from_field_text(field, t))
        .collect();
    let query = BoostQuery::new(Box::new(PhraseQuery::new(terms)), boost);
    (Occur::Should, Box::new(query))
}

fn last_segment(facet: &Facet) -> String {
    facet
        .to_path()
        .last()
        .map(|s| (*s).to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn playbook(
        id: &str,
        title: &str,
        alert: &str,
        layer: &str,
        tags: &str,
        symptoms: &str,
    ) -> Playbook {
        let src = format!(
            "+++\nid = \"{id}\"\ntitle = \"{title}\"\nalert = \"{alert}\"\ntags = [{tags}]\nlayer = \"{layer}\"\n+++\n## Symptoms\n\n{symptoms}\n"
        );
        Playbook::parse("t.md", &src).unwrap()
    }

    fn index() -> SearchIndex {
        let idx = SearchIndex::new().unwrap();
        let books = [
            playbook(
                "a",
                "Sockets stuck waiting",
                "Too many open files",
                "application",
                "\"tcp\", \"fd\"",
                "Thousands of CLOSE_WAIT sockets.",
            ),
            playbook(
                "b",
                "Slow name lookups",
                "DNS takes seconds",
                "dns",
                "\"dns\"",
                "ndots 5 sends every name through the search list.",
            ),
            playbook(
                "c",
                "Connections die",
                "reset by peer",
                "network",
                "\"tcp\", \"nat\"",
                "Every idle connection ends after exactly 60 seconds.",
            ),
        ];
        idx.rebuild(books.iter()).unwrap();
        idx
    }

    fn first(idx: &SearchIndex, text: &str) -> String {
        let r = idx
            .search(&SearchRequest {
                text: text.into(),
                limit: 5,
                ..Default::default()
            })
            .unwrap();
        r.hits.first().map(|h| h.id.clone()).unwrap_or_default()
    }

    #[test]
    fn ranks_and_stems() {
        let idx = index();
        assert_eq!(first(&idx, "close_wait"), "a");
        assert_eq!(first(&idx, "CLOSE WAIT"), "a");
        assert_eq!(first(&idx, "ndots"), "b");
        assert_eq!(first(&idx, "lookup"), "b", "stemming: lookups -> lookup");
        assert_eq!(first(&idx, "exactly 60 seconds"), "c");
    }

    #[test]
    fn snippets_highlight_and_escape() {
        let idx = index();
        let r = idx
            .search(&SearchRequest {
                text: "ndots".into(),
                limit: 5,
                ..Default::default()
            })
            .unwrap();
        assert!(
            r.hits[0].snippet.contains("<b>ndots</b>"),
            "{}",
            r.hits[0].snippet
        );
    }

    #[test]
    fn filters_and_facets() {
        let idx = index();
        let all = idx
            .search(&SearchRequest {
                text: "tcp".into(),
                limit: 5,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.total, 2);
        assert_eq!(all.tags.get("tcp"), Some(&2));
        assert_eq!(all.layers.get("network"), Some(&1));
        let net = idx
            .search(&SearchRequest {
                text: "tcp".into(),
                layer: Some("network".into()),
                limit: 5,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(net.total, 1);
        assert_eq!(net.hits[0].id, "c");
        let tag = idx
            .search(&SearchRequest {
                text: "tcp".into(),
                tag: Some("fd".into()),
                limit: 5,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(tag.hits[0].id, "a");
    }

    #[test]
    fn upsert_replaces_and_remove_deletes() {
        let idx = index();
        idx.upsert(&playbook(
            "b",
            "Renamed",
            "x",
            "dns",
            "",
            "nothing about the search list",
        ))
        .unwrap();
        assert_eq!(idx.len(), 3);
        assert_eq!(first(&idx, "renamed"), "b");
        assert_eq!(first(&idx, "ndots"), "");
        idx.remove("b").unwrap();
        assert_eq!(idx.len(), 2);
    }

    #[test]
    fn empty_and_huge_queries_are_errors() {
        let idx = index();
        let empty = idx.search(&SearchRequest {
            text: "  ;; ".into(),
            limit: 5,
            ..Default::default()
        });
        assert!(matches!(empty, Err(SearchError::EmptyQuery)));
        let huge = idx.search(&SearchRequest {
            text: "a".repeat(MAX_QUERY_CHARS + 1),
            limit: 5,
            ..Default::default()
        });
        assert!(matches!(huge, Err(SearchError::QueryTooLong(_))));
    }

    #[test]
    fn query_syntax_characters_are_plain_text() {
        let idx = index();
        for q in ["title:x", "\"unbalanced", "a AND (b", "-tcp", "*"] {
            let _ = idx.search(&SearchRequest {
                text: q.into(),
                limit: 5,
                ..Default::default()
            });
        }
        assert_eq!(first(&idx, "fd:"), "a");
    }
}
