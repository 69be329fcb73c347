//! What the probe saw over its window rather than at one moment: socket
//! states sampled every second with the CLOSE_WAIT sockets that stayed,
//! the processes holding the sockets, and the requests it sent after a
//! silence. Added to the views of `observation_view`.

use faultline_probe::report::{HttpLatency, Observation, TcpStates};

use super::observation_view::{ObservationView, TableView, fact, table};

/// What a `tcp_states` read in another network namespace says of it.
pub fn netns(v: &mut ObservationView, t: &TcpStates) {
    let Some(n) = &t.netns else {
        return;
    };
    v.title = format!("TCP sockets in {}", n.describe());
    v.facts.push(fact("network namespace", n.inode.to_string()));
    if let Some(pid) = n.pid {
        let name = n.process.as_deref().unwrap_or("?");
        v.facts
            .push(fact("oldest process in it", format!("{pid} {name}")));
    }
    if let Some(name) = &n.name {
        v.facts.push(fact("name (ip netns)", name.clone()));
    }
    if let Some(uid) = &n.pod_uid {
        v.facts.push(fact("pod uid", uid.clone()));
    }
    if let Some(via) = &n.read_via {
        let how = match via.as_str() {
            "sock_diag" => "netlink sock_diag, from inside it".to_owned(),
            "proc" => {
                "/proc/PID/net/tcp of a process in it (the probe could not enter it)".to_owned()
            }
            other => other.to_owned(),
        };
        v.facts.push(fact("read via", how));
    }
}

/// The report's socket tables side by side, one row per network
/// namespace, the most CLOSE_WAIT first: None unless the probe read
/// namespaces other than its own.
pub fn namespaces(observations: &[Observation]) -> Option<TableView> {
    let tables: Vec<&TcpStates> = observations
        .iter()
        .filter_map(|o| match o {
            Observation::TcpStates(t) => Some(t),
            _ => None,
        })
        .collect();
    if !tables.iter().any(|t| t.netns.is_some()) {
        return None;
    }
    let mut rows: Vec<(i64, Vec<String>)> = tables
        .iter()
        .map(|t| {
            let get = |k: &str| t.counts.get(k).copied().unwrap_or(0);
            let sockets: i64 = t.counts.values().sum::<i64>() - get("LISTEN");
            let held = t
                .window
                .as_ref()
                .and_then(|w| w.persistent.get("CLOSE_WAIT"))
                .map_or("—".to_owned(), i64::to_string);
            let holder = t
                .by_process
                .iter()
                .find(|p| p.counts.get("CLOSE_WAIT").is_some_and(|n| *n > 0))
                .map_or("—".to_owned(), |p| {
                    format!("{} ({}): {}", p.name, p.pid, p.counts["CLOSE_WAIT"])
                });
            let (place, inode, process) = match &t.netns {
                None => (
                    "host (the probe's own)".to_owned(),
                    "—".to_owned(),
                    "—".to_owned(),
                ),
                Some(n) => (
                    n.describe(),
                    n.inode.to_string(),
                    n.pid.map_or("—".to_owned(), |pid| {
                        format!("{pid} {}", n.process.as_deref().unwrap_or(""))
                            .trim_end()
                            .to_owned()
                    }),
                ),
            };
            let cells = vec![
                place,
                inode,
                process,
                sockets.to_string(),
                get("ESTABLISHED").to_string(),
                get("CLOSE_WAIT").to_string(),
                held,
                holder,
            ];
            (get("CLOSE_WAIT"), cells)
        })
        .collect();
    // Stable: between equal counts the host stays first.
    rows.sort_by_key(|(close_wait, _)| std::cmp::Reverse(*close_wait));
    Some(table(
        "Network namespaces, most CLOSE_WAIT first (each row its own sockets only)",
        vec![
            "where",
            "namespace",
            "oldest process",
            "sockets (not LISTEN)",
            "ESTABLISHED",
            "CLOSE_WAIT",
            "CLOSE_WAIT held over the window",
            "top CLOSE_WAIT holder",
        ],
        rows.into_iter().map(|(_, cells)| cells).collect(),
    ))
}

/// The window and per-process tables of a `tcp_states` observation.
pub fn tcp(v: &mut ObservationView, t: &TcpStates) {
    if let Some(w) = &t.window {
        v.facts.push(fact(
            "sampled",
            format!(
                "{} times over {}",
                w.samples,
                crate::web::units::seconds(w.seconds)
            ),
        ));
        if let Some(n) = w.persistent.get("CLOSE_WAIT") {
            v.facts.push(fact(
                "CLOSE_WAIT held from first sample to last",
                n.to_string(),
            ));
        }
        let n = |m: &std::collections::BTreeMap<String, i64>, k: &str| {
            m.get(k).copied().unwrap_or(0).to_string()
        };
        v.tables.push(table(
            "Over the window",
            vec!["state", "first", "min", "max", "last"],
            w.max
                .keys()
                .map(|k| {
                    vec![
                        k.clone(),
                        n(&w.first, k),
                        n(&w.min, k),
                        n(&w.max, k),
                        n(&t.counts, k),
                    ]
                })
                .collect(),
        ));
    }
    if !t.by_process.is_empty() {
        v.tables.push(table(
            "Processes holding sockets (TIME_WAIT belongs to none)",
            vec![
                "pid",
                "name",
                "CLOSE_WAIT",
                "ESTABLISHED",
                "all but LISTEN",
                "top CLOSE_WAIT peer",
            ],
            t.by_process
                .iter()
                .map(|p| {
                    let get = |k: &str| p.counts.get(k).copied().unwrap_or(0);
                    let busy: i64 = p.counts.values().sum::<i64>() - get("LISTEN");
                    let peer = p
                        .by_peer
                        .first()
                        .map_or("—".to_owned(), |x| format!("{} ({})", x.peer, x.count));
                    vec![
                        p.pid.to_string(),
                        p.name.clone(),
                        get("CLOSE_WAIT").to_string(),
                        get("ESTABLISHED").to_string(),
                        busy.to_string(),
                        peer,
                    ]
                })
                .collect(),
        ));
    }
}

/// The requests an `http_latency` observation sent after a silence.
pub fn idle_requests(v: &mut ObservationView, h: &HttpLatency) {
    if h.idle_samples.is_empty() {
        return;
    }
    let failed = h
        .idle_samples
        .iter()
        .filter(|s| s.status == 0 || s.status == 502)
        .count();
    if let Some(after) = h.idle_after_s {
        v.facts.push(fact(
            "silences set from the backend's idle keep-alive",
            format!("{after:.2} s"),
        ));
    }
    v.facts.push(fact(
        "requests after a silence that got 502 or no answer",
        format!("{failed} of {}", h.idle_samples.len()),
    ));
    v.tables.push(table(
        "Requests after a silence",
        vec!["silence", "latency", "status"],
        h.idle_samples
            .iter()
            .map(|s| {
                vec![
                    format!("{:.3} s", s.gap_s),
                    format!("{:.1} ms", s.latency_ms),
                    if s.status == 0 {
                        "no answer".to_owned()
                    } else {
                        s.status.to_string()
                    },
                ]
            })
            .collect(),
    ));
}

#[cfg(test)]
mod tests {
    use faultline_probe::report::Observation;

    use super::*;

    #[test]
    fn the_window_the_holders_and_the_requests_after_a_silence_are_shown() {
        let o: Observation = serde_json::from_value(serde_json::json!({
            "kind": "tcp_states",
            "counts": {"CLOSE_WAIT": 301, "TIME_WAIT": 1124},
            "window": {"samples": 3, "seconds": 2.0, "first": {"CLOSE_WAIT": 301, "TIME_WAIT": 1130},
                       "min": {"CLOSE_WAIT": 301, "TIME_WAIT": 1120}, "max": {"CLOSE_WAIT": 301, "TIME_WAIT": 1131},
                       "persistent": {"CLOSE_WAIT": 301}},
            "by_process": [{"pid": 42, "name": "leaky", "counts": {"CLOSE_WAIT": 301, "LISTEN": 1},
                            "by_peer": [{"peer": "10.1.1.1", "state": "CLOSE_WAIT", "count": 301}]}]
        }))
        .unwrap();
        let v = ObservationView::of(&o);
        assert!(v.facts.contains(&(
            "CLOSE_WAIT held from first sample to last".into(),
            "301".into()
        )));
        let window = v
            .tables
            .iter()
            .find(|t| t.caption == "Over the window")
            .unwrap();
        assert!(window.rows.contains(&vec![
            "TIME_WAIT".to_string(),
            "1130".into(),
            "1120".into(),
            "1131".into(),
            "1124".into()
        ]));
        let procs = v
            .tables
            .iter()
            .find(|t| t.caption.starts_with("Processes"))
            .unwrap();
        assert_eq!(
            procs.rows[0],
            ["42", "leaky", "301", "0", "301", "10.1.1.1 (301)"]
        );

        let o: Observation = serde_json::from_value(serde_json::json!({
            "kind": "http_latency", "target": "http://p/", "samples": [[1, 1.0, 200]],
            "idle_after_s": 2.0,
            "idle_samples": [{"gap_s": 2.04, "at": 5, "latency_ms": 0.9, "status": 502},
                             {"gap_s": 1.8, "at": 9, "latency_ms": 1.1, "status": 200}]
        }))
        .unwrap();
        let v = ObservationView::of(&o);
        assert!(v.facts.contains(&(
            "requests after a silence that got 502 or no answer".into(),
            "1 of 2".into()
        )));
        assert_eq!(v.tables[0].rows[0], ["2.040 s", "0.9 ms", "502"]);
    }

    #[test]
    fn each_namespace_is_a_row_and_its_table_says_which_it_is() {
        let text = crate::builtin::example("examples/close-wait-leak-4.json").unwrap();
        let r = faultline_probe::report::Report::from_json(text.as_bytes()).unwrap();
        let t = namespaces(&r.observations).expect("the report has namespaces");
        let wheres: Vec<&str> = t.rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            wheres,
            [
                "pod payments/ledger-6c8f9-2xk4q",
                "host (the probe's own)",
                "pod ops/cron-report-28911",
                "pod shop/web-5f7c9-8tq2m"
            ]
        );
        assert_eq!(
            t.rows[0][1..],
            [
                "4026532301",
                "18450 pause",
                "676",
                "31",
                "642",
                "636",
                "java (18502): 642"
            ]
        );
        let Observation::TcpStates(pod) = &r.observations[1] else {
            panic!()
        };
        let v = ObservationView::of(&r.observations[1]);
        assert_eq!(v.title, "TCP sockets in pod payments/ledger-6c8f9-2xk4q");
        assert!(
            v.facts
                .contains(&("network namespace".into(), "4026532301".into()))
        );
        assert!(pod.netns.is_some());
        // A report from before namespaces, or from a host alone: no table.
        let plain = crate::builtin::example("examples/close-wait-leak-3.json").unwrap();
        let plain = faultline_probe::report::Report::from_json(plain.as_bytes()).unwrap();
        assert!(namespaces(&plain.observations).is_none());
    }
}
