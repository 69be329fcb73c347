//! `process_fds`: open descriptors, RLIMIT_NOFILE and sockets per process.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::report::{Observation, ProcessFd, ProcessFds};

/// Processes listed, busiest first.
pub const TOP: usize = 15;

/// Walks /proc; processes we may not inspect are left out.
pub fn collect() -> Result<Observation> {
    collect_from(Path::new("/proc"), TOP)
}

/// Same as [`collect`] over another procfs root, keeping `top` processes.
pub fn collect_from(proc_root: &Path, top: usize) -> Result<Observation> {
    Ok(observation(&walk(proc_root)?, top))
}

/// One process as /proc shows it: its descriptors, and the inodes of the
/// sockets among them (what ties a socket to the process holding it).
#[derive(Debug, Clone)]
pub struct Walked {
    /// What `process_fds` reports of it.
    pub fd: ProcessFd,
    /// Inodes of its sockets (`/proc/PID/fd/N -> socket:[INODE]`).
    pub socket_inodes: Vec<u32>,
}

/// Every process we may inspect under `proc_root`.
pub fn walk(proc_root: &Path) -> Result<Vec<Walked>> {
    Ok(fs::read_dir(proc_root)
        .with_context(|| format!("listing {}", proc_root.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| process(&proc_root.join(pid.to_string()), pid))
        .collect())
}

/// The `top` processes with the most open descriptors.
pub fn observation(walked: &[Walked], top: usize) -> Observation {
    let mut processes: Vec<ProcessFd> = walked.iter().map(|w| w.fd.clone()).collect();
    processes.sort_by(|a, b| b.open_fds.cmp(&a.open_fds).then(a.pid.cmp(&b.pid)));
    processes.truncate(top);
    ProcessFds { processes }.into()
}

fn process(dir: &Path, pid: u32) -> Option<Walked> {
    let (open_fds, socket_inodes) = read_fds(&dir.join("fd"))?;
    let name = fs::read_to_string(dir.join("comm"))
        .ok()?
        .trim_end()
        .to_string();
    let fd_limit = fs::read_to_string(dir.join("limits"))
        .ok()
        .and_then(|l| soft_nofile(&l));
    Some(Walked {
        fd: ProcessFd {
            pid,
            name,
            open_fds,
            fd_limit,
            sockets: socket_inodes.len() as i64,
        },
        socket_inodes,
    })
}

/// Counts entries of /proc/PID/fd and lists the inodes of its sockets.
fn read_fds(fd_dir: &Path) -> Option<(i64, Vec<u32>)> {
    let mut open = 0;
    let mut sockets = Vec::new();
    for entry in fs::read_dir(fd_dir).ok()?.flatten() {
        open += 1;
        if let Ok(target) = fs::read_link(entry.path())
            && let Some(inode) = socket_inode(target.as_os_str().as_encoded_bytes())
        {
            sockets.push(inode);
        }
    }
    Some((open, sockets))
}

/// `socket:[12345]` → 12345 (0 when the number does not parse).
fn socket_inode(link: &[u8]) -> Option<u32> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    Some(
        std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0),
    )
}

/// Soft "Max open files" from /proc/PID/limits; None when unlimited.
pub fn soft_nofile(limits: &str) -> Option<i64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_line_parses() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
Max processes             63474                63474                processes\n\
Max open files            1024                 524288               files\n";
        assert_eq!(soft_nofile(text), Some(1024));
        assert_eq!(
            soft_nofile("Max open files  unlimited unlimited files\n"),
            None
        );
    }

    #[test]
    fn socket_links_give_their_inode() {
        assert_eq!(socket_inode(b"socket:[48213]"), Some(48213));
        assert_eq!(socket_inode(b"pipe:[48213]"), None);
        assert_eq!(socket_inode(b"socket:[x]"), Some(0));
    }

    #[test]
    fn sees_own_sockets() {
        let listeners: Vec<_> = (0..5)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let Observation::ProcessFds(p) = collect_from(Path::new("/proc"), usize::MAX).unwrap()
        else {
            panic!()
        };
        let me = p
            .processes
            .iter()
            .find(|p| p.pid == std::process::id())
            .expect("own process listed");
        assert!(me.sockets >= 5, "{me:?}");
        assert!(me.open_fds >= me.sockets);
        assert!(me.fd_limit.is_some_and(|l| l > 0));
        drop(listeners);
    }
}
