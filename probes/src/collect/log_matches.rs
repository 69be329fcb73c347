//! `log_matches`: counts of known error patterns in a log file.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, Result};

use crate::report::{LogMatches, Observation, PatternCount};

/// Patterns that point at a playbook, as they appear in logs.
pub const PATTERNS: &[&str] = &[
    "upstream prematurely closed connection",
    "connect() failed (111: Connection refused)",
    "connect() failed (110: Connection timed out)",
    "upstream timed out (110: Connection timed out)",
    "no live upstreams",
    "recv() failed (104: Connection reset by peer)",
    "nf_conntrack: table full, dropping packet",
    "Too many open files",
    "SSL_do_handshake() failed",
    "certificate verify failed",
    // The kernel writes "TCP: request_sock_TCP: Possible SYN flooding on port 80."
    "Possible SYN flooding",
    "Temporary failure in name resolution",
];

/// Streams the file line by line, so large logs use little memory.
pub fn collect(path: &Path) -> Result<Observation> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut counts = vec![0i64; PATTERNS.len()];
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    while reader
        .read_until(b'\n', &mut line)
        .with_context(|| format!("reading {}", path.display()))?
        > 0
    {
        // Logs are not always UTF-8; match on bytes.
        let text = String::from_utf8_lossy(&line);
        for (i, p) in PATTERNS.iter().enumerate() {
            if text.contains(p) {
                counts[i] += 1;
            }
        }
        line.clear();
    }
    let patterns = PATTERNS
        .iter()
        .zip(counts)
        .map(|(p, count)| PatternCount {
            pattern: (*p).to_string(),
            count,
        })
        .collect();
    Ok(LogMatches {
        source: path.display().to_string(),
        patterns,
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_log_fixture_is_counted() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nginx_error.log");
        let Observation::LogMatches(m) = collect(&path).unwrap() else {
            panic!()
        };
        let count = |p: &str| m.patterns.iter().find(|x| x.pattern == p).unwrap().count;
        assert_eq!(count("upstream prematurely closed connection"), 3);
        assert_eq!(count("connect() failed (111: Connection refused)"), 2);
        assert_eq!(count("no live upstreams"), 1);
        assert_eq!(count("nf_conntrack: table full, dropping packet"), 1);
        assert_eq!(count("Too many open files"), 1);
        assert_eq!(count("SSL_do_handshake() failed"), 0);
    }

    #[test]
    fn kernel_syn_flood_line_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kern.log");
        let line = "Nov 24 03:12:01 db-1 kernel: TCP: request_sock_TCP: Possible SYN flooding on port 5432. Sending cookies.\n";
        std::fs::write(&path, line.repeat(2)).unwrap();
        let Observation::LogMatches(m) = collect(&path).unwrap() else {
            panic!()
        };
        let syn = m
            .patterns
            .iter()
            .find(|x| x.pattern.contains("SYN flooding"))
            .unwrap();
        assert_eq!(syn.count, 2);
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = collect(Path::new("/nonexistent/error.log")).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/error.log"));
    }
}
