//! Host sockets watched over the collection window rather than read once:
//! states sampled at least once a second (first, min, max, last), the
//! CLOSE_WAIT sockets that stay put from the first sample to the last, and
//! at the end each process's own sockets.
//!
//! A leak in one process then shows whatever the rest of the host does:
//! TIME_WAIT churn belongs to no process, and the same socket still
//! waiting for its close seconds later is not churn.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::time::Instant;

use anyhow::{Result, anyhow};

use super::process_fds::Walked;
use super::tcp_states::{
    CLOSE_WAIT, LISTEN, Sock, SockEntry, Tally, socks, state_name, summarize, top_peers,
};
use crate::report::{ProcessSockets, TcpStates, TcpWindow};

/// Processes listed in `by_process`.
const TOP_PROCESSES: usize = 5;
/// CLOSE_WAIT peers listed per process.
const PEERS_PER_PROCESS: usize = 3;

/// Socket samples folded as they come, keeping only the last in full.
#[derive(Default)]
pub struct Sampler {
    first_at: Option<Instant>,
    last_at: Option<Instant>,
    tried_at: Option<Instant>,
    samples: i64,
    first: Tally,
    min: Tally,
    max: Tally,
    /// CLOSE_WAIT inodes present in every sample so far.
    held: Option<HashSet<u32>>,
    last: Vec<Sock>,
    error: Option<String>,
}

impl Sampler {
    /// Dumps the socket table now and folds it in; a failed dump is
    /// remembered and the samples before and after still count.
    pub fn sample(&mut self) {
        self.sample_from(|| socks().map(|(s, _)| s));
    }

    /// [`Sampler::sample`] with another reader of the socket table (another
    /// network namespace's).
    pub fn sample_from(&mut self, read: impl FnOnce() -> Result<Vec<Sock>>) {
        self.tried_at = Some(Instant::now());
        match read() {
            Ok(s) => self.fold(s, Instant::now()),
            Err(e) => self.error = Some(format!("{e:#}")),
        }
    }

    /// Whether any sample had a TCP socket in it.
    pub fn saw_sockets(&self) -> bool {
        self.max.0.iter().any(|n| *n > 0)
    }

    /// Samples folded so far.
    pub fn samples(&self) -> i64 {
        self.samples
    }

    /// Why the last failed sample failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// When the last sample was tried (taken or failed).
    pub fn tried_at(&self) -> Option<Instant> {
        self.tried_at
    }

    /// Folds one sample taken at `at`.
    pub fn fold(&mut self, socks: Vec<Sock>, at: Instant) {
        let mut tally = Tally::default();
        let mut waiting = HashSet::new();
        for s in &socks {
            if tally.add(s.state) == Some(CLOSE_WAIT) && s.inode != 0 {
                waiting.insert(s.inode);
            }
        }
        if self.samples == 0 {
            (self.first, self.min, self.max) = (tally, tally, tally);
            self.first_at = Some(at);
        }
        for i in 0..tally.0.len() {
            self.min.0[i] = self.min.0[i].min(tally.0[i]);
            self.max.0[i] = self.max.0[i].max(tally.0[i]);
        }
        self.held = Some(match self.held.take() {
            None => waiting,
            Some(held) => held.intersection(&waiting).copied().collect(),
        });
        self.samples += 1;
        self.last_at = Some(at);
        self.last = socks;
    }

    /// The observation: the last sample's counts and peers, the window
    /// (from two samples on), and the processes holding the sockets.
    pub fn finish(self, owners: &[Walked]) -> Result<TcpStates> {
        if self.samples == 0 {
            return Err(anyhow!(
                self.error.unwrap_or_else(|| "no socket sample".into())
            ));
        }
        let entries: Vec<_> = self.last.iter().map(Sock::entry).collect();
        let mut states = summarize(&entries);
        states.by_process = by_process(&self.last, owners);
        if self.samples >= 2 {
            states.window = Some(self.window());
        }
        Ok(states)
    }

    fn window(&self) -> TcpWindow {
        let seconds = match (self.first_at, self.last_at) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        // min and max name every state seen in any sample, zeros included.
        let seen = |t: &Tally| -> BTreeMap<String, i64> {
            (1..=11u8)
                .filter(|s| self.max.get(*s) > 0)
                .filter_map(|s| Some((state_name(s)?.to_string(), t.get(s))))
                .collect()
        };
        let held = self.held.as_ref().map_or(0, HashSet::len) as i64;
        TcpWindow {
            samples: self.samples,
            seconds,
            first: self.first.counts(),
            min: seen(&self.min),
            max: seen(&self.max),
            persistent: [("CLOSE_WAIT".to_string(), held)].into(),
        }
    }
}

/// Each process's sockets by state, the ones holding the most CLOSE_WAIT
/// first (then the most sockets). A socket two processes share (after a
/// fork) counts for both: each of them holds it open.
fn by_process(socks: &[Sock], owners: &[Walked]) -> Vec<ProcessSockets> {
    let by_inode: HashMap<u32, &Sock> = socks
        .iter()
        .filter(|s| s.inode != 0)
        .map(|s| (s.inode, s))
        .collect();
    rank_processes(owners.iter().map(|w| {
        let held = w
            .socket_inodes
            .iter()
            .filter_map(|i| by_inode.get(i))
            .map(|s| s.entry());
        (w.fd.pid, w.fd.name.as_str(), held.collect())
    }))
}

/// `by_process` from each process's own TCP sockets (pid, name, sockets):
/// the 5 holding the most CLOSE_WAIT first, then the most sockets other
/// than listeners, each with its counts and its top 3 CLOSE_WAIT peers.
/// Processes holding no TCP socket are left out. The probe ties sockets to
/// processes by inode; a pasted `ss -tanp` names them on each line.
pub fn rank_processes<'a>(
    held: impl IntoIterator<Item = (u32, &'a str, Vec<SockEntry>)>,
) -> Vec<ProcessSockets> {
    let mut held: Vec<Holding<'a>> = held
        .into_iter()
        .filter_map(|(pid, name, socks)| Holding::of(pid, name, &socks))
        .collect();
    held.sort_by_key(|h| {
        (
            std::cmp::Reverse(h.tally.get(CLOSE_WAIT)),
            std::cmp::Reverse(h.busy()),
            h.pid,
        )
    });
    held.into_iter()
        .take(TOP_PROCESSES)
        .map(|h| ProcessSockets {
            pid: h.pid,
            name: h.name.to_owned(),
            counts: h.tally.counts(),
            by_peer: top_peers(h.peers, PEERS_PER_PROCESS),
        })
        .collect()
}

/// The TCP sockets one process holds, and the peers of its CLOSE_WAIT ones.
struct Holding<'a> {
    pid: u32,
    name: &'a str,
    tally: Tally,
    peers: HashMap<(u8, IpAddr), i64>,
}

impl<'a> Holding<'a> {
    /// None when it holds no TCP socket.
    fn of(pid: u32, name: &'a str, socks: &[SockEntry]) -> Option<Holding<'a>> {
        let mut tally = Tally::default();
        let mut peers = HashMap::new();
        for &(state, peer) in socks {
            if tally.add(state) == Some(CLOSE_WAIT) {
                *peers.entry((CLOSE_WAIT, peer.to_canonical())).or_default() += 1;
            }
        }
        (tally.0.iter().sum::<i64>() > 0).then_some(Holding {
            pid,
            name,
            tally,
            peers,
        })
    }

    /// Its sockets other than listeners.
    fn busy(&self) -> i64 {
        self.tally.0.iter().sum::<i64>() - self.tally.get(LISTEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ProcessFd;

    fn sock(state: u8, peer: &str, inode: u32) -> Sock {
        Sock {
            state,
            peer: peer.parse().unwrap(),
            inode,
        }
    }

    fn owner(pid: u32, name: &str, inodes: &[u32]) -> Walked {
        Walked {
            fd: ProcessFd {
                pid,
                name: name.into(),
                open_fds: inodes.len() as i64,
                fd_limit: Some(1024),
                sockets: inodes.len() as i64,
            },
            socket_inodes: inodes.to_vec(),
        }
    }

    #[test]
    fn held_close_waits_persist_while_churn_does_not() {
        let t0 = Instant::now();
        let mut s = Sampler::default();
        // Two leaked sockets stay; a third CLOSE_WAIT is closed and another
        // opens (churn); TIME_WAIT comes and goes with no inode.
        s.fold(
            vec![
                sock(8, "10.0.0.9", 11),
                sock(8, "10.0.0.9", 12),
                sock(8, "10.0.0.7", 13),
                sock(6, "10.0.0.5", 0),
                sock(1, "10.0.0.5", 20),
            ],
            t0,
        );
        s.fold(
            vec![
                sock(8, "10.0.0.9", 11),
                sock(8, "10.0.0.9", 12),
                sock(8, "10.0.0.7", 14),
                sock(1, "10.0.0.5", 20),
            ],
            t0 + std::time::Duration::from_secs(1),
        );
        let owners = [
            owner(40, "leaky", &[11, 12, 14, 20]),
            owner(41, "idle", &[]),
        ];
        let t = s.finish(&owners).unwrap();
        let w = t.window.as_ref().unwrap();
        assert_eq!(w.samples, 2);
        assert_eq!(w.persistent["CLOSE_WAIT"], 2);
        assert_eq!(
            (w.first["TIME_WAIT"], w.min["TIME_WAIT"], w.max["TIME_WAIT"]),
            (1, 0, 1)
        );
        assert!((w.seconds - 1.0).abs() < 1e-9);
        assert_eq!(t.counts["CLOSE_WAIT"], 3, "counts are the last sample");
        assert_eq!(
            t.by_process.len(),
            1,
            "a process without TCP sockets is left out"
        );
        let p = &t.by_process[0];
        assert_eq!(
            (p.pid, p.counts["CLOSE_WAIT"], p.counts["ESTABLISHED"]),
            (40, 3, 1)
        );
        assert_eq!(
            (p.by_peer[0].peer.as_str(), p.by_peer[0].count),
            ("10.0.0.9", 2)
        );
    }

    #[test]
    fn one_sample_has_no_window_and_no_sample_is_an_error() {
        let mut s = Sampler::default();
        s.fold(vec![sock(1, "10.0.0.5", 3)], Instant::now());
        assert!(s.finish(&[]).unwrap().window.is_none());
        assert!(Sampler::default().finish(&[]).is_err());
    }
}
