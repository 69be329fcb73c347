//! A deadline on every HTTP/1 request head, at the socket.
//!
//! hyper times the wait for a request's headers with one clock that starts
//! when the connection is ready for the next request, so the same setting is
//! both the idle keep-alive (which must outlast a proxy's 60 s) and the
//! header-read timeout (which must be short, or slowloris clients trickling
//! headers hold connections for minutes). And hyper-util's HTTP/1-or-2
//! detection waits for a first byte with no deadline at all: a socket that
//! never speaks stays open for ever.
//!
//! This wrapper watches the bytes: from a connection's start, and from the
//! first byte of each later request, the head (up to its blank line) must
//! arrive within `timeout`, or reads fail and hyper closes the connection.
//! While idle between requests it sets no deadline: hyper's keep-alive does.
//! HTTP/2 (prior knowledge) is left to hyper after its preface.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The start of the HTTP/2 connection preface.
const H2_PREFACE: &[u8] = b"PRI ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a head; `newlines` counts line ends in a row (`\r` aside),
    /// and two end it. `fresh`: nothing read yet on this connection.
    Head { newlines: u8, fresh: bool },
    /// The head is in: the body and the handler are timed elsewhere.
    Open,
    /// A response went out; the next byte starts a new head.
    Idle,
    /// HTTP/2: hyper's own keep-alive pings and limits apply.
    Off,
}

/// A connection whose request heads must arrive in time.
pub struct HeadDeadline<S> {
    inner: S,
    timeout: Duration,
    state: State,
    deadline: Pin<Box<Sleep>>,
}

impl<S> HeadDeadline<S> {
    pub fn new(inner: S, timeout: Duration) -> HeadDeadline<S> {
        HeadDeadline {
            inner,
            timeout,
            state: State::Head {
                newlines: 0,
                fresh: true,
            },
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    /// Follows the bytes just read through the state machine.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.state == State::Idle {
            self.deadline.as_mut().reset(Instant::now() + self.timeout);
            self.state = State::Head {
                newlines: 0,
                fresh: false,
            };
        }
        let State::Head {
            mut newlines,
            fresh,
        } = self.state
        else {
            return;
        };
        if fresh && bytes.starts_with(H2_PREFACE) {
            self.state = State::Off;
            return;
        }
        for &b in bytes {
            match b {
                b'\n' => newlines += 1,
                b'\r' => {}
                _ => newlines = 0,
            }
            if newlines == 2 {
                self.state = State::Open;
                return;
            }
        }
        self.state = State::Head {
            newlines,
            fresh: false,
        };
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeadDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if matches!(this.state, State::Head { .. }) && this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no complete request head within {} s",
                    this.timeout.as_secs_f32()
                ),
            )));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.saw(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<S> HeadDeadline<S> {
    /// A response is going out: the next byte read starts a new head. An
    /// interim `100 Continue` is not a response: the body follows it.
    fn wrote(&mut self, first: &[u8]) {
        if !first.is_empty() && self.state != State::Off && !first.starts_with(b"HTTP/1.1 100 ") {
            self.state = State::Idle;
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.wrote(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        this.wrote(&first[..first.len().min(n)]);
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    #[tokio::test]
    async fn heads_must_arrive_in_time_but_idle_keep_alive_is_not_timed() {
        let timeout = Duration::from_millis(200);
        let (mut client, server) = duplex(1024);
        let mut conn = HeadDeadline::new(server, timeout);
        let mut buf = [0u8; 256];

        // A head in two pieces, within the deadline.
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n")
            .await
            .unwrap();
        assert!(conn.read(&mut buf).await.unwrap() > 0);
        client.write_all(b"\r\n").await.unwrap();
        assert_eq!(conn.read(&mut buf).await.unwrap(), 2);
        assert_eq!(conn.state, State::Open);
        conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(conn.state, State::Open, "the body follows a 100 Continue");
        conn.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        assert_eq!(conn.state, State::Idle);

        // Idle past the deadline: still fine (keep-alive is hyper's).
        tokio::time::sleep(timeout * 2).await;
        client.write_all(b"GET /b HTTP/1.1\r\n").await.unwrap();
        assert!(conn.read(&mut buf).await.unwrap() > 0);
        // The second head never ends: the read fails at the deadline.
        let started = std::time::Instant::now();
        let err = conn.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < timeout * 3, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_silent_connection_times_out_and_http2_is_left_alone() {
        let timeout = Duration::from_millis(100);
        let (_client, server) = duplex(64);
        let mut conn = HeadDeadline::new(server, timeout);
        let err = conn.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);

        let (mut client, server) = duplex(64);
        let mut conn = HeadDeadline::new(server, timeout);
        client.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        assert!(conn.read(&mut [0u8; 64]).await.unwrap() > 0);
        tokio::time::sleep(timeout * 2).await;
        client.write_all(b"x").await.unwrap();
        assert_eq!(conn.read(&mut [0u8; 8]).await.unwrap(), 1);
    }
}
