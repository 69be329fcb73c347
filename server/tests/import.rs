//! Import and export against readable fixture files, among them a long
//! scenario document (our own casebook of thirteen network failures, laid out
//! the way such documents usually are).

use std::fs;
use std::path::{Path, PathBuf};

use faultline::core::playbook::{Layer, Playbook, SectionKind};
use faultline::import::{
    Format, ImportError, Imported, MAX_FILE_BYTES, dry_run_json, export_file_name, export_to_dir,
    import_path, import_paths, import_text,
};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(rel)
}

/// The casebook: thirteen `## Scenario:` sections covering the faults of
/// the built-in playbooks, some without Symptoms, Investigation, Root cause,
/// Fix or Prevention subsections.
fn casebook() -> Vec<Imported> {
    import_path(&fixture("scenarios/network-scenarios.md")).expect("the casebook imports")
}

fn by_id<'a>(all: &'a [Imported], id: &str) -> &'a Playbook {
    &all.iter()
        .find(|i| i.playbook.id() == id)
        .unwrap_or_else(|| panic!("no playbook `{id}`"))
        .playbook
}

#[test]
fn scenario_document_imports_as_thirteen_complete_playbooks() {
    let all = casebook();
    let ids: Vec<&str> = all.iter().map(|i| i.playbook.id()).collect();
    assert_eq!(
        ids,
        [
            "bad-gateway-bursts-after-scaling-out",
            "slow-first-lookups-from-pods",
            "streams-cut-at-the-one-minute-mark",
            "release-breaks-calls-to-the-payment-provider",
            "refused-connections-between-two-services",
            "close-wait-leak",
            "certificate-verify-failures-after-renewal",
            "fresh-nodes-cannot-reach-the-internet",
            "tail-latency-jumps-twice-a-minute",
            "database-swamped-by-its-own-clients",
            "large-transfers-hang-over-the-vpn",
            "errors-during-every-rollout",
            "packets-dropped-once-the-tracking-table-fills",
        ]
    );
    // Scenarios that have a Symptoms subsection in the document.
    let with_symptoms = [0, 1, 2, 3, 4, 5, 10, 11, 12];
    for (n, i) in all.iter().enumerate() {
        let p = &i.playbook;
        assert_eq!(i.format, Format::ScenarioDocument);
        assert!(
            !p.meta.alert.trim().is_empty() && !p.meta.alert.contains('\n'),
            "{}: alert",
            p.id()
        );
        assert!(
            !p.meta.alert.contains("```") && !p.meta.alert.starts_with('"'),
            "{}: {}",
            p.id(),
            p.meta.alert
        );
        for kind in [
            SectionKind::Investigation,
            SectionKind::RootCause,
            SectionKind::Fix,
            SectionKind::Prevention,
        ] {
            assert!(
                !p.section_markdown(kind).trim().is_empty(),
                "{}: empty {}",
                p.id(),
                kind.heading()
            );
        }
        assert_eq!(
            p.section(SectionKind::Symptoms).is_some(),
            with_symptoms.contains(&n),
            "{}: symptoms",
            p.id()
        );
        assert!(!p.steps().is_empty(), "{}: no investigation steps", p.id());
        assert!(!p.meta.tags.is_empty(), "{}: no tags", p.id());
        for kind in SectionKind::ALL {
            assert!(
                !p.section_markdown(kind).trim_end().ends_with("---"),
                "{}: stray rule",
                p.id()
            );
        }
    }
}

#[test]
fn scenario_document_content_spot_checks() {
    let all = casebook();

    let dns = by_id(&all, "slow-first-lookups-from-pods");
    assert_eq!(dns.meta.layer, Layer::Dns);
    assert!(
        dns.section_markdown(SectionKind::Investigation)
            .contains("ndots")
    );
    let steps = dns.steps();
    assert_eq!(steps.len(), 5, "{steps:?}");
    assert_eq!(steps[2].title, "Read the resolver configuration.");
    assert_eq!(steps[2].commands, ["cat /etc/resolv.conf"]);
    assert_eq!(steps[1].commands, ["time getent hosts partner.example.net"]);

    // No Fix subsection: the fix written inside Root cause moves to Fix.
    let leak = by_id(&all, "close-wait-leak");
    assert_eq!(
        leak.meta.alert,
        "Report workers keep hitting 'Too many open files' and refuse new work."
    );
    assert!(
        leak.section_markdown(SectionKind::Fix)
            .contains("defer res.Body.Close()")
    );
    assert!(
        !leak
            .section_markdown(SectionKind::RootCause)
            .contains("defer res.Body.Close()")
    );
    assert!(
        leak.section_markdown(SectionKind::RootCause)
            .contains("the body stays open")
    );
    assert!(
        leak.section_markdown(SectionKind::Prevention)
            .contains("never calls close()")
    );

    // A `# Prevention:` comment inside the fix's code block.
    let nat = by_id(&all, "fresh-nodes-cannot-reach-the-internet");
    assert_eq!(
        nat.section_markdown(SectionKind::Prevention),
        "- make node admission wait for the plugin's NAT rules and fail the bootstrap when they are absent."
    );
    // A `// Long-term:` comment inside a Java fix.
    assert!(
        by_id(&all, "release-breaks-calls-to-the-payment-provider")
            .section_markdown(SectionKind::Prevention)
            .starts_with("- **Long-term:** agree a date with the processor")
    );

    // A `Rule:` with continuation lines, then the takeaway about it.
    let bad_gateway = by_id(&all, "bad-gateway-bursts-after-scaling-out");
    let prevention = bad_gateway.section_markdown(SectionKind::Prevention);
    assert!(
        prevention.starts_with(
            "- **Rule:** every hop must hold an idle connection open longer than the hop that sends requests to it. client \\< proxy \\< backend."
        ),
        "{prevention}"
    );
    assert!(prevention.contains("keepalive mismatch"), "{prevention}");
    assert_eq!(
        bad_gateway.meta.alert,
        "Checkout API returns 502 Bad Gateway on roughly one request in eight."
    );

    // Takeaways go to the scenario they talk about, not by position.
    let conntrack = by_id(&all, "packets-dropped-once-the-tracking-table-fills");
    assert_eq!(conntrack.meta.layer, Layer::Network);
    assert!(
        conntrack
            .section_markdown(SectionKind::Prevention)
            .contains("nf_conntrack_max")
    );
    // No Root cause subsection: the findings marked with `←` stand in.
    let cause = conntrack.section_markdown(SectionKind::RootCause);
    assert!(
        cause.contains("Compare the entry count with the limit: the table is 99.9% full"),
        "{cause}"
    );
    assert!(cause.contains("two minutes per closed flow"), "{cause}");
    assert!(
        by_id(&all, "errors-during-every-rollout")
            .section_markdown(SectionKind::Prevention)
            .contains("preStop")
    );
    assert!(
        by_id(&all, "large-transfers-hang-over-the-vpn")
            .section_markdown(SectionKind::Prevention)
            .contains("ICMP")
    );
    assert!(
        by_id(&all, "database-swamped-by-its-own-clients")
            .section_markdown(SectionKind::Prevention)
            .contains("backoff with jitter")
    );
    let everywhere = all
        .iter()
        .filter(|i| i.playbook.source().contains("sooner or later"))
        .count();
    assert_eq!(
        everywhere, 0,
        "the general closing takeaway belongs to no scenario"
    );
    // No rule, takeaway or Prevention: the closest recurring pattern.
    let tail = by_id(&all, "tail-latency-jumps-twice-a-minute");
    assert!(
        tail.section_markdown(SectionKind::Prevention)
            .starts_with("- **Bursts on the clock.** Cron jobs"),
        "{}",
        tail.section_markdown(SectionKind::Prevention)
    );
    // A Prevention subsection of its own is kept as written.
    assert!(
        by_id(&all, "refused-connections-between-two-services")
            .section_markdown(SectionKind::Prevention)
            .starts_with("Alert on restart counts")
    );

    assert_eq!(
        by_id(&all, "certificate-verify-failures-after-renewal")
            .meta
            .layer,
        Layer::Tls
    );
    assert!(
        by_id(&all, "release-breaks-calls-to-the-payment-provider")
            .section_markdown(SectionKind::Fix)
            .contains("```java")
    );
    // A multi-line quoted alert becomes one line without its quotes.
    assert_eq!(
        by_id(&all, "release-breaks-calls-to-the-payment-provider")
            .meta
            .alert,
        "Since release 3.8.0 every charge request to the card processor fails with 'connection reset'."
    );
    let drain = by_id(&all, "errors-during-every-rollout");
    assert!(
        drain
            .section_markdown(SectionKind::Investigation)
            .contains("SIGTERM")
    );
    let warnings = &all
        .iter()
        .find(|i| i.playbook.id() == "errors-during-every-rollout")
        .unwrap()
        .warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("no Investigation subsection")),
        "{warnings:?}"
    );
}

#[test]
fn small_scenario_document_with_heading_variants() {
    let all = import_path(&fixture("scenarios/two-scenarios.md")).unwrap();
    assert_eq!(all.len(), 2, "the how-to section is not a scenario");
    let tunnel = &all[0].playbook;
    assert_eq!(tunnel.id(), "uploads-stall-over-the-tunnel");
    assert_eq!(
        tunnel.meta.alert,
        "Small requests work through the VPN; big uploads hang."
    );
    assert_eq!(tunnel.meta.layer, Layer::Network);
    let steps = tunnel.steps();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].title, "Probe the path with DF set.");
    assert_eq!(steps[1].commands, ["ip link show wg0"]);
    assert!(
        tunnel
            .section_markdown(SectionKind::RootCause)
            .contains("MTU of 1500")
    );
    assert!(
        tunnel
            .section_markdown(SectionKind::Fix)
            .contains("mtu 1420")
    );
    let prevention = tunnel.section_markdown(SectionKind::Prevention);
    assert!(
        prevention.contains("**Lesson:** allow ICMP"),
        "{prevention}"
    );
    assert!(
        prevention.contains("Tunnels need a smaller MTU"),
        "{prevention}"
    );

    let stream = &all[1].playbook;
    assert_eq!(
        stream.meta.alert,
        "Streams disconnect after exactly 60 seconds"
    );
    assert_eq!(
        stream.section_markdown(SectionKind::Fix),
        "send keep-alive pings every 30 seconds."
    );
    assert!(
        stream
            .section_markdown(SectionKind::Prevention)
            .contains("met an idle timeout")
    );
    assert!(
        !stream
            .section_markdown(SectionKind::Prevention)
            .contains("Tunnels")
    );
    assert_eq!(
        stream.steps().len(),
        1,
        "prose investigation is kept as one step"
    );
    assert!(
        all[1].warnings.iter().any(|w| w.contains("one step")),
        "{:?}",
        all[1].warnings
    );
    assert!(
        all[1].origin.ends_with("two-scenarios.md:42"),
        "{}",
        all[1].origin
    );
}

#[test]
fn runbook_files_map_meaning_impact_diagnosis_mitigation() {
    let all = import_path(&fixture("runbooks")).unwrap();
    let ids: Vec<&str> = all.iter().map(|i| i.playbook.id()).collect();
    // Sorted by file name: N < c < u.
    assert_eq!(
        ids,
        [
            "node-conntrack-nearly-full",
            "cert-chain-incomplete",
            "upstream-keepalive-resets"
        ]
    );
    assert!(all.iter().all(|i| i.format == Format::Runbook));

    let conntrack = &all[0].playbook;
    // The front matter's title; the `# NodeConntrackNearlyFull` heading
    // still names the alert.
    assert_eq!(conntrack.meta.title, "Node Conntrack Nearly Full");
    assert_eq!(
        conntrack.meta.alert,
        "NodeConntrackNearlyFull: The connection tracking table on a node is more than 90% full."
    );
    assert_eq!(conntrack.meta.layer, Layer::Network);
    let symptoms = conntrack.section_markdown(SectionKind::Symptoms);
    assert!(
        symptoms.starts_with("The connection tracking table"),
        "{symptoms}"
    );
    assert!(
        symptoms.contains("**Impact:**\n\nNew connections through the node fail"),
        "{symptoms}"
    );
    let steps = conntrack.steps();
    assert_eq!(steps.len(), 3, "bullets become numbered steps");
    assert!(
        steps[1].markdown.contains("conntrack -L"),
        "{}",
        steps[1].markdown
    );
    assert!(
        conntrack
            .section_markdown(SectionKind::Fix)
            .contains("nf_conntrack_max")
    );
    assert!(
        all[0]
            .warnings
            .contains(&"no Root cause section".to_owned()),
        "{:?}",
        all[0].warnings
    );
    assert!(
        all[0]
            .warnings
            .contains(&"no Prevention section".to_owned()),
        "{:?}",
        all[0].warnings
    );

    let chain = &all[1].playbook;
    assert_eq!(chain.meta.layer, Layer::Tls);
    let steps = chain.steps();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].title, "Count the certificates the server sends.");
    assert!(steps[0].commands[0].starts_with("openssl s_client"));

    let keepalive = &all[2].playbook;
    assert_eq!(
        keepalive.meta.title,
        "Proxy reuses connections the upstream already closed"
    );
    assert!(
        keepalive
            .meta
            .alert
            .starts_with("Intermittent 502 responses appear")
    );
    let steps = keepalive.steps();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1].commands, ["grep -R keepalive_timeout /etc/nginx/"]);
    assert!(
        keepalive
            .section_markdown(SectionKind::Fix)
            .contains("```nginx")
    );
    assert!(
        keepalive
            .section_markdown(SectionKind::Prevention)
            .contains("every hop")
    );
    assert!(
        keepalive.meta.tags.contains(&"keepalive".to_owned()),
        "{:?}",
        keepalive.meta.tags
    );
}

#[test]
fn own_format_imports_byte_exact() {
    let path = fixture("own/close-wait-leak.md");
    let all = import_path(&path).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].format, Format::Own);
    assert_eq!(all[0].playbook.source(), fs::read_to_string(&path).unwrap());
    assert_eq!(all[0].playbook.meta.clauses.len(), 1);
    assert!(all[0].warnings.is_empty(), "{:?}", all[0].warnings);
}

#[test]
fn export_import_export_is_byte_identical() {
    // The scenarios folder holds the casebook and a smaller document.
    let mut all = import_path(&fixture("scenarios")).unwrap();
    assert_eq!(all.len(), 15);
    all.extend(import_path(&fixture("runbooks")).unwrap());
    round_trip(&all);
    // Our own file shares its id with a casebook scenario: a round of its own.
    round_trip(&import_path(&fixture("own")).unwrap());
}

fn round_trip(all: &[Imported]) {
    let sources = || {
        all.iter()
            .map(|i| (i.playbook.id().to_owned(), i.playbook.source().to_owned()))
    };

    let first = tempfile::tempdir().unwrap();
    assert_eq!(export_to_dir(first.path(), sources()).unwrap(), all.len());
    let again = import_path(first.path()).unwrap();
    assert_eq!(again.len(), all.len());
    assert!(again.iter().all(|i| i.format == Format::Own));

    let second = tempfile::tempdir().unwrap();
    let resources = again
        .iter()
        .map(|i| (i.playbook.id().to_owned(), i.playbook.source().to_owned()));
    export_to_dir(second.path(), resources).unwrap();
    for i in all {
        let name = export_file_name(i.playbook.id());
        let a = fs::read(first.path().join(&name)).unwrap();
        let b = fs::read(second.path().join(&name)).unwrap();
        assert_eq!(a, b, "{name}");
        assert_eq!(a, i.playbook.source().as_bytes(), "{name}");
    }
    let leftovers: Vec<_> = fs::read_dir(first.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".md"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn composed_playbooks_reparse_to_the_same_thing() {
    let mut all = casebook();
    all.extend(import_path(&fixture("runbooks")).unwrap());
    for i in &all {
        let p = &i.playbook;
        let reparsed = Playbook::parse(&export_file_name(p.id()), p.source()).unwrap();
        assert_eq!(&reparsed, p);
        let parts: Vec<_> = p
            .sections
            .iter()
            .map(|s| (s.kind, s.markdown.clone()))
            .collect();
        let composed = Playbook::compose(&p.meta, &parts).unwrap();
        assert_eq!(composed.source(), p.source(), "{}", p.id());
    }
}

#[test]
fn unknown_layout_is_a_clear_error() {
    let path = fixture("bad/no-layout.md");
    let err = import_path(&path).unwrap_err();
    assert!(matches!(err, ImportError::UnknownLayout { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}: no recognisable layout", path.display())),
        "{msg}"
    );
    for layout in [
        "`+++`",
        "## Scenario: <name>",
        "## Meaning",
        "## Mitigation",
    ] {
        assert!(msg.contains(layout), "{msg}");
    }
}

#[test]
fn malformed_front_matter_names_file_and_line() {
    let path = fixture("bad/bad-front-matter.md");
    let err = import_path(&path).unwrap_err();
    let ImportError::Playbook(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.line, 5, "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("{}:5: ", path.display())),
        "{err}"
    );
    assert!(err.to_string().contains("physics"), "{err}");
}

#[test]
fn duplicate_ids_name_both_files() {
    let err = import_path(&fixture("duplicates")).unwrap_err();
    let ImportError::DuplicateId { id, first, second } = &err else {
        panic!("{err}")
    };
    assert_eq!(id, "target-down");
    assert!(first.ends_with("TargetDown.md"), "{err}");
    assert!(second.ends_with("a-own.md"), "{err}");
    assert!(
        err.to_string().contains("TargetDown.md") && err.to_string().contains("a-own.md"),
        "{err}"
    );
}

#[test]
fn missing_path_names_it() {
    let err = import_path(&fixture("no/such/dir")).unwrap_err();
    assert!(matches!(err, ImportError::Io { .. }));
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[test]
fn dry_run_json_lists_every_playbook_with_sections() {
    let all = casebook();
    let v = dry_run_json(&all);
    let list = v["playbooks"].as_array().unwrap();
    assert_eq!(list.len(), 13);
    for p in list {
        for key in ["id", "title", "alert", "layer", "format"] {
            assert!(p[key].is_string(), "{key} in {p}");
        }
        assert!(p["tags"].is_array() && p["warnings"].is_array());
        for kind in SectionKind::ALL {
            assert!(
                p["sections"][kind.key()].is_string(),
                "{} in {p}",
                kind.key()
            );
        }
    }
    let leak = list.iter().find(|p| p["id"] == "close-wait-leak").unwrap();
    assert!(
        leak["sections"]["fix"]
            .as_str()
            .unwrap()
            .contains("defer res.Body.Close()")
    );
    assert_eq!(leak["format"], "scenario_document");
}

#[test]
fn text_import_keeps_own_source_verbatim_with_crlf() {
    let text = fs::read_to_string(fixture("own/close-wait-leak.md"))
        .unwrap()
        .replace('\n', "\r\n");
    let all = import_text("crlf.md", &text).unwrap();
    assert_eq!(all[0].playbook.source(), text);
}

#[test]
fn export_rejects_unsafe_ids() {
    let dir = tempfile::tempdir().unwrap();
    let err = export_to_dir(dir.path(), [("../escape".to_owned(), "x".to_owned())]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
}

/// A Hugo runbook site in miniature: an index page, a stub that only links
/// to another runbook, YAML and TOML front matter, `ref` / `relref`
/// shortcodes (resolved, by name without `.md`, across folders, and one to
/// a file that does not exist), notes that are no runbook, a text file.
#[test]
fn a_runbook_site_imports_what_it_can_and_lists_the_rest_with_reasons() {
    let root = fixture("site");
    let batch = import_paths(&[&root]).unwrap();
    let ids: Vec<&str> = batch.playbooks.iter().map(|i| i.playbook.id()).collect();
    assert_eq!(
        ids,
        [
            "host-conntrack-table-full",
            "resolver-timeouts",
            "proxy-idle-resets"
        ]
    );
    assert!(batch.postmortems.is_empty());

    let skipped: Vec<(String, &str)> = batch
        .skipped
        .iter()
        .map(|s| {
            let rel = Path::new(&s.file).strip_prefix(&root).unwrap();
            (rel.display().to_string(), s.reason.as_str())
        })
        .collect();
    let names: Vec<&str> = skipped.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        names,
        [
            "_index.md",
            "network/HostConntrackTableFilling.md",
            "proxy/scratch.md",
            "proxy/upstreams.txt"
        ]
    );
    assert!(skipped[0].1.contains("index page"), "{skipped:?}");
    assert!(
        skipped[1].1.starts_with("a stub that only links elsewhere")
            && skipped[1]
                .1
                .contains("/playbooks/host-conntrack-table-full"),
        "{skipped:?}"
    );
    assert!(
        skipped[2].1.starts_with("no recognisable layout"),
        "{skipped:?}"
    );
    assert!(skipped[3].1.contains(".md"), "{skipped:?}");

    let full = &batch.playbooks[0];
    assert_eq!(full.playbook.meta.title, "Host Conntrack Table Full");
    assert!(
        full.playbook
            .meta
            .alert
            .starts_with("HostConntrackTableFull: The kernel's connection tracking table"),
        "{}",
        full.playbook.meta.alert
    );
    let fix = full.playbook.section_markdown(SectionKind::Fix);
    assert!(
        fix.contains("[Resolver Timeouts](/playbooks/resolver-timeouts)"),
        "{fix}"
    );
    assert!(!fix.contains("{{"), "{fix}");

    let resolver = &batch.playbooks[1];
    assert_eq!(
        resolver.format,
        Format::Runbook,
        "TOML front matter is Hugo's"
    );
    assert_eq!(resolver.playbook.meta.title, "Resolver Timeouts");
    assert_eq!(resolver.playbook.meta.layer, Layer::Dns);

    let proxy = &batch.playbooks[2];
    assert_eq!(proxy.playbook.meta.title, "ProxyIdleResets");
    let fix = proxy.playbook.section_markdown(SectionKind::Fix);
    assert!(
        fix.contains("[the conntrack runbook](/playbooks/host-conntrack-table-full)"),
        "{fix}"
    );
    assert!(
        fix.contains("for load balancer drains, the drain runbook."),
        "an unresolved link keeps its words: {fix}"
    );
    assert!(
        proxy
            .warnings
            .iter()
            .any(|w| w.contains("`LoadBalancerDrain.md`") && w.contains("kept as text")),
        "{:?}",
        proxy.warnings
    );

    // The strict single-path import names the first file it would skip.
    let err = import_path(&root).unwrap_err();
    assert!(matches!(err, ImportError::Skipped { .. }), "{err}");
    assert!(err.to_string().contains("_index.md"), "{err}");
    // A stub named on its own is an error, not a silent nothing.
    let err = import_path(&root.join("network/HostConntrackTableFilling.md")).unwrap_err();
    assert!(matches!(err, ImportError::UnknownLayout { .. }), "{err}");
}

#[test]
fn only_regular_files_up_to_the_cap_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = fs::read_to_string(fixture("site/network/ResolverTimeouts.md")).unwrap();
    fs::write(dir.path().join("ResolverTimeouts.md"), &runbook).unwrap();
    let fifo = dir.path().join("pipe.md");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let big = dir.path().join("huge.md");
    let f = fs::File::create(&big).unwrap();
    f.set_len(MAX_FILE_BYTES + 1).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.md")).unwrap();

    let started = std::time::Instant::now();
    let batch = import_paths(&[dir.path()]).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(batch.playbooks.len(), 1);
    let reasons: Vec<(String, String)> = batch
        .skipped
        .iter()
        .map(|s| {
            let name = Path::new(&s.file).file_name().unwrap();
            (name.to_string_lossy().into_owned(), s.reason.clone())
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, "huge.md");
    assert!(
        reasons[0].1.contains("over the import limit of 4 MiB"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1].0, "pipe.md");
    assert!(reasons[1].1.starts_with("a FIFO"), "{reasons:?}");
    assert_eq!(reasons[2].0, "zero.md");
    assert!(
        reasons[2].1.starts_with("a character device"),
        "{reasons:?}"
    );

    // Named directly, each is an error naming the file and the limit.
    let err = import_path(&big).unwrap_err().to_string();
    assert!(err.starts_with(&big.display().to_string()), "{err}");
    assert!(err.contains(&MAX_FILE_BYTES.to_string()), "{err}");
    let err = import_path(&fifo).unwrap_err().to_string();
    assert!(
        err.contains("FIFO") && err.contains("not a regular file"),
        "{err}"
    );
    let err = import_path(Path::new("/dev/zero")).unwrap_err().to_string();
    assert!(
        err.starts_with("/dev/zero: a character device, not a regular file"),
        "{err}"
    );
}
