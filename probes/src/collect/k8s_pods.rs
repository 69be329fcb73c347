//! `k8s_pods`: pod facts from `kubectl get pods -o json` (a file or stdin).

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::report::{K8sPod, K8sPods, Observation};

/// Reads a `kubectl get pods -o json` document from a file, or stdin for `-`.
pub fn collect(source: &str) -> Result<Observation> {
    let text = if source == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading pods JSON from stdin")?;
        s
    } else {
        std::fs::read_to_string(Path::new(source)).with_context(|| format!("reading {source}"))?
    };
    parse(&text)
}

/// Parses a pod list (or a single pod).
pub fn parse(text: &str) -> Result<Observation> {
    let doc: Value = serde_json::from_str(text).context("pods JSON is not valid JSON")?;
    let items = match doc.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => vec![doc],
    };
    let pods = items.iter().map(pod).collect();
    Ok(K8sPods { pods }.into())
}

fn pod(p: &Value) -> K8sPod {
    let str_at = |ptr: &str| {
        p.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let containers = array(p, "/spec/containers");
    let statuses = array(p, "/status/containerStatuses");
    let all = |f: &dyn Fn(&Value) -> bool| !containers.is_empty() && containers.iter().all(f);
    K8sPod {
        namespace: str_at("/metadata/namespace"),
        name: str_at("/metadata/name"),
        restarts: statuses
            .iter()
            .filter_map(|s| s.get("restartCount")?.as_i64())
            .sum(),
        last_terminated_reason: statuses
            .iter()
            .filter_map(|s| s.pointer("/lastState/terminated/reason")?.as_str())
            .next()
            .map(str::to_string),
        ready: array(p, "/status/conditions")
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True"),
        has_readiness_probe: all(&|c| c.get("readinessProbe").is_some()),
        has_pre_stop: all(&|c| c.pointer("/lifecycle/preStop").is_some()),
        dns_ndots: ndots(p),
    }
}

fn array<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// `spec.dnsConfig.options[name=ndots].value` (a string in the API).
fn ndots(p: &Value) -> Option<i64> {
    array(p, "/spec/dnsConfig/options")
        .iter()
        .find(|o| o["name"] == "ndots")
        .and_then(|o| match &o["value"] {
            Value::String(s) => s.parse().ok(),
            v => v.as_i64(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_pods_parse() {
        let text = include_str!("../../tests/fixtures/pods.json");
        let Observation::K8sPods(k) = parse(text).unwrap() else {
            panic!()
        };
        assert_eq!(k.pods.len(), 2);
        let api = &k.pods[0];
        assert_eq!(
            (api.namespace.as_str(), api.name.as_str()),
            ("shop", "api-7d9f-abcde")
        );
        assert_eq!(api.restarts, 7);
        assert_eq!(api.last_terminated_reason.as_deref(), Some("OOMKilled"));
        assert!(!api.ready && api.has_readiness_probe && !api.has_pre_stop);
        assert_eq!(api.dns_ndots, Some(2));
        let web = &k.pods[1];
        assert!(web.ready && web.has_pre_stop && !web.has_readiness_probe);
        assert_eq!(
            (
                web.restarts,
                web.dns_ndots,
                web.last_terminated_reason.clone()
            ),
            (0, None, None)
        );
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(format!("{:#}", parse("not json").unwrap_err()).contains("not valid JSON"));
    }
}
