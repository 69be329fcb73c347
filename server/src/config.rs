//! Configuration: defaults, then a TOML file, then `FAULTLINE_*` environment
//! variables, then command-line flags (applied by the CLI).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::web::forwarded::TrustedProxies;

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the SQLite database lives when `database` is not set.
    pub data_dir: PathBuf,
    /// `sqlite:…` or `postgres://…`; overrides `data_dir`. May hold a password.
    pub database: Option<String>,
    /// Idle keep-alive of client connections, in seconds. Longer than the
    /// 60 s idle timeout common in load balancers and proxies in front of us,
    /// so the proxy always closes first and never reuses a connection we are
    /// closing (the keep-alive race of the `keepalive-race-502` playbook).
    /// hyper times the wait for the next request with the same clock; once
    /// its first byte is in, `header_read_timeout_s` bounds the rest of its
    /// head (`web::head_deadline`).
    pub keepalive_idle_s: u64,
    /// After SIGTERM, how long `/readyz` reports "draining" while requests
    /// are still served, so a load balancer stops sending before we stop
    /// listening (the `termination-drain-race` playbook, from our side).
    pub drain_delay_s: u64,
    /// A request's head (its line and headers) must arrive within this
    /// many seconds of its first byte, and a new connection's first request
    /// within this many seconds of connecting; else the connection closes.
    pub header_read_timeout_s: u64,
    /// A request's body must arrive whole within this many seconds (408
    /// after). Bodies are read before a request takes one of the
    /// `max_concurrent_requests` places, so slow senders hold none.
    pub body_read_timeout_s: u64,
    /// Upper bound on handling one request.
    pub request_timeout_s: u64,
    /// How long to let in-flight requests finish after SIGTERM.
    pub shutdown_grace_s: u64,
    /// Largest report body `POST /api/v1/reports` takes, in bytes (413 above).
    pub report_body_limit: usize,
    /// Group commit of reports (`ingest::GroupCommit`): at most this many
    /// writes in one transaction.
    pub ingest_batch_max: usize,
    /// Under load (the last batch held more than one write), how long the
    /// writer waits for more before committing, in milliseconds (0: never
    /// wait; take only what is already queued).
    pub ingest_batch_wait_ms: u64,
    /// Writes waiting for the writer, at most; past this a report is
    /// answered 503 with `Retry-After` instead of queueing without bound.
    pub ingest_queue: usize,
    /// Reports older than this many days are rolled up: raw observations
    /// dropped, derived signals and the diagnosis kept (0: never).
    pub retention_days: u64,
    /// Reports older than this many days are deleted (0: never).
    pub retention_delete_days: u64,
    /// After a report opens an incident, how long its collector waits
    /// before its reports may open another (reports of an incident already
    /// open still attach to it).
    pub incident_cool_down_s: u64,
    /// The library lists playbooks whose newest version is older than this
    /// many days as not reviewed for a long time (0: never list any).
    pub review_after_days: u64,
    /// `text` (coloured only on a terminal, never with `NO_COLOR`) or
    /// `json` (one object a line, for log shippers).
    pub log_format: crate::logging::LogFormat,
    /// The address people reach this server at (`https://faultline.example.com`),
    /// for links that must work outside it: the exported postmortem's links
    /// to playbooks, reports and incidents. Unset, they are made from the
    /// request's `Host`.
    pub public_url: Option<String>,
    /// A Prometheus server to pull evidence from when an alert opens an
    /// incident (and on demand from the incident page): its base address,
    /// `http://prometheus:9090`. None: no pulls.
    pub prometheus_url: Option<String>,
    /// Sent as `Authorization: Bearer …` to Prometheus.
    pub prometheus_bearer_token: Option<String>,
    /// Basic authentication to Prometheus (both or neither).
    pub prometheus_username: Option<String>,
    pub prometheus_password: Option<String>,
    /// The whole pull (connecting, retries, reading) within this.
    pub prometheus_timeout_s: u64,
    /// Seconds read before and after the alert's start.
    pub prometheus_window_s: u64,
    /// Reports from different hosts whose likely diagnosis is the same
    /// playbook fold into one incident when they share a value of one of
    /// these labels (`service`, `cluster`) …
    pub fold_labels: Vec<String>,
    /// … and the incident opened at most this many seconds before (0: no
    /// folding).
    pub fold_window_s: u64,
    /// Accounts and limits, the `[security]` table (see `web::auth` and
    /// `web::limits`).
    pub security: Security,
    /// Outbound messages to chat and webhooks, the `[notifications]` table
    /// (see `notify`).
    pub notifications: crate::notify::Settings,
}

/// Who may do what, and how much of it: sessions, anonymous read access,
/// rate and concurrency limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Security {
    /// Let visitors who are not logged in read (viewer role, safe methods).
    pub anonymous_read: bool,
    /// Always mark the session cookie `Secure` (set it when a TLS proxy in
    /// front does not send `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// A session unused this long ends.
    pub session_idle_s: u64,
    /// A session ends this long after login, used or not.
    pub session_absolute_s: u64,
    /// Login attempts per account from one client address: burst, then one
    /// more every `login_account_refill_s`.
    pub login_account_burst: u32,
    pub login_account_refill_s: u64,
    /// Login attempts per client address: burst, then one every `login_address_refill_s`.
    pub login_address_burst: u32,
    pub login_address_refill_s: u64,
    /// Requests per ingest token: burst, then `ingest_token_per_s` a second.
    pub ingest_token_burst: u32,
    pub ingest_token_per_s: u32,
    /// Requests handled at once; more are answered 503 at once.
    pub max_concurrent_requests: usize,
    /// Open client connections; past this the server stops accepting until
    /// one closes (the kernel's backlog holds the rest).
    pub max_connections: usize,
    /// Open connections from one client address; more are answered 503 and
    /// closed at once (0: no cap). Trusted proxies are not capped.
    pub max_connections_per_address: usize,
    /// Proxies whose `X-Forwarded-For` names the client (CIDRs or
    /// addresses; empty: the header is ignored). See `web::forwarded`.
    pub trusted_proxies: TrustedProxies,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            anonymous_read: false,
            secure_cookies: false,
            session_idle_s: 12 * 3600,
            session_absolute_s: 7 * 24 * 3600,
            login_account_burst: 5,
            login_account_refill_s: 12,
            login_address_burst: 20,
            login_address_refill_s: 3,
            ingest_token_burst: 60,
            ingest_token_per_s: 10,
            max_concurrent_requests: 512,
            max_connections: 4096,
            max_connections_per_address: 256,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8740)),
            data_dir: PathBuf::from("faultline-data"),
            database: None,
            keepalive_idle_s: 75,
            drain_delay_s: 5,
            header_read_timeout_s: 10,
            body_read_timeout_s: 20,
            request_timeout_s: 30,
            shutdown_grace_s: 20,
            report_body_limit: 1024 * 1024,
            ingest_batch_max: 256,
            ingest_batch_wait_ms: 2,
            ingest_queue: 2048,
            retention_days: 30,
            retention_delete_days: 90,
            incident_cool_down_s: 15 * 60,
            review_after_days: 180,
            log_format: crate::logging::LogFormat::Text,
            public_url: None,
            prometheus_url: None,
            prometheus_bearer_token: None,
            prometheus_username: None,
            prometheus_password: None,
            prometheus_timeout_s: 10,
            prometheus_window_s: 15 * 60,
            fold_labels: vec!["service".into(), "cluster".into()],
            fold_window_s: 30 * 60,
            security: Security::default(),
            notifications: crate::notify::Settings::default(),
        }
    }
}

// The database URL may carry a password: keep it out of logs.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database", &self.database.as_deref().map(redact_url))
            .field("keepalive_idle_s", &self.keepalive_idle_s)
            .field("drain_delay_s", &self.drain_delay_s)
            .field("header_read_timeout_s", &self.header_read_timeout_s)
            .field("body_read_timeout_s", &self.body_read_timeout_s)
            .field("request_timeout_s", &self.request_timeout_s)
            .field("shutdown_grace_s", &self.shutdown_grace_s)
            .field("report_body_limit", &self.report_body_limit)
            .field("ingest_batch_max", &self.ingest_batch_max)
            .field("ingest_batch_wait_ms", &self.ingest_batch_wait_ms)
            .field("ingest_queue", &self.ingest_queue)
            .field("retention_days", &self.retention_days)
            .field("retention_delete_days", &self.retention_delete_days)
            .field("incident_cool_down_s", &self.incident_cool_down_s)
            .field("review_after_days", &self.review_after_days)
            .field("log_format", &self.log_format)
            .field("public_url", &self.public_url)
            .field("prometheus_url", &self.prometheus_url)
            .field(
                "prometheus_bearer_token",
                &self.prometheus_bearer_token.as_ref().map(|_| "***"),
            )
            .field("prometheus_username", &self.prometheus_username)
            .field(
                "prometheus_password",
                &self.prometheus_password.as_ref().map(|_| "***"),
            )
            .field("prometheus_timeout_s", &self.prometheus_timeout_s)
            .field("prometheus_window_s", &self.prometheus_window_s)
            .field("fold_labels", &self.fold_labels)
            .field("fold_window_s", &self.fold_window_s)
            .field("security", &self.security)
            .field("notifications", &self.notifications)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config
            .notifications
            .resolve(|name| std::env::var(name).ok())
            .map_err(ConfigError::Invalid)?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        if let Some(url) = &config.public_url {
            config.public_url = Some(public_url(url).map_err(|message| ConfigError::Parse {
                path: path.to_owned(),
                message: format!("public_url: {message}"),
            })?);
        }
        Ok(config)
    }

    /// Applies `FAULTLINE_*` variables read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parsed<T: std::str::FromStr>(name: &str, v: String) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            v.trim().parse().map_err(|e: T::Err| ConfigError::Env {
                name: name.into(),
                message: e.to_string(),
            })
        }
        if let Some(v) = get("FAULTLINE_LISTEN") {
            self.listen = parsed("FAULTLINE_LISTEN", v)?;
        }
        if let Some(v) = get("FAULTLINE_PUBLIC_URL") {
            self.public_url = Some(public_url(&v).map_err(|message| ConfigError::Env {
                name: "FAULTLINE_PUBLIC_URL".into(),
                message,
            })?);
        }
        if let Some(v) = get("FAULTLINE_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("FAULTLINE_DATABASE") {
            self.database = Some(v);
        }
        if let Some(v) = get("FAULTLINE_REPORT_BODY_LIMIT") {
            self.report_body_limit = parsed("FAULTLINE_REPORT_BODY_LIMIT", v)?;
        }
        if let Some(v) = get("FAULTLINE_TRUSTED_PROXIES") {
            self.security.trusted_proxies =
                TrustedProxies::parse_list(&v).map_err(|message| ConfigError::Env {
                    name: "FAULTLINE_TRUSTED_PROXIES".into(),
                    message,
                })?;
        }
        if let Some(v) = get("FAULTLINE_MAX_CONNECTIONS_PER_ADDRESS") {
            self.security.max_connections_per_address =
                parsed("FAULTLINE_MAX_CONNECTIONS_PER_ADDRESS", v)?;
        }
        if let Some(v) = get("FAULTLINE_LOG_FORMAT") {
            self.log_format = parsed("FAULTLINE_LOG_FORMAT", v)?;
        }
        if let Some(v) = get("FAULTLINE_NOTIFY_BASE_URL") {
            crate::notify::settings::check_base_url(v.trim()).map_err(|message| {
                ConfigError::Env {
                    name: "FAULTLINE_NOTIFY_BASE_URL".into(),
                    message,
                }
            })?;
            self.notifications.base_url = Some(v.trim().to_owned());
        }
        for (name, slot) in [
            ("FAULTLINE_PROMETHEUS_URL", &mut self.prometheus_url),
            (
                "FAULTLINE_PROMETHEUS_BEARER_TOKEN",
                &mut self.prometheus_bearer_token,
            ),
            (
                "FAULTLINE_PROMETHEUS_USERNAME",
                &mut self.prometheus_username,
            ),
            (
                "FAULTLINE_PROMETHEUS_PASSWORD",
                &mut self.prometheus_password,
            ),
        ] {
            if let Some(v) = get(name) {
                *slot = Some(v).filter(|v| !v.trim().is_empty());
            }
        }
        if let Some(v) = get("FAULTLINE_FOLD_LABELS") {
            self.fold_labels = v
                .split(',')
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect();
        }
        if let Some(v) = get("FAULTLINE_INCIDENT_COOL_DOWN_S") {
            self.incident_cool_down_s = parsed("FAULTLINE_INCIDENT_COOL_DOWN_S", v)?;
        }
        for (name, slot) in [
            (
                "FAULTLINE_ANONYMOUS_READ",
                &mut self.security.anonymous_read,
            ),
            (
                "FAULTLINE_SECURE_COOKIES",
                &mut self.security.secure_cookies,
            ),
        ] {
            if let Some(v) = get(name) {
                *slot = parsed(name, v)?;
            }
        }
        for (name, slot) in [
            ("FAULTLINE_KEEPALIVE_IDLE_S", &mut self.keepalive_idle_s),
            ("FAULTLINE_DRAIN_DELAY_S", &mut self.drain_delay_s),
            ("FAULTLINE_REQUEST_TIMEOUT_S", &mut self.request_timeout_s),
            (
                "FAULTLINE_HEADER_READ_TIMEOUT_S",
                &mut self.header_read_timeout_s,
            ),
            (
                "FAULTLINE_BODY_READ_TIMEOUT_S",
                &mut self.body_read_timeout_s,
            ),
            ("FAULTLINE_SHUTDOWN_GRACE_S", &mut self.shutdown_grace_s),
            ("FAULTLINE_RETENTION_DAYS", &mut self.retention_days),
            (
                "FAULTLINE_RETENTION_DELETE_DAYS",
                &mut self.retention_delete_days,
            ),
            ("FAULTLINE_REVIEW_AFTER_DAYS", &mut self.review_after_days),
            (
                "FAULTLINE_PROMETHEUS_TIMEOUT_S",
                &mut self.prometheus_timeout_s,
            ),
            (
                "FAULTLINE_PROMETHEUS_WINDOW_S",
                &mut self.prometheus_window_s,
            ),
            ("FAULTLINE_FOLD_WINDOW_S", &mut self.fold_window_s),
        ] {
            if let Some(v) = get(name) {
                *slot = parsed(name, v)?;
            }
        }
        Ok(())
    }

    /// The database URL: the explicit one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database {
            Some(url) => url.clone(),
            None => crate::store::sqlite_url(&self.data_dir),
        }
    }

    /// How to reach Prometheus, when `prometheus_url` is set; the error
    /// names the setting at fault.
    pub fn prometheus(&self) -> Result<Option<crate::prometheus::Settings>, String> {
        use crate::prometheus::{Auth, Settings, check_url};
        let Some(url) = &self.prometheus_url else {
            return Ok(None);
        };
        let url = check_url(url)?;
        let auth = match (
            &self.prometheus_bearer_token,
            &self.prometheus_username,
            &self.prometheus_password,
        ) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(
                    "prometheus_bearer_token and prometheus_username / prometheus_password: \
                     set one way of logging in, not both"
                        .into(),
                );
            }
            (Some(token), None, None) => Auth::Bearer(token.clone()),
            (None, Some(username), Some(password)) => Auth::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(
                    "prometheus_username and prometheus_password go together: set both".into(),
                );
            }
            (None, None, None) => Auth::None,
        };
        if !(1..=300).contains(&self.prometheus_timeout_s) {
            return Err("prometheus_timeout_s must be 1 to 300 seconds".into());
        }
        if !(60..=7 * 86_400).contains(&self.prometheus_window_s) {
            return Err("prometheus_window_s must be 60 seconds to 7 days".into());
        }
        Ok(Some(Settings {
            url,
            auth,
            timeout: Duration::from_secs(self.prometheus_timeout_s),
            window_s: self.prometheus_window_s as i64,
        }))
    }

    pub fn keepalive_idle(&self) -> Duration {
        Duration::from_secs(self.keepalive_idle_s)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_s.max(1))
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_s.max(1))
    }

    /// Where links in outbound messages point: `notifications.base_url`,
    /// else `http://` and the listen address.
    pub fn public_base_url(&self) -> String {
        match &self.notifications.base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// A public URL as links use it: `http://` or `https://`, a host, no query
/// or fragment, without a trailing slash.
pub fn public_url(text: &str) -> Result<String, String> {
    let url = text.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("`{text}` must start with http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty()
        || rest.contains(['?', '#', ' ', '"', '<', '>', '(', ')'])
        || host.contains('@')
    {
        return Err(format!(
            "`{text}` is not an address such as https://faultline.example.com"
        ));
    }
    Ok(url.to_owned())
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_is_checked_and_trimmed() {
        assert_eq!(
            public_url("https://faultline.example.com/").unwrap(),
            "https://faultline.example.com"
        );
        assert_eq!(
            public_url("http://10.0.0.5:8740/faultline").unwrap(),
            "http://10.0.0.5:8740/faultline"
        );
        for bad in [
            "faultline.example.com",
            "ftp://x",
            "https://",
            "https://a b",
            "https://u@evil",
        ] {
            assert!(public_url(bad).is_err(), "{bad}");
        }
        let mut c = Config::default();
        c.apply_env(|n| (n == "FAULTLINE_PUBLIC_URL").then(|| "https://fl.example/".to_owned()))
            .unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://fl.example"));
        let err = c
            .apply_env(|n| (n == "FAULTLINE_PUBLIC_URL").then(|| "fl.example".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("FAULTLINE_PUBLIC_URL"), "{err}");
    }

    #[test]
    fn env_overrides_defaults_and_bad_values_name_the_variable() {
        let mut c = Config::default();
        c.apply_env(|n| (n == "FAULTLINE_LISTEN").then(|| "0.0.0.0:9000".to_owned()))
            .unwrap();
        assert_eq!(c.listen.port(), 9000);
        let err = c
            .apply_env(|n| (n == "FAULTLINE_KEEPALIVE_IDLE_S").then(|| "soon".to_owned()))
            .unwrap_err();
        assert!(
            err.to_string().contains("FAULTLINE_KEEPALIVE_IDLE_S"),
            "{err}"
        );
    }

    #[test]
    fn keepalive_outlasts_a_proxy_idle_timeout() {
        assert!(Config::default().keepalive_idle_s > 60);
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let c = Config {
            database: Some("postgres://app:hunter2@db/x".into()),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://app:***@db/x"), "{shown}");
    }

    #[test]
    fn security_table_from_file_and_switches_from_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1\"\n[security]\nsession_idle_s = 600\nlogin_account_burst = 3\n",
        )
        .unwrap();
        let mut c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.security.session_idle_s, 600);
        assert_eq!(c.security.login_account_burst, 3);
        assert!(!c.security.anonymous_read, "off by default");
        c.apply_env(|n| (n == "FAULTLINE_ANONYMOUS_READ").then(|| "true".to_owned()))
            .unwrap();
        assert!(c.security.anonymous_read);
        std::fs::write(&path, "[security]\nanonymous_reed = true\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err();
        assert!(err.to_string().contains("anonymous_reed"), "{err}");
    }

    #[test]
    fn trusted_proxies_from_file_and_env() {
        assert!(Config::default().security.trusted_proxies.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(
            &path,
            "[security]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n",
        )
        .unwrap();
        let mut c = Config::load(Some(&path)).unwrap();
        let t = &c.security.trusted_proxies;
        assert!(t.contains("10.1.2.3".parse().unwrap()) && t.contains("::1".parse().unwrap()));
        c.apply_env(|n| (n == "FAULTLINE_TRUSTED_PROXIES").then(|| "127.0.0.1".to_owned()))
            .unwrap();
        assert!(
            !c.security
                .trusted_proxies
                .contains("10.1.2.3".parse().unwrap())
        );
        let err = c
            .apply_env(|n| (n == "FAULTLINE_TRUSTED_PROXIES").then(|| "lb.local".to_owned()))
            .unwrap_err();
        assert!(
            err.to_string().contains("FAULTLINE_TRUSTED_PROXIES"),
            "{err}"
        );
        std::fs::write(&path, "[security]\ntrusted_proxies = [\"10.0.0.0/33\"]\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
    }

    #[test]
    fn notification_targets_load_from_the_file_and_bad_ones_stop_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(
            &path,
            "[notifications]\nbase_url = \"https://f.example\"\n\
             [[notifications.target]]\nname = \"ops\"\nkind = \"teams\"\n\
             url = \"https://prod-1.logic.azure.com/workflows/w?sig=s3cret\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.public_base_url(), "https://f.example");
        assert_eq!(c.notifications.targets[0].name, "ops");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(Config::default().public_base_url(), "http://127.0.0.1:8740");
        std::fs::write(
            &path,
            "[[notifications.target]]\nname = \"ops\"\nkind = \"slack\"\nurl = \"hooks.slack.com/x\"\n",
        )
        .unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("\"ops\"") && err.contains("https://"), "{err}");
        let mut c = Config::default();
        let err = c
            .apply_env(|n| (n == "FAULTLINE_NOTIFY_BASE_URL").then(|| "f.example".to_owned()))
            .unwrap_err();
        assert!(
            err.to_string().contains("FAULTLINE_NOTIFY_BASE_URL"),
            "{err}"
        );
    }

    #[test]
    fn prometheus_settings_hide_secrets_and_name_what_is_wrong() {
        let mut c = Config::default();
        assert!(c.prometheus().unwrap().is_none(), "off by default");
        c.apply_env(|n| match n {
            "FAULTLINE_PROMETHEUS_URL" => Some("http://prom:9090/".into()),
            "FAULTLINE_PROMETHEUS_BEARER_TOKEN" => Some("s3cret-token".into()),
            "FAULTLINE_PROMETHEUS_TIMEOUT_S" => Some("4".into()),
            _ => None,
        })
        .unwrap();
        let s = c.prometheus().unwrap().unwrap();
        assert_eq!(s.url, "http://prom:9090");
        assert_eq!(s.timeout, Duration::from_secs(4));
        assert!(!format!("{c:?}").contains("s3cret"));
        c.prometheus_username = Some("u".into());
        assert!(c.prometheus().unwrap_err().contains("not both"));
        c.prometheus_bearer_token = None;
        assert!(c.prometheus().unwrap_err().contains("set both"));
        c.prometheus_password = Some("p".into());
        assert!(c.prometheus().is_ok());
        c.prometheus_url = Some("https://prom".into());
        assert!(c.prometheus().unwrap_err().contains("prometheus_url"));
    }

    #[test]
    fn file_with_unknown_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlisen = 3\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }
}
