//! Property tests for the playbook parser (proptest, stable toolchain, run
//! in CI): arbitrary input never panics, and every valid playbook survives
//! `Playbook::compose` then `Playbook::parse` unchanged.

use faultline::core::playbook::{Clause, FrontMatter, Layer, Playbook, SectionKind};
use proptest::prelude::*;

/// Text that looks like a playbook more often than random bytes do, so the
/// parser's deeper paths get exercised too.
fn playbookish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("+++\n".to_owned()),
        Just("id = \"x\"\n".to_owned()),
        Just("title = \"T\"\nalert = \"A\"\nlayer = \"dns\"\n".to_owned()),
        Just(
            "[[clause]]\nwhen = \"tcp.close_wait_share > 0.5\"\nweight = 2\nsays = \"s\"\n"
                .to_owned()
        ),
        Just("## Symptoms\n".to_owned()),
        Just("## Investigation\n1. **Step**\n   ```\n   ss -tan\n   ```\n".to_owned()),
        Just("## Root cause\n".to_owned()),
        Just("```\n".to_owned()),
        Just("\n".to_owned()),
        "[ -~]{0,20}\n",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = Playbook::parse("fuzz.md", &text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Playbook::parse("fuzz.md", &String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn playbook_shaped_text_never_panics(text in playbookish()) {
        if let Ok(p) = Playbook::parse("fuzz.md", &text) {
            // Whatever parses, parses again to the same thing.
            prop_assert_eq!(Playbook::parse("fuzz.md", p.source()).unwrap(), p);
        }
    }
}

fn id() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9-]{0,30}[a-z0-9]"
}

/// One line of text: no leading `#`, `-`, `=`, `+` or digits-and-dot that
/// would turn into headings, rules, fences or lists.
fn line() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9 ,;:()'\"<>&/]{0,50}"
}

fn markdown() -> impl Strategy<Value = String> {
    prop::collection::vec(line(), 1..5).prop_map(|lines| lines.join("\n"))
}

fn layer() -> impl Strategy<Value = Layer> {
    prop::sample::select(Layer::ALL.to_vec())
}

fn clause() -> impl Strategy<Value = Clause> {
    (
        prop::sample::select(vec![
            "tcp.close_wait_share > 0.5",
            "conntrack.fill >= 0.9",
            "dns.search_penalty_ms > 100",
        ]),
        1u32..=100,
        line(),
    )
        .prop_map(|(when, tenths, says)| Clause {
            when: when.to_owned(),
            weight: f64::from(tenths) / 10.0,
            says,
        })
}

fn front_matter() -> impl Strategy<Value = FrontMatter> {
    (
        id(),
        line(),
        line(),
        prop::collection::vec("[a-z0-9][a-z0-9-]{0,10}", 0..4),
        layer(),
        prop::collection::vec(clause(), 0..3),
    )
        .prop_map(|(id, title, alert, tags, layer, clauses)| FrontMatter {
            id,
            title,
            alert,
            tags,
            layer,
            clauses,
            examples: Vec::new(),
        })
}

fn sections() -> impl Strategy<Value = Vec<(SectionKind, String)>> {
    prop::collection::vec((any::<bool>(), markdown()), SectionKind::ALL.len()).prop_map(|v| {
        SectionKind::ALL
            .into_iter()
            .zip(v)
            .filter(|(_, (keep, _))| *keep)
            .map(|(kind, (_, text))| (kind, text))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn valid_playbooks_round_trip(meta in front_matter(), sections in sections()) {
        let composed = Playbook::compose(&meta, &sections)
            .unwrap_or_else(|e| panic!("a valid playbook was refused: {e}"));
        prop_assert_eq!(&composed.meta, &meta);
        let kinds: Vec<_> = composed.sections.iter().map(|s| s.kind).collect();
        let wanted: Vec<_> = sections.iter().map(|(k, _)| *k).collect();
        prop_assert_eq!(kinds, wanted);
        for (got, (_, text)) in composed.sections.iter().zip(&sections) {
            prop_assert_eq!(got.markdown.trim(), text.trim());
        }
        let reparsed = Playbook::parse(&format!("{}.md", meta.id), composed.source()).unwrap();
        prop_assert_eq!(reparsed, composed);
    }
}
