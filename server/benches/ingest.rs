//! Ingest throughput: durable reports per second and latency through the
//! real router and a real socket, against a bare axum handler that reads the
//! body and answers without doing any work, measured in the same run on the
//! same machine. Printed as a table; the last column is the ratio.
//!
//! `cargo bench -p faultline --bench ingest`. Environment:
//! `FAULTLINE_BENCH_SECONDS` (per run, default 5), `FAULTLINE_BENCH_CONCURRENCY`
//! (comma-separated, default `1,8`), `FAULTLINE_TEST_POSTGRES` (admin URL; the
//! PostgreSQL rows are skipped when it cannot be reached).

use std::sync::Arc;
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

const FIXTURE: &str = include_str!("../tests/fixtures/reports/node-5.json");
const FIXTURE_ID: &str = "0b6f4b3e-5f0c-4c41-9a53-3f0f5a1c2d11";
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

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

/// `concurrency` clients send fresh reports back to back for `duration`.
async fn load(url: &str, token: &str, concurrency: usize, duration: Duration) -> Stats {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
            tokio::spawn(async move {
                let (mut ok, mut failed, mut latencies) = (0, 0, Vec::new());
                while Instant::now() < deadline {
                    let body = FIXTURE.replace(FIXTURE_ID, &uuid::Uuid::new_v4().to_string());
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
                        }
                        Ok(r) => {
                            if failed == 0 {
                                eprintln!("  first failure: HTTP {}", r.status());
                            }
                            failed += 1;
                        }
                        Err(e) => {
                            if failed == 0 {
                                eprintln!("  first failure: {e}");
                            }
                            failed += 1;
                        }
                    }
                }
                (ok, failed, latencies)
            })
        })
        .collect();
    let mut stats = Stats {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for w in workers {
        let (ok, failed, latencies) = w.await.expect("worker");
        stats.ok += ok;
        stats.failed += failed;
        stats.latencies.extend(latencies);
    }
    stats.elapsed = started.elapsed();
    stats
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

/// The real server on a loopback port; returns its URL, a collector token,
/// the state (to count what was stored) and the stop switch.
async fn faultline_server(
    database_url: &str,
) -> (String, String, AppState, tokio::sync::oneshot::Sender<Stop>) {
    let store = faultline::store::connect(database_url)
        .await
        .expect("open the store");
    let kb: Arc<KnowledgeBase> = KnowledgeBase::open(store).await.expect("knowledge base");
    let mut config = Config::default();
    // Measure the ingest path, not the per-collector rate limit.
    config.security.ingest_token_burst = u32::MAX / 2;
    config.security.ingest_token_per_s = 1_000_000;
    let state = AppState::new(kb, config);
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
    (format!("http://{addr}/api/v1/reports"), token, state, stop)
}

fn row(name: &str, concurrency: usize, s: &Stats, bare: Option<&Stats>) {
    let ratio = bare.map_or_else(
        || "1 (baseline)".to_owned(),
        |b| format!("{:.3}", s.per_second() / b.per_second()),
    );
    println!(
        "{name:<22} {concurrency:>4} {:>11.0} {:>9.2} {:>9.2} {:>7} {:>14}",
        s.per_second(),
        s.percentile_ms(50.0),
        s.percentile_ms(99.0),
        s.failed,
        ratio
    );
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

async fn run() {
    let seconds: u64 = std::env::var("FAULTLINE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let duration = Duration::from_secs(seconds);
    let levels: Vec<usize> = std::env::var("FAULTLINE_BENCH_CONCURRENCY")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8]);

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite_url = faultline::store::sqlite_url(dir.path());
    let postgres = postgres_database().await;

    let bare = bare_server().await;
    let (sqlite, sqlite_token, sqlite_state, sqlite_stop) = faultline_server(&sqlite_url).await;
    let pg = match &postgres {
        Some((_, url)) => Some(faultline_server(url).await),
        None => None,
    };

    println!(
        "ingest: {seconds} s per run, report {} bytes, {} CPUs; reports are durable before the 2xx \
         (SQLite WAL + synchronous=FULL; PostgreSQL synchronous_commit=on)",
        FIXTURE.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<22} {:>4} {:>11} {:>9} {:>9} {:>7} {:>14}",
        "target", "conc", "reports/s", "p50 ms", "p99 ms", "failed", "vs bare axum"
    );
    for &c in &levels {
        let base = load(&bare, "flc_unused", c, duration).await;
        row("bare axum handler", c, &base, None);
        let s = load(&sqlite, &sqlite_token, c, duration).await;
        row("faultline + SQLite", c, &s, Some(&base));
        if let Some((url, token, _, _)) = &pg {
            let s = load(url, token, c, duration).await;
            row("faultline + PostgreSQL", c, &s, Some(&base));
        }
    }
    if postgres.is_none() {
        println!("(PostgreSQL not reachable: its rows are skipped)");
    }

    // Every acknowledged report is in the store.
    let stored = sqlite_state
        .kb
        .store()
        .recent_reports(None, faultline::store::MAX_LIST)
        .await
        .map(|r| r.len())
        .unwrap_or(0);
    println!(
        "SQLite store holds at least {stored} reports (listing capped at {})",
        faultline::store::MAX_LIST
    );

    let _ = sqlite_stop.send(Stop::Interrupt);
    if let Some((_, _, state, stop)) = pg {
        let _ = stop.send(Stop::Interrupt);
        tokio::time::sleep(Duration::from_millis(200)).await;
        state.kb.store().close().await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlite_state.kb.store().close().await;
    if let Some((admin, url)) = &postgres {
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
