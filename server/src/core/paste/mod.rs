//! Paste parsers: command output an engineer pasted, turned into v1
//! observations (ARCHITECTURE.md, data flow: pastes enter at the signals).
//!
//! Pure functions, no I/O. The text is cut into blocks at shell prompt lines
//! (`$ ss -tan`, `root@node:~# nstat`); inside a block every parser claims the
//! lines it recognises by their format. A block is accepted when its lines are
//! claimed (a few stray lines, such as a truncated last line, are tolerated);
//! otherwise it is reported as not recognised rather than guessed at.
//!
//! Where the probe already parses the same text, its function is reused:
//! resolv.conf, `conntrack -S`, /proc/net/stat/nf_conntrack, iptables-save and
//! nft MASQUERADE rules, `kubectl get pods -o json`, the log patterns, the
//! certificate reader and the socket summary (state counts and top peers).

mod conntrack;
mod curl;
mod dns;
mod ip_link;
mod iptables;
mod kubectl;
mod logs;
mod nstat;
mod openssl;
mod resolv;
mod ss;

use std::collections::{BTreeMap, BTreeSet};

use faultline_probe::report::{Collector, Observation, Report, TcpStates};

/// The commands whose output is recognised, as listed to the user.
pub const SUPPORTED: &[&str] = &[
    "ss -tan / ss -tanp / ss -tn state STATE",
    "ss -s",
    "nstat / nstat -az",
    "conntrack -S",
    "conntrack -C",
    "sysctl net.netfilter / /proc/sys/net/netfilter/nf_conntrack_*",
    "cat /etc/resolv.conf",
    "time nslookup NAME",
    "dig NAME",
    "openssl s_client -showcerts",
    "iptables-save / nft list ruleset",
    "ip link / ip -d link",
    "kubectl get pods -o json",
    "curl -w timing lines (time_namelookup: … time_total: …, or dns=… total=…)",
    "nginx error log lines",
    "dmesg / kernel log lines (nf_conntrack: table full)",
];

/// Why nothing could be read from a paste.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasteError {
    /// No block of the text was recognised.
    #[error("{reason}\nFaultline recognises the output of: {}.", SUPPORTED.join("; "))]
    Unrecognised {
        /// What was tried and why it did not fit.
        reason: String,
    },
}

/// A block of the paste that no parser recognised (kept as a note by callers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecognised {
    /// First and last line of the block, 1-based.
    pub lines: (usize, usize),
    /// The command from the prompt line, when there was one.
    pub command: Option<String>,
    /// Why it was not recognised.
    pub reason: String,
}

/// Everything read from a paste.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recognised {
    /// Observations, merged per kind where the kind allows it.
    pub observations: Vec<Observation>,
    /// What each recognised block was, e.g. `ss -tan`, in paste order.
    pub formats: Vec<&'static str>,
    /// Blocks that were not recognised.
    pub unrecognised: Vec<Unrecognised>,
}

/// Recognises the commands that produced `text` and turns their output into
/// v1 observations. Blocks that are not recognised are left out; when nothing
/// is recognised the error lists the supported commands.
pub fn recognise(text: &str) -> Result<Vec<Observation>, PasteError> {
    let r = recognise_all(text);
    if r.observations.is_empty() {
        let reason = match r.unrecognised.as_slice() {
            [] if text.trim().is_empty() => "The paste is empty.".to_string(),
            [] => "The paste has command lines but no output under them.".to_string(),
            [one] => format!("Not recognised: {}", one.reason),
            many => format!(
                "Not recognised: {}",
                many.iter()
                    .map(|u| format!("lines {}-{}: {}", u.lines.0, u.lines.1, u.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        return Err(PasteError::Unrecognised { reason });
    }
    Ok(r.observations)
}

/// Like [`recognise`], and also says what was recognised and what was not.
pub fn recognise_all(text: &str) -> Recognised {
    let mut out = Recognised::default();
    let mut found = Vec::new();
    for block in blocks(text) {
        if block.lines.iter().all(|l| l.trim().is_empty()) {
            continue;
        }
        match parse_block(&block) {
            Ok(parsed) => {
                for f in parsed {
                    if !out.formats.contains(&f.format) {
                        out.formats.push(f.format);
                    }
                    found.push((f.format, f.obs));
                }
            }
            Err(reason) => out.unrecognised.push(Unrecognised {
                lines: (block.first_line, block.first_line + block.lines.len() - 1),
                command: block.command.map(str::to_string),
                reason,
            }),
        }
    }
    out.observations = merge(found);
    out
}

/// A v1 report holding `observations`, stamped now with a fresh `report_id`.
pub fn to_report(observations: Vec<Observation>, collector_name: &str) -> Report {
    let name = if collector_name.trim().is_empty() {
        "paste"
    } else {
        collector_name.trim()
    };
    let mut report = Report::new(Collector {
        name: name.to_string(),
        host: name.to_string(),
        labels: BTreeMap::from([("source".to_string(), "paste".to_string())]),
    });
    report.observations = observations;
    report
}

/// One stretch of the paste: the lines after a prompt (or from the start).
#[derive(Debug, Clone)]
pub(crate) struct Block<'a> {
    /// The command typed at the prompt, without the prompt.
    pub command: Option<&'a str>,
    /// The output lines.
    pub lines: Vec<&'a str>,
    /// 1-based line number of `lines[0]` in the paste.
    pub first_line: usize,
}

impl Block<'_> {
    /// The words of the command, after `sudo`, `time` and the like.
    pub fn words(&self) -> Vec<&str> {
        let Some(cmd) = self.command else {
            return Vec::new();
        };
        let first = cmd.split('|').next().unwrap_or_default();
        let mut words: Vec<&str> = first.split_whitespace().collect();
        while let Some(w) = words.first() {
            if ["sudo", "time", "command", "exec", "env", "nice"].contains(w) || w.contains('=') {
                words.remove(0);
            } else {
                break;
            }
        }
        words
    }

    /// The program run at the prompt (`ss`, `dig`…), when known.
    pub fn program(&self) -> Option<&str> {
        self.words()
            .first()
            .map(|w| w.rsplit('/').next().unwrap_or(w))
    }
}

/// What a parser read from some lines of a block.
pub(crate) struct Found {
    /// What was read.
    pub obs: Observation,
    /// Name of the format, e.g. `ss -tan`.
    pub format: &'static str,
}

/// Lines a parser claims, and what it read from them.
pub(crate) struct Claim {
    /// Indices into `Block::lines`.
    pub lines: Vec<usize>,
    /// Observations read (none when the lines were known but said nothing usable).
    pub found: Vec<Found>,
    /// Why lines that looked like this format could not be used.
    pub problem: Option<String>,
}

impl Claim {
    pub fn new(lines: Vec<usize>, found: Vec<Found>) -> Self {
        Claim {
            lines,
            found,
            problem: None,
        }
    }
}

type Parser = fn(&Block) -> Option<Claim>;

/// Every parser; each looks for its own format anywhere in a block.
const PARSERS: &[Parser] = &[
    kubectl::parse,
    openssl::parse,
    dns::parse_dig,
    dns::parse_nslookup,
    ss::parse_sockets,
    ss::parse_summary,
    nstat::parse,
    conntrack::parse,
    resolv::parse,
    iptables::parse,
    iptables::parse_nftables,
    ip_link::parse,
    curl::parse,
    logs::parse,
];

/// Lines `time` prints after the command (bash): read by the DNS parser,
/// never held against a block.
pub(crate) fn is_time_line(line: &str) -> bool {
    if zsh_total_ms(line).is_some() {
        return true;
    }
    let mut w = line.split_whitespace();
    matches!(
        (w.next(), w.next(), w.next()),
        (Some("real" | "user" | "sys"), Some(t), None) if t.ends_with('s') && t.contains('m')
    )
}

/// zsh's `time`: `nslookup db  0.00s user 0.00s system 0% cpu 5.012 total`.
fn zsh_total_ms(line: &str) -> Option<f64> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let [.., cpu, "cpu", total, "total"] = w.as_slice() else {
        return None;
    };
    cpu.strip_suffix('%')?;
    let ms = (total.parse::<f64>().ok()? * 1e6).round() / 1e3;
    (ms.is_finite() && ms >= 0.0).then_some(ms)
}

/// `real 0m5.012s` (bash) → 5012.0 ms; also zsh's `… 5.012 total`.
pub(crate) fn time_real_ms(line: &str) -> Option<f64> {
    if let Some(ms) = zsh_total_ms(line) {
        return Some(ms);
    }
    let mut w = line.split_whitespace();
    if w.next()? != "real" {
        return None;
    }
    let t = w.next()?.strip_suffix('s')?;
    let (m, s) = t.split_once('m')?;
    let ms = (m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?) * 1000.0;
    (ms.is_finite() && ms >= 0.0).then_some(ms)
}

fn parse_block(block: &Block) -> Result<Vec<Found>, String> {
    let mut claimed = BTreeSet::new();
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for parser in PARSERS {
        if let Some(claim) = parser(block) {
            claimed.extend(claim.lines);
            found.extend(claim.found);
            problems.extend(claim.problem);
        }
    }
    let unclaimed: Vec<usize> = (0..block.lines.len())
        .filter(|i| {
            let l = block.lines[*i];
            !l.trim().is_empty() && !claimed.contains(i) && !is_time_line(l)
        })
        .collect();
    let what = block
        .command
        .map(|c| format!("the output of `{c}`"))
        .unwrap_or_else(|| "this text".to_string());
    if found.is_empty() {
        return Err(match problems.first() {
            Some(p) => p.clone(),
            None => format!("{what} does not look like any supported command's output"),
        });
    }
    // A truncated last line or a stray prompt is fine; a block that is mostly
    // something else is not read, rather than read wrongly.
    if unclaimed.len() > 3 || unclaimed.len() * 4 > claimed.len() {
        let first = unclaimed[0];
        return Err(format!(
            "{what} mixes a recognised format with lines that are not (line {}: \"{}\"); \
             paste each command's output after its `$ command` line",
            block.first_line + first,
            shorten(block.lines[first].trim()),
        ));
    }
    Ok(found)
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Cuts the paste at prompt lines.
pub(crate) fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut out: Vec<Block> = Vec::new();
    let mut current = Block {
        command: None,
        lines: Vec::new(),
        first_line: 1,
    };
    for (i, line) in text.lines().enumerate() {
        if let Some(cmd) = prompt_command(line) {
            if current.command.is_some() || !current.lines.is_empty() {
                out.push(current);
            }
            current = Block {
                command: Some(cmd),
                lines: Vec::new(),
                first_line: i + 2,
            };
        } else {
            current.lines.push(line);
        }
    }
    if current.command.is_some() || !current.lines.is_empty() {
        out.push(current);
    }
    out.retain(|b| !b.lines.is_empty());
    out
}

/// The command of a shell prompt line: `$ cmd`, `user@host:~$ cmd`,
/// `root@host:/# cmd`, `[root@host ~]# cmd`, `bash-5.1$ cmd`, `/ # cmd`.
pub(crate) fn prompt_command(line: &str) -> Option<&str> {
    let line = line.trim_start();
    if let Some(cmd) = line.strip_prefix("$ ") {
        return nonempty(cmd);
    }
    // The prompt is everything up to the first "$ " or "# ".
    let cut = ["$ ", "# "]
        .iter()
        .filter_map(|m| line.find(m).map(|i| (i, m.len())))
        .min()?;
    let prompt = &line[..cut.0];
    let cmd = &line[cut.0 + cut.1..];
    let userhost = prompt
        .split_once('@')
        .is_some_and(|(u, h)| is_word(u.trim_start_matches('[')) && !h.is_empty())
        && !prompt.contains(' ')
        || (prompt.starts_with('[') && prompt.ends_with(']') && prompt.contains('@'));
    let shell = ["bash", "sh", "zsh", "ash"].iter().any(|s| {
        prompt
            .strip_prefix(s)
            .is_some_and(|r| r.is_empty() || r.starts_with('-'))
    });
    let path = prompt.starts_with('/') && !prompt.contains(' ') && prompt.len() < 40
        || prompt.trim_end() == "/";
    (userhost || shell || path).then_some(()).and(nonempty(cmd))
}

fn nonempty(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Merges observations of one kind that describe the same thing: the
/// conntrack pieces (`-S`, `-C`, sysctls) into one; resolv.conf and lookups
/// into one `dns_lookups`; log lines into one `log_matches`; curl samples per
/// target; socket states into one `tcp_states`, where a socket listing's
/// counts win over `ss -s` totals and the totals fill in the states a
/// filtered listing (`ss state close-wait`) leaves out. Other kinds stay as
/// they came.
fn merge(found: Vec<(&'static str, Observation)>) -> Vec<Observation> {
    let mut out: Vec<(&'static str, Observation)> = Vec::new();
    let mut tcp: Vec<(&'static str, TcpStates)> = Vec::new();
    for (format, obs) in found {
        let same = |o: &Observation| match (o, &obs) {
            (Observation::HttpLatency(a), Observation::HttpLatency(b)) => a.target == b.target,
            (a, b) => a.kind() == b.kind(),
        };
        let target = out.iter_mut().find(|(_, o)| same(o));
        match (target, obs) {
            (Some((_, Observation::Conntrack(a))), Observation::Conntrack(b)) => {
                a.count = a.count.or(b.count);
                a.max = a.max.or(b.max);
                a.drops = a.drops.or(b.drops);
                a.insert_failed = a.insert_failed.or(b.insert_failed);
                a.by_proto.extend(b.by_proto);
                a.tcp_states.extend(b.tcp_states);
                a.timeouts.extend(b.timeouts);
            }
            (Some((_, Observation::DnsLookups(a))), Observation::DnsLookups(b)) => {
                if b.resolv_conf.is_some() {
                    a.resolv_conf = b.resolv_conf;
                }
                a.lookups.extend(b.lookups);
            }
            (Some((_, Observation::LogMatches(a))), Observation::LogMatches(b)) => {
                for p in b.patterns {
                    match a.patterns.iter_mut().find(|x| x.pattern == p.pattern) {
                        Some(x) => x.count += p.count,
                        None => a.patterns.push(p),
                    }
                }
                if !a.source.split(", ").any(|s| s == b.source) {
                    a.source = format!("{}, {}", a.source, b.source);
                }
            }
            (Some((_, Observation::HttpLatency(a))), Observation::HttpLatency(b)) => {
                a.samples.extend(b.samples);
            }
            (Some((_, Observation::TcpStates(_))), Observation::TcpStates(b)) => {
                tcp.push((format, b));
            }
            (None, Observation::TcpStates(b)) => {
                tcp.push((format, b.clone()));
                out.push((format, Observation::TcpStates(b)));
            }
            (_, obs) => out.push((format, obs)),
        }
    }
    // Socket states: listings first (the first listing of a state wins),
    // then the summaries fill in the states no listing showed.
    tcp.sort_by_key(|(format, _)| *format == "ss -s");
    let mut merged = TcpStates::default();
    // Partial unless some listing counted every state.
    let mut counted = Some(std::collections::BTreeSet::new());
    for (_, t) in tcp {
        match (&mut counted, t.counted) {
            (Some(all), Some(these)) => all.extend(these),
            _ => counted = None,
        }
        for (state, n) in t.counts {
            merged.counts.entry(state).or_insert(n);
        }
        merged.by_peer.extend(t.by_peer);
        // The first listing that named processes (`ss -tanp`) gives them.
        if merged.by_process.is_empty() {
            merged.by_process = t.by_process;
        }
    }
    merged.counted = counted.map(|all| all.into_iter().collect());
    merged
        .by_peer
        .sort_by(|a, b| b.count.cmp(&a.count).then(a.state.cmp(&b.state)));
    out.into_iter()
        .map(|(_, o)| match o {
            Observation::TcpStates(_) => Observation::TcpStates(merged.clone()),
            o => o,
        })
        .collect()
}

/// Parses a decimal count, accepting the thousands separators some tools print.
pub(crate) fn count(s: &str) -> Option<i64> {
    let s = s.trim().replace(',', "");
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>()
        .ok()
        .map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
