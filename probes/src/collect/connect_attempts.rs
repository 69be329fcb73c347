//! `connect_attempts`: repeated connects per target, counting refusals and timeouts.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::collect::unix_ms;
use crate::report::{ConnectAttempts, ConnectTarget};

/// How a target is probed.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Connects per target.
    pub attempts: u32,
    /// Pause between connects.
    pub spacing: Duration,
    /// Connect timeout.
    pub timeout: Duration,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            attempts: 5,
            spacing: Duration::from_millis(200),
            timeout: Duration::from_secs(2),
        }
    }
}

/// Probes one target.
pub fn probe(target: &str, plan: Plan) -> Result<ConnectTarget> {
    let addr = resolve(target)?;
    let mut t = ConnectTarget {
        addr: target.to_string(),
        attempts: 0,
        ok: 0,
        refused: 0,
        timeout: 0,
        refused_at: vec![],
    };
    for i in 0..plan.attempts {
        if i > 0 {
            thread::sleep(plan.spacing);
        }
        t.attempts += 1;
        match TcpStream::connect_timeout(&addr, plan.timeout) {
            Ok(_) => t.ok += 1,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                t.refused += 1;
                t.refused_at.push(unix_ms());
            }
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                t.timeout += 1
            }
            // Unreachable networks and the like: neither refused nor timed out.
            Err(_) => {}
        }
    }
    Ok(t)
}

/// Probes every target in parallel.
pub fn collect(targets: &[String], plan: Plan) -> Result<ConnectAttempts> {
    let results: Vec<Result<ConnectTarget>> = thread::scope(|s| {
        let handles: Vec<_> = targets
            .iter()
            .map(|t| s.spawn(move || probe(t, plan)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| anyhow::bail!("probe thread panicked"))
            })
            .collect()
    });
    Ok(ConnectAttempts {
        targets: results.into_iter().collect::<Result<_>>()?,
    })
}

/// First address of `host:port`.
pub fn resolve(target: &str) -> Result<SocketAddr> {
    target
        .to_socket_addrs()
        .with_context(|| format!("resolving {target} (expected HOST:PORT)"))?
        .next()
        .with_context(|| format!("{target} resolved to no address"))
}
