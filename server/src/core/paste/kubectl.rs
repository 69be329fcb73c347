//! `kubectl get pods -o json` (a list or one pod), read by the probe's parser.

use faultline_probe::collect::k8s_pods;
use serde_json::Value;

use super::{Block, Claim, Found};

/// The JSON document: the whole block, or the lines from a `{` at the start
/// of a line to the matching `}` at the start of a line (kubectl's layout).
pub fn parse(block: &Block) -> Option<Claim> {
    let start = block.lines.iter().position(|l| l.starts_with('{'))?;
    // kubectl closes the document with a `}` alone at the start of a line.
    let mut ends: Vec<usize> = (start..block.lines.len())
        .filter(|i| block.lines[*i].trim_end() == "}")
        .collect();
    if ends.is_empty() {
        ends.push(start);
    }
    for &end in ends.iter().rev().take(3) {
        let text = block.lines[start..=end].join("\n");
        let Ok(doc) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if !is_pods(&doc) {
            return None;
        }
        let obs = k8s_pods::parse(&text).ok()?;
        return Some(Claim::new(
            (start..=end).collect(),
            vec![Found {
                obs,
                format: "kubectl get pods -o json",
            }],
        ));
    }
    None
}

/// A Pod, or a List/PodList whose items are pods.
fn is_pods(doc: &Value) -> bool {
    let pod = |v: &Value| v["kind"] == "Pod" || v.pointer("/spec/containers").is_some();
    match doc["kind"].as_str() {
        Some("Pod") => true,
        Some("List" | "PodList") => doc["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(pod)),
        _ => false,
    }
}
