//! The knowledge base that ships inside the binary.

use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/playbooks"]
struct Playbooks;

#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/content"]
struct Content;

/// Example reports: each playbook's self-test evidence, and healthy hosts.
#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/playbooks/examples"]
// rust-embed walks sub-folders (healthy/), named "healthy/x.json"; a test checks.
struct Examples;

/// An example report by the path a playbook's `[[example]]` gives
/// (`examples/<id>-1.json`), as JSON text.
pub fn example(report: &str) -> Option<String> {
    let name = report.strip_prefix("examples/").unwrap_or(report);
    Examples::get(name).map(|f| String::from_utf8_lossy(&f.data).into_owned())
}

/// The healthy reports as (file name, JSON text), sorted by name.
pub fn healthy_examples() -> Vec<(String, String)> {
    let mut names: Vec<_> = Examples::iter()
        .filter(|n| n.starts_with("healthy/"))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| Some((name.to_string(), example(&name)?)))
        .collect()
}

/// Every built-in playbook as (file name, text), sorted by file name.
pub fn playbooks() -> Vec<(String, String)> {
    let mut names: Vec<_> = Playbooks::iter().filter(|n| n.ends_with(".md")).collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let file = Playbooks::get(&name)?;
            let text = String::from_utf8_lossy(&file.data).into_owned();
            Some((name.into_owned(), text))
        })
        .collect()
}

/// The page of lessons that cut across the playbooks, as Markdown.
pub fn lessons() -> String {
    Content::get("lessons.md")
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::playbook::Playbook;

    /// The built-in playbook ids (ARCHITECTURE.md, "Formats and contracts"), each complete.
    pub const REQUIRED: [&str; 13] = [
        "keepalive-race-502",
        "dns-ndots-search-delay",
        "idle-timeout-reset",
        "tls-version-mismatch",
        "crashing-endpoint-refused",
        "close-wait-leak",
        "tls-incomplete-chain",
        "missing-masquerade",
        "periodic-saturation-p99",
        "reconnect-storm-syn-flood",
        "mtu-blackhole",
        "termination-drain-race",
        "conntrack-table-full",
    ];

    #[test]
    fn every_required_playbook_ships_complete() {
        let shipped: Vec<Playbook> = playbooks()
            .iter()
            .map(|(name, text)| Playbook::parse(name, text).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        for id in REQUIRED {
            let p = shipped
                .iter()
                .find(|p| p.id() == id)
                .unwrap_or_else(|| panic!("missing built-in {id}"));
            assert!(
                p.missing_sections().is_empty(),
                "{id} lacks {:?}",
                p.missing_sections()
            );
            let steps = p.steps();
            assert!(
                steps.len() >= 3,
                "{id} has {} investigation steps",
                steps.len()
            );
            assert!(
                steps.iter().all(|s| !s.commands.is_empty()),
                "{id}: every step names the command to run"
            );
        }
        for (name, text) in playbooks() {
            let p = Playbook::parse(&name, &text).unwrap();
            assert_eq!(format!("{}.md", p.id()), name, "file name matches id");
        }
    }

    #[test]
    fn examples_and_healthy_reports_are_embedded_with_their_folders() {
        assert!(example("examples/close-wait-leak-1.json").is_some());
        assert!(example("examples/no-such-report.json").is_none());
        let healthy: Vec<_> = healthy_examples().into_iter().map(|(n, _)| n).collect();
        assert!(
            healthy.contains(&"healthy/quiet-host.json".to_string()),
            "{healthy:?}"
        );
        assert!(
            healthy.contains(&"healthy/busy-host.json".to_string()),
            "{healthy:?}"
        );
        for (name, text) in playbooks() {
            let p = Playbook::parse(&name, &text).unwrap();
            for e in &p.meta.examples {
                assert!(
                    example(&e.report).is_some(),
                    "{name}: {} is not embedded",
                    e.report
                );
            }
        }
    }

    #[test]
    fn lessons_link_to_playbooks() {
        let lessons = lessons();
        assert!(lessons.starts_with("# "), "lessons page has a title");
        let linked = REQUIRED
            .iter()
            .filter(|id| lessons.contains(&format!("/playbooks/{id}")))
            .count();
        assert!(linked >= 8, "lessons link to {linked} playbooks");
    }
}
