//! The `[notifications]` table of the config file: delivery limits, the
//! address links in messages start with, and `[[notifications.target]]`
//! entries (targets can also be added on `/admin`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::target::{Kind, Trigger, WebhookUrl};

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The address people reach Faultline at (`https://faultline.example.com`):
    /// links in messages start with it. Unset: `http://` and the listen
    /// address, which only works where that address is reachable.
    pub base_url: Option<String>,
    /// Upper bound on one delivery attempt: connecting, sending, and the
    /// receiver's answer.
    pub timeout_s: u64,
    /// Attempts per message and target (the first included); 5xx, 429,
    /// timeouts and connection failures are tried again.
    pub attempts: u32,
    /// First retry delay; doubles per attempt up to `backoff_max_ms`, each
    /// delay a random point in its upper half.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Messages per incident: a burst, then one more every `refill_s`.
    /// Beyond it a message is not sent, and the timeline says so.
    pub burst: u32,
    pub refill_s: u64,
    /// Messages waiting per target; beyond it new ones are dropped (and the
    /// timeline says so) rather than held in memory without bound.
    pub queue: usize,
    /// How long the Right / Wrong links in a message stay valid.
    pub link_valid_days: u64,
    #[serde(rename = "target")]
    pub targets: Vec<TargetSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            base_url: None,
            timeout_s: 10,
            attempts: 5,
            backoff_base_ms: 1000,
            backoff_max_ms: 60_000,
            burst: 6,
            refill_s: 300,
            queue: 256,
            link_valid_days: 14,
            targets: Vec::new(),
        }
    }
}

/// One `[[notifications.target]]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    pub name: String,
    pub kind: Kind,
    /// The webhook address; or `url_env`: the environment variable holding
    /// it (read at start), so the file holds no secret.
    #[serde(default)]
    pub url: Option<WebhookUrl>,
    #[serde(default)]
    pub url_env: Option<String>,
    /// Labels an incident must all carry (`{ service = "payments" }`);
    /// empty: every incident.
    #[serde(default, rename = "match")]
    pub labels: BTreeMap<String, String>,
    /// What is sent; default all four.
    #[serde(default = "Trigger::all")]
    pub events: Vec<Trigger>,
    /// Only incidents no other target's labels match.
    #[serde(default)]
    pub fallback: bool,
}

impl std::fmt::Debug for TargetSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetSettings")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("url_env", &self.url_env)
            .field("labels", &self.labels)
            .field("events", &self.events)
            .field("fallback", &self.fallback)
            .finish()
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("base_url", &self.base_url)
            .field("timeout_s", &self.timeout_s)
            .field("attempts", &self.attempts)
            .field("backoff_base_ms", &self.backoff_base_ms)
            .field("backoff_max_ms", &self.backoff_max_ms)
            .field("burst", &self.burst)
            .field("refill_s", &self.refill_s)
            .field("queue", &self.queue)
            .field("link_valid_days", &self.link_valid_days)
            .field("targets", &self.targets)
            .finish()
    }
}

impl Settings {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_s.clamp(1, 300))
    }

    /// Checks the table and reads `url_env` variables through `env`: every
    /// target named once, with a valid `http(s)` address from exactly one
    /// of `url` and `url_env`. The error names the target and the key.
    pub fn resolve(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(base) = &self.base_url {
            check_base_url(base).map_err(|e| format!("notifications.base_url: {e}"))?;
        }
        if self.attempts == 0 {
            return Err("notifications.attempts: at least 1".into());
        }
        if self.queue == 0 {
            return Err("notifications.queue: at least 1".into());
        }
        let mut names: Vec<String> = Vec::new();
        for t in &mut self.targets {
            let at = format!("notifications.target {:?}", t.name);
            super::target::check_name(&t.name).map_err(|e| format!("{at}: {e}"))?;
            if names.contains(&t.name) {
                return Err(format!("{at}: the name is used twice"));
            }
            names.push(t.name.clone());
            match (&t.url, &t.url_env) {
                (Some(_), Some(_)) => {
                    return Err(format!("{at}: give url or url_env, not both"));
                }
                (None, None) => return Err(format!("{at}: url or url_env is needed")),
                (Some(url), None) => {
                    WebhookUrl::parse(url.expose()).map_err(|e| format!("{at}: url: {e}"))?;
                }
                (None, Some(var)) => {
                    let value = env(var)
                        .ok_or_else(|| format!("{at}: url_env names {var}, which is not set"))?;
                    let url = WebhookUrl::parse(value.trim())
                        .map_err(|e| format!("{at}: the URL in {var}: {e}"))?;
                    // Read once: resolving again changes nothing.
                    t.url = Some(url);
                    t.url_env = None;
                }
            }
            if t.events.is_empty() {
                return Err(format!("{at}: events is empty, so nothing would be sent"));
            }
        }
        Ok(())
    }
}

/// `http(s)://host[:port][/path]`, no query or fragment.
pub fn check_base_url(base: &str) -> Result<(), String> {
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))
        .ok_or_else(|| format!("{base:?} does not start with http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("{base:?} names no host"));
    }
    if base.contains(['?', '#']) || base.chars().any(char::is_whitespace) {
        return Err(format!("{base:?} may not hold a query, fragment or spaces"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Settings {
        #[derive(Deserialize)]
        struct File {
            notifications: Settings,
        }
        toml::from_str::<File>(text).unwrap().notifications
    }

    #[test]
    fn targets_from_the_file_with_defaults_and_checks() {
        let mut s = parse(
            "[notifications]\nbase_url = \"https://faultline.example.com\"\n\
             [[notifications.target]]\nname = \"payments\"\nkind = \"slack\"\n\
             url = \"https://hooks.slack.com/services/T0/B0/secret\"\n\
             match = { service = \"payments\" }\n\
             [[notifications.target]]\nname = \"all\"\nkind = \"webhook\"\nurl_env = \"HOOK\"\n\
             events = [\"opened\", \"resolved\"]\nfallback = true\n",
        );
        s.resolve(|v| (v == "HOOK").then(|| "http://10.0.0.1:9000/hook".to_owned()))
            .unwrap();
        assert_eq!(s.targets[0].events, Trigger::all());
        assert_eq!(s.targets[0].labels["service"], "payments");
        assert_eq!(
            s.targets[1].url.as_ref().unwrap().expose(),
            "http://10.0.0.1:9000/hook"
        );
        assert!(s.targets[1].fallback);
        let shown = format!("{s:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!shown.contains("9000/hook"), "{shown}");

        let mut unset = s.clone();
        let err = unset.resolve(|_| None);
        assert!(err.is_ok(), "url_env was read once already: {err:?}");
        let mut twice = s.clone();
        twice.targets[1].name = "payments".into();
        assert!(twice.resolve(|_| None).unwrap_err().contains("used twice"));
        let mut missing = s.clone();
        missing.targets[0].url = None;
        assert!(
            missing
                .resolve(|_| None)
                .unwrap_err()
                .contains("url or url_env")
        );
        let mut bad_base = s;
        bad_base.base_url = Some("faultline.example.com".into());
        assert!(bad_base.resolve(|_| None).unwrap_err().contains("base_url"));
    }

    #[test]
    fn unknown_keys_and_kinds_are_refused() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct File {
            notifications: Settings,
        }
        let err = toml::from_str::<File>(
            "[[notifications.target]]\nname = \"x\"\nkind = \"pager\"\nurl = \"http://h/\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("pager"), "{err}");
        let err = toml::from_str::<File>(
            "[[notifications.target]]\nname = \"x\"\nkind = \"slack\"\nurll = \"http://h/\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("urll"), "{err}");
    }
}
