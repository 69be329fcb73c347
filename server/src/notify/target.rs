//! Where messages go: targets from the config file and from `/admin`, their
//! secret addresses, and routing by the incident's labels.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::StoredTarget;

/// The receiver's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Our own JSON (`faultline.notification.v1`), for scripts and bridges.
    Webhook,
    /// A Slack incoming webhook: Block Kit.
    Slack,
    /// A Microsoft Teams workflow webhook: an Adaptive Card.
    Teams,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Webhook, Kind::Slack, Kind::Teams];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Slack => "slack",
            Kind::Teams => "teams",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Webhook => "JSON webhook",
            Kind::Slack => "Slack",
            Kind::Teams => "Microsoft Teams",
        }
    }
}

/// What happened to the incident that a message tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// An incident opened (by hand, an alert or a report). Carries the
    /// diagnosis it opened with.
    Opened,
    /// The top likely candidate changed (new evidence).
    Diagnosis,
    /// An engineer marked a candidate right or wrong.
    Verdict,
    /// The incident was resolved.
    Resolved,
}

impl Trigger {
    pub const ALL: [Trigger; 4] = [
        Trigger::Opened,
        Trigger::Diagnosis,
        Trigger::Verdict,
        Trigger::Resolved,
    ];

    pub fn all() -> Vec<Trigger> {
        Self::ALL.to_vec()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Opened => "opened",
            Trigger::Diagnosis => "diagnosis",
            Trigger::Verdict => "verdict",
            Trigger::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Trigger> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A webhook address. It is a credential (whoever has a Slack or Teams
/// webhook address can post to the channel), so `Debug` and `Display` show
/// only its scheme and host: [`WebhookUrl::redacted`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// An absolute `http://` or `https://` address with a host.
    pub fn parse(url: &str) -> Result<WebhookUrl, String> {
        let url = url.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or("the address must start with https:// (or http://)")?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err("the address needs a host (and no user:password@)".into());
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the address may not hold spaces".into());
        }
        if url.len() > 2048 {
            return Err("the address is longer than 2048 characters".into());
        }
        Ok(WebhookUrl(url.to_owned()))
    }

    /// The whole address, to send to. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `https://hooks.slack.com/…`: enough to tell targets apart, nothing
    /// that lets anyone post.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

/// Scheme and host of an address, the rest replaced by `…`.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // No user:password@ either.
    let host = authority.rsplit('@').next().unwrap_or_default();
    let more = if end < rest.len() { "/…" } else { "" };
    if scheme.is_empty() {
        format!("{host}{more}")
    } else {
        format!("{scheme}://{host}{more}")
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A target name: 1 to 64 of letters, digits, `-`, `_`, `.`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a target name: 1 to 64 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// Where a target was set up.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    ConfigFile,
    Admin { by: String, at: DateTime<Utc> },
}

/// A target ready to send to.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub kind: Kind,
    pub url: WebhookUrl,
    pub labels: BTreeMap<String, String>,
    pub events: Vec<Trigger>,
    pub fallback: bool,
    pub source: Source,
}

impl Target {
    /// Whether every label the target asks for is on the incident.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    pub fn wants(&self, trigger: Trigger) -> bool {
        self.events.contains(&trigger)
    }

    /// `service=payments, zone=eu` (empty: every incident).
    pub fn labels_text(&self) -> String {
        self.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn from_settings(s: &super::TargetSettings) -> Option<Target> {
        Some(Target {
            name: s.name.clone(),
            kind: s.kind,
            url: s.url.clone()?,
            labels: s.labels.clone(),
            events: s.events.clone(),
            fallback: s.fallback,
            source: Source::ConfigFile,
        })
    }

    /// A stored target; `None` (logged) if what is stored no longer reads.
    pub fn from_stored(s: StoredTarget) -> Option<Target> {
        let kind = Kind::parse(&s.kind);
        let url = WebhookUrl::parse(&s.url).ok();
        let events: Option<Vec<Trigger>> = s.events.iter().map(|e| Trigger::parse(e)).collect();
        match (kind, url, events) {
            (Some(kind), Some(url), Some(events)) => Some(Target {
                name: s.name,
                kind,
                url,
                labels: s.labels,
                events,
                fallback: s.fallback,
                source: Source::Admin {
                    by: s.created_by,
                    at: s.created_at,
                },
            }),
            _ => {
                tracing::error!(target_name = %s.name, "stored notification target does not read; skipped");
                None
            }
        }
    }
}

/// The targets an incident with these labels goes to: every target whose
/// labels it carries; the fallback targets only when no other target
/// matched. Which events each one takes is its own filter
/// ([`Target::wants`]), applied afterwards: routing is by labels alone.
pub fn route<'a>(targets: &'a [Target], labels: &BTreeMap<String, String>) -> Vec<&'a Target> {
    let routed: Vec<&Target> = targets
        .iter()
        .filter(|t| !t.fallback && t.matches(labels))
        .collect();
    if !routed.is_empty() {
        return routed;
    }
    targets
        .iter()
        .filter(|t| t.fallback && t.matches(labels))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, labels: &[(&str, &str)], fallback: bool) -> Target {
        Target {
            name: name.into(),
            kind: Kind::Webhook,
            url: WebhookUrl::parse("http://127.0.0.1:1/x").unwrap(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            events: Trigger::all(),
            fallback,
            source: Source::ConfigFile,
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn names(routed: Vec<&Target>) -> Vec<&str> {
        routed.into_iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn labels_route_and_the_fallback_takes_the_rest() {
        let targets = [
            target("payments", &[("service", "payments")], false),
            target("search", &[("service", "search")], false),
            target(
                "eu-payments",
                &[("service", "payments"), ("zone", "eu")],
                false,
            ),
            target("everything-else", &[], true),
        ];
        let pay = labels(&[("service", "payments"), ("host", "web-1")]);
        assert_eq!(names(route(&targets, &pay)), ["payments"]);
        let pay_eu = labels(&[("service", "payments"), ("zone", "eu")]);
        assert_eq!(names(route(&targets, &pay_eu)), ["payments", "eu-payments"]);
        let other = labels(&[("service", "checkout")]);
        assert_eq!(names(route(&targets, &other)), ["everything-else"]);
        assert_eq!(
            names(route(&targets, &BTreeMap::new())),
            ["everything-else"]
        );
        // A target with no labels takes every incident, so no fallback runs.
        let with_all = [target("all", &[], false), target("rest", &[], true)];
        assert_eq!(names(route(&with_all, &other)), ["all"]);
    }

    #[test]
    fn addresses_are_checked_and_never_shown_whole() {
        let url =
            WebhookUrl::parse("https://hooks.slack.com/services/T000/B000/XXXXSECRET").unwrap();
        assert_eq!(url.redacted(), "https://hooks.slack.com/…");
        assert_eq!(format!("{url:?} {url}").matches("SECRET").count(), 0);
        assert_eq!(
            redact("https://prod-01.westus.logic.azure.com:443/workflows/abc?sig=s3cret"),
            "https://prod-01.westus.logic.azure.com:443/…"
        );
        assert_eq!(redact("http://u:p@host:8080"), "http://host:8080");
        for bad in [
            "hooks.slack.com/x",
            "ftp://h/x",
            "https:///x",
            "https://u:p@h/x",
            "https://h/a b",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(check_name("payments-slack_1.eu").is_ok());
        assert!(check_name("").is_err() && check_name("a b").is_err());
    }
}
