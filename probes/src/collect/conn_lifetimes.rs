//! `conn_lifetimes`: hold idle connections and record how and when each ends.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::collect::connect_attempts::resolve;
use crate::report::{ConnLifetime, ConnLifetimes, EndedBy};

/// Connections held per target.
pub const CONNECTIONS: usize = 3;

/// Holds `count` idle connections to `target` for at most `watch`.
pub fn collect(target: &str, count: usize, watch: Duration) -> Result<ConnLifetimes> {
    let addr = resolve(target)?;
    let streams: Vec<TcpStream> = (0..count)
        .map(|_| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .with_context(|| format!("connecting to {target}"))
        })
        .collect::<Result<_>>()?;
    let connections = thread::scope(|s| {
        let handles: Vec<_> = streams
            .into_iter()
            .map(|st| s.spawn(move || watch_one(st, watch)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or(ConnLifetime {
                    duration_s: 0.0,
                    ended_by: EndedBy::Open,
                })
            })
            .collect()
    });
    Ok(ConnLifetimes {
        target: target.to_string(),
        idle: true,
        connections,
    })
}

/// Reads until the peer ends the connection or the watch is over; sends nothing.
fn watch_one(mut stream: TcpStream, watch: Duration) -> ConnLifetime {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let ended_by = loop {
        let left = watch.saturating_sub(started.elapsed());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break EndedBy::Open;
        }
        match stream.read(&mut buf) {
            Ok(0) => break EndedBy::Fin,
            Ok(_) => continue, // the server spoke (a banner); keep watching
            Err(e) => match e.kind() {
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe => break EndedBy::Rst,
                // SO_RCVTIMEO expiry is EAGAIN: our watch is over.
                ErrorKind::WouldBlock => break EndedBy::Open,
                // ETIMEDOUT: the kernel gave up on the connection (keepalive/retransmits).
                ErrorKind::TimedOut => break EndedBy::Timeout,
                ErrorKind::Interrupted => continue,
                _ => break EndedBy::Rst,
            },
        }
    };
    ConnLifetime {
        duration_s: started.elapsed().as_secs_f64(),
        ended_by,
    }
}
