//! `dig NAME` and `time nslookup NAME` (also `time dig`): one timed lookup
//! per run. The wall time comes from `time`'s `real` line when there is one,
//! else from dig's `Query time`.

use faultline_probe::report::{DnsLookup, DnsLookups};

use super::{Block, Claim, Found, is_time_line, time_real_ms};

/// Cuts a block into runs: a `real` line ends a run; a second start line
/// (a new `; <<>> DiG` or `Server:`) begins one.
fn runs(lines: &[&str], starts: impl Fn(&str) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut begin = 0;
    let mut seen_start = false;
    for (i, line) in lines.iter().enumerate() {
        if starts(line) {
            if seen_start && i > begin {
                out.push((begin, i - 1));
                begin = i;
            }
            seen_start = true;
        }
        if time_real_ms(line).is_some() {
            // `user` and `sys` follow `real`; they end the run too.
            let mut end = i;
            while end + 1 < lines.len() && is_time_line(lines[end + 1]) {
                end += 1;
            }
            out.push((begin, end));
            begin = end + 1;
            seen_start = false;
        }
    }
    if begin < lines.len() {
        out.push((begin, lines.len() - 1));
    }
    out
}

/// The name a command line asks for: the first argument that is not an
/// option, a server or a record type.
fn asked_name(block: &Block, options_with_value: &[&str]) -> Option<String> {
    let words = block.words();
    let mut skip = false;
    for w in words.iter().skip(1) {
        if skip {
            skip = false;
            continue;
        }
        if options_with_value.contains(w) {
            skip = true;
            continue;
        }
        let is_type = w
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && w.len() <= 6;
        if w.starts_with(['-', '@', '+']) || is_type || w.starts_with('|') {
            continue;
        }
        return Some(w.trim_matches(['\'', '"']).to_string());
    }
    None
}

fn lookup(name: String, elapsed_ms: f64, error: Option<String>) -> DnsLookup {
    DnsLookup {
        name,
        elapsed_ms,
        ok: error.is_none(),
        error,
        tried: Vec::new(),
    }
}

fn lookups_claim(
    lines: Vec<usize>,
    lookups: Vec<DnsLookup>,
    untimed: usize,
    format: &'static str,
    how: &str,
) -> Option<Claim> {
    let problem = (untimed > 0).then(|| {
        format!(
            "{format} output without timing (no `real` line{how}): run it as `time {format} NAME`"
        )
    });
    let found = if lookups.is_empty() {
        Vec::new()
    } else {
        vec![Found {
            obs: DnsLookups {
                resolv_conf: Default::default(),
                lookups,
            }
            .into(),
            format,
        }]
    };
    Some(Claim {
        lines: if found.is_empty() { Vec::new() } else { lines },
        found,
        problem,
    })
}

fn is_dig_header(line: &str) -> bool {
    line.trim_start().starts_with("; <<>> DiG")
}

/// `dig` output: header, `;;` sections, answer records, `Query time`.
pub fn parse_dig(block: &Block) -> Option<Claim> {
    let is_dig = block.lines.iter().any(|l| is_dig_header(l))
        || block.program() == Some("dig")
            && block.lines.iter().any(|l| l.trim_start().starts_with(";;"));
    if !is_dig {
        return None;
    }
    let typed = asked_name(
        block,
        &["-p", "-t", "-c", "-b", "-q", "-x", "-k", "-y", "-f"],
    );
    let (mut lines, mut lookups, mut untimed) = (Vec::new(), Vec::new(), 0);
    for (begin, end) in runs(&block.lines, is_dig_header) {
        let (mut name, mut status, mut answers) = (None, None, None);
        let (mut query_ms, mut real_ms, mut failure) = (None, None, None);
        let mut in_question = false;
        let mut any = false;
        for i in begin..=end {
            let t = block.lines[i].trim();
            let claimed = if let Some(ms) = time_real_ms(t) {
                real_ms = Some(ms);
                true
            } else if is_time_line(t) || t.is_empty() {
                true
            } else if let Some(rest) = t.strip_prefix(';') {
                any = true;
                if rest.starts_with("; QUESTION SECTION") {
                    in_question = true;
                } else if in_question && !rest.starts_with(';') {
                    name = rest.split_whitespace().next().map(str::to_string);
                    in_question = false;
                } else if let Some(h) = rest.trim_start().strip_prefix("<<>> DiG") {
                    // `; <<>> DiG 9.18 <<>> @server example.com`: the name if no QUESTION.
                    let args = h.split("<<>>").nth(1).unwrap_or_default();
                    if name.is_none() {
                        name = args
                            .split_whitespace()
                            .filter(|w| !w.starts_with(['@', '+', '-']))
                            .find(|w| w.contains('.') || w.len() > 6)
                            .map(str::to_string);
                    }
                }
                if let Some(s) = field(rest, "status: ") {
                    status = Some(s.to_string());
                }
                if let Some(n) = field(rest, "ANSWER: ") {
                    answers = n.parse::<i64>().ok();
                }
                if let Some(q) = rest.strip_prefix("; Query time: ") {
                    query_ms = q
                        .split_whitespace()
                        .next()
                        .and_then(|n| n.parse::<f64>().ok())
                        .filter(|ms| ms.is_finite() && *ms >= 0.0);
                }
                if rest.contains("no servers could be reached") || rest.contains("timed out") {
                    failure = failure.or(Some("timed out".to_string()));
                }
                if rest.contains("connection refused") {
                    failure = Some("connection refused".to_string());
                }
                true
            } else {
                // An answer record: `example.com. 60 IN A 127.0.0.1`.
                let w: Vec<&str> = t.split_whitespace().collect();
                w.len() >= 4 && (w[2] == "IN" || w[1] == "IN")
            };
            if claimed {
                lines.push(i);
            }
        }
        if !any {
            continue;
        }
        let error = match (&status, answers) {
            (Some(s), _) if s != "NOERROR" => Some(s.clone()),
            (Some(_), Some(0)) => Some("no answer".to_string()),
            (Some(_), _) => None,
            (None, _) => Some(failure.unwrap_or_else(|| "no answer".to_string())),
        };
        let Some(elapsed_ms) = real_ms.or(query_ms) else {
            untimed += 1;
            continue;
        };
        // dig does not apply the search list: the name it asked is absolute.
        let mut name = name.or_else(|| typed.clone()).unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        if !name.ends_with('.') {
            name.push('.');
        }
        lookups.push(lookup(name, elapsed_ms, error));
    }
    lookups_claim(lines, lookups, untimed, "dig", " and no `Query time`")
}

/// `status: NXDOMAIN, id: 1` → `NXDOMAIN`.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let rest = &text[text.find(key)? + key.len()..];
    let end = rest.find([',', ' ', ';']).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn is_nslookup_server(line: &str) -> bool {
    line.starts_with("Server:") && line.split_whitespace().count() == 2
}

/// `nslookup` output: `Server:`/`Address:` of the resolver, then the answer
/// (`Name:`/`Address:`) or `** server can't find NAME: NXDOMAIN`.
pub fn parse_nslookup(block: &Block) -> Option<Claim> {
    let is_ns = block.lines.iter().any(|l| is_nslookup_server(l))
        || block.program() == Some("nslookup")
            && block
                .lines
                .iter()
                .any(|l| l.contains("no servers could be reached"));
    if !is_ns {
        return None;
    }
    let typed = asked_name(block, &["-port", "-type", "-query", "-timeout", "-retry"]);
    let (mut lines, mut lookups, mut untimed) = (Vec::new(), Vec::new(), 0);
    for (begin, end) in runs(&block.lines, is_nslookup_server) {
        let (mut answered, mut failure, mut shown, mut real_ms) = (false, None, None, None);
        let mut any = false;
        let mut after_server = false;
        for i in begin..=end {
            let t = block.lines[i].trim();
            let claimed = if let Some(ms) = time_real_ms(t) {
                real_ms = Some(ms);
                true
            } else if t.is_empty() || is_time_line(t) {
                true
            } else if is_nslookup_server(t) {
                any = true;
                after_server = true;
                true
            } else if let Some(rest) = t.strip_prefix("Address:") {
                // The first Address belongs to the server; later ones answer.
                if !after_server {
                    answered = true;
                }
                after_server = false;
                !rest.trim().is_empty()
            } else if let Some(name) = t.strip_prefix("Name:") {
                any = true;
                shown = shown.or(Some(name.trim().to_string()));
                true
            } else if let Some(rest) = t.strip_prefix("** server can't find ") {
                any = true;
                let (name, why) = rest.rsplit_once(": ").unwrap_or((rest, "no answer"));
                shown = shown.or(Some(name.trim().to_string()));
                failure = Some(why.trim().to_string());
                true
            } else if let Some(rest) = t.strip_prefix("*** Can't find ") {
                any = true;
                let name = rest.split(':').next().unwrap_or_default();
                shown = shown.or(Some(name.trim().to_string()));
                failure = failure.or(Some("no answer".to_string()));
                true
            } else if t.starts_with(";;") {
                any = true;
                if t.contains("no servers could be reached") || t.contains("timed out") {
                    failure = Some("timed out".to_string());
                }
                true
            } else {
                t == "Non-authoritative answer:"
                    || t.starts_with("Authoritative answers can be found")
                    || t.contains("canonical name =")
                    || t.starts_with("Aliases:")
                    || t.starts_with("Got SERVFAIL reply")
            };
            if claimed {
                lines.push(i);
            }
        }
        if !any {
            continue;
        }
        let error = if answered {
            None
        } else {
            Some(failure.unwrap_or_else(|| "no answer".to_string()))
        };
        let Some(elapsed_ms) = real_ms else {
            untimed += 1;
            continue;
        };
        // The name as typed (relative names go through the search list).
        let Some(name) = typed.clone().or(shown) else {
            continue;
        };
        lookups.push(lookup(name, elapsed_ms, error));
    }
    lookups_claim(lines, lookups, untimed, "nslookup", "")
}
