//! `interfaces`: name, MTU, up, and kind of every network interface.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::report::{Interface, Interfaces, Observation};

/// IFF_UP in /sys/class/net/X/flags.
const IFF_UP: u32 = 0x1;

/// Reads /sys/class/net (the network namespace sysfs was mounted in).
pub fn collect() -> Result<Observation> {
    collect_from(Path::new("/sys/class/net"))
}

/// Same as [`collect`] over another sysfs class directory.
pub fn collect_from(dir: &Path) -> Result<Observation> {
    let kinds = link_kinds();
    let mut interfaces: Vec<Interface> = fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .flatten()
        .filter_map(|e| interface(&e.path()))
        .map(|mut i| {
            if let Some(k) = kinds.get(&i.name) {
                i.kind = Some(k.clone());
            }
            i
        })
        .collect();
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Interfaces { interfaces }.into())
}

fn interface(dir: &Path) -> Option<Interface> {
    let read = |f: &str| {
        fs::read_to_string(dir.join(f))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let name = dir.file_name()?.to_string_lossy().into_owned();
    let mtu = read("mtu")?.parse().ok()?;
    let flags =
        read("flags").and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok());
    let up = flags.is_some_and(|f| f & IFF_UP != 0) && read("operstate").as_deref() != Some("down");
    let kind = kind(dir, &read);
    Some(Interface {
        name,
        mtu,
        up,
        kind,
    })
}

/// The link kind, from what sysfs shows without netlink.
fn kind(dir: &Path, read: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let uevent = read("uevent").unwrap_or_default();
    if let Some(devtype) = uevent.lines().find_map(|l| l.strip_prefix("DEVTYPE=")) {
        return Some(devtype.to_string());
    }
    if dir.join("tun_flags").exists() {
        return Some("tun".into());
    }
    match read("type")?.as_str() {
        "772" => return Some("loopback".into()),
        "65534" => return Some("none".into()),
        _ => {}
    }
    // Physical NICs name their driver; virtual links need `ip -d` (see link_kinds).
    let driver = fs::read_link(dir.join("device/driver")).ok()?;
    driver.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// `info_kind` per interface from `ip -j -d link` (veth, wireguard, vxlan…),
/// which sysfs does not show; empty when iproute2 is missing.
fn link_kinds() -> HashMap<String, String> {
    let Ok(out) = Command::new("ip")
        .args(["-j", "-d", "link", "show"])
        .output()
    else {
        return HashMap::new();
    };
    let links: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    links
        .iter()
        .filter_map(|l| {
            let name = l["ifname"].as_str()?;
            let kind = l.pointer("/linkinfo/info_kind")?.as_str()?;
            Some((name.to_string(), kind.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed_up_with_kind() {
        let Observation::Interfaces(i) = collect().unwrap() else {
            panic!()
        };
        let lo = i
            .interfaces
            .iter()
            .find(|i| i.name == "lo")
            .expect("lo present");
        assert!(lo.up);
        assert_eq!(lo.mtu, 65536);
        assert_eq!(lo.kind.as_deref(), Some("loopback"));
    }
}
