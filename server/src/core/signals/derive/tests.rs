use faultline_probe::report::Report;
use serde_json::json;

use super::super::{SignalValue, derive};

/// A report with the given observations.
fn report(observations: serde_json::Value) -> Report {
    let r = json!({
        "schema": "faultline.report.v1",
        "report_id": "0b6f4b3e-5f0c-4c41-9a53-3f0f5a1c2d11",
        "collector": {"name": "t", "host": "t"},
        "started_at": "2026-11-23T10:00:00Z",
        "finished_at": "2026-11-23T10:00:05Z",
        "observations": observations,
    });
    Report::from_json(r.to_string().as_bytes()).expect("valid test report")
}

fn num(r: &Report, name: &str) -> Option<f64> {
    match derive(r).get(name) {
        Some(SignalValue::Number(n)) => Some(*n),
        other => panic!("{name} is {other:?}"),
    }
}

fn flag(r: &Report, name: &str) -> bool {
    match derive(r).get(name) {
        Some(SignalValue::Bool(b)) => *b,
        other => panic!("{name} is {other:?}"),
    }
}

#[test]
fn tcp_shares_ignore_listeners_and_name_the_top_peer() {
    let r = report(json!([{"kind": "tcp_states",
        "counts": {"ESTABLISHED": 20, "CLOSE_WAIT": 80, "LISTEN": 100},
        "by_peer": [{"peer": "10.0.0.5", "state": "CLOSE_WAIT", "count": 72}]}]));
    assert_eq!(num(&r, "tcp.close_wait_share"), Some(0.8));
    assert_eq!(num(&r, "tcp.close_wait_top_peer_share"), Some(0.9));
    assert_eq!(num(&r, "tcp.time_wait_count"), Some(0.0));
}

fn absent(r: &Report, name: &str) -> bool {
    derive(r).get(name).is_none()
}

#[test]
fn partial_socket_counts_leave_uncounted_states_unknown() {
    // `ss -s` alone: established and time-wait counted, nothing else.
    let r = report(json!([{"kind": "tcp_states",
        "counts": {"ESTABLISHED": 20, "TIME_WAIT": 80},
        "counted": ["ESTABLISHED", "TIME_WAIT"]}]));
    assert_eq!(num(&r, "tcp.time_wait_count"), Some(80.0));
    for name in [
        "tcp.sockets",
        "tcp.time_wait_share",
        "tcp.close_wait_count",
        "tcp.close_wait_share",
        "tcp.close_wait_top_peer_share",
        "tcp.syn_recv_count",
    ] {
        assert!(absent(&r, name), "{name} should be unknown");
    }
    // A filtered listing that found no socket in its state counted a zero.
    let r = report(json!([{"kind": "tcp_states", "counts": {}, "counted": ["CLOSE_WAIT"]}]));
    assert_eq!(num(&r, "tcp.close_wait_count"), Some(0.0));
    assert!(absent(&r, "tcp.close_wait_share"));
}

#[test]
fn lookups_without_resolv_conf_leave_its_settings_unknown() {
    let r = report(json!([{"kind": "dns_lookups",
        "lookups": [{"name": "api", "elapsed_ms": 12.0, "ok": true}]}]));
    assert!(absent(&r, "dns.ndots"));
    assert!(absent(&r, "dns.search_domains"));
    assert_eq!(num(&r, "dns.max_lookup_ms"), Some(12.0));
}

#[test]
fn conntrack_fill_and_fd_share() {
    let r = report(json!([
        {"kind": "conntrack", "count": 262000, "max": 262144, "drops": 12, "insert_failed": 7,
         "tcp_states": {"TIME_WAIT": 3, "ESTABLISHED": 1}},
        {"kind": "process_fds", "processes": [
            {"pid": 1, "name": "a", "open_fds": 1000, "fd_limit": 1024, "sockets": 990},
            {"pid": 2, "name": "b", "open_fds": 5000, "fd_limit": 1048576, "sockets": 10}]}
    ]));
    assert!((num(&r, "conntrack.fill").unwrap() - 0.99945).abs() < 1e-4);
    assert_eq!(num(&r, "conntrack.insert_failed"), Some(7.0));
    assert_eq!(num(&r, "conntrack.time_wait_share"), Some(0.75));
    assert!((num(&r, "fds.max_share_of_limit").unwrap() - 0.9766).abs() < 1e-3);
    assert_eq!(num(&r, "fds.socket_share"), Some(0.99));
    assert_eq!(num(&r, "fds.max_open"), Some(5000.0));
}

#[test]
fn dns_penalty_is_the_unqualified_lookup_minus_its_twin() {
    let r = report(json!([{"kind": "dns_lookups",
        "resolv_conf": {"nameservers": ["10.96.0.10"], "search": ["a", "b", "c"], "ndots": 5, "timeout_s": 5, "attempts": 2},
        "lookups": [
            {"name": "api.example.com", "elapsed_ms": 4100.0, "ok": true},
            {"name": "api.example.com.", "elapsed_ms": 12.0, "ok": true},
            {"name": "other.example.org", "elapsed_ms": 900.0, "ok": false, "error": "timeout"}]}]));
    assert_eq!(num(&r, "dns.search_penalty_ms"), Some(4088.0));
    assert_eq!(num(&r, "dns.ndots"), Some(5.0));
    assert_eq!(num(&r, "dns.search_domains"), Some(3.0));
    assert!((num(&r, "dns.failed_share").unwrap() - 1.0 / 3.0).abs() < 1e-9);
}

#[test]
fn tls_versions_meet_the_client_config() {
    let r = report(json!([
        {"kind": "tls_handshake", "target": "api:443", "sni": "api", "verify": "handshake_failure",
         "versions": {"TLSv1.2": true, "TLSv1.3": false}, "chain": []},
        {"kind": "config_facts", "facts": {"client.tls_versions": ["TLSv1.3"]}}
    ]));
    assert!(flag(&r, "tls.no_common_version"));
    assert!(!flag(&r, "tls.supports_tls13"));
    assert_eq!(num(&r, "tls.chain_length"), Some(0.0));
    let s = derive(&r);
    assert_eq!(
        s.get("tls.client_versions"),
        Some(&SignalValue::Text("TLSv1.3".into()))
    );
}

#[test]
fn an_exact_lifetime_cluster_names_its_timers() {
    let conns: Vec<_> = [60.01, 60.02, 59.99, 60.0, 12.0]
        .iter()
        .map(|d| json!({"duration_s": d, "ended_by": "rst"}))
        .chain([json!({"duration_s": 300.0, "ended_by": "open"})])
        .collect();
    let r = report(
        json!([{"kind": "conn_lifetimes", "target": "x:1", "idle": true, "connections": conns}]),
    );
    assert!((num(&r, "conn.lifetime_mode_s").unwrap() - 60.0).abs() < 0.05);
    assert_eq!(num(&r, "conn.lifetime_cluster_share"), Some(0.8));
    assert_eq!(num(&r, "conn.rst_share"), Some(1.0));
    assert_eq!(num(&r, "conn.ended"), Some(5.0));
    let s = derive(&r);
    let Some(SignalValue::Text(names)) = s.get("conn.matched_timers") else {
        panic!()
    };
    assert!(names.contains("AWS ALB idle timeout"), "{names}");
}

#[test]
fn slow_samples_every_thirty_seconds_show_a_period_and_alignment() {
    // 1 sample a second for 3 minutes from a minute boundary; slow at :00 and :30.
    let start = 1_795_000_020_000_i64;
    assert_eq!(start % 60_000, 0, "starts on a minute boundary");
    let samples: Vec<_> = (0..180)
        .map(|i| {
            let slow = i % 30 == 0;
            json!([
                start + i * 1000,
                if slow { 1500.0 } else { 40.0 + (i % 7) as f64 },
                200
            ])
        })
        .collect();
    let r = report(json!([{"kind": "http_latency", "target": "http://x", "samples": samples}]));
    assert_eq!(num(&r, "http.slow_period_s"), Some(30.0));
    assert_eq!(num(&r, "http.slow_second_of_minute"), Some(0.0));
    assert_eq!(num(&r, "http.slow_alignment"), Some(1.0));
    assert!(num(&r, "http.p99_over_p50").unwrap() > 10.0);
    assert_eq!(num(&r, "http.error_share"), Some(0.0));
}

#[test]
fn keepalive_compares_backend_with_proxy() {
    let short = report(json!([
        {"kind": "keepalive", "target": "http://b", "closed_idle_after_s": 5.0},
        {"kind": "config_facts", "facts": {"proxy.upstream_keepalive_timeout_s": 60}}
    ]));
    assert!(flag(&short, "keepalive.backend_shorter_than_proxy"));
    assert_eq!(num(&short, "keepalive.margin_s"), Some(-55.0));
    let long = report(json!([
        {"kind": "keepalive", "target": "http://b", "closed_idle_after_s": null, "waited_s": 90.0},
        {"kind": "config_facts", "facts": {"proxy.upstream_keepalive_timeout_s": 60}}
    ]));
    assert!(!flag(&long, "keepalive.backend_shorter_than_proxy"));
}

#[test]
fn pmtu_blackhole_nat_coverage_and_bursty_refusals() {
    let r = report(json!([
        {"kind": "pmtu", "target": "h", "iface_mtu": 1500, "probes": [
            {"size": 1200, "ok": true}, {"size": 1400, "ok": true}, {"size": 1450, "ok": false}, {"size": 1500, "ok": false}]},
        {"kind": "nat_rules", "masquerade_sources": ["10.244.0.0/16"], "pod_cidrs": ["10.244.5.0/24", "10.45.0.0/24"]},
        {"kind": "connect_attempts", "targets": [{"addr": "b:80", "attempts": 100, "ok": 94, "refused": 6, "timeout": 0,
            "refused_at": [1000, 1200, 1500, 60000, 60300, 60800]}]}
    ]));
    assert!(flag(&r, "pmtu.blackhole"));
    assert_eq!(num(&r, "pmtu.shortfall_bytes"), Some(100.0));
    assert_eq!(num(&r, "nat.pod_cidrs_unmasqueraded"), Some(1.0));
    assert_eq!(num(&r, "connect.refused_share"), Some(0.06));
    assert!(flag(&r, "connect.refused_burst"));
    let spread = report(
        json!([{"kind": "connect_attempts", "targets": [{"addr": "b:80", "attempts": 100,
        "ok": 97, "refused": 3, "timeout": 0, "refused_at": [1000, 40000, 90000]}]}]),
    );
    assert!(!flag(&spread, "connect.refused_burst"), "isolated refusals");
    let none = report(
        json!([{"kind": "connect_attempts", "targets": [{"addr": "b:80", "attempts": 10,
        "ok": 10, "refused": 0, "timeout": 0}]}]),
    );
    assert!(
        !flag(&none, "connect.refused_burst"),
        "measured, and no burst"
    );
}

#[test]
fn pods_logs_and_unknown_kinds() {
    let r = report(json!([
        {"kind": "k8s_pods", "pods": [
            {"namespace": "a", "name": "p1", "restarts": 147, "last_terminated_reason": "OOMKilled", "ready": false,
             "has_readiness_probe": false, "has_pre_stop": false, "dns_ndots": null},
            {"namespace": "a", "name": "p2", "restarts": 0, "last_terminated_reason": null, "ready": true,
             "has_readiness_probe": true, "has_pre_stop": false, "dns_ndots": null}]},
        {"kind": "log_matches", "source": "/var/log/nginx/error.log",
         "patterns": [{"pattern": "upstream prematurely closed connection", "count": 31}]},
        {"kind": "future_thing", "x": 1}
    ]));
    assert_eq!(num(&r, "k8s.max_restarts"), Some(147.0));
    assert_eq!(num(&r, "k8s.oomkilled_pods"), Some(1.0));
    assert_eq!(num(&r, "k8s.pods_without_prestop"), Some(2.0));
    assert_eq!(
        num(&r, "logs.upstream_prematurely_closed_connection"),
        Some(31.0)
    );
    let only_unknown = report(json!([{"kind": "future_thing", "x": 1}]));
    assert!(derive(&only_unknown).is_empty());
}

#[test]
fn every_derived_name_is_in_the_catalogue() {
    let r = report(json!([
        {"kind": "tcp_states", "counts": {"ESTABLISHED": 2}},
        {"kind": "net_counters", "interval_s": 10, "deltas": {"TcpRetransSegs": 5, "TcpOutSegs": 100, "TcpExtSyncookiesSent": 1}},
        {"kind": "interfaces", "interfaces": [{"name": "wg0", "mtu": 1420, "up": true, "kind": "wireguard"}]},
        {"kind": "config_facts", "facts": {"proxy.upstream_keepalive_timeout_s": 60}}
    ]));
    for (name, _) in derive(&r).iter() {
        assert!(
            super::super::catalogue::lookup(name).is_some(),
            "{name} undocumented"
        );
    }
    assert_eq!(num(&r, "counters.retrans_share"), Some(0.05));
    assert_eq!(num(&r, "iface.tunnels"), Some(1.0));
}

/// 300 leaked CLOSE_WAIT among 30,000 TIME_WAIT and 8,000 ESTABLISHED of
/// another process: shares of all sockets dilute, these do not.
#[test]
fn close_wait_signals_that_do_not_dilute() {
    let r = report(json!([
        {"kind": "tcp_states",
         "counts": {"ESTABLISHED": 8000, "TIME_WAIT": 30000, "CLOSE_WAIT": 310, "LISTEN": 4},
         "by_peer": [{"peer": "10.0.0.9", "state": "CLOSE_WAIT", "count": 300}],
         "window": {"samples": 5, "seconds": 4.0,
                    "first": {"CLOSE_WAIT": 305}, "min": {"CLOSE_WAIT": 302}, "max": {"CLOSE_WAIT": 312},
                    "persistent": {"CLOSE_WAIT": 298}},
         "by_process": [
            {"pid": 7, "name": "proxy", "counts": {"ESTABLISHED": 8000, "CLOSE_WAIT": 10, "LISTEN": 3}},
            {"pid": 9, "name": "billing", "counts": {"ESTABLISHED": 4, "CLOSE_WAIT": 300, "LISTEN": 1}}]},
        {"kind": "process_fds", "processes": [
            {"pid": 7, "name": "proxy", "open_fds": 9000, "fd_limit": 10000, "sockets": 8990},
            {"pid": 9, "name": "billing", "open_fds": 320, "fd_limit": 1024, "sockets": 306}]}
    ]));
    assert!(num(&r, "tcp.close_wait_share").unwrap() < 0.01, "diluted");
    let open = num(&r, "tcp.close_wait_share_of_open").unwrap();
    assert!(
        (open - 310.0 / 8310.0).abs() < 1e-9,
        "TIME_WAIT left out: {open}"
    );
    assert_eq!(num(&r, "tcp.close_wait_top_process_count"), Some(300.0));
    let share = num(&r, "tcp.close_wait_top_process_share").unwrap();
    assert!((share - 300.0 / 304.0).abs() < 1e-9, "{share}");
    assert_eq!(num(&r, "tcp.close_wait_persistent"), Some(298.0));
    assert!((num(&r, "tcp.close_wait_persistent_share").unwrap() - 298.0 / 305.0).abs() < 1e-9);
    assert_eq!(num(&r, "tcp.close_wait_growth"), Some(5.0));
    assert_eq!(num(&r, "tcp.window_s"), Some(4.0));
    // The holder's own descriptors, not the busier process's near its limit.
    let holder = num(&r, "fds.close_wait_holder_share_of_limit").unwrap();
    assert!((holder - 320.0 / 1024.0).abs() < 1e-9, "{holder}");
    assert!(num(&r, "fds.max_share_of_limit").unwrap() > 0.85);
}

#[test]
fn one_snapshot_and_no_process_view_leave_the_new_signals_unknown() {
    let r = report(json!([{"kind": "tcp_states",
        "counts": {"ESTABLISHED": 10, "TIME_WAIT": 90, "CLOSE_WAIT": 30}}]));
    assert_eq!(num(&r, "tcp.close_wait_share_of_open"), Some(0.75));
    for name in [
        "tcp.close_wait_persistent",
        "tcp.close_wait_growth",
        "tcp.close_wait_top_process_count",
        "fds.close_wait_holder_share_of_limit",
    ] {
        assert!(absent(&r, name), "{name} should be unknown");
    }
    // No process holds a CLOSE_WAIT socket: no holder to speak of.
    let r = report(json!([{"kind": "tcp_states", "counts": {"ESTABLISHED": 1},
        "by_process": [{"pid": 3, "name": "a", "counts": {"ESTABLISHED": 1}}]}]));
    assert!(absent(&r, "tcp.close_wait_top_process_share"));
}

#[test]
fn requests_after_a_silence_are_counted_apart() {
    let idle: Vec<_> = [200, 502, 0, 502, 200]
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"gap_s": 2.0 + i as f64 * 0.05, "at": 1000 + i, "latency_ms": 1.0, "status": s}))
        .collect();
    let r = report(json!([{"kind": "http_latency", "target": "http://p/",
        "samples": [[1, 1.0, 200], [2, 1.0, 200]], "idle_samples": idle, "idle_after_s": 2.0}]));
    assert_eq!(num(&r, "http.idle_samples"), Some(5.0));
    assert_eq!(
        num(&r, "http.idle_failed_share"),
        Some(0.6),
        "502 or no answer"
    );
    assert_eq!(
        num(&r, "http.status_502_share"),
        Some(0.0),
        "steady samples apart"
    );
    let steady = report(
        json!([{"kind": "http_latency", "target": "http://p/", "samples": [[1, 1.0, 200]]}]),
    );
    assert!(absent(&steady, "http.idle_failed_share"));
}

#[test]
fn kubernetes_shows_in_pods_cidrs_search_domains_or_cni_links() {
    let plain = report(json!([
        {"kind": "interfaces", "interfaces": [{"name": "eth0", "mtu": 1500, "up": true}]},
        {"kind": "nat_rules", "masquerade_sources": [], "pod_cidrs": []}
    ]));
    assert!(!flag(&plain, "host.kubernetes"));
    let cni = report(json!([
        {"kind": "interfaces", "interfaces": [{"name": "cni0", "mtu": 1450, "up": true, "kind": "bridge"}]}
    ]));
    assert!(flag(&cni, "host.kubernetes"));
    let pod = report(json!([{"kind": "dns_lookups", "lookups": [],
        "resolv_conf": {"nameservers": ["10.96.0.10"], "search": ["shop.svc.cluster.local", "svc.cluster.local"],
                        "ndots": 5, "timeout_s": 5, "attempts": 2}}]));
    assert!(flag(&pod, "host.kubernetes"));
    let nothing = report(json!([{"kind": "tcp_states", "counts": {}}]));
    assert!(absent(&nothing, "host.kubernetes"), "not looked at");
}

/// A node's report with its pods' network namespaces: the node holds a
/// few CLOSE_WAIT among much traffic, one pod leaks 300, an idle pod
/// holds a single one.
fn node_with_pods(leaky_pod: bool) -> Report {
    let pod = |inode: u64, name: &str, counts: serde_json::Value, extra: serde_json::Value| {
        let mut t = json!({"kind": "tcp_states", "counts": counts,
            "netns": {"inode": inode, "pid": inode - 4026532000, "process": "pause",
                      "pod_uid": "8a7c1b2e-4f3d-4e21-9c6a-0b1d2e3f4a5b",
                      "pod_name": name, "pod_namespace": "shop", "read_via": "sock_diag"}});
        t.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        t
    };
    let mut obs = vec![
        json!({"kind": "tcp_states",
         "counts": {"ESTABLISHED": 500, "TIME_WAIT": 3000, "CLOSE_WAIT": 25, "LISTEN": 9},
         "by_process": [{"pid": 7, "name": "kubelet", "counts": {"ESTABLISHED": 40, "CLOSE_WAIT": 25}}]}),
        json!({"kind": "process_fds", "processes": [
            {"pid": 7, "name": "kubelet", "open_fds": 9000, "fd_limit": 10000, "sockets": 100},
            {"pid": 9, "name": "java", "open_fds": 320, "fd_limit": 1024, "sockets": 306}]}),
        pod(4026532777, "idle-0", json!({"CLOSE_WAIT": 1}), json!({})),
    ];
    if leaky_pod {
        obs.push(pod(
            4026532301,
            "api-7d9f",
            json!({"ESTABLISHED": 10, "CLOSE_WAIT": 300, "LISTEN": 1}),
            json!({"by_peer": [{"peer": "10.0.0.9", "state": "CLOSE_WAIT", "count": 300}],
                   "window": {"samples": 3, "seconds": 2.0, "first": {"CLOSE_WAIT": 300},
                              "min": {"CLOSE_WAIT": 300}, "max": {"CLOSE_WAIT": 300},
                              "persistent": {"CLOSE_WAIT": 299}},
                   "by_process": [{"pid": 9, "name": "java",
                                   "counts": {"ESTABLISHED": 10, "CLOSE_WAIT": 300, "LISTEN": 1}}]}),
        ));
    }
    report(serde_json::Value::Array(obs))
}

#[test]
fn close_wait_in_a_pod_is_judged_on_the_pods_sockets_and_named() {
    let r = node_with_pods(true);
    assert_eq!(num(&r, "tcp.close_wait_count"), Some(300.0));
    let share = num(&r, "tcp.close_wait_share").unwrap();
    assert!((share - 300.0 / 310.0).abs() < 1e-9, "{share}");
    assert_eq!(num(&r, "tcp.close_wait_top_peer_share"), Some(1.0));
    assert_eq!(num(&r, "tcp.close_wait_persistent"), Some(299.0));
    assert_eq!(
        derive(&r).get("tcp.close_wait_where"),
        Some(&SignalValue::Text("pod shop/api-7d9f".into()))
    );
    // The holder's descriptors are the pod's process's, not the node's.
    let holder = num(&r, "fds.close_wait_holder_share_of_limit").unwrap();
    assert!((holder - 320.0 / 1024.0).abs() < 1e-9, "{holder}");
    // Other states stay the node's.
    assert_eq!(num(&r, "tcp.time_wait_count"), Some(3000.0));
    assert!(flag(&r, "host.kubernetes"), "pods' namespaces were read");
}

#[test]
fn a_lone_close_wait_in_an_idle_pod_does_not_pair_with_the_nodes_count() {
    let r = node_with_pods(false);
    // Max per signal would pair the idle pod's share (1.0) with the
    // node's 25 sockets; both come from the node here.
    assert_eq!(num(&r, "tcp.close_wait_count"), Some(25.0));
    let share = num(&r, "tcp.close_wait_share").unwrap();
    assert!((share - 25.0 / 3525.0).abs() < 1e-9, "{share}");
    assert_eq!(
        derive(&r).get("tcp.close_wait_where"),
        Some(&SignalValue::Text("host".into()))
    );
    let holder = num(&r, "fds.close_wait_holder_share_of_limit").unwrap();
    assert!((holder - 0.9).abs() < 1e-9, "the node's holder: {holder}");
}

#[test]
fn reports_without_namespaces_have_no_where() {
    let r = report(json!([{"kind": "tcp_states", "counts": {"CLOSE_WAIT": 30, "ESTABLISHED": 3}}]));
    assert_eq!(num(&r, "tcp.close_wait_count"), Some(30.0));
    assert_eq!(derive(&r).get("tcp.close_wait_where"), None);
}
