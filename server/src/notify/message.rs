//! What a message says, and how each kind of receiver gets it: our JSON
//! (`faultline.notification.v1`), Slack Block Kit, a Teams Adaptive Card.
//! Pure: built from the incident and its diagnosis, no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::target::{Kind, Trigger};
use crate::core::clause::Truth;
use crate::core::matcher::{Candidate, Diagnosis};
use crate::store::Incident;

/// The payload's schema name.
pub const SCHEMA: &str = "faultline.notification.v1";
/// Candidates a message lists.
const CANDIDATES: usize = 3;
/// Evidence lines per candidate.
const EVIDENCE: usize = 3;

#[derive(Debug, Clone, Serialize)]
pub struct IncidentPart {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub severity: String,
    pub labels: BTreeMap<String, String>,
    pub opened_at: String,
    pub opened_by: String,
    pub resolved_at: Option<String>,
    pub url: String,
}

/// One clause that held, as evidence for a candidate.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceLine {
    /// Why it points here, in one line (the clause's `says`).
    pub says: String,
    /// The clause's expression.
    pub when: String,
    /// The measured signals it read, formatted.
    pub observed: BTreeMap<String, String>,
    /// Its share of the score.
    pub contribution: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CandidatePart {
    pub playbook: String,
    pub title: String,
    pub score: f64,
    pub confidence: f64,
    pub likely: bool,
    pub evidence: Vec<EvidenceLine>,
    pub playbook_url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerdictPart {
    pub playbook: String,
    pub title: String,
    /// `right` or `wrong`.
    pub verdict: String,
    pub who: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LinksPart {
    pub incident: String,
    /// The playbook of the top likely candidate (or the one a verdict or
    /// resolution is about).
    pub playbook: Option<String>,
    /// Signed links that open the incident page with that verdict on the
    /// top candidate filled in, to confirm after logging in.
    pub right: Option<String>,
    pub wrong: Option<String>,
}

/// One message, whatever the receiver.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub schema: &'static str,
    pub event: Trigger,
    pub sent_at: String,
    /// One line saying what happened, for notifications and fallbacks.
    pub summary: String,
    pub incident: IncidentPart,
    /// The top likely candidate's playbook id, `None` when nothing is likely.
    pub likely: Option<String>,
    /// The ranked diagnosis: likely candidates first, up to three.
    pub candidates: Vec<CandidatePart>,
    pub verdict: Option<VerdictPart>,
    pub links: LinksPart,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The clauses that held for a candidate, heaviest first.
fn evidence(c: &Candidate) -> Vec<EvidenceLine> {
    let mut held: Vec<_> = c
        .clauses
        .iter()
        .filter(|cl| cl.state == Truth::True && cl.contribution > 0.0)
        .collect();
    held.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
    held.into_iter()
        .take(EVIDENCE)
        .map(|cl| EvidenceLine {
            says: cl.says.clone(),
            when: cl.when.clone(),
            observed: cl
                .observed
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            contribution: round(cl.contribution),
        })
        .collect()
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What goes into a message besides the incident and its diagnosis.
pub struct Context<'a> {
    pub trigger: Trigger,
    pub verdict: Option<VerdictPart>,
    /// Link makers: the incident, a playbook, and the signed verdict links
    /// for a playbook (`None` when they could not be signed).
    pub incident_url: String,
    pub playbook_url: &'a dyn Fn(&str) -> String,
    pub verdict_urls: &'a dyn Fn(&str) -> Option<(String, String)>,
    pub now: DateTime<Utc>,
}

impl Message {
    pub fn new(incident: &Incident, diagnosis: &Diagnosis, cx: Context<'_>) -> Message {
        let likely: Vec<&Candidate> = diagnosis.likely().collect();
        let shown: Vec<&Candidate> = if likely.is_empty() {
            // Nothing likely: the best few that scored at all, marked so.
            diagnosis
                .candidates
                .iter()
                .filter(|c| c.score > 0.0)
                .take(CANDIDATES)
                .collect()
        } else {
            likely.iter().copied().take(CANDIDATES).collect()
        };
        let candidates: Vec<CandidatePart> = shown
            .iter()
            .map(|c| CandidatePart {
                playbook: c.playbook.clone(),
                title: c.title.clone(),
                score: round(c.score),
                confidence: round(c.confidence),
                likely: c.likely,
                evidence: evidence(c),
                playbook_url: (cx.playbook_url)(&c.playbook),
            })
            .collect();
        let top = likely.first().map(|c| c.playbook.clone());
        // The playbook the links are about: the verdict's, else the top
        // likely candidate.
        let about = cx
            .verdict
            .as_ref()
            .map(|v| v.playbook.clone())
            .or_else(|| top.clone());
        let (right, wrong) = match &about {
            Some(p) if cx.verdict.is_none() => match (cx.verdict_urls)(p) {
                Some((r, w)) => (Some(r), Some(w)),
                None => (None, None),
            },
            _ => (None, None),
        };
        let links = LinksPart {
            incident: cx.incident_url.clone(),
            playbook: about.as_deref().map(cx.playbook_url),
            right,
            wrong,
        };
        let top_title = likely.first().map(|c| c.title.as_str());
        let summary = summary(incident, cx.trigger, top_title, cx.verdict.as_ref());
        Message {
            schema: SCHEMA,
            event: cx.trigger,
            sent_at: time(cx.now),
            summary,
            incident: IncidentPart {
                id: incident.id,
                title: incident.title.clone(),
                status: incident.status.as_str().to_owned(),
                severity: incident.severity.clone(),
                labels: incident.labels.clone(),
                opened_at: time(incident.opened_at),
                opened_by: incident.opened_by.clone(),
                resolved_at: incident.resolved_at.map(time),
                url: cx.incident_url,
            },
            likely: top,
            candidates,
            verdict: cx.verdict,
            links,
        }
    }

    /// The body for a receiver of this kind.
    pub fn render(&self, kind: Kind) -> Value {
        match kind {
            Kind::Webhook => serde_json::to_value(self).unwrap_or(Value::Null),
            Kind::Slack => self.slack(),
            Kind::Teams => self.teams(),
        }
    }

    fn top(&self) -> Option<&CandidatePart> {
        self.candidates.first().filter(|c| c.likely)
    }

    /// "severity warning · open · service=payments, host=web-1"
    fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts = vec![
            ("Severity", self.incident.severity.clone()),
            ("Status", self.incident.status.clone()),
        ];
        if !self.incident.labels.is_empty() {
            facts.push((
                "Labels",
                self.incident
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        facts
    }

    /// Slack Block Kit: a header, the facts, the diagnosis with its
    /// evidence, and the links in one line (`<url|text>` links, which an
    /// incoming webhook needs no app interactivity for).
    fn slack(&self) -> Value {
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": cut(&format!("{} #{}: {}", self.event_title(), self.incident.id, self.incident.title), 150)}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&self.facts().iter().map(|(k, v)| format!("*{k}:* {}", slack_escape(v))).collect::<Vec<_>>().join("   "), 3000)}}),
        ];
        if let Some(v) = &self.verdict {
            let mut text = format!(
                "*{}* marked *{}* {}",
                slack_escape(&v.who),
                slack_escape(&v.title),
                if v.verdict == "right" {
                    "right ✅"
                } else {
                    "wrong ❌"
                }
            );
            if let Some(c) = &v.comment {
                text.push_str(&format!(": “{}”", slack_escape(c)));
            }
            blocks.push(
                json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&text, 3000)}}),
            );
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&self.slack_diagnosis(), 3000)}}));
        let mut links = vec![format!(
            "<{}|Open incident {}>",
            self.links.incident, self.incident.id
        )];
        if let Some(p) = &self.links.playbook {
            links.push(format!("<{p}|Playbook>"));
        }
        if let (Some(r), Some(w)) = (&self.links.right, &self.links.wrong) {
            links.push(format!("Diagnosis right? <{r}|Right> · <{w}|Wrong>"));
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&links.join("  ·  "), 3000)}}));
        json!({"text": slack_escape(&self.summary), "blocks": blocks})
    }

    fn slack_diagnosis(&self) -> String {
        if self.candidates.is_empty() {
            return "_No likely diagnosis yet: nothing measured matches a playbook._".to_owned();
        }
        let mut out = String::new();
        for (i, c) in self.candidates.iter().enumerate() {
            let lead = match (i, c.likely) {
                (0, true) => "*Likely:*",
                (_, true) => "*Also likely:*",
                (_, false) => "*Not likely yet:*",
            };
            out.push_str(&format!(
                "{lead} <{}|{}> — score {:.0}%, confidence {:.0}%\n",
                c.playbook_url,
                slack_escape(&c.title),
                c.score * 100.0,
                c.confidence * 100.0
            ));
            for e in &c.evidence {
                out.push_str(&format!(
                    "• {}{}\n",
                    slack_escape(&e.says),
                    slack_escape(&observed(e))
                ));
            }
        }
        out
    }

    fn event_title(&self) -> &'static str {
        match self.event {
            Trigger::Opened => "Incident opened",
            Trigger::Diagnosis => "Diagnosis changed",
            Trigger::Verdict => "Verdict given",
            Trigger::Resolved => "Incident resolved",
        }
    }

    /// A Teams workflow webhook's message: one Adaptive Card (version 1.4,
    /// which Teams renders everywhere) with the links as `Action.OpenUrl`.
    fn teams(&self) -> Value {
        let mut body = vec![
            json!({"type": "TextBlock", "text": format!("{} #{}", self.event_title(), self.incident.id), "size": "Small", "isSubtle": true, "wrap": true}),
            json!({"type": "TextBlock", "text": self.incident.title, "size": "Large", "weight": "Bolder", "wrap": true}),
            json!({"type": "FactSet", "facts": self.facts().iter().map(|(k, v)| json!({"title": k, "value": v})).collect::<Vec<_>>()}),
        ];
        if let Some(v) = &self.verdict {
            let mut text = format!("{} marked “{}” {}", v.who, v.title, v.verdict);
            if let Some(c) = &v.comment {
                text.push_str(&format!(": “{c}”"));
            }
            body.push(json!({"type": "TextBlock", "text": text, "wrap": true}));
        }
        if self.candidates.is_empty() {
            body.push(json!({"type": "TextBlock", "text": "No likely diagnosis yet: nothing measured matches a playbook.", "wrap": true, "isSubtle": true}));
        }
        for (i, c) in self.candidates.iter().enumerate() {
            let lead = match (i, c.likely) {
                (0, true) => "Likely",
                (_, true) => "Also likely",
                (_, false) => "Not likely yet",
            };
            body.push(json!({"type": "TextBlock", "text": format!("{lead}: {} — score {:.0}%, confidence {:.0}%", c.title, c.score * 100.0, c.confidence * 100.0), "weight": "Bolder", "wrap": true, "spacing": "Medium"}));
            for e in &c.evidence {
                body.push(json!({"type": "TextBlock", "text": format!("- {}{}", e.says, observed(e)), "wrap": true, "spacing": "None"}));
            }
        }
        let mut actions = vec![
            json!({"type": "Action.OpenUrl", "title": format!("Open incident {}", self.incident.id), "url": self.links.incident}),
        ];
        if let Some(p) = &self.links.playbook {
            actions.push(json!({"type": "Action.OpenUrl", "title": "Playbook", "url": p}));
        }
        if let (Some(r), Some(w)) = (&self.links.right, &self.links.wrong) {
            let title = self.top().map_or("the diagnosis", |c| c.title.as_str());
            actions.push(
                json!({"type": "Action.OpenUrl", "title": format!("Right: {title}"), "url": r}),
            );
            actions.push(json!({"type": "Action.OpenUrl", "title": "Wrong", "url": w}));
        }
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "msteams": {"width": "Full"},
                    "body": body,
                    "actions": actions,
                }
            }]
        })
    }
}

/// " (tcp.close_wait_share = 0.62)" or "".
fn observed(e: &EvidenceLine) -> String {
    if e.observed.is_empty() {
        return String::new();
    }
    let values: Vec<String> = e
        .observed
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    format!(" ({})", values.join(", "))
}

fn summary(
    incident: &Incident,
    trigger: Trigger,
    top: Option<&str>,
    verdict: Option<&VerdictPart>,
) -> String {
    let id = incident.id;
    let title = &incident.title;
    let likely = top.map_or_else(
        || "no likely diagnosis yet".to_owned(),
        |t| format!("likely: {t}"),
    );
    match (trigger, verdict) {
        (Trigger::Opened, _) => format!("Incident {id} opened: {title} ({likely})"),
        (Trigger::Diagnosis, _) => format!("Incident {id}, {title}: diagnosis changed, {likely}"),
        (Trigger::Verdict, Some(v)) => format!(
            "Incident {id}, {title}: {} marked “{}” {}",
            v.who, v.title, v.verdict
        ),
        (Trigger::Verdict, None) => format!("Incident {id}, {title}: verdict given"),
        (Trigger::Resolved, _) => format!("Incident {id} resolved: {title}"),
    }
}

/// Slack's three control characters in text (`&`, `<`, `>`).
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, an ellipsis marking a cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::matcher::ClauseResult;
    use crate::core::signals::SignalValue;
    use crate::store::IncidentStatus;

    fn incident() -> Incident {
        Incident {
            id: 42,
            title: "Connections pile up in CLOSE_WAIT <api> & co".into(),
            status: IncidentStatus::Open,
            severity: "warning".into(),
            labels: BTreeMap::from([("service".into(), "payments".into())]),
            playbook: None,
            opened_at: Utc::now(),
            opened_by: "node-5".into(),
            resolved_at: None,
            group_key: None,
        }
    }

    fn candidate(id: &str, likely: bool, score: f64) -> Candidate {
        Candidate {
            playbook: id.into(),
            title: format!("Title of {id}"),
            score,
            confidence: 0.9,
            likely,
            clauses: vec![
                ClauseResult {
                    when: "tcp.close_wait_share > 0.3".into(),
                    says: "many sockets wait for the application to close".into(),
                    weight: 3.0,
                    state: Truth::True,
                    observed: BTreeMap::from([(
                        "tcp.close_wait_share".into(),
                        SignalValue::Number(0.62),
                    )]),
                    missing: vec![],
                    contribution: 0.5,
                },
                ClauseResult {
                    when: "fd.fill > 0.8".into(),
                    says: "file descriptors near the limit".into(),
                    weight: 1.0,
                    state: Truth::False,
                    observed: BTreeMap::new(),
                    missing: vec![],
                    contribution: -0.1,
                },
            ],
            rules_out: vec![],
            evidence_to_collect: vec![],
        }
    }

    fn message(trigger: Trigger, diagnosis: &Diagnosis) -> Message {
        Message::new(
            &incident(),
            diagnosis,
            Context {
                trigger,
                verdict: None,
                incident_url: "https://f.example/incidents/42".into(),
                playbook_url: &|p| format!("https://f.example/playbooks/{p}"),
                verdict_urls: &|p| {
                    Some((
                        format!("https://f.example/incidents/42?verdict=right&playbook={p}"),
                        format!("https://f.example/incidents/42?verdict=wrong&playbook={p}"),
                    ))
                },
                now: Utc::now(),
            },
        )
    }

    #[test]
    fn every_format_carries_the_top_candidate_its_evidence_and_the_links() {
        let d = Diagnosis {
            candidates: vec![
                candidate("close-wait-leak", true, 0.8),
                candidate("idle-timeout-reset", false, 0.2),
            ],
            next_steps: vec![],
        };
        let m = message(Trigger::Opened, &d);
        assert_eq!(m.likely.as_deref(), Some("close-wait-leak"));
        assert_eq!(m.candidates.len(), 1, "only likely ones when any is");
        assert_eq!(m.candidates[0].evidence.len(), 1, "clauses that held only");

        let hook = m.render(Kind::Webhook);
        assert_eq!(hook["schema"], SCHEMA);
        assert_eq!(hook["event"], "opened");
        assert_eq!(hook["incident"]["labels"]["service"], "payments");
        assert_eq!(
            hook["candidates"][0]["evidence"][0]["observed"]["tcp.close_wait_share"],
            "0.620"
        );
        assert_eq!(
            hook["links"]["playbook"],
            "https://f.example/playbooks/close-wait-leak"
        );
        assert!(
            hook["links"]["right"]
                .as_str()
                .unwrap()
                .contains("verdict=right")
        );

        let slack = m.render(Kind::Slack).to_string();
        for needle in [
            "https://f.example/incidents/42|Open incident 42",
            "https://f.example/playbooks/close-wait-leak|Playbook",
            "verdict=right&playbook=close-wait-leak|Right",
            "Title of close-wait-leak",
            "tcp.close_wait_share = 0.620",
        ] {
            assert!(slack.contains(needle), "{needle} not in {slack}");
        }
        // Slack's control characters escaped in mrkdwn text, not in plain text.
        let slack = m.render(Kind::Slack);
        assert!(
            slack["text"]
                .as_str()
                .unwrap()
                .contains("&lt;api&gt; &amp; co")
        );
        assert!(
            slack["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("<api> & co")
        );
        let teams = m.render(Kind::Teams);
        let card = &teams["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        let urls: Vec<&str> = card["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["url"].as_str().unwrap())
            .collect();
        assert_eq!(urls.len(), 4);
        assert!(urls[0].ends_with("/incidents/42") && urls[1].ends_with("/close-wait-leak"));
    }

    #[test]
    fn nothing_likely_says_so_and_offers_no_verdict_links() {
        let d = Diagnosis {
            candidates: vec![candidate("idle-timeout-reset", false, 0.2)],
            next_steps: vec![],
        };
        let m = message(Trigger::Opened, &d);
        assert_eq!(m.likely, None);
        assert!(
            m.summary.contains("no likely diagnosis yet"),
            "{}",
            m.summary
        );
        assert!(!m.candidates[0].likely);
        assert!(m.links.right.is_none() && m.links.playbook.is_none());
        let slack = m.render(Kind::Slack).to_string();
        assert!(slack.contains("Not likely yet"), "{slack}");
        assert!(!slack.contains("|Right>"), "{slack}");
    }

    #[test]
    fn long_titles_fit_slack_limits() {
        let mut i = incident();
        i.title = "x".repeat(400);
        let d = Diagnosis {
            candidates: vec![],
            next_steps: vec![],
        };
        let m = Message::new(
            &i,
            &d,
            Context {
                trigger: Trigger::Resolved,
                verdict: None,
                incident_url: "u".into(),
                playbook_url: &|p| p.to_owned(),
                verdict_urls: &|_| None,
                now: Utc::now(),
            },
        );
        let slack = m.render(Kind::Slack);
        let header = slack["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(header.chars().count(), 150);
    }
}
