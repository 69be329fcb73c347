//! Alertmanager webhook payloads (version 4) and Grafana's variant of them,
//! read into alerts. Pure: no I/O.
//!
//! Grafana sends the same shape with `"version": "1"` and extra fields
//! (`orgId`, `title`, `state`, `message`, per alert `values`, `silenceURL`,
//! …), which are ignored. An alert without a `fingerprint` (older senders)
//! gets one computed from its labels, so deduplication still holds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// One alert of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub resolved: bool,
    pub fingerprint: String,
    pub starts_at: DateTime<Utc>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub generator_url: Option<String>,
}

impl Alert {
    pub fn alertname(&self) -> &str {
        self.labels
            .get("alertname")
            .map_or("unnamed alert", String::as_str)
    }

    pub fn severity(&self) -> &str {
        self.labels
            .get("severity")
            .map_or("warning", String::as_str)
    }

    /// The incident title: the summary annotation, else the alert name.
    pub fn title(&self) -> String {
        match self
            .annotations
            .get("summary")
            .filter(|s| !s.trim().is_empty())
        {
            Some(summary) => format!("{}: {}", self.alertname(), summary.trim()),
            None => self.alertname().to_owned(),
        }
    }

    /// The timeline event body.
    pub fn body(&self) -> Value {
        json!({
            "status": if self.resolved { "resolved" } else { "firing" },
            "alertname": self.alertname(),
            "fingerprint": self.fingerprint,
            "startsAt": self.starts_at.to_rfc3339(),
            "labels": self.labels,
            "summary": self.annotations.get("summary"),
            "annotations": self.annotations,
            "generatorURL": self.generator_url,
        })
    }
}

/// A payload that is not a webhook delivery, naming the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct PayloadError {
    pub field: String,
    pub problem: String,
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> PayloadError {
    PayloadError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Reads a webhook body.
pub fn parse(body: &[u8]) -> Result<Vec<Alert>, PayloadError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| bad("body", format!("not JSON: {e}")))?;
    let Some(root) = root.as_object() else {
        return Err(bad("body", "expected a JSON object"));
    };
    match root.get("version") {
        Some(Value::String(v)) if v == "4" || v == "1" => {}
        Some(Value::String(v)) => {
            return Err(bad(
                "version",
                format!("version {v:?} is not supported; Alertmanager sends \"4\", Grafana \"1\""),
            ));
        }
        Some(_) => return Err(bad("version", "expected a string such as \"4\"")),
        None => return Err(bad("version", "missing; Alertmanager sends \"4\"")),
    }
    let common_labels = string_map(root.get("commonLabels"), "commonLabels")?;
    let alerts = match root.get("alerts") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad("alerts", "expected an array")),
        None => return Err(bad("alerts", "missing")),
    };
    alerts
        .iter()
        .enumerate()
        .map(|(i, a)| alert(a, i, &common_labels))
        .collect()
}

fn alert(
    value: &Value,
    i: usize,
    common_labels: &BTreeMap<String, String>,
) -> Result<Alert, PayloadError> {
    let at = |field: &str| format!("alerts[{i}].{field}");
    let Some(a) = value.as_object() else {
        return Err(bad(format!("alerts[{i}]"), "expected an object"));
    };
    let resolved = match a.get("status").and_then(Value::as_str) {
        Some("firing") => false,
        Some("resolved") => true,
        Some(other) => {
            return Err(bad(
                at("status"),
                format!("{other:?} is neither \"firing\" nor \"resolved\""),
            ));
        }
        None => return Err(bad(at("status"), "missing")),
    };
    let mut labels = string_map(a.get("labels"), &at("labels"))?;
    for (k, v) in common_labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if labels.is_empty() {
        return Err(bad(at("labels"), "missing or empty"));
    }
    let annotations = string_map(a.get("annotations"), &at("annotations"))?;
    let starts_at = match a.get("startsAt").and_then(Value::as_str) {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                bad(
                    at("startsAt"),
                    format!("{s:?} is not an RFC 3339 time: {e}"),
                )
            })?,
        None => return Err(bad(at("startsAt"), "missing")),
    };
    let fingerprint = match a.get("fingerprint") {
        Some(Value::String(f)) if !f.trim().is_empty() => f.trim().to_owned(),
        Some(Value::String(_)) | None | Some(Value::Null) => label_fingerprint(&labels),
        Some(_) => return Err(bad(at("fingerprint"), "expected a string")),
    };
    if fingerprint.len() > 200 {
        return Err(bad(at("fingerprint"), "longer than 200 characters"));
    }
    let generator_url = a
        .get("generatorURL")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok(Alert {
        resolved,
        fingerprint,
        starts_at,
        labels,
        annotations,
        generator_url,
    })
}

fn string_map(
    value: Option<&Value>,
    field: &str,
) -> Result<BTreeMap<String, String>, PayloadError> {
    match value {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(bad(format!("{field}.{k}"), "expected a string")),
            })
            .collect(),
        Some(_) => Err(bad(field, "expected an object of strings")),
    }
}

/// A fingerprint from the labels, for senders that leave it out.
fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let text = serde_json::to_string(labels).unwrap_or_default();
    let digest = Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERTMANAGER: &str = r#"{
      "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0,
      "status": "firing", "receiver": "faultline",
      "groupLabels": {"alertname": "HighErrorRate"},
      "commonLabels": {"alertname": "HighErrorRate", "env": "prod"},
      "commonAnnotations": {}, "externalURL": "http://am:9093",
      "alerts": [{
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "service": "api", "severity": "critical"},
        "annotations": {"summary": "5xx above 5%"},
        "startsAt": "2026-11-24T03:00:00.123456789Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prom/graph", "fingerprint": "c0ffee1234567890"
      }]
    }"#;

    const GRAFANA: &str = r#"{
      "receiver": "faultline", "status": "resolved", "orgId": 1, "version": "1",
      "title": "[RESOLVED] DiskFull", "state": "ok", "message": "…",
      "groupLabels": {}, "commonLabels": {"alertname": "DiskFull"}, "commonAnnotations": {},
      "externalURL": "http://grafana:3000/", "groupKey": "{}", "truncatedAlerts": 0,
      "alerts": [{
        "status": "resolved", "labels": {"alertname": "DiskFull", "host": "db-1"},
        "annotations": {}, "startsAt": "2026-11-24T02:00:00+01:00",
        "endsAt": "2026-11-24T02:10:00+01:00", "generatorURL": "", "fingerprint": "",
        "silenceURL": "http://grafana/silence", "dashboardURL": "", "panelURL": "",
        "values": {"B": 91.5}, "valueString": "[ var='B' value=91.5 ]"
      }]
    }"#;

    #[test]
    fn reads_alertmanager_v4() {
        let alerts = parse(ALERTMANAGER.as_bytes()).unwrap();
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert!(!a.resolved);
        assert_eq!(a.fingerprint, "c0ffee1234567890");
        assert_eq!(a.labels["env"], "prod", "common labels fill in");
        assert_eq!(a.title(), "HighErrorRate: 5xx above 5%");
        assert_eq!(a.severity(), "critical");
        assert_eq!(
            a.starts_at.to_rfc3339(),
            "2026-11-24T03:00:00.123456789+00:00"
        );
    }

    #[test]
    fn reads_grafana_and_fingerprints_from_labels() {
        let alerts = parse(GRAFANA.as_bytes()).unwrap();
        let a = &alerts[0];
        assert!(a.resolved);
        assert_eq!(a.fingerprint.len(), 16);
        assert_eq!(
            a.fingerprint,
            parse(GRAFANA.as_bytes()).unwrap()[0].fingerprint
        );
        assert_eq!(a.starts_at.to_rfc3339(), "2026-11-24T01:00:00+00:00");
        assert_eq!(a.generator_url, None);
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        let field = |body: &str| parse(body.as_bytes()).unwrap_err().field;
        assert_eq!(field("nope"), "body");
        assert_eq!(field("[]"), "body");
        assert_eq!(field(r#"{"alerts": []}"#), "version");
        assert_eq!(field(r#"{"version": "3", "alerts": []}"#), "version");
        assert_eq!(field(r#"{"version": "4"}"#), "alerts");
        let one = |alert: &str| field(&format!(r#"{{"version": "4", "alerts": [{alert}]}}"#));
        assert_eq!(
            one(r#"{"labels": {"a": "b"}, "startsAt": "2026-01-01T00:00:00Z"}"#),
            "alerts[0].status"
        );
        assert_eq!(
            one(r#"{"status": "firing", "labels": {"a": "b"}, "startsAt": "yesterday"}"#),
            "alerts[0].startsAt"
        );
        assert_eq!(
            one(r#"{"status": "firing", "labels": {"a": 1}, "startsAt": "2026-01-01T00:00:00Z"}"#),
            "alerts[0].labels.a"
        );
        assert_eq!(
            one(
                r#"{"status": "pending", "labels": {"a": "b"}, "startsAt": "2026-01-01T00:00:00Z"}"#
            ),
            "alerts[0].status"
        );
    }
}
