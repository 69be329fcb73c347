//! Ingest throughput: durable reports per second and latency through the
//! real router and a real socket, against a bare axum handler that reads the
//! body and answers without doing any work, measured in the same run on the
//! same machine. Printed as a table with ratios against three baselines of
//! the same run: the bare handler, the disk's fsync rate (reports per
//! fsync: above 1 only when commits are grouped) and the CPU ceiling
//! (this machine's cores divided by the CPU cost of parsing and diagnosing
//! one report). "one commit per write" rows run the same server with
//! `ingest_batch_max = 1`: each report in its own transaction, as before
//! group commit.
//!
//! Two reports: the small `node-5` fixture and a realistic one, a full
//! `collect` from a busy host (`tests/fixtures/lab/saturation.json`).
//!
//! Last, the durability check: the real binary under 32 clients is killed
//! (SIGKILL) mid-run and every acknowledged report is looked up afterwards.
//!
//! `cargo bench -p faultline --bench ingest`. Environment:
//! `FAULTLINE_BENCH_SECONDS` (per run, default 5), `FAULTLINE_BENCH_CONCURRENCY`
//! (comma-separated, default `1,8,32,128`), `FAULTLINE_TEST_POSTGRES` (admin
//! URL; the PostgreSQL rows are skipped when it cannot be reached).

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::routing::post;
use faultline::config::Config;
use faultline::kb::KnowledgeBase;
use faultline::web::{self, AppState, Stop};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::net::TcpListener;

/// A small report, and a realistic one: a full `collect` from a busy host.
const SMALL: Fixture = Fixture {
    name: "node-5",
    text: include_str!("../tests/fixtures/reports/node-5.json"),
    id: "0b6f4b3e-5f0c-4c41-9a53-3f0f5a1c2d11",
};
const BUSY_HOST: Fixture = Fixture {
    name: "busy host",
    text: include_str!("../tests/fixtures/lab/saturation.json"),
    id: "7e0fbcd0-6943-4e35-8e99-2cce8f3e58a7",
};
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Clone, Copy)]
struct Fixture {
    name: &'static str,
    text: &'static str,
    id: &'static str,
}

impl Fixture {
    fn fresh(&self) -> (uuid::Uuid, String) {
        let id = uuid::Uuid::new_v4();
        (id, self.text.replace(self.id, &id.to_string()))
    }
}

struct Stats {
    ok: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let mut v = self.latencies.clone();
        v.sort_unstable();
        let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
        v[rank.min(v.len()) - 1].as_secs_f64() * 1000.0
    }
}

fn client(concurrency: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// `concurrency` clients send fresh reports back to back for `duration`
/// (or until `stop`); the ids acknowledged with a 2xx are collected.
async fn load(
    url: &str,
    token: &str,
    fixture: Fixture,
    concurrency: usize,
    duration: Duration,
    stop: Option<Arc<AtomicBool>>,
) -> (Stats, Vec<uuid::Uuid>) {
    let client = client(concurrency);
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
            let stop = stop.clone();
            tokio::spawn(async move {
                let (mut ok, mut failed, mut latencies, mut acked) = (0, 0, Vec::new(), Vec::new());
                while Instant::now() < deadline
                    && !stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
                {
                    let (id, body) = fixture.fresh();
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(body)
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            ok += 1;
                            latencies.push(sent.elapsed());
                            acked.push(id);
                        }
                        Ok(r) => {
                            if failed == 0 && stop.is_none() {
                                eprintln!("  first failure: HTTP {}", r.status());
                            }
                            failed += 1;
                        }
                        Err(e) => {
                            if failed == 0 && stop.is_none() {
                                eprintln!("  first failure: {e}");
                            }
                            failed += 1;
                            if stop.is_some() {
                                break; // the server is gone
                            }
                        }
                    }
                }
                (ok, failed, latencies, acked)
            })
        })
        .collect();
    let mut stats = Stats {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    let mut all_acked = Vec::new();
    for w in workers {
        let (ok, failed, latencies, acked) = w.await.expect("worker");
        stats.ok += ok;
        stats.failed += failed;
        stats.latencies.extend(latencies);
        all_acked.extend(acked);
    }
    stats.elapsed = started.elapsed();
    (stats, all_acked)
}

/// A handler that does no work: reads the body, answers 201.
async fn bare_server() -> String {
    let app = Router::new().route(
        "/api/v1/reports",
        post(|body: Bytes| async move {
            std::hint::black_box(body);
            (
                StatusCode::CREATED,
                [(header::CONTENT_TYPE, "application/json")],
                "{}",
            )
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/api/v1/reports")
}

/// The real server on a loopback port.
struct Server {
    url: String,
    token: String,
    state: AppState,
    stop: tokio::sync::oneshot::Sender<Stop>,
}

/// Measure the ingest path, not the per-collector rate limit.
fn bench_config(batch_max: usize) -> Config {
    let mut config = Config::default();
    config.security.ingest_token_burst = u32::MAX / 2;
    config.security.ingest_token_per_s = 1_000_000;
    config.ingest_batch_max = batch_max;
    config
}

async fn faultline_server(database_url: &str, batch_max: usize) -> Server {
    let store = faultline::store::connect(database_url)
        .await
        .expect("open the store");
    let kb: Arc<KnowledgeBase> = KnowledgeBase::open(store).await.expect("knowledge base");
    let state = AppState::new(kb, bench_config(batch_max));
    let (_, token) = faultline::ingest::add_collector(
        state.kb.store(),
        &format!("bench-{}", uuid::Uuid::new_v4().simple()),
        &Default::default(),
    )
    .await
    .expect("collector");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let served = state.clone();
    tokio::spawn(async move {
        let app = web::app(served.clone());
        let _ = web::serve(listener, app, served, async {
            stopped.await.unwrap_or(Stop::Interrupt)
        })
        .await;
    });
    Server {
        url: format!("http://{addr}/api/v1/reports"),
        token,
        state,
        stop,
    }
}

async fn shut_down(server: Server) {
    let _ = server.stop.send(Stop::Interrupt);
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.state.kb.store().close().await;
}

/// The same run's baselines.
struct Baselines {
    /// `write` + `fdatasync` of one small block, per second, in the
    /// directory holding the SQLite database.
    fsync_per_s: f64,
    /// Cores / (CPU seconds of parse + diagnose of one report), per fixture.
    cpu_ceiling: Vec<(&'static str, f64, f64)>,
}

impl Baselines {
    fn ceiling(&self, fixture: &str) -> f64 {
        self.cpu_ceiling
            .iter()
            .find(|(n, _, _)| *n == fixture)
            .map_or(f64::NAN, |(_, _, c)| *c)
    }
}

fn fsync_rate(dir: &std::path::Path) -> f64 {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).expect("fsync probe file");
    let block = [7u8; 4096];
    let started = Instant::now();
    let mut n = 0u32;
    while started.elapsed() < Duration::from_secs(1) {
        file.write_all(&block).expect("write");
        file.sync_data().expect("fdatasync");
        n += 1;
    }
    let rate = f64::from(n) / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(path);
    rate
}

/// CPU time of the calling thread (Linux: the first field of
/// `/proc/thread-self/schedstat`, nanoseconds on a CPU).
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// CPU per report of what a request does besides the store: parse and
/// validate the body, then diagnose it against the built-in playbooks.
fn parse_and_diagnose_cpu(kb: &KnowledgeBase, fixture: Fixture) -> Duration {
    let (_, body) = fixture.fresh();
    let rounds = 200u32;
    // Warm the matcher cache.
    let report = faultline::ingest::parse_report(body.as_bytes()).expect("fixture parses");
    std::hint::black_box(faultline::ingest::diagnosis_for(kb, &report));
    let started = thread_cpu();
    for _ in 0..rounds {
        let report = faultline::ingest::parse_report(body.as_bytes()).expect("fixture parses");
        std::hint::black_box(faultline::ingest::diagnosis_for(kb, &report));
    }
    (thread_cpu() - started) / rounds
}

#[allow(clippy::too_many_arguments)]
fn row(
    name: &str,
    fixture: Fixture,
    concurrency: usize,
    s: &Stats,
    bare: Option<&Stats>,
    batch: Option<f64>,
    baselines: &Baselines,
) {
    let ratio = bare.map_or_else(
        || "1 (baseline)".to_owned(),
        |b| format!("{:.3}", s.per_second() / b.per_second()),
    );
    let (per_fsync, of_cpu, batch) = if bare.is_some() {
        (
            format!("{:.2}", s.per_second() / baselines.fsync_per_s),
            format!(
                "{:.0}%",
                100.0 * s.per_second() / baselines.ceiling(fixture.name)
            ),
            batch.map_or_else(|| "-".to_owned(), |b| format!("{b:.1}")),
        )
    } else {
        ("-".into(), "-".into(), "-".into())
    };
    println!(
        "{name:<30} {:<9} {concurrency:>4} {:>10.0} {:>8.2} {:>8.2} {:>6} {:>6} {:>10} {:>9} {:>11}",
        fixture.name,
        s.per_second(),
        s.percentile_ms(50.0),
        s.percentile_ms(99.0),
        s.failed,
        batch,
        per_fsync,
        of_cpu,
        ratio
    );
}

/// Runs `load` against a server and prints its row, with the mean batch.
async fn measure(
    name: &str,
    server: &Server,
    fixture: Fixture,
    concurrency: usize,
    duration: Duration,
    bare: &Stats,
    baselines: &Baselines,
) -> Stats {
    let before = server.state.report_writer.stats();
    let (s, _) = load(
        &server.url,
        &server.token,
        fixture,
        concurrency,
        duration,
        None,
    )
    .await;
    let after = server.state.report_writer.stats();
    let batches = after.batches - before.batches;
    let batch = (batches > 0).then(|| (after.writes - before.writes) as f64 / batches as f64);
    row(name, fixture, concurrency, &s, Some(bare), batch, baselines);
    s
}

async fn postgres_database() -> Option<(String, String)> {
    let admin =
        std::env::var("FAULTLINE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
    let mut conn = tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(&admin))
        .await
        .ok()?
        .ok()?;
    let name = format!("faultline_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .ok()?;
    let _ = conn.close().await;
    let (base, _) = admin.rsplit_once('/')?;
    let url = format!("{base}/{name}");
    Some((admin, url))
}

async fn drop_database(admin: &str, url: &str) {
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    if let Ok(mut conn) = PgConnection::connect(admin).await {
        let _ = sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
        let _ = conn.close().await;
    }
}

// ---- SIGKILL under load: nothing acknowledged is lost ----------------------------

fn faultline_cmd(config: &std::path::Path, database: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"));
    cmd.arg("--config")
        .arg(config)
        .arg("--database")
        .arg(database);
    for (k, _) in std::env::vars() {
        if k.starts_with("FAULTLINE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "error");
    cmd
}

/// Starts the real binary on `database`, sends with `concurrency` clients,
/// kills it (SIGKILL) halfway through `duration`, then looks every
/// acknowledged report up. Returns (acknowledged, found).
async fn killed_under_load(
    dir: &std::path::Path,
    database: &str,
    concurrency: usize,
    duration: Duration,
) -> Result<(usize, usize), String> {
    let config = dir.join("bench.toml");
    std::fs::write(
        &config,
        "[security]\ningest_token_burst = 1000000000\ningest_token_per_s = 1000000\n",
    )
    .map_err(|e| e.to_string())?;
    let out = faultline_cmd(&config, database)
        .args([
            "collector",
            "add",
            &format!("kill-{}", uuid::Uuid::new_v4().simple()),
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut server = faultline_cmd(&config, database)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{port}");
    let ready = client(1);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = ready.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline || server.try_wait().ok().flatten().is_some() {
            let _ = server.kill();
            return Err("the server did not become ready".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{base}/api/v1/reports");
    let sending = {
        let stop = stop.clone();
        tokio::spawn(async move {
            load(
                &url,
                &token,
                BUSY_HOST,
                concurrency,
                duration * 4,
                Some(stop),
            )
            .await
        })
    };
    tokio::time::sleep(duration / 2).await;
    server.kill().map_err(|e| e.to_string())?; // SIGKILL
    let _ = server.wait();
    stop.store(true, Ordering::SeqCst);
    let (_, acked) = sending.await.map_err(|e| e.to_string())?;
    let store = faultline::store::connect(database)
        .await
        .map_err(|e| e.to_string())?;
    let mut found = HashSet::new();
    for id in &acked {
        if store
            .report(*id)
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
            found.insert(*id);
        }
    }
    store.close().await;
    Ok((acked.len(), found.len()))
}

async fn run() {
    let seconds: u64 = std::env::var("FAULTLINE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let duration = Duration::from_secs(seconds);
    let levels: Vec<usize> = std::env::var("FAULTLINE_BENCH_CONCURRENCY")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 32, 128]);

    let dir = tempfile::tempdir().expect("temp dir");
    let grouped_dir = dir.path().join("grouped");
    let single_dir = dir.path().join("single");
    let postgres = postgres_database().await;
    let single_pg = postgres_database().await;

    let bare = bare_server().await;
    let sqlite = faultline_server(&faultline::store::sqlite_url(&grouped_dir), 256).await;
    let sqlite_single = faultline_server(&faultline::store::sqlite_url(&single_dir), 1).await;
    let pg = match &postgres {
        Some((_, url)) => Some(faultline_server(url, 256).await),
        None => None,
    };
    let pg_single = match &single_pg {
        Some((_, url)) => Some(faultline_server(url, 1).await),
        None => None,
    };

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut cpu_ceiling = Vec::new();
    for fixture in [SMALL, BUSY_HOST] {
        let cpu = parse_and_diagnose_cpu(&sqlite.state.kb, fixture);
        cpu_ceiling.push((
            fixture.name,
            cpu.as_secs_f64(),
            cores as f64 / cpu.as_secs_f64(),
        ));
    }
    let baselines = Baselines {
        fsync_per_s: fsync_rate(dir.path()),
        cpu_ceiling,
    };

    println!(
        "ingest: {seconds} s per run, {cores} CPUs; reports are durable before the 2xx \
         (SQLite WAL + synchronous=FULL; PostgreSQL synchronous_commit=on)"
    );
    println!(
        "baselines of this run: fsync {:.0}/s (write + fdatasync of 4 KiB in the database's \
         directory)",
        baselines.fsync_per_s
    );
    for (name, cpu, ceiling) in &baselines.cpu_ceiling {
        let size = [SMALL, BUSY_HOST]
            .iter()
            .find(|f| f.name == *name)
            .map_or(0, |f| f.text.len());
        println!(
            "  {name} report ({size} bytes): parse + diagnose {:.3} ms CPU -> CPU ceiling \
             {ceiling:.0} reports/s on {cores} CPUs",
            cpu * 1000.0
        );
    }
    println!(
        "{:<30} {:<9} {:>4} {:>10} {:>8} {:>8} {:>6} {:>6} {:>10} {:>9} {:>11}",
        "target",
        "report",
        "conc",
        "reports/s",
        "p50 ms",
        "p99 ms",
        "failed",
        "batch",
        "per fsync",
        "of CPU",
        "vs bare"
    );
    let mut sqlite_rates = Vec::new();
    for fixture in [SMALL, BUSY_HOST] {
        for &c in &levels {
            let (base, _) = load(&bare, "flc_unused", fixture, c, duration, None).await;
            row(
                "bare axum handler",
                fixture,
                c,
                &base,
                None,
                None,
                &baselines,
            );
            if c == 8 || c == 32 {
                let s = measure(
                    "SQLite, one commit per write",
                    &sqlite_single,
                    fixture,
                    c,
                    duration,
                    &base,
                    &baselines,
                )
                .await;
                sqlite_rates.push((
                    fixture.name,
                    c,
                    false,
                    s.per_second(),
                    s.percentile_ms(99.0),
                ));
            }
            let s = measure(
                "SQLite, group commit",
                &sqlite,
                fixture,
                c,
                duration,
                &base,
                &baselines,
            )
            .await;
            sqlite_rates.push((fixture.name, c, true, s.per_second(), s.percentile_ms(99.0)));
            if let Some(server) = &pg_single
                && (c == 8 || c == 32)
            {
                measure(
                    "PostgreSQL, one commit/write",
                    server,
                    fixture,
                    c,
                    duration,
                    &base,
                    &baselines,
                )
                .await;
            }
            if let Some(server) = &pg {
                measure(
                    "PostgreSQL, group commit",
                    server,
                    fixture,
                    c,
                    duration,
                    &base,
                    &baselines,
                )
                .await;
            }
        }
    }
    if postgres.is_none() {
        println!("(PostgreSQL not reachable: its rows are skipped)");
    }
    for fixture in [SMALL, BUSY_HOST] {
        let find = |c: usize, grouped: bool| {
            sqlite_rates
                .iter()
                .find(|(n, cc, g, _, _)| *n == fixture.name && *cc == c && *g == grouped)
                .map(|(_, _, _, r, p99)| (*r, *p99))
        };
        if let (Some((old, _)), Some((new, p99))) = (find(8, false), find(32, true)) {
            println!(
                "SQLite, {} report: group commit with 32 clients / one commit per write with 8 \
                 clients = {:.1}x (p99 {p99:.1} ms)",
                fixture.name,
                new / old
            );
        }
    }

    // Durability: SIGKILL mid-run; every acknowledged report must be there.
    let kill_dir = dir.path().join("killed");
    let mut targets = vec![("SQLite", faultline::store::sqlite_url(&kill_dir))];
    let kill_pg = postgres_database().await;
    if let Some((_, url)) = &kill_pg {
        targets.push(("PostgreSQL", url.clone()));
    }
    for (name, database) in &targets {
        std::fs::create_dir_all(&kill_dir).expect("kill dir");
        match killed_under_load(&kill_dir, database, 32, duration).await {
            Ok((acked, found)) => println!(
                "SIGKILL under 32 clients ({name}, busy-host reports): {acked} acknowledged, \
                 {found} found afterwards, {} lost",
                acked - found
            ),
            Err(e) => println!("SIGKILL under 32 clients ({name}): not measured: {e}"),
        }
    }

    shut_down(sqlite).await;
    shut_down(sqlite_single).await;
    for server in [pg, pg_single].into_iter().flatten() {
        shut_down(server).await;
    }
    for (admin, url) in [postgres, single_pg, kill_pg].iter().flatten() {
        drop_database(admin, url).await;
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}
