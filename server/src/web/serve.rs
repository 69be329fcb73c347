//! Serving with the timeouts `axum::serve` lacks, and a graceful drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;
use tracing::{info, warn};

use super::AppState;
use super::head_deadline::HeadDeadline;
use super::peers::Peers;

/// How the server was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM from an orchestrator: fail readiness first, then drain.
    Terminate,
    /// Ctrl-C at a terminal: drain at once.
    Interrupt,
}

/// Waits for SIGTERM or Ctrl-C.
pub async fn shutdown_signal() -> Stop {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
            let _ = tokio::signal::ctrl_c().await;
            return Stop::Interrupt;
        }
    };
    tokio::select! {
        _ = term.recv() => Stop::Terminate,
        _ = tokio::signal::ctrl_c() => Stop::Interrupt,
    }
}

/// Serves `app` on `listener` until `stop` resolves, then drains: readiness
/// fails for `drain_delay_s` (on SIGTERM), the listener closes, and in-flight
/// requests get `shutdown_grace_s` to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: AppState,
    stop: impl Future<Output = Stop>,
) -> std::io::Result<()> {
    let config = state.config.clone();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(config.keepalive_idle());
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let graceful = GracefulShutdown::new();
    // At most `max_connections` open at once: at the cap we stop accepting
    // until one closes, and the kernel's backlog holds the newcomers.
    let slots = Arc::new(Semaphore::new(config.security.max_connections.max(1)));
    let peers = Peers::new(
        config.security.max_connections_per_address,
        config.security.trusted_proxies.clone(),
    );
    let conns = Conns {
        builder,
        app,
        graceful,
        peers,
        head_timeout: config.header_read_timeout(),
    };
    tokio::pin!(stop);

    let how = loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            how = &mut stop => break how,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                conns.spawn(stream, peer, slot);
            }
            how = &mut stop => break how,
        }
    };

    state.draining.store(true, Ordering::SeqCst);
    // Live incident streams end now; their pages reconnect elsewhere.
    state.incident_bus.close();
    if how == Stop::Terminate && config.drain_delay_s > 0 {
        info!(
            seconds = config.drain_delay_s,
            "draining: readiness fails, still serving"
        );
        let delay = tokio::time::sleep(Duration::from_secs(config.drain_delay_s));
        tokio::pin!(delay);
        // Keep accepting during the delay: clients that have not yet seen
        // readiness fail must not get connection refused.
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    if let Ok((stream, peer)) = accepted {
                        // At the cap, close at once rather than queue: we are leaving.
                        if let Ok(slot) = slots.clone().try_acquire_owned() {
                            conns.spawn(stream, peer, slot);
                        }
                    }
                }
                _ = &mut delay => break,
            }
        }
    }
    drop(listener);
    info!("listener closed; waiting for in-flight requests");
    let grace = Duration::from_secs(config.shutdown_grace_s);
    if tokio::time::timeout(grace, conns.graceful.shutdown())
        .await
        .is_err()
    {
        warn!(
            seconds = config.shutdown_grace_s,
            "in-flight requests did not finish in time"
        );
    }
    Ok(())
}

/// What every connection is served with.
struct Conns {
    builder: auto::Builder<TokioExecutor>,
    app: Router,
    graceful: GracefulShutdown,
    peers: Arc<Peers>,
    /// A request head (and a new connection's first) must arrive this fast.
    head_timeout: Duration,
}

/// Sent to a connection over its address's cap, before closing it.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
                      Connection: close\r\nContent-Length: 0\r\n\r\n";

impl Conns {
    fn spawn(&self, stream: tokio::net::TcpStream, peer: SocketAddr, slot: OwnedSemaphorePermit) {
        let Some(place) = self.peers.admit(peer.ip()) else {
            // Best effort, never waiting: the socket closes when dropped.
            let _ = stream.try_write(BUSY);
            tracing::debug!(%peer, "connection refused: too many from this address");
            return;
        };
        let _ = stream.set_nodelay(true);
        // Handlers see the client's address (login rate limits per address).
        let service = TowerToHyperService::new(self.app.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            },
        ));
        let io = TokioIo::new(HeadDeadline::new(stream, self.head_timeout));
        let conn = self.builder.serve_connection_with_upgrades(io, service);
        let conn = self.graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop((slot, place));
        });
    }
}
