//! `nat_rules`: MASQUERADE sources from `iptables-save -t nat` or `nft list ruleset`.

use std::process::Command;

use anyhow::{Result, bail};

use crate::report::{NatRules, Observation};

/// Runs whichever tool is installed; skipped when neither is.
pub fn collect(pod_cidrs: &[String]) -> Result<Observation> {
    let mut failures = Vec::new();
    for (tool, args, parse) in [
        (
            "iptables-save",
            &["-t", "nat"][..],
            parse_iptables as fn(&str) -> Vec<String>,
        ),
        ("nft", &["list", "ruleset"][..], parse_nft),
    ] {
        match Command::new(tool).args(args).output() {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                let masquerade_sources = parse(&text);
                return Ok(NatRules {
                    masquerade_sources,
                    pod_cidrs: pod_cidrs.to_vec(),
                }
                .into());
            }
            Ok(out) => failures.push(format!(
                "{tool} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => failures.push(format!("{tool}: {e}")),
        }
    }
    bail!("no NAT rule tool could run ({})", failures.join("; "))
}

/// Source CIDRs of `-j MASQUERADE` rules; a rule without `-s` masquerades everything.
pub fn parse_iptables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("-A ") && l.contains("-j MASQUERADE"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        let src = words
            .windows(2)
            .find(|w| w[0] == "-s" || w[0] == "--source")
            .map(|w| w[1]);
        let negated = words
            .windows(2)
            .any(|w| w[0] == "!" && (w[1] == "-s" || w[1] == "--source"));
        if !negated {
            push_unique(&mut out, src.unwrap_or("0.0.0.0/0"));
        }
    }
    out
}

/// Source CIDRs of nft rules ending in `masquerade`.
pub fn parse_nft(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| l.split_whitespace().any(|w| w == "masquerade"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        let src = words
            .windows(3)
            .find(|w| (w[0] == "ip" || w[0] == "ip6") && w[1] == "saddr" && w[2] != "!=")
            .map(|w| w[2]);
        push_unique(&mut out, src.unwrap_or("0.0.0.0/0"));
    }
    out
}

fn push_unique(out: &mut Vec<String>, s: &str) {
    if !out.iter().any(|x| x == s) {
        out.push(s.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iptables_masquerade_sources() {
        let text = "*nat\n:POSTROUTING ACCEPT [0:0]\n\
-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE\n\
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n\
-A POSTROUTING -s 10.0.0.0/8 -j SNAT --to-source 1.2.3.4\n\
-A KUBE-POSTROUTING -m comment --comment \"kubernetes\" -j MASQUERADE --random-fully\nCOMMIT\n";
        assert_eq!(
            parse_iptables(text),
            ["10.244.0.0/16", "172.17.0.0/16", "0.0.0.0/0"]
        );
    }

    #[test]
    fn nft_masquerade_sources() {
        let text = "table ip nat {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat;\n\
\t\tip saddr 10.88.0.0/16 ip daddr != 10.88.0.0/16 masquerade\n\t\toifname \"eth0\" masquerade\n\t}\n}\n";
        assert_eq!(parse_nft(text), ["10.88.0.0/16", "0.0.0.0/0"]);
    }

    #[test]
    fn this_host_reads_rules_or_says_why_not() {
        let have_tool = ["iptables-save", "nft"]
            .iter()
            .any(|t| Command::new(t).arg("--version").output().is_ok());
        match collect(&[]) {
            Ok(Observation::NatRules(_)) => assert!(have_tool),
            Ok(other) => panic!("wrong kind {other:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("iptables-save") && msg.contains("nft"),
                    "{msg}"
                );
            }
        }
    }
}
