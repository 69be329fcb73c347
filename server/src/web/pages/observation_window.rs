//! What the probe saw over its window rather than at one moment: socket
//! states sampled every second with the CLOSE_WAIT sockets that stayed,
//! the processes holding the sockets, and the requests it sent after a
//! silence. Added to the views of `observation_view`.

use faultline_probe::report::{HttpLatency, TcpStates};

use super::observation_view::{ObservationView, fact, table};

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
}
