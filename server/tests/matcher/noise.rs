//! The robustness suite: the fault lab's reports (captured from the real
//! probe in `tests/fixtures/lab/`) replayed as a busy host would show
//! them, with timers no catalogue lists, and healthy hosts that look
//! alarming; scored as precision and recall per playbook.
//!
//! Noise is added the way the probe would have seen it: TIME_WAIT churn
//! owned by no process, ESTABLISHED traffic owned by unrelated processes
//! with many descriptors, fleeting CLOSE_WAIT sockets that do not stay put,
//! background segments in the counters, a large calm conntrack table.
//! Magnitudes vary per case (a seeded generator), so no number is tuned to
//! one value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The playbook each lab scenario reproduces.
pub const SCENARIOS: [(&str, &str); 14] = [
    ("close_wait", "close-wait-leak"),
    ("tls_chain", "tls-incomplete-chain"),
    ("tls_version", "tls-version-mismatch"),
    ("ndots", "dns-ndots-search-delay"),
    ("idle_reset", "idle-timeout-reset"),
    ("idle_reset_custom", "idle-timeout-reset"),
    ("keepalive", "keepalive-race-502"),
    ("crashing", "crashing-endpoint-refused"),
    ("drain", "termination-drain-race"),
    ("masquerade", "missing-masquerade"),
    ("mtu", "mtu-blackhole"),
    ("saturation", "periodic-saturation-p99"),
    ("storm", "reconnect-storm-syn-flood"),
    ("conntrack", "conntrack-table-full"),
];

/// One report to diagnose and what the answer must be (None: nothing likely).
pub struct Case {
    pub name: String,
    pub truth: Option<String>,
    pub report: Value,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lab")
}

fn read(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A small deterministic generator (xorshift), seeded by the case name.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: &str) -> Rng {
        let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
        for b in seed.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3);
        }
        Rng(h | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `n` scaled by a factor in [0.8, 1.2].
    fn vary(&mut self, n: i64) -> i64 {
        let f = 0.8 + (self.next() % 401) as f64 / 1000.0;
        (n as f64 * f).round() as i64
    }
}

/// An unrelated process with many descriptors and some of the traffic.
#[derive(Clone, Copy)]
struct Hog {
    name: &'static str,
    open_fds: i64,
    fd_limit: i64,
    established: i64,
    fleeting_close_wait: i64,
}

/// What a busy host adds to every report.
#[derive(Clone, Copy)]
pub struct Noise {
    pub name: &'static str,
    time_wait: i64,
    /// Distinct peers the TIME_WAIT and ESTABLISHED sockets spread over.
    peers: i64,
    hogs: &'static [Hog],
    /// Conntrack entries added (never past the table size).
    conntrack: i64,
    /// Segments sent per second by the rest of the host, and per mille of them retransmitted.
    segments_per_s: i64,
    retrans_per_mille: i64,
}

/// A host with ordinary churn: about a thousand TIME_WAIT.
pub const BUSY: Noise = Noise {
    name: "busy",
    time_wait: 1_000,
    peers: 12,
    hogs: &[
        Hog {
            name: "java",
            open_fds: 6_000,
            fd_limit: 65_536,
            established: 300,
            fleeting_close_wait: 3,
        },
        Hog {
            name: "postgres",
            open_fds: 690,
            fd_limit: 1_024,
            established: 40,
            fleeting_close_wait: 0,
        },
    ],
    conntrack: 25_000,
    segments_per_s: 4_000,
    retrans_per_mille: 1,
};

/// A busy proxy: tens of thousands of TIME_WAIT, thousands of
/// ESTABLISHED, a process close to its descriptor limit.
pub const PROXY: Noise = Noise {
    name: "proxy",
    time_wait: 30_000,
    peers: 40,
    hogs: &[
        Hog {
            name: "haproxy",
            open_fds: 16_400,
            fd_limit: 200_000,
            established: 8_000,
            fleeting_close_wait: 20,
        },
        Hog {
            name: "java",
            open_fds: 9_000,
            fd_limit: 12_000,
            established: 1_500,
            fleeting_close_wait: 4,
        },
    ],
    conntrack: 180_000,
    segments_per_s: 60_000,
    retrans_per_mille: 1,
};

fn observations(r: &mut Value) -> &mut Vec<Value> {
    r["observations"]
        .as_array_mut()
        .expect("a report has observations")
}

fn find<'a>(r: &'a mut Value, kind: &str) -> Option<&'a mut Value> {
    observations(r).iter_mut().find(|o| o["kind"] == kind)
}

/// `map[key] += n` on a JSON object of counts (indexing a missing key
/// inserts it, so only maps the probe writes anyway go through here).
fn bump(map: &mut Value, key: &str, n: i64) {
    if !map.is_object() {
        *map = json!({});
    }
    let now = map[key].as_i64().unwrap_or(0);
    map[key] = json!(now + n);
}

fn state_counts(states: &[(&str, i64)]) -> Value {
    let m: BTreeMap<&str, i64> = states.iter().copied().filter(|(_, n)| *n > 0).collect();
    json!(m)
}

/// Adds the noise to a copy of `report`.
pub fn noisy(report: &Value, noise: &Noise, rng: &mut Rng) -> Value {
    let mut r = report.clone();
    let hogs: Vec<Hog> = noise
        .hogs
        .iter()
        .map(|h| Hog {
            open_fds: rng.vary(h.open_fds).min(h.fd_limit),
            established: rng.vary(h.established),
            ..*h
        })
        .collect();
    let time_wait = rng.vary(noise.time_wait);
    if let Some(t) = find(&mut r, "tcp_states") {
        sockets(t, noise, &hogs, time_wait, rng);
    }
    if let Some(p) = find(&mut r, "process_fds") {
        processes(p, &hogs);
    }
    if let Some(c) = find(&mut r, "conntrack") {
        let (count, max) = (c["count"].as_i64().unwrap_or(0), c["max"].as_i64());
        let room = max.map_or(i64::MAX, |m| (m - count).max(0) * 7 / 10);
        let added = rng.vary(noise.conntrack).min(room);
        c["count"] = json!(count + added);
        bump(&mut c["tcp_states"], "ESTABLISHED", added / 2);
        bump(&mut c["tcp_states"], "TIME_WAIT", added / 3);
    }
    if let Some(n) = find(&mut r, "net_counters") {
        let secs = n["interval_s"].as_f64().unwrap_or(1.0).max(1.0);
        let out = (rng.vary(noise.segments_per_s) as f64 * secs) as i64;
        bump(&mut n["deltas"], "TcpOutSegs", out);
        bump(
            &mut n["deltas"],
            "TcpRetransSegs",
            out * noise.retrans_per_mille / 1000,
        );
        bump(&mut n["deltas"], "TcpInSegs", out);
    }
    r
}

/// TIME_WAIT churn and other processes' traffic in the socket counts, the
/// window and the per-process view, as the probe would have counted them.
fn sockets(t: &mut Value, noise: &Noise, hogs: &[Hog], time_wait: i64, rng: &mut Rng) {
    let established: i64 = hogs.iter().map(|h| h.established).sum();
    let fleeting: i64 = hogs.iter().map(|h| h.fleeting_close_wait).sum();
    for (state, n) in [
        ("TIME_WAIT", time_wait),
        ("ESTABLISHED", established),
        ("CLOSE_WAIT", fleeting),
    ] {
        if n > 0 {
            bump(&mut t["counts"], state, n);
        }
    }
    if t["window"].is_object() {
        let w = &mut t["window"];
        // Churn: TIME_WAIT and traffic move between samples; fleeting
        // CLOSE_WAIT sockets are there in some samples, never the same ones.
        for (state, n) in [("TIME_WAIT", time_wait), ("ESTABLISHED", established)] {
            bump(&mut w["first"], state, n * 98 / 100);
            bump(&mut w["min"], state, n * 95 / 100);
            bump(&mut w["max"], state, n * 104 / 100);
        }
        if fleeting > 0 {
            bump(&mut w["first"], "CLOSE_WAIT", fleeting);
            bump(&mut w["max"], "CLOSE_WAIT", fleeting + 2);
            bump(&mut w["min"], "CLOSE_WAIT", 0);
        }
    }
    let peers = noise.peers.max(1);
    let mut by_peer: Vec<Value> = t["by_peer"].as_array().cloned().unwrap_or_default();
    for i in 0..peers.min(5) {
        let peer = format!("198.51.100.{}", 10 + i);
        by_peer.push(json!({"peer": peer, "state": "TIME_WAIT", "count": time_wait / peers}));
        by_peer.push(json!({"peer": peer, "state": "ESTABLISHED", "count": established / peers}));
    }
    for i in 0..fleeting.min(3) {
        let peer = format!("203.0.113.{}", 20 + i + (rng.next() % 50) as i64);
        by_peer.push(json!({"peer": peer, "state": "CLOSE_WAIT", "count": 1}));
    }
    t["by_peer"] = json!(by_peer);
    if let Some(list) = t.get_mut("by_process").and_then(Value::as_array_mut) {
        for (i, h) in hogs.iter().enumerate() {
            list.push(json!({
                "pid": 40_000 + i,
                "name": h.name,
                "counts": state_counts(&[
                    ("ESTABLISHED", h.established),
                    ("CLOSE_WAIT", h.fleeting_close_wait),
                    ("LISTEN", 2),
                ]),
            }));
        }
        let cw = |p: &Value| p["counts"]["CLOSE_WAIT"].as_i64().unwrap_or(0);
        let all = |p: &Value| {
            p["counts"]
                .as_object()
                .map_or(0, |m| m.values().filter_map(Value::as_i64).sum::<i64>())
        };
        list.sort_by_key(|p| (-cw(p), -all(p)));
        list.truncate(5);
    }
}

fn processes(p: &mut Value, hogs: &[Hog]) {
    let list = p["processes"].as_array_mut().expect("processes");
    for (i, h) in hogs.iter().enumerate() {
        list.push(json!({
            "pid": 40_000 + i,
            "name": h.name,
            "open_fds": h.open_fds,
            "fd_limit": h.fd_limit,
            "sockets": h.established + h.fleeting_close_wait + 2,
        }));
    }
    list.sort_by_key(|p| -p["open_fds"].as_i64().unwrap_or(0));
    list.truncate(15);
}

/// A backend idle keep-alive moved past this would outlast nginx's
/// upstream default (60 s): no race any more, so another answer.
const PROXY_KEEPALIVE_S: f64 = 60.0;

/// The report with its idle timers moved to `target_s` (held connections'
/// lifetimes, a backend's idle keep-alive shorter than the proxy's and the
/// silences left after it); None when it measured no such timer.
pub fn retimed(report: &Value, target_s: f64) -> Option<Value> {
    let mut r = report.clone();
    let mut changed = false;
    for o in observations(&mut r) {
        match o["kind"].as_str() {
            Some("conn_lifetimes") => changed |= retime_lifetimes(o, target_s),
            Some("keepalive") if target_s < PROXY_KEEPALIVE_S => {
                changed |= retime_keepalive(o, target_s)
            }
            _ => {}
        }
    }
    // The silences the HTTP sampler left followed the backend's timer.
    let factor = keepalive_factor(&r, target_s);
    if let Some(f) = factor
        && let Some(h) = find(&mut r, "http_latency")
    {
        if let Some(v) = h.get_mut("idle_after_s") {
            scale(v, f);
        }
        let idle = h.get_mut("idle_samples").and_then(Value::as_array_mut);
        for s in idle.into_iter().flatten() {
            scale(&mut s["gap_s"], f);
        }
    }
    changed.then_some(r)
}

fn scale(v: &mut Value, f: f64) {
    if let Some(x) = v.as_f64() {
        *v = json!(x * f);
    }
}

fn retime_lifetimes(o: &mut Value, target_s: f64) -> bool {
    let conns = o["connections"].as_array_mut().expect("connections");
    let ended: Vec<f64> = conns
        .iter()
        .filter(|c| c["ended_by"] != "open")
        .filter_map(|c| c["duration_s"].as_f64())
        .collect();
    let Some(median) = median(&ended) else {
        return false;
    };
    // Shift rather than scale: the jitter of a cut stays what it was.
    for c in conns.iter_mut().filter(|c| c["ended_by"] != "open") {
        let d = c["duration_s"].as_f64().unwrap_or(0.0);
        c["duration_s"] = json!((d - median + target_s).max(0.0));
    }
    true
}

fn retime_keepalive(o: &mut Value, target_s: f64) -> bool {
    let Some(k) = o["closed_idle_after_s"].as_f64() else {
        return false;
    };
    let f = target_s / k;
    scale(&mut o["closed_idle_after_s"], f);
    let closes = o.get_mut("closes_s").and_then(Value::as_array_mut);
    for c in closes.into_iter().flatten() {
        scale(c, f);
    }
    if let Some(w) = o["waited_s"].as_f64() {
        o["waited_s"] = json!(w.max(target_s * 1.5));
    }
    true
}

/// How much the keepalive timer was stretched, from the retimed report.
fn keepalive_factor(r: &Value, target_s: f64) -> Option<f64> {
    let h = r["observations"]
        .as_array()?
        .iter()
        .find(|o| o["kind"] == "http_latency")?;
    Some(target_s / h["idle_after_s"].as_f64()?)
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The lab's leak grown to `n` CLOSE_WAIT sockets: the same process and
/// peer, a descriptor limit with room for them (a leak caught early on a
/// bigger service).
pub fn leak_grown(report: &Value, n: i64) -> Value {
    let mut r = report.clone();
    let t = find(&mut r, "tcp_states").expect("tcp_states");
    let now = t["counts"]["CLOSE_WAIT"].as_i64().expect("a leak");
    let grow = |v: &mut Value| {
        if let Some(x) = v.as_i64() {
            *v = json!(x * n / now);
        }
    };
    // The leak's client side (FIN_WAIT2, same namespace) grows with it.
    for state in ["CLOSE_WAIT", "FIN_WAIT2"] {
        grow(&mut t["counts"][state]);
        for part in ["first", "min", "max", "persistent"] {
            let window = t.get_mut("window").and_then(|w| w.get_mut(part));
            if let Some(x) = window.and_then(|v| v.get_mut(state)) {
                grow(x);
            }
        }
    }
    for p in t["by_peer"].as_array_mut().into_iter().flatten() {
        if p["state"] == "CLOSE_WAIT" || p["state"] == "FIN_WAIT2" {
            grow(&mut p["count"]);
        }
    }
    let mut holder = None;
    for p in t
        .get_mut("by_process")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if p["counts"]["CLOSE_WAIT"].as_i64().unwrap_or(0) > 0 {
            holder = holder.or(p["pid"].as_i64());
            grow(&mut p["counts"]["CLOSE_WAIT"]);
            for peer in p["by_peer"].as_array_mut().into_iter().flatten() {
                grow(&mut peer["count"]);
            }
        }
    }
    if let Some(pid) = holder
        && let Some(f) = find(&mut r, "process_fds")
    {
        for p in f["processes"].as_array_mut().into_iter().flatten() {
            if p["pid"].as_i64() == Some(pid) {
                let extra = n - now;
                p["open_fds"] = json!(p["open_fds"].as_i64().unwrap_or(0) + extra);
                p["sockets"] = json!(p["sockets"].as_i64().unwrap_or(0) + extra);
                p["fd_limit"] = json!(65_536);
            }
        }
    }
    r
}

/// Every alarm, named for the table.
const ALARMS: [(&str, Alarm); 4] = [
    ("calm conntrack", Alarm::CalmConntrack),
    ("jumbo frames", Alarm::JumboFrames),
    ("CLOSE_WAIT churn", Alarm::CloseWaitChurn),
    ("healthy pool", Alarm::HealthyPool),
];

/// Alarming sights a healthy host may show.
#[derive(Clone, Copy, Debug)]
pub enum Alarm {
    /// A large table, far from full, no drops, mostly TIME_WAIT entries.
    CalmConntrack,
    /// A 9000-byte interface and a path that carries 9000-byte packets.
    JumboFrames,
    /// 150 CLOSE_WAIT sockets at any moment, spread over processes and
    /// peers, none of them still there a second later: a fast service's churn.
    CloseWaitChurn,
    /// Pooled connections closed cleanly at scattered ages, a backend that
    /// outlasts the proxy, and requests after silences that all succeed.
    HealthyPool,
}

/// `report` with `alarm` added.
pub fn alarmed(report: &Value, alarm: Alarm) -> Value {
    let mut r = report.clone();
    match alarm {
        Alarm::CalmConntrack => {
            let table = json!({"kind": "conntrack", "count": 700_000, "max": 1_048_576,
                "by_proto": {"tcp": 650_000, "udp": 50_000},
                "tcp_states": {"TIME_WAIT": 455_000, "ESTABLISHED": 190_000, "CLOSE": 5_000},
                "drops": 0, "insert_failed": 0,
                "timeouts": {"tcp_timeout_established": 432_000, "tcp_timeout_time_wait": 120}});
            observations(&mut r).retain(|o| o["kind"] != "conntrack");
            observations(&mut r).push(table);
        }
        Alarm::JumboFrames => {
            let jumbo = json!({"name": "eth1", "mtu": 9000, "up": true, "kind": "veth"});
            match find(&mut r, "interfaces") {
                Some(i) => i["interfaces"].as_array_mut().expect("list").push(jumbo),
                None => observations(&mut r).push(json!({"kind": "interfaces", "interfaces": [
                    {"name": "lo", "mtu": 65536, "up": true, "kind": "loopback"}, jumbo]})),
            }
            let probes: Vec<Value> = [576, 1400, 1500, 4000, 8000, 9000]
                .iter()
                .map(|s| json!({"size": s, "ok": true}))
                .collect();
            observations(&mut r).retain(|o| o["kind"] != "pmtu");
            observations(&mut r).push(
                json!({"kind": "pmtu", "target": "10.9.0.2", "iface_mtu": 9000, "probes": probes}),
            );
        }
        Alarm::CloseWaitChurn => close_wait_churn(&mut r),
        Alarm::HealthyPool => healthy_pool(&mut r),
    }
    r
}

fn close_wait_churn(r: &mut Value) {
    let Some(t) = find(r, "tcp_states") else {
        return;
    };
    bump(&mut t["counts"], "CLOSE_WAIT", 150);
    if t["window"].is_object() {
        bump(&mut t["window"]["first"], "CLOSE_WAIT", 140);
        bump(&mut t["window"]["max"], "CLOSE_WAIT", 170);
        bump(&mut t["window"]["min"], "CLOSE_WAIT", 120);
    }
    let by_peer = t["by_peer"].as_array_mut().expect("by_peer");
    for i in 0..5 {
        by_peer.push(
            json!({"peer": format!("192.0.2.{}", 30 + i), "state": "CLOSE_WAIT", "count": 9 - i}),
        );
    }
    if let Some(list) = t.get_mut("by_process").and_then(Value::as_array_mut) {
        for (i, n) in [60, 50, 40].iter().enumerate() {
            list.push(json!({"pid": 41_000 + i, "name": format!("worker-{i}"),
                "counts": {"CLOSE_WAIT": n, "ESTABLISHED": 900, "LISTEN": 1}}));
        }
    }
}

fn healthy_pool(r: &mut Value) {
    let ages = [3.1, 17.4, 29.0, 41.7, 58.2, 66.0, 80.5, 93.3];
    let conns: Vec<Value> = ages
        .iter()
        .map(|a| json!({"duration_s": a, "ended_by": "fin"}))
        .chain([json!({"duration_s": 120.0, "ended_by": "open"})])
        .collect();
    let idle: Vec<Value> = (0..10)
        .map(|i| json!({"gap_s": 4.0 + f64::from(i % 4) * 0.2, "at": 1_796_000_000_000_i64 + i64::from(i) * 5_000,
            "latency_ms": 2.5, "status": 200}))
        .collect();
    let samples: Vec<Value> = (0..30)
        .map(|i| json!([1_795_999_990_000_i64 + i * 200, 2.0 + (i % 5) as f64, 200]))
        .collect();
    for kind in [
        "conn_lifetimes",
        "keepalive",
        "http_latency",
        "config_facts",
    ] {
        observations(r).retain(|o| o["kind"] != kind);
    }
    observations(r).extend([
        json!({"kind": "conn_lifetimes", "target": "10.9.0.7:5432", "idle": false, "connections": conns}),
        json!({"kind": "keepalive", "target": "http://10.9.0.8:8080/", "closed_idle_after_s": 75.0,
            "waited_s": 120.0, "closes_s": [75.0, 75.1]}),
        json!({"kind": "http_latency", "target": "http://127.0.0.1:8080/", "samples": samples,
            "idle_samples": idle, "idle_after_s": 4.0}),
        json!({"kind": "config_facts", "facts": {"proxy.upstream_keepalive_timeout_s": 60}}),
    ]);
}

/// Off-catalogue idle timers the lab's timed reports are moved to, and one
/// catalogue value (an AWS NLB's 350 s) to compare with.
pub const TIMERS_S: [f64; 6] = [3.5, 7.0, 13.0, 45.0, 97.0, 350.0];

/// Every case: each lab report clean, busy and as a proxy would show it;
/// its timers moved off the catalogue (clean and with proxy noise); the
/// reports of the probe before its window and per-process fields; and
/// healthy hosts, plain and alarming, which must match nothing.
pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (scenario, playbook) in SCENARIOS {
        let clean = read(&fixtures().join(format!("{scenario}.json")));
        lab_variants(&mut out, scenario, playbook, &clean);
        if scenario == "close_wait" {
            // 2,300 leaked among 30,000 TIME_WAIT on a busy proxy.
            let grown = leak_grown(&clean, 2_300);
            let mut rng = Rng::new("close_wait x2300");
            out.push(Case {
                name: "close_wait x2300 +proxy".into(),
                truth: Some(playbook.into()),
                report: noisy(&grown, &PROXY, &mut rng),
            });
        }
        let older = fixtures().join(format!("older-probe/{scenario}.json"));
        if older.exists() {
            let old = read(&older);
            lab_variants(&mut out, &format!("older-probe/{scenario}"), playbook, &old);
        }
    }
    let mut healthy: Vec<(String, Value)> = vec![(
        "healthy/host".into(),
        read(&fixtures().join("healthy/host.json")),
    )];
    for (name, text) in faultline::builtin::healthy_examples() {
        healthy.push((name, serde_json::from_str(&text).expect("healthy example")));
    }
    for (name, base) in healthy {
        healthy_variants(&mut out, &name, &base);
    }
    out
}

fn lab_variants(out: &mut Vec<Case>, name: &str, playbook: &str, clean: &Value) {
    let case = |suffix: &str, report: Value| Case {
        name: format!("{name}{suffix}"),
        truth: Some(playbook.to_owned()),
        report,
    };
    for noise in [BUSY, PROXY] {
        let mut rng = Rng::new(&format!("{name}+{}", noise.name));
        out.push(case(
            &format!(" +{}", noise.name),
            noisy(clean, &noise, &mut rng),
        ));
    }
    for t in TIMERS_S {
        if let Some(r) = retimed(clean, t) {
            let mut rng = Rng::new(&format!("{name}@{t}"));
            let proxy = noisy(&r, &PROXY, &mut rng);
            out.push(case(&format!(" @{t}s"), r));
            out.push(case(&format!(" @{t}s +proxy"), proxy));
        }
    }
    out.push(case("", clean.clone()));
}

fn healthy_variants(out: &mut Vec<Case>, name: &str, base: &Value) {
    let case = |suffix: &str, report: Value| Case {
        name: format!("{name}{suffix}"),
        truth: None,
        report,
    };
    let mut rng = Rng::new(name);
    let proxy = noisy(base, &PROXY, &mut rng);
    let everything = ALARMS
        .iter()
        .fold(proxy.clone(), |r, (_, a)| alarmed(&r, *a));
    out.push(case("", base.clone()));
    out.push(case(" +heavy TIME_WAIT (proxy)", proxy));
    out.push(case(" +busy", noisy(base, &BUSY, &mut rng)));
    for (what, alarm) in ALARMS {
        out.push(case(&format!(" +{what}"), alarmed(base, alarm)));
    }
    out.push(case(" +all of them", everything));
}

/// Precision and recall per playbook of the top likely answer.
#[derive(Default, Debug, Clone, Copy)]
pub struct Score {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    /// Cases where it was likely, below the top, and not the answer.
    pub also_likely: usize,
}

impl Score {
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// The table: one row per playbook, then the healthy hosts' false alarms.
pub fn table(ids: &[&str], scores: &BTreeMap<String, Score>, healthy: (usize, usize)) -> String {
    let mut s = format!(
        "{:<28} {:>4} {:>4} {:>4} {:>9} {:>7} {:>12}\n",
        "playbook", "TP", "FP", "FN", "precision", "recall", "also likely"
    );
    let mut total = Score::default();
    for id in ids {
        let c = scores.get(*id).copied().unwrap_or_default();
        total.tp += c.tp;
        total.fp += c.fp;
        total.fn_ += c.fn_;
        total.also_likely += c.also_likely;
        s += &format!(
            "{id:<28} {:>4} {:>4} {:>4} {:>9.2} {:>7.2} {:>12}\n",
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            c.also_likely
        );
    }
    s += &format!(
        "{:<28} {:>4} {:>4} {:>4} {:>9.2} {:>7.2} {:>12}\n",
        "all",
        total.tp,
        total.fp,
        total.fn_,
        total.precision(),
        total.recall(),
        total.also_likely
    );
    s += &format!(
        "healthy hosts with a likely match: {} of {}\n",
        healthy.0, healthy.1
    );
    s
}
