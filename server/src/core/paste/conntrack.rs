//! Connection tracking: `conntrack -S` (per-CPU counters, summed with the
//! probe's function), `conntrack -C`, `conntrack -L` and
//! /proc/net/nf_conntrack (tallied by the probe's function), the sysctls
//! (`sysctl net.netfilter`, `grep . /proc/sys/net/netfilter/nf_conntrack_*`,
//! `head …`, or `cat` of one file after its command line) and
//! `/proc/net/stat/nf_conntrack`.

use faultline_probe::collect::conntrack::{sum_cli_stats, sum_stat, tally_table};
use faultline_probe::report::Conntrack;

use super::{Block, Claim, Found, count};

/// Puts one `nf_conntrack_*` value where it belongs; false when the name is
/// not one we report (still a known sysctl line).
fn set(c: &mut Conntrack, name: &str, value: i64) -> bool {
    let name = name.trim_start_matches("nf_conntrack_");
    match name {
        "count" => c.count = Some(value),
        "max" => c.max = Some(value),
        n if n.contains("timeout") => {
            c.timeouts.insert(n.to_string(), value);
        }
        _ => return false,
    }
    true
}

/// `net.netfilter.nf_conntrack_max = 262144`, `net.nf_conntrack_max = …`,
/// `/proc/sys/net/netfilter/nf_conntrack_max:262144` → (name, value text).
fn sysctl_line(line: &str) -> Option<(&str, &str)> {
    let t = line.trim();
    if t.starts_with("net.netfilter.") || t.starts_with("net.nf_conntrack_") {
        let (key, value) = t.split_once('=')?;
        return Some((key.trim().rsplit('.').next()?, value.trim()));
    }
    if t.starts_with("/proc/sys/net/netfilter/") || t.starts_with("/proc/sys/net/nf_conntrack_") {
        let (path, value) = t.split_once(':')?;
        return Some((path.rsplit('/').next()?, value.trim()));
    }
    None
}

/// `==> /proc/sys/net/netfilter/nf_conntrack_max <==` (from `head`).
fn head_header(line: &str) -> Option<&str> {
    let inner = line.trim().strip_prefix("==> ")?.strip_suffix(" <==")?;
    let name = inner.rsplit('/').next()?;
    name.starts_with("nf_conntrack_").then_some(name)
}

/// The sysctl a single-number output belongs to, from its command line.
fn single_number_name(block: &Block) -> Option<&'static str> {
    let words = block.words();
    match block.program() {
        None => Some("nf_conntrack_count"),
        Some("conntrack") if words.iter().any(|w| *w == "-C" || *w == "--count") => {
            Some("nf_conntrack_count")
        }
        Some("cat" | "sysctl") => {
            let arg = words.last()?;
            let name = arg.rsplit(['/', '.']).next()?;
            ["nf_conntrack_count", "nf_conntrack_max"]
                .into_iter()
                .find(|n| *n == name)
        }
        _ => None,
    }
}

pub fn parse(block: &Block) -> Option<Claim> {
    let mut c = Conntrack::default();
    let mut lines = Vec::new();
    let mut any = false;
    let mut cpu_text = String::new();
    let mut table_text = String::new();
    let mut shown = None;
    let mut pending: Option<&str> = None;
    let nonblank: Vec<usize> = (0..block.lines.len())
        .filter(|i| !block.lines[*i].trim().is_empty())
        .collect();

    // `conntrack -C`, or `cat` of one conntrack file: one number.
    if let [only] = nonblank.as_slice()
        && let Some(n) = count(block.lines[*only])
        && let Some(name) = single_number_name(block)
    {
        set(&mut c, name, n);
        return Some(found(vec![*only], c, "conntrack -C"));
    }

    let mut stat_header: Option<Vec<&str>> = None;
    let mut stat_text = String::new();
    for (i, line) in block.lines.iter().enumerate() {
        let t = line.trim();
        if let Some(name) = pending.take()
            && let Some(n) = count(t)
        {
            set(&mut c, name, n);
            any = true;
            lines.push(i);
            continue;
        }
        if t.starts_with("cpu=") && (t.contains("found=") || t.contains("drop=")) {
            // Only plain counters go to the sum: a garbled value must not
            // make it negative or overflow it.
            for pair in t.split_whitespace() {
                if pair
                    .split_once('=')
                    .is_some_and(|(_, v)| v.len() <= 15 && count(v).is_some())
                {
                    cpu_text.push_str(pair);
                    cpu_text.push(' ');
                }
            }
            cpu_text.push('\n');
            lines.push(i);
        } else if let Some((name, value)) = sysctl_line(t) {
            if let Some(n) = count(value) {
                set(&mut c, name, n);
            }
            any = true;
            lines.push(i);
        } else if let Some(name) = head_header(t) {
            pending = Some(name);
            lines.push(i);
        } else if t.starts_with("entries") && t.contains("insert_failed") {
            stat_header = Some(t.split_whitespace().collect());
            stat_text = format!("{t}\n");
            lines.push(i);
        } else if let Some(h) = &stat_header
            && t.split_whitespace().count() == h.len()
            && t.split_whitespace()
                .all(|x| x.len() <= 12 && i64::from_str_radix(x, 16).is_ok_and(|v| v >= 0))
        {
            stat_text.push_str(t);
            stat_text.push('\n');
            lines.push(i);
        } else if let Some(entry) = list_entry(t) {
            table_text.push_str(&entry);
            table_text.push('\n');
            lines.push(i);
        } else if t.starts_with("conntrack v") && t.contains("flow entries have been shown") {
            // `conntrack v1.4.7 (conntrack-tools): 12 flow entries have been shown.`
            shown = t
                .rsplit_once("): ")
                .and_then(|(_, r)| count(r.split_whitespace().next()?));
            lines.push(i);
        }
    }
    let mut format = "conntrack sysctls";
    if !cpu_text.is_empty() {
        let sums = sum_cli_stats(&cpu_text);
        c.drops = sums.get("drop").copied();
        c.insert_failed = sums.get("insert_failed").copied();
        format = "conntrack -S";
        any = true;
    }
    if stat_text.lines().count() > 1 {
        let sums = sum_stat(&stat_text);
        c.drops = sums.get("drop").copied();
        c.insert_failed = sums.get("insert_failed").copied();
        c.count = c.count.or(sums.get("entries").copied());
        format = "/proc/net/stat/nf_conntrack";
        any = true;
    }
    if !table_text.is_empty() || shown.is_some() {
        (c.by_proto, c.tcp_states) = tally_table(&table_text);
        // Only the tool's own total is the table size: the paste may be cut.
        c.count = c.count.or(shown);
        format = "conntrack -L";
        any = true;
    }
    any.then(|| found(lines, c, format))
}

/// A `conntrack -L` line (or a /proc/net/nf_conntrack one), rewritten as a /proc/net/nf_conntrack line
/// (`ipv4 2 tcp 6 431999 ESTABLISHED src=…`) so the probe's tally reads it.
fn list_entry(t: &str) -> Option<String> {
    let w: Vec<&str> = t.split_whitespace().collect();
    // /proc/net/nf_conntrack already has the family columns.
    if matches!(w.first(), Some(&("ipv4" | "ipv6")))
        && w.get(1).and_then(|n| count(n)).is_some()
        && t.contains("src=")
    {
        return Some(t.to_string());
    }
    let proto = *w.first()?;
    let known = [
        "tcp", "udp", "icmp", "icmpv6", "sctp", "udplite", "dccp", "gre",
    ];
    if !known.contains(&proto) || count(w.get(1)?).is_none() || count(w.get(2)?).is_none() {
        return None;
    }
    if !t.contains("src=") || !t.contains("dst=") {
        return None;
    }
    Some(format!("ipv4 2 {t}"))
}

fn found(lines: Vec<usize>, c: Conntrack, format: &'static str) -> Claim {
    Claim::new(
        lines,
        vec![Found {
            obs: c.into(),
            format,
        }],
    )
}
