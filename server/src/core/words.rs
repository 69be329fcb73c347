//! Names made of words run together, split as a person reads them: alert
//! names (`CoreDNSLatencyHigh`), metric and API names (`CrashLoopBackOff`,
//! `TcpExtListenOverflows`), snake_case and kebab-case. Pure.

/// The words of a name, split as a person reads them: at snake_case
/// and kebab-case separators, at case changes with an acronym kept whole
/// (`CoreDNSLatencyHigh` → "Core DNS Latency High", `NodeMTUBlackhole` →
/// "Node MTU Blackhole", `AwsVpcCniWarmIPsLow` → "… Warm IPs Low"), and
/// between letters and digits (`HTTP502Errors` → "HTTP 502 Errors"), except
/// where the digits belong to the word: `p99`, `IPv6`, `5xx`, `k8s`.
pub fn split_name(name: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for part in name.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<char> = part.chars().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            if word_starts_at(&chars, start, i) {
                words.push(chars[start..i].iter().collect());
                start = i;
            }
        }
        if start < chars.len() {
            words.push(chars[start..].iter().collect());
        }
    }
    words.join(" ")
}

/// Whether a new word starts at `chars[i]`, in a word begun at `start`.
fn word_starts_at(chars: &[char], start: usize, i: usize) -> bool {
    let (prev, c) = (chars[i - 1], chars[i]);
    let next = chars.get(i + 1).copied();
    let after_next = chars.get(i + 2).copied();
    let lower = |c: Option<char>| c.is_some_and(char::is_lowercase);
    if prev.is_lowercase() && c.is_uppercase() {
        return true;
    }
    // The last capital of an acronym begins the next word ("DNSLatency"),
    // unless it and a lowercase letter end the acronym: a plural ("IPs",
    // before a capital or the end) or a version ("IPv6").
    if prev.is_uppercase() && c.is_uppercase() && lower(next) {
        let plural = next == Some('s') && !lower(after_next);
        let version = after_next.is_some_and(|a| a.is_ascii_digit());
        return !plural && !version;
    }
    if prev.is_alphabetic() && c.is_ascii_digit() {
        // Digits after a lone letter, or after one lowercase letter that
        // ends an acronym, are part of the word: "p99", "L7", "IPv6".
        let lone = i - start == 1;
        let version = prev.is_lowercase() && i >= 2 && chars[i - 2].is_uppercase();
        return !lone && !version;
    }
    // Lowercase letters after digits belong to them ("5xx", "99th");
    // a capital starts a word ("502Errors").
    prev.is_ascii_digit() && c.is_alphabetic() && c.is_uppercase()
}

#[cfg(test)]
mod tests {
    use super::split_name;

    #[test]
    fn names_split_into_words() {
        for (name, words) in [
            ("KubePodCrashLooping", "Kube Pod Crash Looping"),
            ("CoreDNSLatencyHigh", "Core DNS Latency High"),
            ("NodeMTUBlackhole", "Node MTU Blackhole"),
            ("CoreDNSErrorsHigh", "Core DNS Errors High"),
            ("KubeAPIErrorBudgetBurn", "Kube API Error Budget Burn"),
            (
                "etcdHighNumberOfFailedGRPCRequests",
                "etcd High Number Of Failed GRPC Requests",
            ),
            ("NodeRAIDDegraded", "Node RAID Degraded"),
            ("AwsVpcCniWarmIPsLow", "Aws Vpc Cni Warm IPs Low"),
            ("TooManyCPUs", "Too Many CPUs"),
            ("HTTPSCertExpiry", "HTTPS Cert Expiry"),
            ("conntrack_table_full", "conntrack table full"),
            ("HTTP502Errors", "HTTP 502 Errors"),
            ("NginxIngress5xxErrorsHigh", "Nginx Ingress 5xx Errors High"),
            ("high-p99-latency", "high p99 latency"),
            ("HighP99Latency", "High P99 Latency"),
            ("NodeIPv6Unreachable", "Node IPv6 Unreachable"),
            ("L7Errors", "L7 Errors"),
            ("Disk2Full", "Disk 2 Full"),
            ("CrashLoopBackOff", "Crash Loop Back Off"),
            ("TcpExtListenOverflows", "Tcp Ext Listen Overflows"),
            ("nf_conntrack: table full", "nf conntrack table full"),
            ("DNS", "DNS"),
            ("A", "A"),
            ("Ünïcode_Straße", "Ünïcode Straße"),
            ("  ", ""),
            ("--a--b--", "a b"),
        ] {
            assert_eq!(split_name(name), words, "{name}");
        }
    }
}
