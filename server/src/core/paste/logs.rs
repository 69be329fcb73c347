//! nginx error log lines and kernel log lines (`dmesg`, `journalctl -k`):
//! the probe's known patterns, counted.

use faultline_probe::collect::log_matches::PATTERNS;
use faultline_probe::report::{LogMatches, PatternCount};

use super::{Block, Claim, Found};

const NGINX_LEVELS: &[&str] = &[
    "[debug] ",
    "[info] ",
    "[notice] ",
    "[warn] ",
    "[error] ",
    "[crit] ",
    "[alert] ",
    "[emerg] ",
];

/// `2026/11/23 10:00:01 [error] 31#31: *1 upstream …`, possibly behind a
/// prefix (`error.log:` from grep, a kubectl timestamp).
fn is_nginx(line: &str) -> bool {
    NGINX_LEVELS.iter().any(|lvl| {
        line.find(lvl).is_some_and(|i| {
            let before = line[..i].trim_end();
            let time = before.rsplit(' ').next().unwrap_or_default();
            let date = before.rsplit(' ').nth(1).unwrap_or_default();
            is_clock(time) && date.len() >= 10 && date[date.len() - 10..].matches('/').count() == 2
        })
    })
}

fn is_clock(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 8
        && b[2] == b':'
        && b[5] == b':'
        && s.replace(':', "").bytes().all(|c| c.is_ascii_digit())
}

/// `[12345.678901] …` (dmesg), `[Tue Nov 24 05:00:00 2026] …` (dmesg -T),
/// `Nov 24 05:00:00 host kernel: …` (journalctl -k, syslog).
fn is_kernel(line: &str) -> bool {
    let t = line.trim_start();
    if let Some(rest) = t.strip_prefix('[')
        && let Some((stamp, _)) = rest.split_once(']')
    {
        let s = stamp.trim();
        let uptime = s.contains('.') && s.replace('.', "").bytes().all(|c| c.is_ascii_digit());
        let clock = s.split_whitespace().any(is_clock);
        return uptime || clock;
    }
    t.split_whitespace().nth(4) == Some("kernel:")
        && t.split_whitespace().nth(2).is_some_and(is_clock)
}

pub fn parse(block: &Block) -> Option<Claim> {
    let mut lines = Vec::new();
    let mut counts = vec![0i64; PATTERNS.len()];
    let (mut nginx, mut kernel, mut other) = (false, false, false);
    for (i, line) in block.lines.iter().enumerate() {
        let hits: Vec<usize> = (0..PATTERNS.len())
            .filter(|p| line.contains(PATTERNS[*p]))
            .collect();
        if is_nginx(line) {
            nginx = true;
        } else if is_kernel(line) {
            kernel = true;
        } else if !hits.is_empty() {
            // A known error in some other log.
            other = true;
        } else {
            continue;
        }
        for p in hits {
            counts[p] += 1;
        }
        lines.push(i);
    }
    if lines.is_empty() {
        return None;
    }
    let source = [
        (nginx, "nginx error log"),
        (kernel, "kernel log"),
        (other, "log lines"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, s)| *s)
    .collect::<Vec<_>>()
    .join(", ");
    let patterns = PATTERNS
        .iter()
        .zip(counts)
        .map(|(p, count)| PatternCount {
            pattern: (*p).to_string(),
            count,
        })
        .collect();
    let format = if nginx {
        "nginx error log"
    } else if kernel {
        "dmesg"
    } else {
        "log lines"
    };
    Some(Claim::new(
        lines,
        vec![Found {
            obs: LogMatches {
                source: format!("pasted {source}"),
                patterns,
            }
            .into(),
            format,
        }],
    ))
}
