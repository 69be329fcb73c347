//! The TLS versions an OpenSSL client offers by default: `MinProtocol` and
//! `MaxProtocol` in the system-default section of openssl.cnf, reached the
//! way OpenSSL reaches it: `openssl_conf` (default section) names the init
//! section, its `ssl_conf` names the SSL section, whose `system_default`
//! names the section holding the protocol bounds. Clients that set their
//! own bounds in code (or with flags such as `-tls1_3`) override this.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// TLS versions in order, as OpenSSL spells them in `MinProtocol`.
const VERSIONS: [&str; 5] = ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];
/// The lowest version OpenSSL builds enable (SSLv3 is compiled out by default).
const FLOOR: usize = 1;

/// One `name = value` line.
struct Entry {
    name: String,
    value: String,
    at: String,
}

/// Sections by name, entries in file order.
#[derive(Default)]
struct Cnf {
    sections: BTreeMap<String, Vec<Entry>>,
}

impl Cnf {
    /// The last value of `name` in `section` (later lines win, as in
    /// OpenSSL); `fold` compares names case-insensitively, as SSL_CONF does
    /// for commands read from a file.
    fn get(&self, section: &str, name: &str, fold: bool) -> Option<&Entry> {
        self.sections.get(section)?.iter().rev().find(|e| {
            if fold {
                e.name.eq_ignore_ascii_case(name)
            } else {
                e.name == name
            }
        })
    }
}

/// Facts from an openssl.cnf: `client.tls_versions` (the versions between
/// the bounds, lowest first), and `client.tls_min_protocol` /
/// `client.tls_max_protocol` as written.
pub fn facts(path: &Path) -> Result<BTreeMap<String, Value>> {
    let mut cnf = Cnf::default();
    read(path, &mut cnf, 0)?;
    let file = path.display();
    let step = |section: &str, name: &str| -> Result<String> {
        match cnf.get(section, name, false) {
            Some(e) => Ok(e.value.clone()),
            None => bail!(
                "{file}: no `{name}` in [{section}], so OpenSSL applies no system-wide TLS protocol bounds"
            ),
        }
    };
    let init = step("default", "openssl_conf")?;
    let ssl = step(&init, "ssl_conf")?;
    let system = step(&ssl, "system_default")?;
    let min = cnf.get(&system, "MinProtocol", true);
    let max = cnf.get(&system, "MaxProtocol", true);
    if min.is_none() && max.is_none() {
        bail!(
            "{file}: [{system}] sets neither MinProtocol nor MaxProtocol; clients offer their OpenSSL build's defaults"
        );
    }
    let lo = bound(min)?.unwrap_or(FLOOR).max(FLOOR);
    let hi = bound(max)?.unwrap_or(VERSIONS.len() - 1);
    // A minimum above the maximum leaves nothing: every handshake fails.
    let offered: Vec<&str> = VERSIONS.get(lo..=hi).unwrap_or_default().to_vec();
    let mut f = BTreeMap::new();
    f.insert("client.tls_versions".into(), json!(offered));
    for (name, e) in [("min", min), ("max", max)] {
        if let Some(e) = e {
            f.insert(format!("client.tls_{name}_protocol"), json!(e.value));
        }
    }
    Ok(f)
}

/// A bound's index in [`VERSIONS`]; `None` and DTLS versions (they bound
/// DTLS only) leave TLS unbounded.
fn bound(e: Option<&Entry>) -> Result<Option<usize>> {
    let Some(e) = e else { return Ok(None) };
    match e.value.as_str() {
        "None" | "DTLSv1" | "DTLSv1.2" => Ok(None),
        v => match VERSIONS.iter().position(|x| *x == v) {
            Some(i) => Ok(Some(i)),
            None => bail!(
                "{}: {} \"{v}\" is not a protocol OpenSSL knows",
                e.at,
                e.name
            ),
        },
    }
}

/// Reads one file into `cnf`, following `.include`.
fn read(path: &Path, cnf: &mut Cnf, depth: usize) -> Result<()> {
    if depth > 8 {
        bail!("{}: .include nested too deep (a loop?)", path.display());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut section = "default".to_string();
    for (no, line) in logical_lines(&text) {
        let at = format!("{}:{no}", path.display());
        let line = strip_comment(&line);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                bail!("{at}: a section header needs a closing \"]\"");
            };
            section = name.trim().to_string();
        } else if let Some(rest) = line.strip_prefix(".include") {
            let target = rest.trim_start().trim_start_matches('=').trim();
            for p in include_targets(target).with_context(|| at.clone())? {
                read(&p, cnf, depth + 1)?;
            }
        } else if line.starts_with(".pragma") {
            // Parser switches (dollarid, includedir): nothing to read here.
        } else if let Some((name, value)) = line.split_once('=') {
            cnf.sections
                .entry(section.clone())
                .or_default()
                .push(Entry {
                    name: name.trim().to_string(),
                    value: unquote(value.trim()),
                    at,
                });
        } else {
            bail!("{at}: expected `name = value`, found \"{line}\"");
        }
    }
    Ok(())
}

/// Lines joined where one ends in a backslash, each with its first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut open = false;
    for (i, raw) in text.lines().enumerate() {
        let (body, cont) = match raw.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (raw, false),
        };
        match out.last_mut() {
            Some((_, l)) if open => l.push_str(body),
            _ => out.push((i + 1, body.to_string())),
        }
        open = cont;
    }
    out
}

/// Cuts a `#` comment that is not inside quotes or escaped.
fn strip_comment(line: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => {
                out.push(c);
                out.extend(chars.next());
                continue;
            }
            ('#', None) => break,
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            _ => {}
        }
        out.push(c);
    }
    out
}

fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    v.to_string()
}

/// `.include` names a file or a directory (its `*.cnf` and `*.conf`
/// files, sorted). OpenSSL resolves a relative path against
/// `OPENSSL_CONF_INCLUDE` when set, else the working directory.
fn include_targets(target: &str) -> Result<Vec<PathBuf>> {
    let mut path = PathBuf::from(target);
    if path.is_relative()
        && let Some(dir) = std::env::var_os("OPENSSL_CONF_INCLUDE")
    {
        path = PathBuf::from(dir).join(path);
    }
    if !path.is_dir() {
        return Ok(vec![path]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cnf" || x == "conf"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const CHAIN: &str = "openssl_conf = openssl_init\n[openssl_init]\nssl_conf = ssl_sect\n\
                         [ssl_sect]\nsystem_default = system_default_sect\n";

    #[test]
    fn min_protocol_gives_the_versions_offered() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "openssl.cnf",
            &format!(
                "{CHAIN}[ system_default_sect ]\nMinProtocol = TLSv1.3  # lab policy\nCipherString = DEFAULT@SECLEVEL=2\n"
            ),
        );
        let f = facts(&p).unwrap();
        assert_eq!(f["client.tls_versions"], json!(["TLSv1.3"]));
        assert_eq!(f["client.tls_min_protocol"], json!("TLSv1.3"));
        assert!(!f.contains_key("client.tls_max_protocol"));
    }

    #[test]
    fn bounds_on_both_sides_and_case_insensitive_names() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "a.cnf",
            &format!(
                "{CHAIN}[system_default_sect]\nminprotocol = \"TLSv1.1\"\nMaxProtocol = TLSv1.2\n"
            ),
        );
        assert_eq!(
            facts(&p).unwrap()["client.tls_versions"],
            json!(["TLSv1.1", "TLSv1.2"])
        );
        // Section names are whatever the chain says they are.
        let p = write(
            d.path(),
            "b.cnf",
            "openssl_conf = init\n[init]\nssl_conf = s\n[s]\nsystem_default = sys\n[sys]\nMaxProtocol = TLSv1.2\n",
        );
        assert_eq!(
            facts(&p).unwrap()["client.tls_versions"],
            json!(["TLSv1", "TLSv1.1", "TLSv1.2"])
        );
    }

    #[test]
    fn a_minimum_above_the_maximum_offers_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "a.cnf",
            &format!(
                "{CHAIN}[system_default_sect]\nMinProtocol = TLSv1.3\nMaxProtocol = TLSv1.2\n"
            ),
        );
        assert_eq!(facts(&p).unwrap()["client.tls_versions"], json!([]));
    }

    #[test]
    fn include_directory_is_followed() {
        let d = tempfile::tempdir().unwrap();
        let inc = d.path().join("conf.d");
        std::fs::create_dir(&inc).unwrap();
        write(
            &inc,
            "10-tls.cnf",
            "[system_default_sect]\nMinProtocol = TLSv1.2\n",
        );
        write(
            &inc,
            "ignored.txt",
            "[system_default_sect]\nMinProtocol = SSLv3\n",
        );
        let p = write(
            d.path(),
            "openssl.cnf",
            &format!("{CHAIN}.include {}\n", inc.display()),
        );
        assert_eq!(
            facts(&p).unwrap()["client.tls_versions"],
            json!(["TLSv1.2", "TLSv1.3"])
        );
    }

    #[test]
    fn the_systems_own_file_parses() {
        // Debian's stock file has no system-default section: a clear reason.
        let p = Path::new("/etc/ssl/openssl.cnf");
        if !p.exists() {
            return;
        }
        // Whatever it sets, every line must parse: a failure may only be
        // a missing setting.
        if let Err(e) = facts(p) {
            let msg = format!("{e:#}");
            assert!(msg.contains("no `") || msg.contains("neither"), "{msg}");
        }
    }

    #[test]
    fn bad_input_names_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "a.cnf",
            &format!("{CHAIN}[system_default_sect]\nMinProtocol = TLSv9\n"),
        );
        let e = format!("{:#}", facts(&p).unwrap_err());
        assert!(e.contains("a.cnf:7") && e.contains("TLSv9"), "{e}");
        let p = write(d.path(), "b.cnf", "[oops\n");
        let e = format!("{:#}", facts(&p).unwrap_err());
        assert!(e.contains("b.cnf:1") && e.contains("]"), "{e}");
        let p = write(d.path(), "c.cnf", "MinProtocol = TLSv1.2\n");
        let e = format!("{:#}", facts(&p).unwrap_err());
        assert!(e.contains("openssl_conf"), "{e}");
        let p = write(
            d.path(),
            "d.cnf",
            &format!("{CHAIN}[system_default_sect]\nCipherString = DEFAULT\n"),
        );
        let e = format!("{:#}", facts(&p).unwrap_err());
        assert!(e.contains("neither MinProtocol nor MaxProtocol"), "{e}");
    }
}
