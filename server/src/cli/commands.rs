use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::{Cli, Command, Format, RetentionCommand, TokenCommand, UserCommand};
use crate::config::{Config, redact_url};
use crate::import::{self, Imported};
use crate::kb::KnowledgeBase;
use crate::search::SearchRequest;
use crate::store::{self, Origin};
use crate::web::{self, AppState};

/// Runs one command to completion.
pub async fn run(cli: Cli) -> Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
        config.database = None;
    }
    if let Some(url) = cli.database {
        config.database = Some(url);
    }
    if let Some(format) = cli.log_format {
        config.log_format = format;
    }
    match cli.command {
        Command::Serve { listen } => {
            if let Some(addr) = listen {
                config.listen = addr;
            }
            serve(config).await
        }
        Command::Healthcheck { listen } => {
            super::healthcheck::run(listen.unwrap_or(config.listen)).await
        }
        Command::Search {
            query,
            format,
            tag,
            layer,
            limit,
        } => {
            let kb = open_kb(&config).await?;
            search(
                &kb,
                SearchRequest {
                    text: query,
                    tag,
                    layer,
                    limit,
                },
                format,
            )
        }
        Command::Import {
            paths,
            dry_run,
            format,
        } => import(&config, &paths, dry_run, format).await,
        Command::Diagnose { report, format } => {
            super::diagnose::run(&config, report.as_deref(), format).await
        }
        Command::Export { dir } => export(&config, &dir).await,
        Command::Retention {
            command: RetentionCommand::Run,
        } => retention_run(&config).await,
        Command::Parse { input, collector } => parse(&input, collector.as_deref()),
        Command::Pull {
            prometheus,
            instance,
            host,
            at,
            window,
            labels,
        } => {
            let args = super::pull::PullArgs {
                prometheus,
                instance,
                host,
                at,
                window,
                labels,
            };
            super::pull::run(&config, args).await
        }
        Command::Collector { command } => super::collector::run(&config, command).await,
        Command::User {
            command: UserCommand::Add { name, role },
        } => add_user(&config, &name, role.into()).await,
        Command::User {
            command: UserCommand::Passwd { name },
        } => set_password(&config, &name).await,
        Command::Token {
            command: TokenCommand::Add { name, role },
        } => add_token(&config, &name, role.into()).await,
    }
}

/// `faultline parse`: pasted output to a v1 report on stdout; no database.
fn parse(input: &std::path::Path, collector: Option<&str>) -> Result<()> {
    use std::io::{Read, Write};

    use crate::core::paste;

    let mut bytes = Vec::new();
    if input.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading stdin")?;
    } else {
        bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    }
    let text = String::from_utf8_lossy(&bytes);
    let recognised = paste::recognise_all(&text);
    if recognised.observations.is_empty() {
        paste::recognise(&text)?;
    }
    for u in &recognised.unrecognised {
        eprintln!(
            "warning: lines {}-{} not recognised: {}",
            u.lines.0, u.lines.1, u.reason
        );
    }
    let name = collector.map(str::to_string).unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    });
    let report = paste::to_report(recognised.observations, &name);
    let json = serde_json::to_string_pretty(&report)?;
    // `faultline parse - | head` closing the pipe early is not an error.
    match writeln!(std::io::stdout().lock(), "{json}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

pub(super) async fn open_kb(config: &Config) -> Result<Arc<KnowledgeBase>> {
    let url = config.database_url();
    let store = store::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&url)))?;
    Ok(KnowledgeBase::open(store).await?)
}

async fn serve(config: Config) -> Result<()> {
    if let Some(prometheus) = config.prometheus().map_err(anyhow::Error::msg)? {
        tracing::info!(url = %prometheus.url, "evidence is pulled from Prometheus when an alert opens an incident");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let kb = open_kb(&config).await?;
    if let Some(password) = crate::accounts::bootstrap_admin(kb.store()).await? {
        // Shown once: the store keeps only an Argon2id hash.
        let notice = format!(
            "First start: created the admin account `{}` with password {password}\n\
             Log in at http://{}/login, then add your own accounts on /admin \
             (or `faultline user add NAME --role ROLE`) and disable this one.",
            crate::accounts::BOOTSTRAP_ADMIN,
            config.listen
        );
        match config.log_format {
            crate::logging::LogFormat::Text => eprintln!("\n{notice}\n"),
            // A JSON log stays one object a line for whatever reads it.
            crate::logging::LogFormat::Json => tracing::warn!("{notice}"),
        }
    }
    tracing::info!(address = %config.listen, playbooks = kb.list().len(), "serving on http://{}", config.listen);
    if config.security.anonymous_read {
        tracing::warn!("anonymous read access is on: anyone who can reach the server can read");
    }
    let state = AppState::new(kb, config);
    // Other replicas' playbook edits and incident events (PostgreSQL
    // LISTEN/NOTIFY; SQLite: none).
    let replicas = crate::replicas::spawn(state.kb.clone(), Some(state.incident_bus.clone()));
    let retention = crate::retention::spawn(
        state.kb.store().clone(),
        crate::retention::Policy::from_config(&state.config),
        std::time::Duration::from_secs(3600),
    );
    // Messages to chat and webhooks about this process's incident changes.
    let notifications = crate::notify::spawn(
        state.kb.clone(),
        state.incident_bus.clone(),
        state.links.clone(),
        &state.config.notifications,
    );
    let app = web::app(state.clone());
    let served = web::serve(listener, app, state.clone(), web::shutdown_signal()).await;
    replicas.stop().await;
    retention.stop().await;
    notifications.stop().await;
    served?;
    // Every acknowledged write is committed; closing checkpoints SQLite's
    // write-ahead log so the file stands alone.
    state.kb.store().close().await;
    tracing::info!("stopped");
    Ok(())
}

fn search(kb: &KnowledgeBase, request: SearchRequest, format: Format) -> Result<()> {
    let results = kb.search(&request)?;
    match format {
        Format::Json => {
            let hits: Vec<_> = results
                .hits
                .iter()
                .map(|h| serde_json::json!({"id": h.id, "kind": h.kind, "title": h.title, "score": h.score, "snippet": h.snippet}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "hits": hits }))?
            );
        }
        Format::Text => {
            if results.hits.is_empty() {
                println!("no playbook matched");
            }
            for h in &results.hits {
                let id = if h.is_postmortem() {
                    format!("postmortem {}", h.id)
                } else {
                    h.id.clone()
                };
                println!("{:>6.2}  {:<28} {}", h.score, id, h.title);
            }
        }
    }
    Ok(())
}

async fn import(config: &Config, paths: &[PathBuf], dry_run: bool, format: Format) -> Result<()> {
    let batch = import::import_paths(paths)?;
    let all = &batch.playbooks;
    let postmortems = super::postmortems::read(&batch.postmortems)?;
    let as_json = |all: &[Imported], postmortems: &[crate::core::postmortem::Postmortem]| {
        let mut json = import::dry_run_json(all);
        json["postmortems"] = postmortems
            .iter()
            .map(|p| serde_json::json!({"id": p.meta.id, "title": p.meta.title}))
            .collect();
        json["skipped"] = serde_json::to_value(&batch.skipped).unwrap_or_default();
        json
    };
    if dry_run {
        match format {
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&as_json(all, &postmortems))?
            ),
            Format::Text => {
                print_imported(all, "would import");
                super::postmortems::print(&postmortems, "would import");
                print_skipped(&batch.skipped);
            }
        }
        return Ok(());
    }
    if all.is_empty() && postmortems.is_empty() {
        if format == Format::Text {
            print_skipped(&batch.skipped);
        }
        bail!(
            "no playbooks or postmortems found in {}{}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            match batch.skipped.len() {
                0 => String::new(),
                n => format!(" ({n} file(s) skipped)"),
            }
        );
    }
    let kb = open_kb(config).await?;
    for item in all {
        let id = item.playbook.id();
        if kb.get(id).is_some() && format == Format::Text {
            println!("{id} exists: the import becomes its newest version (history is kept)");
        }
        kb.save(
            &format!("{id}.md"),
            item.playbook.source(),
            Origin::Import,
            None,
            None,
        )
        .await?;
    }
    super::postmortems::import(&kb, &postmortems).await?;
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&as_json(all, &postmortems))?
        ),
        Format::Text => {
            print_imported(all, "imported");
            super::postmortems::print(&postmortems, "imported");
            print_skipped(&batch.skipped);
        }
    }
    Ok(())
}

fn print_imported(items: &[Imported], verb: &str) {
    for item in items {
        println!(
            "{verb} {:<32} {}",
            item.playbook.id(),
            item.playbook.meta.title
        );
        for w in &item.warnings {
            println!("    warning: {w}");
        }
    }
    println!("{} playbook(s)", items.len());
}

fn print_skipped(skipped: &[import::Skipped]) {
    for s in skipped {
        println!("skipped {}: {}", s.file, s.reason);
    }
    if !skipped.is_empty() {
        println!("{} file(s) skipped", skipped.len());
    }
}

async fn export(config: &Config, dir: &std::path::Path) -> Result<()> {
    let kb = open_kb(config).await?;
    let list = kb.list();
    let n = import::export_to_dir(
        dir,
        list.iter()
            .map(|c| (c.playbook.id().to_owned(), c.playbook.source().to_owned())),
    )
    .with_context(|| format!("cannot write to {}", dir.display()))?;
    println!("exported {n} playbook(s) to {}", dir.display());
    let (postmortems, charts) = super::postmortems::export(&kb, dir).await?;
    if postmortems > 0 {
        println!(
            "exported {postmortems} postmortem(s) with {charts} chart(s) to {}",
            dir.join("postmortems").display()
        );
    }
    Ok(())
}

async fn retention_run(config: &Config) -> Result<()> {
    let store = open_store(config).await?;
    let policy = crate::retention::Policy::from_config(config);
    let outcome = crate::retention::run_once(&store, &policy, chrono::Utc::now()).await;
    store.close().await;
    let outcome = outcome?;
    println!(
        "rolled up {} report(s) older than {} day(s); deleted {} older than {} day(s)",
        outcome.rolled_up, config.retention_days, outcome.deleted, config.retention_delete_days
    );
    Ok(())
}

async fn open_store(config: &Config) -> Result<store::DynStore> {
    let url = config.database_url();
    store::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&url)))
}

/// The password from FAULTLINE_PASSWORD, else the first line of stdin.
fn read_password() -> Result<String> {
    if let Ok(p) = std::env::var("FAULTLINE_PASSWORD") {
        return Ok(p);
    }
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprint!("password (input is shown; prefer FAULTLINE_PASSWORD or a pipe): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password: set FAULTLINE_PASSWORD or pipe it on stdin");
    }
    Ok(password)
}

async fn add_user(config: &Config, name: &str, role: store::Role) -> Result<()> {
    let password = read_password()?;
    let store = open_store(config).await?;
    let user = crate::accounts::add_user(&store, name, &password, role, "cli").await;
    store.close().await;
    let user = user?;
    println!("added user {} with role {}", user.name, user.role);
    Ok(())
}

async fn set_password(config: &Config, name: &str) -> Result<()> {
    let password = read_password()?;
    let store = open_store(config).await?;
    let changed = crate::accounts::set_password(&store, name, &password, "cli").await;
    store.close().await;
    match changed {
        Err(crate::accounts::AccountError::Store(store::StoreError::NotFound)) => {
            bail!("there is no user {name:?}")
        }
        other => other?,
    };
    println!("password set for {name}; their sessions have ended");
    Ok(())
}

async fn add_token(config: &Config, name: &str, role: store::Role) -> Result<()> {
    let store = open_store(config).await?;
    let created = crate::accounts::add_api_token(&store, name, role, "cli").await;
    store.close().await;
    let (token, record) = created?;
    eprintln!(
        "API token {} (role {}): shown once, stored only as a hash. Send it as \
         Authorization: Bearer <token>",
        record.name, record.role
    );
    println!("{token}");
    Ok(())
}
