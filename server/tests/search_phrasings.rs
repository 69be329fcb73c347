//! What an on-call engineer types puts the right playbook first, through the
//! real `faultline search --format json` command.

use std::process::Command;

/// At least three phrasings per scenario, none of them the title: error
/// messages, counter names and the words people use at 3 AM.
const CASES: &[(&str, &[&str])] = &[
    (
        "keepalive-race-502",
        &[
            "upstream prematurely closed connection while reading response header",
            "502 Bad Gateway",
            "502",
            "intermittent 502 after scaling up",
        ],
    ),
    (
        "dns-ndots-search-delay",
        &[
            "ndots",
            "DNS lookup takes 5 seconds",
            "search domains resolv.conf",
            "slow name resolution in pod",
        ],
    ),
    (
        "idle-timeout-reset",
        &[
            "exactly 60 seconds",
            "connection reset by peer after idle",
            "idle timeout RST",
            "long-lived grpc stream reset",
        ],
    ),
    (
        "tls-version-mismatch",
        &[
            "handshake_failure",
            "no protocols available",
            "TLS 1.3 only client cannot connect",
            "SSLHandshakeException",
        ],
    ),
    (
        "crashing-endpoint-refused",
        &[
            "connection refused intermittently",
            "OOMKilled",
            "CrashLoopBackOff",
            "restart count keeps growing",
        ],
    ),
    (
        "close-wait-leak",
        &[
            "CLOSE_WAIT",
            "too many open files",
            "file descriptors keep growing",
        ],
    ),
    (
        "tls-incomplete-chain",
        &[
            "unable to get local issuer certificate",
            "x509: certificate signed by unknown authority",
            "missing intermediate certificate",
            "works in browser fails in curl",
        ],
    ),
    (
        "missing-masquerade",
        &[
            "MASQUERADE",
            "pod can't reach external API",
            "SNAT missing",
            "egress from pods times out",
        ],
    ),
    (
        "periodic-saturation-p99",
        &[
            "p99 latency spike",
            "tail latency every minute",
            "p50 fine but p99 high",
        ],
    ),
    (
        "reconnect-storm-syn-flood",
        &[
            "SYN flood",
            "TcpExtListenOverflows",
            "thundering herd",
            "SYN cookies",
        ],
    ),
    (
        "mtu-blackhole",
        &[
            "MTU",
            "fragmentation needed",
            "large responses hang",
            "PMTUD",
        ],
    ),
    (
        "termination-drain-race",
        &[
            "502 during deploys",
            "preStop",
            "SIGTERM",
            "errors during rolling update",
        ],
    ),
    (
        "conntrack-table-full",
        &[
            "nf_conntrack: table full, dropping packet",
            "table full",
            "conntrack table full",
            "nf_conntrack_max",
        ],
    ),
];

#[test]
fn engineer_phrasings_rank_the_right_playbook_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (expected, phrasings) in CASES {
        assert!(phrasings.len() >= 3, "{expected}: at least three phrasings");
        for phrase in *phrasings {
            let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
                .args(["--data-dir"])
                .arg(dir.path())
                .args(["search", phrase, "--format", "json"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{phrase}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let first = json["hits"][0]["id"]
                .as_str()
                .unwrap_or("(none)")
                .to_owned();
            if first != *expected {
                let ranked: Vec<_> = json["hits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .take(3)
                    .map(|h| h["id"].clone())
                    .collect();
                failures.push(format!("{phrase:?}: expected {expected}, got {ranked:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} phrasings ranked wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn bad_search_input_gets_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    for (query, expect) in [("   ", "empty"), (&*"x".repeat(2000), "too long")] {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["search", query])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expect), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn broken_database_url_is_a_clear_error() {
    for url in ["mysql://localhost/x", "postgres://nobody@127.0.0.1:1/none"] {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["--database", url, "search", "ndots"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{url}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("cannot open the database"),
            "{url}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
