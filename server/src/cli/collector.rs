//! `faultline collector add|list|revoke`: the tokens probes send reports with.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::Subcommand;

use super::Format;
use crate::config::{Config, redact_url};
use crate::ingest;
use crate::store::{self, DynStore, StoreError};

#[derive(Debug, Subcommand)]
pub enum CollectorCommand {
    /// Register a collector; its token is printed once and stored hashed.
    Add {
        /// The collector's name, usually its host name.
        name: String,
        /// A label applied to its reports, e.g. `--label host=web-1` (repeatable):
        /// it overrides the report's own, and `host` names the host its reports
        /// are about (they join the open incident labelled with it).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// List collectors with their last report and status.
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Revoke a collector's token; its reports are kept.
    Revoke { name: String },
}

async fn open_store(config: &Config) -> Result<DynStore> {
    let url = config.database_url();
    store::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&url)))
}

fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>> {
    crate::core::labels::parse_each(labels.iter().map(String::as_str)).map_err(anyhow::Error::msg)
}

pub async fn run(config: &Config, command: CollectorCommand) -> Result<()> {
    match command {
        CollectorCommand::Add { name, labels } => {
            ingest::valid_collector_name(&name).map_err(anyhow::Error::msg)?;
            let labels = parse_labels(&labels)?;
            let store = open_store(config).await?;
            let added = ingest::add_collector(&store, &name, &labels).await;
            store.close().await;
            let (record, token) = match added {
                Err(StoreError::AlreadyExists(_)) => bail!(
                    "a collector named {name:?} already exists; pick another name \
                     (or revoke it with `faultline collector revoke {name}`)"
                ),
                other => other?,
            };
            eprintln!(
                "collector {}: token shown once, stored only as a hash. Give it to \
                 the probe (`token` in its config, or `--token`); it is sent as \
                 Authorization: Bearer <token>",
                record.name
            );
            println!("{token}");
        }
        CollectorCommand::List { format } => {
            let store = open_store(config).await?;
            let collectors = store.collectors().await;
            let starts = store.recent_start_times(8).await;
            store.close().await;
            let (collectors, starts) = (collectors?, starts?);
            let now = Utc::now();
            let rows: Vec<_> = collectors
                .iter()
                .map(|c| {
                    let mine: Vec<_> = starts
                        .iter()
                        .filter(|(n, _)| *n == c.name)
                        .map(|(_, t)| *t)
                        .collect();
                    let interval = ingest::expected_interval(&mine);
                    (c, ingest::collector_status(c, interval, now))
                })
                .collect();
            match format {
                Format::Json => {
                    let list: Vec<_> = rows
                        .iter()
                        .map(|(c, status)| {
                            serde_json::json!({
                                "name": c.name,
                                "labels": c.labels,
                                "created_at": c.created_at,
                                "last_report_at": c.last_report_at,
                                "revoked_at": c.revoked_at,
                                "status": status,
                            })
                        })
                        .collect();
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({ "collectors": list }))?
                    );
                }
                Format::Text => {
                    if rows.is_empty() {
                        println!("no collectors; add one with `faultline collector add NAME`");
                    }
                    for (c, status) in rows {
                        let last = c
                            .last_report_at
                            .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
                        println!("{:<24} {:<8} last report {last}", c.name, status.as_str());
                    }
                }
            }
        }
        CollectorCommand::Revoke { name } => {
            let store = open_store(config).await?;
            let revoked = store.revoke_collector(&name).await;
            store.close().await;
            match revoked {
                Ok(c) => println!(
                    "revoked collector {} (at {})",
                    c.name,
                    c.revoked_at.map(|t| t.to_rfc3339()).unwrap_or_default()
                ),
                Err(StoreError::NotFound) => bail!("no collector named {name:?}"),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_key_value() {
        let map = parse_labels(&["cluster=prod".into(), "zone = eu-1 ".into()]).unwrap();
        assert_eq!(map["cluster"], "prod");
        assert_eq!(map["zone"], "eu-1");
        assert!(parse_labels(&["nokey".into()]).is_err());
        assert!(parse_labels(&["=v".into()]).is_err());
    }
}
