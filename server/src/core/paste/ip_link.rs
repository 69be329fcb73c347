//! `ip link` / `ip -d link` (and `ip addr`, which starts each interface the
//! same way): name, MTU, up, and the link kind where `-d` or the link type
//! shows it.

use faultline_probe::report::{Interface, Interfaces};

use super::{Block, Claim, Found, count};

/// Link kinds `ip -d link` prints at the start of a detail line.
const KINDS: &[&str] = &[
    "veth",
    "bridge",
    "vxlan",
    "wireguard",
    "tun",
    "ifb",
    "bond",
    "vlan",
    "macvlan",
    "macvtap",
    "ipvlan",
    "geneve",
    "dummy",
    "gre",
    "gretap",
    "ipip",
    "sit",
    "ip6tnl",
    "openvswitch",
    "team",
    "vrf",
    "nlmon",
    "erspan",
    "ip6gre",
    "vti",
    "xfrm",
    "can",
    "netdevsim",
];

/// `2: eth0@if5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc … state UP …`
fn header(line: &str) -> Option<Interface> {
    let (index, rest) = line.split_once(": ")?;
    count(index)?;
    let (name, rest) = rest.split_once(": ")?;
    let name = name.split('@').next()?.trim();
    if name.is_empty() || name.contains(' ') {
        return None;
    }
    let flags = rest.strip_prefix('<')?.split_once('>')?.0;
    let words: Vec<&str> = rest.split_whitespace().collect();
    let after = |key: &str| words.windows(2).find(|w| w[0] == key).map(|w| w[1]);
    let mtu = count(after("mtu")?)?;
    let admin_up = flags.split(',').any(|f| f == "UP");
    let up = admin_up && after("state") != Some("DOWN");
    Some(Interface {
        name: name.to_string(),
        mtu,
        up,
        kind: None,
    })
}

pub fn parse(block: &Block) -> Option<Claim> {
    let mut lines = Vec::new();
    let mut interfaces: Vec<Interface> = Vec::new();
    for (i, line) in block.lines.iter().enumerate() {
        if let Some(itf) = header(line) {
            interfaces.push(itf);
            lines.push(i);
        } else if line.starts_with([' ', '\t'])
            && !line.trim().is_empty()
            && let Some(itf) = interfaces.last_mut()
            && lines.last() == Some(&(i - 1))
        {
            // Detail lines belong to the interface above them.
            let first = line.split_whitespace().next().unwrap_or_default();
            if first == "link/loopback" {
                itf.kind = Some("loopback".to_string());
            } else if itf.kind.is_none() && KINDS.contains(&first) {
                itf.kind = Some(first.to_string());
            }
            lines.push(i);
        }
    }
    if interfaces.is_empty() {
        return None;
    }
    Some(Claim::new(
        lines,
        vec![Found {
            obs: Interfaces { interfaces }.into(),
            format: "ip link",
        }],
    ))
}
