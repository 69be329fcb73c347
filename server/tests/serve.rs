//! A real server on a loopback port: keep-alive and the SIGTERM drain.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use faultline::config::Config;
use faultline::web::{self, Stop};

/// Sends one keep-alive request on `conn` and returns the status line.
fn request(conn: &mut TcpStream, path: &str) -> String {
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n"
    )
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

async fn start(
    config: Config,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<Stop>,
    tokio::task::JoinHandle<()>,
) {
    let t = common::app_with(config).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let state = t.state.clone();
    let handle = tokio::spawn(async move {
        let _keep = t.dir;
        let app = web::app(state.clone());
        web::serve(listener, app, state, async {
            rx.await.unwrap_or(Stop::Interrupt)
        })
        .await
        .unwrap();
    });
    (addr, tx, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keepalive_connections_live_until_the_configured_timeout() {
    let config = Config {
        keepalive_idle_s: 2,
        ..Config::default()
    };
    let (addr, stop, handle) = start(config).await;
    let result = tokio::task::spawn_blocking(move || {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert!(request(&mut conn, "/healthz").contains("200"));
        std::thread::sleep(Duration::from_millis(1200));
        assert!(
            request(&mut conn, "/healthz").contains("200"),
            "still open after 1.2 s idle"
        );
        let idle_from = Instant::now();
        let mut buf = [0u8; 16];
        let n = conn.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "server closes the idle connection");
        idle_from.elapsed()
    })
    .await
    .unwrap();
    assert!(
        result >= Duration::from_millis(1800),
        "closed too early: {result:?}"
    );
    assert!(
        result < Duration::from_secs(5),
        "closed too late: {result:?}"
    );
    stop.send(Stop::Interrupt).unwrap();
    handle.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_readiness_keeps_serving_then_stops_listening() {
    let config = Config {
        drain_delay_s: 2,
        shutdown_grace_s: 5,
        ..common::anonymous_read_config()
    };
    let (addr, stop, handle) = start(config).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = |p: &str| format!("http://{addr}{p}");
    assert_eq!(
        client.get(url("/readyz")).send().await.unwrap().status(),
        200
    );

    stop.send(Stop::Terminate).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Draining: not ready, but still answering on new connections.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert_eq!(
        fresh.get(url("/readyz")).send().await.unwrap().status(),
        503
    );
    assert_eq!(
        fresh
            .get(url("/api/v1/playbooks"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("server stops after the drain")
        .unwrap();
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    assert!(refused.is_err(), "listener is closed after the drain");
}
