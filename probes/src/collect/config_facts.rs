//! `config_facts`: configuration values the diagnosis compares measurements
//! with, each source its own observation so one bad file skips alone.
//!
//! - `--nginx-conf PATH|-`: nginx's configuration (or `nginx -T` output)
//!   → `proxy.*` timeouts (see [`nginx`]).
//! - `--openssl-conf PATH`: openssl.cnf's system-default protocol bounds
//!   → `client.tls_versions` (see [`openssl`]).
//! - `--fact NAME=VALUE`: what an operator states; listed in `stated` so
//!   the evidence says it was not read.

pub mod nginx;
pub mod openssl;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::report::{ConfigFacts, Observation};

/// nginx's configuration from a file, or `nginx -T` output on stdin (`-`).
pub fn nginx(source: &str) -> Result<Observation> {
    let (conf, origin) = if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading nginx configuration from stdin")?;
        let cwd = std::env::current_dir()?;
        (
            nginx::load_text(&text, "<stdin>", &cwd)?,
            "nginx: stdin".to_string(),
        )
    } else {
        (
            nginx::load_file(Path::new(source))?,
            format!("nginx: {source}"),
        )
    };
    observation(nginx::facts(&conf)?, origin, source)
}

/// The system-default TLS protocol bounds of an openssl.cnf.
pub fn openssl(path: &Path) -> Result<Observation> {
    let origin = format!("openssl: {}", path.display());
    observation(openssl::facts(path)?, origin, &path.display().to_string())
}

fn observation(facts: BTreeMap<String, Value>, source: String, what: &str) -> Result<Observation> {
    if facts.is_empty() {
        bail!("{what}: sets none of the facts the probe reads");
    }
    Ok(ConfigFacts {
        facts,
        source: Some(source),
        stated: vec![],
    }
    .into())
}

/// Facts an operator states as `NAME=VALUE`. A value that reads as JSON
/// (`60`, `true`, `["TLSv1.3"]`) keeps its type; anything else is text.
pub fn stated(pairs: &[String]) -> Result<Observation> {
    let mut facts = BTreeMap::new();
    for pair in pairs {
        let (name, value) = parse_pair(pair)?;
        if facts.insert(name.to_string(), value).is_some() {
            bail!("--fact {name} is given twice");
        }
    }
    Ok(ConfigFacts {
        stated: facts.keys().cloned().collect(),
        facts,
        source: Some("stated".into()),
    }
    .into())
}

fn parse_pair(pair: &str) -> Result<(&str, Value)> {
    let Some((name, value)) = pair.split_once('=') else {
        bail!("--fact \"{pair}\": expected NAME=VALUE");
    };
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !name.split('.').all(segment_ok) {
        bail!(
            "--fact \"{pair}\": a name is dotted words of letters, digits, `_` and `-` (e.g. proxy.upstream_keepalive_timeout_s)"
        );
    }
    let value = value.trim();
    if value.is_empty() {
        bail!("--fact {name}: needs a value");
    }
    let parsed = serde_json::from_str::<Value>(value)
        .ok()
        .filter(|v| !v.is_object() && !v.is_null())
        .unwrap_or_else(|| Value::String(value.to_string()));
    Ok((name, parsed))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn facts(o: Observation) -> ConfigFacts {
        match o {
            Observation::ConfigFacts(c) => c,
            other => panic!("not config_facts: {other:?}"),
        }
    }

    #[test]
    fn stated_facts_keep_types_and_are_marked() {
        let c = facts(
            stated(&[
                "proxy.upstream_keepalive_timeout_s=60".into(),
                "client.tls_versions=[\"TLSv1.3\"]".into(),
                "lb.name=edge-1".into(),
                "lb.idle_timeout_s= 350 ".into(),
            ])
            .unwrap(),
        );
        assert_eq!(c.facts["proxy.upstream_keepalive_timeout_s"], json!(60));
        assert_eq!(c.facts["client.tls_versions"], json!(["TLSv1.3"]));
        assert_eq!(c.facts["lb.name"], json!("edge-1"));
        assert_eq!(c.facts["lb.idle_timeout_s"], json!(350));
        assert_eq!(c.stated.len(), 4);
        assert_eq!(c.source.as_deref(), Some("stated"));
        // On the wire: the list rides beside the facts.
        let wire = serde_json::to_value(Observation::ConfigFacts(c)).unwrap();
        assert_eq!(wire["stated"][0], "client.tls_versions");
    }

    #[test]
    fn bad_stated_facts_say_what_is_wrong() {
        for (pair, says) in [
            ("noequals", "NAME=VALUE"),
            ("a..b=1", "dotted words"),
            ("a b=1", "dotted words"),
            ("=1", "dotted words"),
            ("a.b=", "needs a value"),
        ] {
            let e = stated(&[pair.into()]).unwrap_err().to_string();
            assert!(e.contains(says), "{pair}: {e}");
        }
        let e = stated(&["a=1".into(), "a=2".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice"), "{e}");
    }
}
