use serde_json::json;

use super::*;

const FULL: &str = include_str!("../../tests/fixtures/full_report.json");

fn full() -> Report {
    Report::from_json(FULL.as_bytes()).expect("fixture is a valid report")
}

fn errors_of(v: Value) -> Vec<String> {
    let bytes = serde_json::to_vec(&v).unwrap();
    match Report::from_json(&bytes) {
        Ok(_) => Vec::new(),
        Err(errs) => errs.iter().map(ToString::to_string).collect(),
    }
}

fn with_observation(o: Value) -> Value {
    let mut v: Value = serde_json::from_str(FULL).unwrap();
    v["observations"] = json!([o]);
    v
}

#[test]
fn fixture_has_every_known_kind_and_one_unknown() {
    let r = full();
    let kinds: Vec<&str> = r.observations.iter().map(Observation::kind).collect();
    for k in KNOWN_KINDS {
        assert!(kinds.contains(k), "fixture lacks {k}");
    }
    assert!(
        matches!(r.observations.last(), Some(Observation::Unknown(u)) if u.kind == "ebpf_latency")
    );
}

#[test]
fn full_report_round_trips() {
    let r = full();
    let text = serde_json::to_string(&r).unwrap();
    let again = Report::from_json(text.as_bytes()).unwrap();
    assert_eq!(r, again);
    // Same JSON as the fixture, modulo formatting and number spelling.
    let fixture: Value = serde_json::from_str(FULL).unwrap();
    let ours: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(fixture["observations"][0], ours["observations"][0]);
    assert_eq!(fixture["report_id"], ours["report_id"]);
}

#[test]
fn typed_fields_are_read() {
    let r = full();
    let Observation::TcpStates(t) = &r.observations[0] else {
        panic!("first is tcp_states")
    };
    assert_eq!(t.counts["CLOSE_WAIT"], 4000);
    assert_eq!(t.by_peer[0].peer, "10.1.2.3");
    let Observation::HttpLatency(h) = &r.observations[7] else {
        panic!("http_latency")
    };
    assert_eq!(h.samples[1], LatencySample(1_795_428_000_500, 1003.0, 0));
    let Observation::ConnLifetimes(l) = &r.observations[6] else {
        panic!("conn_lifetimes")
    };
    assert_eq!(l.connections[0].ended_by, EndedBy::Rst);
    assert_eq!(r.collector.labels["cluster"], "prod");
}

#[test]
fn unknown_kind_is_kept_raw() {
    let r = full();
    let Some(Observation::Unknown(u)) = r.observations.last() else {
        panic!("unknown kept")
    };
    assert_eq!(u.raw["histogram"], json!([1, 2, 3]));
    let out = serde_json::to_value(&r).unwrap();
    assert_eq!(
        out["observations"][16],
        json!({"kind": "ebpf_latency", "histogram": [1, 2, 3], "note": "from the future"})
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let mut v: Value = serde_json::from_str(FULL).unwrap();
    v["future_top_level"] = json!({"x": 1});
    v["collector"]["zone"] = json!("a");
    v["observations"][0]["histogram_v2"] = json!([1]);
    let r = Report::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(r, full());
}

#[test]
fn skipped_defaults_to_empty() {
    let mut v: Value = serde_json::from_str(FULL).unwrap();
    v.as_object_mut().unwrap().remove("skipped");
    let r = Report::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(r.skipped.is_empty());
}

#[test]
fn negative_count_names_its_path() {
    let v = with_observation(json!({"kind": "tcp_states", "counts": {"ESTABLISHED": -1}}));
    assert_eq!(
        errors_of(v),
        ["observations[0].counts.ESTABLISHED: must be >= 0"]
    );
}

#[test]
fn unknown_tcp_state_is_rejected() {
    let v = with_observation(json!({"kind": "tcp_states", "counts": {"ESTABLISHED": 1},
        "by_peer": [{"peer": "::1", "state": "HALF_OPEN", "count": 1}]}));
    let errs = errors_of(v);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("observations[0].by_peer[0].state: unknown TCP state \"HALF_OPEN\""),
        "{errs:?}"
    );
}

#[test]
fn ndots_out_of_range() {
    let v = with_observation(json!({"kind": "dns_lookups",
        "resolv_conf": {"nameservers": ["127.0.0.1"], "search": [], "ndots": 16, "timeout_s": 1, "attempts": 1},
        "lookups": []}));
    assert_eq!(
        errors_of(v),
        ["observations[0].resolv_conf.ndots: must be between 0 and 15"]
    );
}

#[test]
fn latency_sample_must_be_a_triple() {
    let v = with_observation(
        json!({"kind": "http_latency", "target": "http://x/", "samples": [[1, 2.0, 200], [1, 2.0]]}),
    );
    let errs = errors_of(v);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("observations[0].samples[1]: invalid length 2"),
        "{errs:?}"
    );
}

#[test]
fn wrong_type_inside_known_kind_names_the_path() {
    let v = with_observation(
        json!({"kind": "interfaces", "interfaces": [{"name": "lo", "mtu": "big", "up": true}]}),
    );
    let errs = errors_of(v);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("observations[0].interfaces[0].mtu: invalid type"),
        "{errs:?}"
    );
}

#[test]
fn missing_required_field_is_an_error() {
    let v = with_observation(json!({"kind": "keepalive", "closed_idle_after_s": 1.5}));
    let errs = errors_of(v);
    assert_eq!(errs, ["observations[0].target: missing field `target`"]);
    let mut v: Value = serde_json::from_str(FULL).unwrap();
    v.as_object_mut().unwrap().remove("report_id");
    assert_eq!(errors_of(v), ["report_id: missing field `report_id`"]);
}

#[test]
fn data_after_the_report_is_an_error() {
    let mut bytes = FULL.as_bytes().to_vec();
    bytes.extend_from_slice(b" }{ trailing");
    let errs = Report::from_json(&bytes).unwrap_err();
    assert!(errs[0].message.contains("after the report"), "{errs:?}");
    bytes.truncate(FULL.len());
    bytes.extend_from_slice(b" \n");
    assert!(
        Report::from_json(&bytes).is_ok(),
        "whitespace after is fine"
    );
}

#[test]
fn report_level_checks() {
    let mut v: Value = serde_json::from_str(FULL).unwrap();
    v["schema"] = json!("faultline.report.v2");
    v["finished_at"] = json!("2026-11-23T09:00:00Z");
    let errs = errors_of(v);
    assert!(
        errs.contains(&"schema: must be \"faultline.report.v1\"".to_string()),
        "{errs:?}"
    );
    assert!(
        errs.contains(&"finished_at: must not be before started_at".to_string()),
        "{errs:?}"
    );
}

#[test]
fn tls_verify_and_versions_are_checked() {
    let v = with_observation(
        json!({"kind": "tls_handshake", "target": "x:443", "sni": null,
        "versions": {"SSLv3": true}, "chain": [], "verify": "bad"}),
    );
    let errs = errors_of(v);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("observations[0].versions.SSLv3: unknown TLS version"));
    assert!(errs[1].starts_with("observations[0].verify: must be one of"));
    let ok = with_observation(
        json!({"kind": "tls_handshake", "target": "x:443", "sni": null,
        "versions": {}, "chain": [], "verify": "other: certificate revoked"}),
    );
    assert!(errors_of(ok).is_empty());
}

#[test]
fn nat_cidrs_are_checked() {
    let v = with_observation(
        json!({"kind": "nat_rules", "masquerade_sources": ["10.0.0.0/33", "fd00::/64"], "pod_cidrs": []}),
    );
    assert_eq!(
        errors_of(v),
        ["observations[0].masquerade_sources[0]: \"10.0.0.0/33\" is not a CIDR such as 10.0.0.0/8"]
    );
}

#[test]
fn kind_must_be_present() {
    let v = with_observation(json!({"counts": {}}));
    let errs = errors_of(v);
    assert!(
        errs[0].starts_with("observations[0]") && errs[0].contains("kind"),
        "{errs:?}"
    );
}

#[test]
fn new_report_is_valid() {
    let r = Report::new(Collector {
        name: "n".into(),
        host: "h".into(),
        labels: BTreeMap::new(),
    });
    assert!(r.validate().is_ok());
}

#[test]
fn truncated_or_retyped_input_never_panics() {
    // Every prefix of the fixture, and every value swapped for a wrong type:
    // the parser must return errors, never panic.
    for end in 0..FULL.len() {
        if FULL.is_char_boundary(end) {
            let _ = Report::from_json(&FULL.as_bytes()[..end]);
        }
    }
    let v: Value = serde_json::from_str(FULL).unwrap();
    for obs in 0..v["observations"].as_array().unwrap().len() {
        let keys: Vec<String> = v["observations"][obs]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        for key in keys {
            for wrong in [
                json!(null),
                json!("x"),
                json!(-1),
                json!([[]]),
                json!({"a": {}}),
            ] {
                let mut bad = v.clone();
                bad["observations"][obs][&key] = wrong;
                if let Err(errs) = Report::from_json(&serde_json::to_vec(&bad).unwrap()) {
                    assert!(
                        errs.iter()
                            .all(|e| e.path.starts_with("observations[") || e.path.is_empty()),
                        "{errs:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_namespace_label_round_trips_and_is_checked() {
    let o = json!({"kind": "tcp_states", "counts": {"CLOSE_WAIT": 40}, "by_peer": [],
        "netns": {"inode": 4026532301u64, "pid": 650, "process": "pause",
                  "pod_uid": "8a7c1b2e-4f3d-4e21-9c6a-0b1d2e3f4a5b", "pod_name": "api-7d9f",
                  "pod_namespace": "shop", "read_via": "sock_diag"}});
    let r = Report::from_json(&serde_json::to_vec(&with_observation(o.clone())).unwrap()).unwrap();
    let Observation::TcpStates(t) = &r.observations[0] else {
        panic!()
    };
    let n = t.netns.as_ref().unwrap();
    assert_eq!(n.describe(), "pod shop/api-7d9f");
    assert_eq!(serde_json::to_value(&r.observations[0]).unwrap(), o);
    // Without a label, nothing is written: older readers see what they knew.
    let plain = serde_json::to_value(Observation::from(TcpStates::default())).unwrap();
    assert!(plain.get("netns").is_none(), "{plain}");
    let bad =
        json!({"kind": "tcp_states", "counts": {}, "netns": {"inode": 0, "read_via": "magic"}});
    assert_eq!(
        errors_of(with_observation(bad)),
        [
            "observations[0].netns.inode: must be the namespace's inode (> 0)",
            "observations[0].netns.read_via: must be one of [\"sock_diag\", \"proc\"]"
        ]
    );
}
