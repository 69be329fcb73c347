//! The `faultline` command line: parse, load config, call the library.

mod collector;
mod commands;
mod diagnose;
mod healthcheck;
mod postmortems;
mod pull;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use commands::run;

impl Cli {
    /// The log format: the flag, else the config file and environment
    /// (a config that does not load is reported by the command itself).
    pub fn log_format(&self) -> crate::logging::LogFormat {
        self.log_format
            .or_else(|| {
                crate::config::Config::load(self.config.as_deref())
                    .ok()
                    .map(|c| c.log_format)
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "faultline",
    version,
    about = "Network-incident triage dashboard and knowledge base"
)]
pub struct Cli {
    /// Directory for the embedded SQLite database [default: ./faultline-data].
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "database")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite:PATH or postgres://USER@HOST/DB.
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Configuration file (TOML); FAULTLINE_* environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on stderr: text (coloured only on a terminal, never with
    /// NO_COLOR) or json (one object a line) [default: text; config
    /// log_format, FAULTLINE_LOG_FORMAT].
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<crate::logging::LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web dashboard and the API.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8740].
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Ask a running server's /healthz (for a container HEALTHCHECK): exit
    /// status 0 when it answers 200 within 3 s.
    Healthcheck {
        /// The server's listen address; 0.0.0.0 is asked on loopback
        /// [default: `listen` of the configuration].
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Rank likely root causes for a probe report (offline, no server).
    Diagnose {
        /// The v1 report as JSON; `-` or nothing reads standard input.
        #[arg(value_name = "REPORT.json")]
        report: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Search the playbooks.
    Search {
        /// What you see: an error message, a counter name, a symptom.
        query: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Only playbooks with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only playbooks in this layer.
        #[arg(long)]
        layer: Option<String>,
        /// At most this many hits.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Import playbooks: our own files, a scenario document, or runbooks.
    Import {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Show what would be imported; store nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Write every playbook to DIR, one Markdown file each.
    Export {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Read pasted command output (ss, nstat, conntrack, dig, openssl…) and
    /// print it as a v1 report; needs no database.
    Parse {
        /// File with the output, or - for stdin.
        #[arg(value_name = "FILE", default_value = "-")]
        input: PathBuf,
        /// Collector name in the report [default: this host's name].
        #[arg(long, value_name = "NAME")]
        collector: Option<String>,
    },
    /// Read what Prometheus holds about one exporter around a time and
    /// print it as a v1 report (pipe it into `faultline diagnose -`); needs
    /// no database. Credentials and timeout: prometheus_* settings.
    Pull {
        /// Prometheus base address [default: prometheus_url].
        #[arg(long, value_name = "URL")]
        prometheus: Option<String>,
        /// The exporter's `instance` label, e.g. node-1:9100.
        #[arg(long, value_name = "HOST:PORT", conflicts_with = "host")]
        instance: Option<String>,
        /// Every exporter on a host (`instance` HOST or HOST:PORT).
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// When: RFC 3339, unix seconds, or now.
        #[arg(long, value_name = "TIME")]
        at: String,
        /// How far to read before and after --at (15m, 90s, 2h) [default:
        /// prometheus_window_s].
        #[arg(long, value_name = "DURATION")]
        window: Option<String>,
        /// A label for the report's collector (service=api), repeatable.
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// Collector tokens for probes: add (printed once), list, revoke.
    Collector {
        #[command(subcommand)]
        command: collector::CollectorCommand,
    },
    /// Roll up and delete old reports (`retention_days`,
    /// `retention_delete_days`); `serve` also does it hourly.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Manage people who log in.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens for scripts.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password comes from FAULTLINE_PASSWORD or stdin.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Set a user's password (from FAULTLINE_PASSWORD or stdin); every
    /// session of theirs ends.
    Passwd { name: String },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Run retention once, now, and print what it did.
    Run,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; it is printed once and stored hashed.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Viewer,
    Responder,
    Editor,
    Admin,
}

impl From<RoleArg> for crate::store::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Viewer => crate::store::Role::Viewer,
            RoleArg::Responder => crate::store::Role::Responder,
            RoleArg::Editor => crate::store::Role::Editor,
            RoleArg::Admin => crate::store::Role::Admin,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}
