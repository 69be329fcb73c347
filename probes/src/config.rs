//! The probe's TOML config file (for `run`, and optionally `collect`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::collect::CollectOptions;
use crate::redact::Redactor;
use crate::report::Collector;
use crate::spool::SpoolLimits;

/// The whole file.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Server base URL, e.g. `https://faultline.example:8740`.
    pub server: Option<String>,
    /// Collector token (kept out of `Debug`).
    pub token: Option<String>,
    /// PEM file of CAs to trust for an https server (default: system store).
    pub server_ca: Option<PathBuf>,
    /// Seconds between collections in `run`.
    #[serde(default = "default_interval")]
    pub interval_s: f64,
    /// Where reports wait until the server acknowledges them.
    pub spool_dir: Option<PathBuf>,
    /// Spool bounds.
    #[serde(default)]
    pub spool: SpoolLimits,
    /// Collector identity.
    #[serde(default)]
    pub collector: CollectorConfig,
    /// What to collect.
    #[serde(default)]
    pub collect: CollectOptions,
    /// Replace peers and names with keyed hashes before reports leave the host.
    pub redact: Option<RedactConfig>,
}

/// `[redact]`: the HMAC key, inline or in a file (kept out of `Debug`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    /// The key itself.
    pub key: Option<String>,
    /// A file holding the key.
    pub key_file: Option<PathBuf>,
}

fn default_interval() -> f64 {
    60.0
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("server_ca", &self.server_ca)
            .field("interval_s", &self.interval_s)
            .field("spool_dir", &self.spool_dir)
            .field("spool", &self.spool)
            .field("collector", &self.collector)
            .field("collect", &self.collect)
            .field("redact", &self.redact.as_ref().map(|_| "<key hidden>"))
            .finish()
    }
}

/// `[collector]`: who we are; name and host default to the host name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// Collector name (defaults to the host name).
    pub name: Option<String>,
    /// Labels sent with every report.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Config {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let cfg: Config =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if !(cfg.interval_s.is_finite() && cfg.interval_s >= 1.0) {
            bail!("{}: interval_s must be at least 1", path.display());
        }
        Ok(cfg)
    }

    /// The redactor, when `[redact]` is configured.
    pub fn redactor(&self) -> Result<Option<Redactor>> {
        let Some(r) = &self.redact else {
            return Ok(None);
        };
        let key = match (&r.key, &r.key_file) {
            (Some(k), None) => k.clone().into_bytes(),
            (None, Some(f)) => {
                std::fs::read(f).with_context(|| format!("reading redact key {}", f.display()))?
            }
            _ => bail!("[redact] needs exactly one of `key` or `key_file`"),
        };
        if key.trim_ascii().len() < 16 {
            bail!("[redact] key must be at least 16 bytes");
        }
        Ok(Some(Redactor::new(key.trim_ascii())))
    }

    /// The collector identity for reports.
    pub fn collector(&self) -> Collector {
        let host = hostname();
        Collector {
            name: self.collector.name.clone().unwrap_or_else(|| host.clone()),
            host,
            labels: self.collector.labels.clone(),
        }
    }
}

/// The kernel's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_config_parses_and_hides_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.toml");
        std::fs::write(
            &path,
            r#"
server = "http://127.0.0.1:8740"
token = "s3cret"
interval_s = 30
spool_dir = "/var/lib/faultline-probe/spool"

[spool]
max_files = 100
max_bytes = 1000000
max_age_s = 3600

[collector]
name = "node-5"
labels = { cluster = "prod" }

[collect]
for = 10
dns = ["api.example.com"]
connect = ["127.0.0.1:5432"]
nginx_conf = "/etc/nginx/nginx.conf"
openssl_conf = "/etc/ssl/openssl.cnf"
fact = ["lb.idle_timeout_s=350"]
"#,
        )
        .unwrap();
        let cfg = Config::load(&path).unwrap();
        assert_eq!(cfg.interval_s, 30.0);
        assert_eq!(cfg.spool.max_files, 100);
        assert_eq!(cfg.collect.for_s, 10.0);
        assert_eq!(cfg.collect.dns, ["api.example.com"]);
        assert_eq!(
            cfg.collect.nginx_conf.as_deref(),
            Some("/etc/nginx/nginx.conf")
        );
        assert_eq!(
            cfg.collect.openssl_conf.as_deref(),
            Some(Path::new("/etc/ssl/openssl.cnf"))
        );
        assert_eq!(cfg.collect.fact, ["lb.idle_timeout_s=350"]);
        assert_eq!(cfg.collector().name, "node-5");
        assert!(!format!("{cfg:?}").contains("s3cret"));
        assert!(cfg.redactor().unwrap().is_none());
    }

    #[test]
    fn redact_key_is_checked_and_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.toml");
        std::fs::write(&path, "[redact]\nkey = \"0123456789abcdef-fleet\"\n").unwrap();
        let cfg = Config::load(&path).unwrap();
        assert!(cfg.redactor().unwrap().is_some());
        assert!(!format!("{cfg:?}").contains("fleet"));
        std::fs::write(&path, "[redact]\nkey = \"short\"\n").unwrap();
        let err = Config::load(&path)
            .unwrap()
            .redactor()
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("16 bytes"), "{err}");
    }

    #[test]
    fn typo_is_rejected_with_the_field_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.toml");
        std::fs::write(&path, "[collect]\nkeepalvie = [\"http://x/\"]\n").unwrap();
        let err = format!("{:#}", Config::load(&path).unwrap_err());
        assert!(err.contains("keepalvie"), "{err}");
    }
}
