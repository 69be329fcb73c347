//! Searching for an alert name's words: which playbooks an alert such as
//! `CoreDNSLatencyHigh` ("Core DNS Latency High") is about, and whether the
//! first is clear enough to follow without asking.
//!
//! Alert names are a few words built from what a thing is called, so the
//! score differs from the free-text search's in two ways. A word counts by
//! the best place a playbook has it: what the playbook is called and arrives
//! as (title, alert, id, tags) far above its body, and each word once, so a
//! playbook that explains more of the name beats one that repeats one word
//! in every field. And a word weighs by how few playbooks mention it at all
//! (IDF over whole playbooks, not per field): "pod" or "node", in most
//! playbooks, cannot outweigh "crash" or "conntrack".
//!
//! The first hit is *strong* (see [`AlertMatch::strong`]) when all three
//! hold:
//! 1. its score is at least [`STRONG_RATIO`] times the second's;
//! 2. what it is called and arrives as has at least two of the alert's words
//!    (two words the playbooks write as one, `CoreDNS`, count once): it
//!    names the alert's condition, not only its subject (`CoreDNSDown` and
//!    the one DNS playbook share only "CoreDNS");
//! 3. it mentions, anywhere, every distinctive word of the alert (one that
//!    at most a sixth of the playbooks mention, or none): nothing specific
//!    in the name is foreign to it (`KubeletClientCertificateExpiration`
//!    and a playbook about certificates that never speaks of expiry).

use tantivy::collector::Count;
use tantivy::query::{BooleanQuery, ConstScoreQuery, DisjunctionMaxQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};

use super::schema::KIND_PLAYBOOK;
use super::{Hit, SearchError, SearchIndex, SearchRequest, SearchResults};

/// How alert names shorten words the playbooks write out. Each adds the
/// long form beside the short one. ("Kube" is left alone: it starts every
/// kubernetes-mixin alert name and tells no two problems apart.)
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("errs", "errors"),
    ("cert", "certificate"),
    ("certs", "certificates"),
    ("ssl", "tls"),
    ("conn", "connection"),
    ("conns", "connections"),
    ("retrans", "retransmissions"),
    ("nic", "interface"),
    ("iface", "interface"),
];

/// What a word's other places in a playbook add to its best one: a little.
const OTHER_PLACES: f32 = 0.1;

/// Most hits an alert search returns.
pub const ALERT_HITS: usize = 10;

/// How many times the second hit's score the first must reach to be strong.
/// Measured on the networking alert names of the public rule sets
/// (tests/fixtures/alerts/network-alert-names.txt) with the built-in
/// playbooks: of the nine names that pass rules 2 and 3, the one whose first
/// hit is wrong (`NodeNetworkReceiveErrs` → periodic-saturation-p99) leads
/// by 1.48; the right ones by 1.87 to 72, and by 1.21 for
/// `KubeDNSLatencyHigh`, which stays on the results page with its playbook
/// first. 1.7 sits in the gap; a miss costs a click, a wrong page more.
pub const STRONG_RATIO: f32 = 1.7;

/// A word is distinctive when at most this share of the playbooks mention it.
const DISTINCTIVE_SHARE: f32 = 1.0 / 6.0;

/// What an alert name's words found.
#[derive(Debug, Clone)]
pub struct AlertMatch {
    /// Playbooks, best first, with scores, snippets and facets.
    pub results: SearchResults,
    /// Whether the first hit is strong and unambiguous (see the module).
    pub strong: bool,
}

impl AlertMatch {
    /// The first hit when it is strong.
    pub fn strong_hit(&self) -> Option<&Hit> {
        self.results.hits.first().filter(|_| self.strong)
    }
}

/// One word of the alert name and the terms that stand for it.
struct Word {
    /// The word as the index has it (lowercased, stemmed).
    term: String,
    /// Its long form, when it is an abbreviation.
    long: Option<String>,
    /// This word and the next written as one (`core` + `dns`: `coredns`).
    joined: Option<String>,
    /// How few playbooks mention it (IDF).
    idf: f32,
    distinctive: bool,
}

impl Word {
    fn terms(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.term)
            .chain(&self.long)
            .chain(&self.joined)
    }
}

impl SearchIndex {
    /// Playbooks for an alert name's words (see [`alert_words`] for how a
    /// name becomes words), best first, with scores, and whether the first
    /// is strong. Scored as the module says, over the fields and weights of
    /// [`super::schema::Fields::alert_boosted`].
    ///
    /// [`alert_words`]: crate::web::pages::alert_routes::alert_words
    pub fn search_alert(&self, text: &str) -> Result<AlertMatch, SearchError> {
        let text = text.trim();
        let chars = text.chars().count();
        if chars > super::MAX_QUERY_CHARS {
            return Err(SearchError::QueryTooLong(chars));
        }
        let searcher = self.reader.searcher();
        let words = self.alert_terms(&searcher, text)?;
        if words.is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        let request = SearchRequest {
            limit: ALERT_HITS,
            ..SearchRequest::default()
        };
        let results = self.collect(self.alert_query(&searcher, &words)?, &request)?;
        let strong = match results.hits.as_slice() {
            [] => false,
            [first, rest @ ..] => {
                rest.first()
                    .is_none_or(|second| first.score >= STRONG_RATIO * second.score)
                    && self.explains(&searcher, &first.id, &words)?
            }
        };
        Ok(AlertMatch { results, strong })
    }

    /// Every term, scored by its best place in a playbook.
    fn alert_query(
        &self,
        searcher: &Searcher,
        words: &[Word],
    ) -> Result<Box<dyn Query>, SearchError> {
        let playbooks = self.count(searcher, self.playbooks())? as f32;
        let mut terms: Vec<(&String, f32)> = Vec::new();
        for w in words {
            for t in w.terms() {
                if !terms.iter().any(|(seen, _)| *seen == t) {
                    let idf = if *t == w.term {
                        w.idf
                    } else {
                        self.idf(searcher, t, playbooks)?
                    };
                    terms.push((t, idf));
                }
            }
        }
        let clauses = terms
            .into_iter()
            .map(|(t, idf)| {
                let places: Vec<Box<dyn Query>> = self
                    .fields
                    .alert_boosted()
                    .into_iter()
                    .map(|(field, boost)| {
                        let has = self.has(field, t);
                        Box::new(ConstScoreQuery::new(has, boost * idf)) as Box<dyn Query>
                    })
                    .collect();
                let best = DisjunctionMaxQuery::with_tie_breaker(places, OTHER_PLACES);
                (Occur::Should, Box::new(best) as Box<dyn Query>)
            })
            .collect();
        Ok(Box::new(BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>,
            ),
            (Occur::Must, self.playbooks()),
        ])))
    }

    /// Rules 2 and 3 of a strong hit (see the module) for playbook `id`.
    fn explains(&self, searcher: &Searcher, id: &str, words: &[Word]) -> Result<bool, SearchError> {
        let called = [
            self.fields.title,
            self.fields.alert,
            self.fields.name,
            self.fields.tags_text,
        ];
        let mut named = 0;
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            if let Some(joined) = &w.joined
                && self.playbook_has(searcher, id, &called, joined)?
            {
                named += 1;
                i += 2;
                continue;
            }
            let mut alone = std::iter::once(&w.term).chain(&w.long);
            if self.any_has(searcher, id, &called, &mut alone)? {
                named += 1;
            }
            i += 1;
        }
        if named < 2 {
            return Ok(false);
        }
        for w in words.iter().filter(|w| w.distinctive) {
            if !self.any_has(searcher, id, &[self.fields.words], &mut w.terms())? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn any_has(
        &self,
        searcher: &Searcher,
        id: &str,
        fields: &[Field],
        terms: &mut dyn Iterator<Item = &String>,
    ) -> Result<bool, SearchError> {
        for t in terms {
            if self.playbook_has(searcher, id, fields, t)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether playbook `id` has `term` in any of `fields`.
    fn playbook_has(
        &self,
        searcher: &Searcher,
        id: &str,
        fields: &[Field],
        term: &str,
    ) -> Result<bool, SearchError> {
        let any: Vec<(Occur, Box<dyn Query>)> = fields
            .iter()
            .map(|f| (Occur::Should, self.has(*f, term)))
            .collect();
        let this = TermQuery::new(
            Term::from_field_text(self.fields.id, id),
            IndexRecordOption::Basic,
        );
        let query = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(BooleanQuery::new(any)) as Box<dyn Query>,
            ),
            (Occur::Must, Box::new(this)),
            (Occur::Must, self.playbooks()),
        ]);
        Ok(self.count(searcher, Box::new(query))? > 0)
    }

    /// The alert's words with their long forms, joined pairs and weights.
    fn alert_terms(&self, searcher: &Searcher, text: &str) -> Result<Vec<Word>, SearchError> {
        let playbooks = self.count(searcher, self.playbooks())? as f32;
        let raw: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let mut words = Vec::new();
        for (i, w) in raw.iter().enumerate() {
            let Some(term) = self.terms(w).into_iter().next() else {
                continue;
            };
            let long = ABBREVIATIONS
                .iter()
                .find(|(short, _)| short == w)
                .and_then(|(_, long)| self.terms(long).into_iter().next());
            let joined = raw
                .get(i + 1)
                .and_then(|next| self.terms(&format!("{w}{next}")).into_iter().next());
            let with = self.mentioning(searcher, &term)? as f32;
            words.push(Word {
                idf: idf(playbooks, with),
                distinctive: with <= DISTINCTIVE_SHARE * playbooks,
                term,
                long,
                joined,
            });
        }
        words.truncate(32);
        Ok(words)
    }

    fn idf(&self, searcher: &Searcher, term: &str, playbooks: f32) -> Result<f32, SearchError> {
        Ok(idf(playbooks, self.mentioning(searcher, term)? as f32))
    }

    /// How many playbooks mention `term` anywhere.
    fn mentioning(&self, searcher: &Searcher, term: &str) -> Result<usize, SearchError> {
        let query = BooleanQuery::new(vec![
            (Occur::Must, self.has(self.fields.words, term)),
            (Occur::Must, self.playbooks()),
        ]);
        self.count(searcher, Box::new(query))
    }

    fn has(&self, field: Field, term: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, term),
            IndexRecordOption::Basic,
        ))
    }

    fn playbooks(&self) -> Box<dyn Query> {
        self.has(self.fields.kind, KIND_PLAYBOOK)
    }

    fn count(&self, searcher: &Searcher, query: Box<dyn Query>) -> Result<usize, SearchError> {
        Ok(searcher.search(&*query, &Count)?)
    }
}

/// BM25's inverse document frequency: a word `with` of `total` playbooks
/// mention.
fn idf(total: f32, with: f32) -> f32 {
    (1.0 + (total - with + 0.5) / (with + 0.5)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::playbook::Playbook;

    fn playbook(id: &str, title: &str, alert: &str, tags: &str, body: &str) -> Playbook {
        let src = format!(
            "+++\nid = \"{id}\"\ntitle = \"{title}\"\nalert = \"{alert}\"\ntags = [{tags}]\n\
             layer = \"network\"\n+++\n## Symptoms\n\n{body}\n"
        );
        Playbook::parse("t.md", &src).unwrap()
    }

    /// Six playbooks; "pod" and "node" in most of them, "high" and "gizmo"
    /// in two.
    fn index() -> SearchIndex {
        let idx = SearchIndex::new().unwrap();
        let books = [
            playbook(
                "crashing-gizmo",
                "Refused calls from one pod",
                "A few calls refused",
                "\"endpoints\"",
                "The pod restarts: CrashLoopBackOff. A node runs it.",
            ),
            playbook(
                "pod-egress",
                "Pods on a new node cannot reach out",
                "New pods time out",
                "\"pod\", \"nat\"",
                "Every pod on the node, pod after pod, pod again.",
            ),
            playbook(
                "widget-slow",
                "Widget answers slowly",
                "Widget latency up on a node",
                "\"widget\", \"latency\"",
                "A pod waits on the widget.",
            ),
            playbook(
                "gizmo-certs",
                "Gizmo certificates renewed without the chain",
                "Gizmo verify failed",
                "\"gizmo\", \"certificate\"",
                "On a node, a pod cannot verify the gizmo.",
            ),
            playbook(
                "quiet-a",
                "Disk slow",
                "Disk",
                "",
                "A node and a pod: high load.",
            ),
            playbook(
                "quiet-b",
                "Fan loud",
                "Fan",
                "",
                "A node and a pod: high noise.",
            ),
        ];
        idx.rebuild(books.iter()).unwrap();
        idx
    }

    fn ids(m: &AlertMatch) -> Vec<&str> {
        m.results.hits.iter().map(|h| h.id.as_str()).collect()
    }

    #[test]
    fn a_rare_word_in_the_name_outweighs_a_common_one_repeated() {
        let idx = index();
        let m = idx.search_alert("Kube Pod Crash Looping").unwrap();
        assert_eq!(ids(&m)[0], "crashing-gizmo", "{:?}", m.results.hits);
        assert!(
            m.results.hits[0].snippet.contains("<b>pod</b>"),
            "the body gives the snippet: {}",
            m.results.hits[0].snippet
        );
    }

    #[test]
    fn strong_needs_a_clear_lead_two_named_words_and_nothing_foreign() {
        let idx = index();
        // Subject and condition both named, far ahead: strong.
        let slow = idx.search_alert("Widget Latency High").unwrap();
        assert_eq!(
            slow.strong_hit().map(|h| h.id.as_str()),
            Some("widget-slow")
        );
        // Only the subject named: shown, not opened.
        let down = idx.search_alert("Widget Down").unwrap();
        assert_eq!(ids(&down)[0], "widget-slow");
        assert!(!down.strong, "{:?}", down.results.hits);
        // A distinctive word the playbook never mentions: not opened.
        let expiry = idx.search_alert("Gizmo Certificate Expiration").unwrap();
        assert_eq!(ids(&expiry)[0], "gizmo-certs");
        assert!(!expiry.strong);
        let renewed = idx.search_alert("Gizmo Certificates Renewed").unwrap();
        assert!(renewed.strong, "{:?}", renewed.results.hits);
        // Two playbooks as good as each other: no clear lead.
        let tie = idx.search_alert("Disk Fan").unwrap();
        assert!(!tie.strong);
    }

    #[test]
    fn joined_words_and_abbreviations_find_the_written_out_form() {
        let idx = index();
        // "Certs" reaches "certificates"; "Cra Shing" joined is "crashing".
        let certs = idx.search_alert("Gizmo Certs").unwrap();
        assert_eq!(ids(&certs)[0], "gizmo-certs");
        assert!(certs.strong);
        let joined = idx.search_alert("Cra Shing Gizmo").unwrap();
        assert_eq!(ids(&joined)[0], "crashing-gizmo");
        let empty = idx.search_alert(" -- ");
        assert!(matches!(empty, Err(SearchError::EmptyQuery)));
    }
}
