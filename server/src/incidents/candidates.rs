//! The incident's candidates, ranked, each with why it is there: measured
//! evidence (the matcher's likely matches), the checklist playbook a
//! responder chose or an alert route set, and playbooks whose text matches
//! the alert's words. Pure: the caller searches and diagnoses; this ranks
//! and explains.
//!
//! Only measured evidence makes a candidate *likely*. The alert text ranks
//! below every likely match and above nothing: it says where to look first
//! when nothing has been measured yet.

use serde::Serialize;
use serde_json::Value;

use crate::core::matcher::{Candidate, Diagnosis};
use crate::store::{EventKind, Incident, IncidentEvent, Verdict, VerdictRecord, current_verdicts};

/// Why a playbook is a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Likely from what was measured.
    Evidence,
    /// The alert name is mapped to it on `/alert-routes`.
    Route,
    /// A responder chose it as the checklist playbook.
    Responder,
    /// Its text matches the alert's words (or the incident's title).
    Alert,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Evidence => "evidence",
            Source::Route => "route",
            Source::Responder => "responder",
            Source::Alert => "alert",
        }
    }

    /// How the page says it.
    pub fn label(self) -> &'static str {
        match self {
            Source::Evidence => "likely from the evidence",
            Source::Route => "mapped to the alert",
            Source::Responder => "chosen by a responder",
            Source::Alert => "suggested by the alert text",
        }
    }
}

/// A playbook people decided on: the checklist a responder chose or an
/// alert route set (read from the timeline), or the diagnosis a responder
/// confirmed with a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub playbook: String,
    /// [`Source::Route`] or [`Source::Responder`].
    pub source: Source,
    /// The responder, or the sender of the alert whose route set it.
    pub who: String,
    /// The alert name whose route set it.
    pub alertname: Option<String>,
    /// Confirmed by a verdict rather than chosen as the checklist.
    pub confirmed: bool,
}

/// What people decided, first first: the checklist choice, then the
/// confirmed diagnosis (the playbook whose current verdict is right) when
/// it is another playbook.
pub fn decided(
    incident: &Incident,
    events: &[IncidentEvent],
    verdicts: &[VerdictRecord],
) -> Vec<Choice> {
    let mut out: Vec<Choice> = choice(incident, events).into_iter().collect();
    let confirmed = current_verdicts(verdicts)
        .into_iter()
        .find(|v| v.verdict == Verdict::Right);
    if let Some(v) = confirmed.filter(|v| out.iter().all(|c| c.playbook != v.playbook)) {
        out.push(Choice {
            playbook: v.playbook.clone(),
            source: Source::Responder,
            who: v.who.clone(),
            alertname: None,
            confirmed: true,
        });
    }
    out
}

/// The playbooks whose current verdict is wrong.
pub fn judged_wrong(verdicts: &[VerdictRecord]) -> Vec<String> {
    current_verdicts(verdicts)
        .into_iter()
        .filter(|v| v.verdict == Verdict::Wrong)
        .map(|v| v.playbook.clone())
        .collect()
}

/// The incident's checklist choice: its `playbook` column, explained by the
/// newest `step` event that set it (`{"playbook", "route"?}`).
pub fn choice(incident: &Incident, events: &[IncidentEvent]) -> Option<Choice> {
    let playbook = incident.playbook.clone()?;
    let set = events.iter().rev().find(|e| {
        e.kind == EventKind::Step
            && e.body.get("step").is_none()
            && e.body["playbook"].as_str() == Some(playbook.as_str())
    });
    let alertname = set.and_then(|e| e.body["route"].as_str().map(str::to_owned));
    Some(Choice {
        source: if alertname.is_some() {
            Source::Route
        } else {
            Source::Responder
        },
        who: set.map(|e| e.who.clone()).unwrap_or_default(),
        alertname,
        playbook,
        confirmed: false,
    })
}

/// A search hit on the alert's words.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub playbook: String,
    pub title: String,
    /// Search relevance relative to the best hit (1.0 for the best).
    pub relevance: f64,
}

/// One candidate, ranked.
#[derive(Debug, Clone, Serialize)]
pub struct Ranked {
    pub playbook: String,
    pub title: String,
    /// The matcher's score and confidence on the evidence, whatever put the
    /// playbook here (0 when nothing it tests was measured).
    pub score: f64,
    pub confidence: f64,
    pub likely: bool,
    pub source: Source,
    /// For [`Source::Alert`]: relevance relative to the best hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance: Option<f64>,
}

/// Likely evidence matches first (best first), then what people decided
/// (see [`decided`]), then the alert-text suggestions; each playbook once,
/// under its first reason.
pub fn rank(diagnosis: &Diagnosis, decided: &[Choice], suggested: &[Suggestion]) -> Vec<Ranked> {
    let scored = |id: &str| diagnosis.candidates.iter().find(|c| c.playbook == id);
    let mut out: Vec<Ranked> = diagnosis
        .likely()
        .map(|c| ranked(c, Source::Evidence, None))
        .collect();
    let push = |out: &mut Vec<Ranked>, id: &str, title: &str, source, relevance| {
        if out.iter().any(|r| r.playbook == id) {
            return;
        }
        out.push(match scored(id) {
            Some(c) => ranked(c, source, relevance),
            None => Ranked {
                playbook: id.to_owned(),
                title: title.to_owned(),
                score: 0.0,
                confidence: 0.0,
                likely: false,
                source,
                relevance,
            },
        });
    };
    for c in decided {
        push(&mut out, &c.playbook, &c.playbook, c.source, None);
    }
    for s in suggested {
        push(
            &mut out,
            &s.playbook,
            &s.title,
            Source::Alert,
            Some(s.relevance),
        );
    }
    out
}

fn ranked(c: &Candidate, source: Source, relevance: Option<f64>) -> Ranked {
    Ranked {
        playbook: c.playbook.clone(),
        title: c.title.clone(),
        score: c.score,
        confidence: c.confidence,
        likely: c.likely,
        source,
        relevance,
    }
}

/// The checklist playbook: what people decided first (even when it is
/// also likely, so listed under the evidence), else the top likely match,
/// else the top suggestion.
pub fn checklist<'a>(ranked: &'a [Ranked], decided: &[Choice]) -> Option<&'a Ranked> {
    let first_decided = decided
        .first()
        .and_then(|c| ranked.iter().find(|r| r.playbook == c.playbook));
    first_decided
        .or_else(|| ranked.iter().find(|r| r.source == Source::Evidence))
        .or_else(|| ranked.iter().find(|r| r.source == Source::Alert))
}

// ---- What the alert says -------------------------------------------------------------

/// Longest alert text searched, in characters (the search refuses longer).
pub const ALERT_TEXT_CHARS: usize = crate::search::MAX_QUERY_CHARS;

/// Labels whose values say nothing about the cause.
const QUIET_LABELS: [&str; 3] = ["alertname", "severity", "fingerprint"];

/// What the incident's firing alerts and its title say, in the order they
/// are searched: alert names (split into words by the caller), then the
/// summaries and descriptions, the title, and the labels' values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertText {
    pub alertnames: Vec<String>,
    pub texts: Vec<String>,
}

/// Reads the alert events of the timeline and the title.
pub fn alert_text(incident: &Incident, events: &[IncidentEvent]) -> AlertText {
    let mut out = AlertText::default();
    let mut labels = Vec::new();
    let alerts = events
        .iter()
        .filter(|e| e.kind == EventKind::Alert && e.body["status"] != "resolved");
    for e in alerts {
        if let Some(name) = e.body["alertname"].as_str() {
            add(&mut out.alertnames, name);
        }
        for key in ["summary", "description"] {
            if let Some(text) = e.body["annotations"][key].as_str() {
                add(&mut out.texts, text);
            }
        }
        if let Value::Object(map) = &e.body["labels"] {
            for (k, v) in map {
                if let (false, Some(v)) = (QUIET_LABELS.contains(&k.as_str()), v.as_str()) {
                    add(&mut labels, v);
                }
            }
        }
    }
    // An alert's incident is titled "Name: summary"; only what is new counts.
    let mut title = incident.title.as_str();
    for name in &out.alertnames {
        title = title
            .strip_prefix(name.as_str())
            .map_or(title, |t| t.trim_start_matches(':'));
    }
    add(&mut out.texts, title);
    for l in labels {
        add(&mut out.texts, &l);
    }
    out
}

fn add(list: &mut Vec<String>, text: &str) {
    let text = text.trim();
    if !text.is_empty() && !list.iter().any(|t| t.contains(text)) {
        list.push(text.to_owned());
    }
}

impl AlertText {
    pub fn is_empty(&self) -> bool {
        self.alertnames.is_empty() && self.texts.is_empty()
    }

    /// One search query: the alert names as `words` splits them, then the
    /// texts, cut at a word to [`ALERT_TEXT_CHARS`].
    pub fn query(&self, words: impl Fn(&str) -> String) -> String {
        let parts = self
            .alertnames
            .iter()
            .map(|n| words(n))
            .chain(self.texts.iter().cloned());
        let mut out = String::new();
        for word in parts.flat_map(|p| p.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        {
            if out.chars().count() + word.chars().count() + 1 > ALERT_TEXT_CHARS {
                break;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&word);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::diagnose::{builtin_matcher, diagnose};
    use crate::store::IncidentStatus;

    fn incident(title: &str, playbook: Option<&str>) -> Incident {
        Incident {
            id: 7,
            title: title.into(),
            status: IncidentStatus::Open,
            severity: "warning".into(),
            labels: BTreeMap::new(),
            playbook: playbook.map(str::to_owned),
            opened_at: Utc::now(),
            opened_by: "test".into(),
            resolved_at: None,
            group_key: None,
        }
    }

    fn event(id: i64, kind: EventKind, who: &str, body: Value) -> IncidentEvent {
        IncidentEvent {
            id,
            incident_id: 7,
            at: Utc::now(),
            who: who.into(),
            kind,
            body,
        }
    }

    fn alert(status: &str, name: &str, summary: &str) -> IncidentEvent {
        event(
            1,
            EventKind::Alert,
            "token:am",
            json!({
                "status": status, "alertname": name, "summary": summary,
                "labels": {"alertname": name, "severity": "critical", "host": "web-1"},
                "annotations": {"summary": summary, "description": "nginx on web-1"},
            }),
        )
    }

    #[test]
    fn the_alert_text_is_names_then_sentences_then_labels_once_each() {
        let summary = "upstream prematurely closed connection";
        let i = incident(&format!("NginxUpstreamErrors: {summary}"), None);
        let text = alert_text(&i, &[alert("firing", "NginxUpstreamErrors", summary)]);
        assert_eq!(text.alertnames, ["NginxUpstreamErrors"]);
        // The label value is in the description already.
        assert_eq!(text.texts, [summary, "nginx on web-1"]);
        let query = text.query(|n| format!("<{n}>"));
        assert_eq!(
            query,
            "<NginxUpstreamErrors> upstream prematurely closed connection nginx on web-1"
        );
        // Resolved alerts say nothing new; the title still does.
        let text = alert_text(&i, &[alert("resolved", "NginxUpstreamErrors", summary)]);
        assert!(text.alertnames.is_empty());
        assert_eq!(text.texts, [i.title.as_str()]);
    }

    #[test]
    fn a_long_alert_text_is_cut_at_a_word() {
        let long = "conntrack ".repeat(200);
        let text = AlertText {
            alertnames: vec![],
            texts: vec![long],
        };
        let query = text.query(str::to_owned);
        assert!(query.chars().count() <= ALERT_TEXT_CHARS);
        assert!(query.ends_with("conntrack"), "{query}");
    }

    #[test]
    fn the_choice_says_who_or_which_route_set_it() {
        let i = incident("x", Some("mtu-blackhole"));
        let events = [
            event(
                1,
                EventKind::Step,
                "alice",
                json!({"playbook": "close-wait-leak"}),
            ),
            event(
                2,
                EventKind::Step,
                "token:am",
                json!({"playbook": "mtu-blackhole", "route": "VpnStalls"}),
            ),
            event(
                3,
                EventKind::Step,
                "bob",
                json!({"playbook": "mtu-blackhole", "step": 1}),
            ),
        ];
        let c = choice(&i, &events).unwrap();
        assert_eq!(c.source, Source::Route);
        assert_eq!(c.alertname.as_deref(), Some("VpnStalls"));
        assert_eq!(c.who, "token:am");
        let i = incident("x", Some("close-wait-leak"));
        let c = choice(&i, &events).unwrap();
        assert_eq!((c.source, c.who.as_str()), (Source::Responder, "alice"));
        assert_eq!(choice(&incident("x", None), &events), None);
    }

    fn verdict(playbook: &str, who: &str, verdict: Verdict) -> VerdictRecord {
        VerdictRecord {
            incident_id: 7,
            playbook: playbook.into(),
            who: who.into(),
            verdict,
            comment: None,
            at: Utc::now(),
        }
    }

    #[test]
    fn a_confirmed_diagnosis_counts_as_decided_and_a_wrong_one_is_named() {
        let i = incident("x", Some("mtu-blackhole"));
        let events = [event(
            1,
            EventKind::Step,
            "alice",
            json!({"playbook": "mtu-blackhole"}),
        )];
        // Newest first, as the store gives them.
        let verdicts = [
            verdict("keepalive-race-502", "bob", Verdict::Right),
            verdict("close-wait-leak", "bob", Verdict::Wrong),
            verdict("keepalive-race-502", "carol", Verdict::Wrong),
        ];
        let d = decided(&i, &events, &verdicts);
        let who: Vec<(&str, bool)> = d
            .iter()
            .map(|c| (c.playbook.as_str(), c.confirmed))
            .collect();
        assert_eq!(
            who,
            [("mtu-blackhole", false), ("keepalive-race-502", true)]
        );
        assert_eq!(d[1].who, "bob");
        assert_eq!(judged_wrong(&verdicts), ["close-wait-leak"]);
        // Confirming the chosen playbook adds nothing.
        let same = [verdict("mtu-blackhole", "bob", Verdict::Right)];
        assert_eq!(decided(&i, &events, &same).len(), 1);
    }

    /// Two examples' evidence in one report (the second's kinds the first
    /// lacks): two likely candidates.
    fn two_causes() -> Diagnosis {
        let read = |name: &str| {
            let text = crate::builtin::example(name).unwrap();
            faultline_probe::report::Report::from_json(text.as_bytes()).unwrap()
        };
        let mut report = read("examples/conntrack-table-full-2.json");
        let other = read("examples/close-wait-leak-1.json");
        for o in other.observations {
            if report.observations.iter().all(|m| m.kind() != o.kind()) {
                report.observations.push(o);
            }
        }
        let d = diagnose(&builtin_matcher(), &report);
        assert_eq!(d.likely().count(), 2, "{:?}", d.summary().matches);
        d
    }

    #[test]
    fn evidence_ranks_first_then_the_choice_then_the_alert_text() {
        let d = two_causes();
        let top = d.likely().next().unwrap().playbook.clone();
        let chosen = Choice {
            playbook: "mtu-blackhole".into(),
            source: Source::Responder,
            who: "alice".into(),
            alertname: None,
            confirmed: false,
        };
        let suggested = [
            Suggestion {
                playbook: top.clone(),
                title: String::new(),
                relevance: 1.0,
            },
            Suggestion {
                playbook: "keepalive-race-502".into(),
                title: String::new(),
                relevance: 0.6,
            },
        ];
        let ranked = rank(&d, std::slice::from_ref(&chosen), &suggested);
        let order: Vec<(&str, Source)> = ranked
            .iter()
            .map(|r| (r.playbook.as_str(), r.source))
            .collect();
        assert_eq!(order[0], (top.as_str(), Source::Evidence));
        let at = |id: &str| order.iter().position(|o| o.0 == id).unwrap();
        assert_eq!(order[at("mtu-blackhole")].1, Source::Responder);
        assert_eq!(order[at("keepalive-race-502")].1, Source::Alert);
        assert!(at("mtu-blackhole") < at("keepalive-race-502"));
        assert_eq!(
            order.iter().filter(|o| o.0 == top).count(),
            1,
            "listed once"
        );
        assert!(
            !ranked[at("keepalive-race-502")].likely,
            "text never makes it likely"
        );
        assert_eq!(
            checklist(&ranked, &[chosen]).unwrap().playbook,
            "mtu-blackhole"
        );
        // A chosen playbook that is likely too: listed under the evidence,
        // still the checklist.
        let second = d.likely().nth(1).unwrap().playbook.clone();
        let likely_choice = Choice {
            playbook: second.clone(),
            source: Source::Responder,
            who: "alice".into(),
            alertname: None,
            confirmed: false,
        };
        let ranked = rank(&d, std::slice::from_ref(&likely_choice), &[]);
        assert_eq!(
            ranked.iter().find(|r| r.playbook == second).unwrap().source,
            Source::Evidence
        );
        assert_eq!(
            checklist(&ranked, &[likely_choice]).unwrap().playbook,
            second
        );
        // Without a choice: the top likely; without evidence: the text.
        assert_eq!(
            checklist(&rank(&d, &[], &suggested), &[]).unwrap().playbook,
            top
        );
        let nothing = Diagnosis {
            candidates: vec![],
            next_steps: vec![],
        };
        let ranked = rank(&nothing, &[], &suggested[1..]);
        assert_eq!(checklist(&ranked, &[]).unwrap().source, Source::Alert);
        assert_eq!((ranked[0].score, ranked[0].confidence), (0.0, 0.0));
    }
}
