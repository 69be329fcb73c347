//! Socket states of the network namespaces other than the probe's own. On
//! a Kubernetes node each pod has one, and a pod's sockets are in no table
//! the node's own dump shows: a DaemonSet probe (hostPID) watches each of
//! them beside the node's, each as its own `tcp_states` labelled with its
//! namespace.
//!
//! - Found through `/proc/PID/ns/net` (one namespace per inode, however
//!   many processes are in it) and the names under `/run/netns` (`ip netns
//!   add`), which also keep namespaces no process is in.
//! - Entered with `setns(CLONE_NEWNET)` by a thread of its own, which opens
//!   a sock_diag socket in each namespace and then ends: no other thread of
//!   the probe ever leaves its namespace, and each socket keeps answering
//!   for the namespace it was opened in for the whole window.
//! - Where the probe may not enter (no CAP_SYS_ADMIN), the table is read
//!   from `/proc/PID/net/tcp{,6}` of a process in it, which shows that
//!   process's namespace.
//! - Labelled with the inode, the oldest process in it (in a pod, the
//!   sandbox's pause process), its name under `/run/netns`, and for a pod
//!   its uid (a `kubepods` cgroup path of a process in it), name and
//!   namespace (the containers' `POD_NAME`/`POD_NAMESPACE` or `HOSTNAME`
//!   environment, and the service-account mount). Nothing else is read
//!   from a process's environment.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

use super::SAMPLE_EVERY;
use super::process_fds::Walked;
use super::socket_window::Sampler;
use super::tcp_states::{Sock, SockDiag, read_proc_socks_in};
use crate::report::{NetnsLabel, TcpStates};

/// Namespace tables dumped per second at most, however many namespaces
/// there are. Each dump walks the kernel's whole TCP hash table (shared by
/// every namespace) and costs about a millisecond of kernel time whatever
/// the namespace holds: with more namespaces than this, each is sampled
/// less often than the host (first and last sample always).
pub const DUMPS_PER_SECOND: usize = 25;

/// Processes of a namespace looked at for its pod's labels.
const LABEL_PROCESSES: usize = 32;
/// Namespaces named in the reason when some could not be read.
const NAMED_IN_REASON: usize = 3;

/// A namespace found, and how to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// What the report says of it (`read_via` is set once it is opened).
    pub label: NetnsLabel,
    /// The processes in it, oldest first.
    pub pids: Vec<u32>,
    /// A file that is the namespace: `/proc/PID/ns/net` or `/run/netns/NAME`.
    pub path: PathBuf,
}

/// `net:[4026531840]` → 4026531840.
pub fn parse_ns_link(link: &[u8]) -> Option<u64> {
    std::str::from_utf8(link.strip_prefix(b"net:[")?.strip_suffix(b"]")?)
        .ok()?
        .parse()
        .ok()
}

/// The network namespace inode `/proc/…/ns/net` (a magic link) names.
pub fn ns_inode(link: &Path) -> Result<u64> {
    let target = fs::read_link(link).with_context(|| format!("reading {}", link.display()))?;
    parse_ns_link(target.as_os_str().as_encoded_bytes())
        .with_context(|| format!("{} is not a network namespace link", link.display()))
}

/// The probe's own network namespace (the calling thread's; kernels
/// before 3.17 have no /proc/thread-self, and the process's is the same
/// for every thread but the namespace thread).
pub fn own_inode() -> Result<u64> {
    ns_inode(Path::new("/proc/thread-self/ns/net"))
        .or_else(|_| ns_inode(Path::new("/proc/self/ns/net")))
}

/// Every network namespace but `own` under `proc_root` (by process) and
/// `run_netns` (by name), ordered by inode. Processes whose namespace may
/// not be read (another user's, without CAP_SYS_PTRACE) are left out, as
/// `process_fds` leaves them out.
pub fn discover(proc_root: &Path, run_netns: &Path, own: u64) -> Vec<Found> {
    let mut by_inode: BTreeMap<u64, Vec<(u64, u32)>> = BTreeMap::new();
    for pid in pids(proc_root) {
        let dir = proc_root.join(pid.to_string());
        let Ok(inode) = ns_inode(&dir.join("ns/net")) else {
            continue;
        };
        if inode == own {
            continue;
        }
        let started = fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|s| start_time(&s))
            .unwrap_or(u64::MAX);
        by_inode.entry(inode).or_default().push((started, pid));
    }
    let mut names = named(run_netns, own);
    let mut out: Vec<Found> = by_inode
        .into_iter()
        .map(|(inode, mut procs)| {
            procs.sort_unstable();
            let pids: Vec<u32> = procs.into_iter().map(|(_, pid)| pid).collect();
            let oldest = pids[0];
            let (pod_uid, pod_name, pod_namespace) = pod_of(proc_root, &pids);
            Found {
                label: NetnsLabel {
                    inode,
                    pid: Some(oldest),
                    process: comm(proc_root, oldest),
                    name: names.remove(&inode),
                    pod_uid,
                    pod_name,
                    pod_namespace,
                    read_via: None,
                },
                path: proc_root.join(format!("{oldest}/ns/net")),
                pids,
            }
        })
        .collect();
    out.extend(names.into_iter().map(|(inode, name)| Found {
        path: run_netns.join(&name),
        label: NetnsLabel {
            inode,
            name: Some(name),
            ..NetnsLabel::default()
        },
        pids: Vec::new(),
    }));
    out.sort_by_key(|f| f.label.inode);
    out
}

fn pids(proc_root: &Path) -> Vec<u32> {
    fs::read_dir(proc_root)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Names under /run/netns by namespace inode (each file there is a bind
/// mount of its namespace, so its inode is the namespace's).
fn named(run_netns: &Path, own: u64) -> BTreeMap<u64, String> {
    let Ok(dir) = fs::read_dir(run_netns) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for e in dir.flatten() {
        let (Ok(meta), Ok(name)) = (fs::metadata(e.path()), e.file_name().into_string()) else {
            continue;
        };
        if meta.ino() != own {
            out.entry(meta.ino()).or_insert(name);
        }
    }
    out
}

fn comm(proc_root: &Path, pid: u32) -> Option<String> {
    let c = fs::read_to_string(proc_root.join(format!("{pid}/comm"))).ok()?;
    Some(c.trim_end().to_owned())
}

/// Field 22 of /proc/PID/stat, the start time in clock ticks after boot.
/// The command name (field 2) may hold spaces and parentheses: the fields
/// are counted after its last `)`.
pub fn start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The pod uid in a process's /proc/PID/cgroup, when it is in a pod:
/// `…/kubepods/burstable/pod<uid>/…` (cgroupfs driver) or
/// `…/kubepods-burstable-pod<uid with _ for ->.slice/…` (systemd driver),
/// cgroup v1 or v2. A static pod's uid is 32 hex digits without dashes.
pub fn pod_uid(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        if !path.contains("kubepods") {
            return None;
        }
        path.split('/').find_map(|segment| {
            let segment = segment.strip_suffix(".slice").unwrap_or(segment);
            let (_, uid) = segment.rsplit_once("pod")?;
            let uid = uid.replace('_', "-");
            is_pod_uid(&uid).then_some(uid)
        })
    })
}

fn is_pod_uid(s: &str) -> bool {
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let dashed = s.len() == 36
        && s.split('-').map(str::len).eq([8, 4, 4, 4, 12])
        && hex(&s.replace('-', ""));
    dashed || (s.len() == 32 && hex(s))
}

/// `KEY=value` pairs of a /proc/PID/environ (NUL-separated), only `keys`.
pub fn environ<'a>(raw: &'a [u8], keys: &[&str]) -> Vec<(&'a str, &'a str)> {
    raw.split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok()?.split_once('='))
        .filter(|(k, v)| keys.contains(k) && !v.is_empty())
        .collect()
}

/// Where a pod's containers see their Kubernetes namespace.
const SERVICE_ACCOUNT_NAMESPACE: [&str; 2] = [
    "var/run/secrets/kubernetes.io/serviceaccount/namespace",
    "run/secrets/kubernetes.io/serviceaccount/namespace",
];

/// Uid, name and namespace of the pod whose processes these are: the uid
/// from a cgroup path; the name from `POD_NAME` (the downward API's usual
/// name) or else `HOSTNAME`, which the container runtime sets to the pod's
/// host name (its name, unless the pod sets `spec.hostname` or the name
/// is longer than 63 characters); the namespace from `POD_NAMESPACE` or
/// the service-account mount seen through `/proc/PID/root`. Nothing is
/// looked for outside a pod.
type PodLabels = (Option<String>, Option<String>, Option<String>);

fn pod_of(proc_root: &Path, pids: &[u32]) -> PodLabels {
    let dirs: Vec<PathBuf> = pids
        .iter()
        .take(LABEL_PROCESSES)
        .map(|p| proc_root.join(p.to_string()))
        .collect();
    let uid = dirs.iter().find_map(|d| {
        let cgroup = fs::read_to_string(d.join("cgroup")).ok()?;
        pod_uid(&cgroup)
    });
    if uid.is_none() {
        return (None, None, None);
    }
    let (mut name, mut host, mut namespace) = (None, None, None);
    for d in &dirs {
        if let Ok(raw) = fs::read(d.join("environ")) {
            for (k, v) in environ(&raw, &["POD_NAME", "POD_NAMESPACE", "HOSTNAME"]) {
                let slot = match k {
                    "POD_NAME" => &mut name,
                    "POD_NAMESPACE" => &mut namespace,
                    _ => &mut host,
                };
                slot.get_or_insert_with(|| v.to_owned());
            }
        }
        if namespace.is_none() {
            namespace = SERVICE_ACCOUNT_NAMESPACE.iter().find_map(|f| {
                let ns = fs::read_to_string(d.join("root").join(f)).ok()?;
                let ns = ns.trim();
                (!ns.is_empty()).then(|| ns.to_owned())
            });
        }
        if name.is_some() && namespace.is_some() {
            break;
        }
    }
    (uid, name.or(host), namespace)
}

/// How one namespace's socket table is read.
enum Reader {
    /// A sock_diag socket opened inside it.
    SockDiag(SockDiag),
    /// /proc/PID/net of its processes (the first still in it).
    Proc(Vec<u32>),
}

/// One namespace, sampled over the window.
struct Watched {
    label: NetnsLabel,
    reader: Reader,
    sampler: Sampler,
}

/// Every namespace but the probe's own, watched over the window.
pub struct Namespaces {
    proc_root: PathBuf,
    watched: Vec<Watched>,
    /// Namespaces that could be neither entered nor read through /proc.
    unread: Vec<(NetnsLabel, String)>,
    sampled_at: Option<Instant>,
}

/// A sample a little early still counts as on time (the host's loop wakes
/// at whole seconds, give or take a poll).
const SAMPLE_SLACK: Duration = Duration::from_millis(100);

impl Namespaces {
    /// Finds the namespaces and opens a reader in each: a sock_diag socket
    /// opened from inside it, or else its processes' /proc/PID/net.
    pub fn open(proc_root: &Path, run_netns: &Path) -> Result<Namespaces> {
        let own = own_inode().context("the probe's own network namespace")?;
        Ok(Namespaces::open_found(
            proc_root,
            discover(proc_root, run_netns, own),
        ))
    }

    /// [`Namespaces::open`] over namespaces already found.
    pub fn open_found(proc_root: &Path, found: Vec<Found>) -> Namespaces {
        let entered = enter_all(&found);
        let mut out = Namespaces {
            proc_root: proc_root.to_owned(),
            watched: Vec::new(),
            unread: Vec::new(),
            sampled_at: None,
        };
        for (mut f, entered) in found.into_iter().zip(entered) {
            let reader = match entered {
                Ok(s) => Reader::SockDiag(s),
                Err(_) if !f.pids.is_empty() => Reader::Proc(f.pids),
                Err(e) => {
                    out.unread.push((f.label, format!("{e:#}")));
                    continue;
                }
            };
            f.label.read_via = Some(
                match reader {
                    Reader::SockDiag(_) => "sock_diag",
                    Reader::Proc(_) => "proc",
                }
                .to_owned(),
            );
            out.watched.push(Watched {
                label: f.label,
                reader,
                sampler: Sampler::default(),
            });
        }
        out
    }

    /// How many namespaces are watched.
    pub fn len(&self) -> usize {
        self.watched.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }

    /// How often each namespace is sampled: every [`SAMPLE_EVERY`], or
    /// less often when there are more than [`DUMPS_PER_SECOND`].
    pub fn every(&self) -> Duration {
        let rounds = self.watched.len().div_ceil(DUMPS_PER_SECOND).max(1);
        SAMPLE_EVERY * u32::try_from(rounds).unwrap_or(u32::MAX)
    }

    /// Samples every namespace when [`Namespaces::every`] has passed since
    /// the last time, or when `now_anyway` (the first and last samples).
    pub fn sample_if_due(&mut self, now_anyway: bool) {
        let due = self
            .sampled_at
            .is_none_or(|t| t.elapsed() + SAMPLE_SLACK >= self.every());
        if due || now_anyway {
            self.sample();
        }
    }

    /// Samples every namespace once.
    pub fn sample(&mut self) {
        self.sampled_at = Some(Instant::now());
        let proc_root = &self.proc_root;
        for w in &mut self.watched {
            let (reader, inode) = (&mut w.reader, w.label.inode);
            w.sampler.sample_from(|| read(reader, proc_root, inode));
        }
    }

    /// One `tcp_states` per namespace that had a TCP socket in any sample,
    /// its sockets tied to the processes holding them (`owners`, the whole
    /// host's: socket inodes are unique across namespaces), and why the
    /// namespaces that could not be read were not, if any were not.
    pub fn finish(self, owners: &[Walked]) -> (Vec<TcpStates>, Option<String>) {
        let mut unread = self.unread;
        let mut out = Vec::new();
        for w in self.watched {
            if w.sampler.samples() == 0 {
                let why = w.sampler.error().unwrap_or("no sample").to_owned();
                unread.push((w.label, why));
                continue;
            }
            if !w.sampler.saw_sockets() {
                continue;
            }
            if let Ok(mut t) = w.sampler.finish(owners) {
                t.netns = Some(Box::new(w.label));
                out.push(t);
            }
        }
        (out, unread_reason(&unread))
    }
}

/// One sentence for the namespaces that could not be read.
fn unread_reason(unread: &[(NetnsLabel, String)]) -> Option<String> {
    if unread.is_empty() {
        return None;
    }
    let named: Vec<String> = unread
        .iter()
        .take(NAMED_IN_REASON)
        .map(|(l, why)| format!("{}: {why}", l.describe()))
        .collect();
    let more = unread.len().saturating_sub(NAMED_IN_REASON);
    let more = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    Some(format!(
        "{} other network namespace(s) not read ({}{more})",
        unread.len(),
        named.join("; ")
    ))
}

fn read(reader: &mut Reader, proc_root: &Path, inode: u64) -> Result<Vec<Sock>> {
    match reader {
        Reader::SockDiag(s) => s.dump(),
        Reader::Proc(pids) => {
            // A pid is read only while it is still in the namespace: one
            // that exited may be reused by a process elsewhere.
            while let Some(&pid) = pids.first() {
                let dir = proc_root.join(pid.to_string());
                if ns_inode(&dir.join("ns/net")).ok() == Some(inode) {
                    let socks = read_proc_socks_in(&dir.join("net"))?;
                    // Still there after the read: the table was its.
                    if ns_inode(&dir.join("ns/net")).ok() == Some(inode) {
                        return Ok(socks);
                    }
                }
                pids.remove(0);
            }
            bail!("no process is left in network namespace {inode}")
        }
    }
}

/// Opens a sock_diag socket inside each namespace, from a thread of its
/// own that enters them one after the other and then ends (its namespace
/// goes with it; no other thread ever changes namespace).
fn enter_all(found: &[Found]) -> Vec<Result<SockDiag>> {
    let targets: Vec<(PathBuf, u64)> = found
        .iter()
        .map(|f| (f.path.clone(), f.label.inode))
        .collect();
    let n = targets.len();
    let spawned = thread::Builder::new()
        .name("faultline-netns".into())
        .spawn(move || {
            targets
                .iter()
                .map(|(path, inode)| enter_and_open(path, *inode))
                .collect::<Vec<_>>()
        });
    let joined = spawned
        .map_err(|e| anyhow!("starting the namespace thread: {e}"))
        .and_then(|h| {
            h.join()
                .map_err(|_| anyhow!("the namespace thread panicked"))
        });
    match joined {
        Ok(v) => v,
        Err(e) => (0..n).map(|_| Err(anyhow!("{e:#}"))).collect(),
    }
}

/// Moves the calling thread into the namespace at `path` and opens a
/// sock_diag socket there. Call only from a thread that ends afterwards.
fn enter_and_open(path: &Path, inode: u64) -> Result<SockDiag> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let found = f.metadata().map(|m| m.ino()).unwrap_or(0);
    if found != inode {
        bail!(
            "{} is no longer network namespace {inode} (its process exited)",
            path.display()
        );
    }
    move_into_link_name_space(f.as_fd(), Some(LinkNameSpaceType::Network)).map_err(|e| {
        anyhow!(
            "setns(CLONE_NEWNET) with {}: {e} (entering needs CAP_SYS_ADMIN)",
            path.display()
        )
    })?;
    SockDiag::open()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn ns_links_parse() {
        assert_eq!(parse_ns_link(b"net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link(b"mnt:[4026531840]"), None);
        assert_eq!(parse_ns_link(b"net:[x]"), None);
    }

    #[test]
    fn start_time_is_counted_after_the_command_name() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 0\n";
        assert_eq!(start_time(stat), Some(987654));
        assert_eq!(start_time("1 (x) S 0"), None);
    }

    #[test]
    fn pod_uids_come_from_either_cgroup_driver() {
        let systemd = "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8a7c1b2e_4f3d_4e21_9c6a_0b1d2e3f4a5b.slice/cri-containerd-5f2e.scope\n";
        assert_eq!(
            pod_uid(systemd).as_deref(),
            Some("8a7c1b2e-4f3d-4e21-9c6a-0b1d2e3f4a5b")
        );
        let cgroupfs = "12:memory:/kubepods/besteffort/pod0b1d2e3f-4a5b-4e21-9c6a-8a7c1b2e4f3d/9e8d7c\n\
                        0::/kubepods/besteffort/pod0b1d2e3f-4a5b-4e21-9c6a-8a7c1b2e4f3d/9e8d7c\n";
        assert_eq!(
            pod_uid(cgroupfs).as_deref(),
            Some("0b1d2e3f-4a5b-4e21-9c6a-8a7c1b2e4f3d")
        );
        let guaranteed_static =
            "0::/kubepods.slice/kubepods-pod6e1b8e2b3c4f5a6b7c8d9e0f1a2b3c4d.slice/crio-77.scope\n";
        assert_eq!(
            pod_uid(guaranteed_static).as_deref(),
            Some("6e1b8e2b3c4f5a6b7c8d9e0f1a2b3c4d")
        );
        // Not a pod: a plain service, a docker container, a pod-like word.
        assert_eq!(pod_uid("0::/system.slice/containerd.service\n"), None);
        assert_eq!(
            pod_uid("0::/system.slice/docker-0b1d2e3f4a5b4e219c6a8a7c1b2e4f3d.scope\n"),
            None
        );
        assert_eq!(pod_uid("0::/kubepods.slice/podman.slice\n"), None);
    }

    #[test]
    fn only_the_asked_keys_are_taken_from_the_environment() {
        let raw =
            b"PATH=/bin\0HOSTNAME=api-7d9f\0SECRET=x\0POD_NAMESPACE=\0POD_NAME=api-7d9f-abc\0";
        assert_eq!(
            environ(raw, &["POD_NAME", "POD_NAMESPACE", "HOSTNAME"]),
            [("HOSTNAME", "api-7d9f"), ("POD_NAME", "api-7d9f-abc")]
        );
    }

    /// A /proc with the files discovery reads, for process `pid`.
    fn fake_process(root: &Path, pid: u32, inode: u64, started: u64, comm: &str, cgroup: &str) {
        let dir = root.join(pid.to_string());
        fs::create_dir_all(dir.join("ns")).unwrap();
        symlink(format!("net:[{inode}]"), dir.join("ns/net")).unwrap();
        fs::write(
            dir.join("stat"),
            format!("{pid} ({comm}) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {started} 0 0\n"),
        )
        .unwrap();
        fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        fs::write(dir.join("cgroup"), cgroup).unwrap();
    }

    #[test]
    fn discovery_groups_processes_by_namespace_and_labels_pods() {
        let tmp = tempfile::tempdir().unwrap();
        let proc_root = tmp.path().join("proc");
        let pod_cg = "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod8a7c1b2e_4f3d_4e21_9c6a_0b1d2e3f4a5b.slice/cri-containerd-1.scope\n";
        // The host (own namespace), a pod (pause started first, then the
        // app), and a plain container.
        fake_process(&proc_root, 1, 100, 1, "systemd", "0::/init.scope\n");
        fake_process(&proc_root, 700, 200, 5000, "api", pod_cg);
        fake_process(&proc_root, 650, 200, 4000, "pause", pod_cg);
        fake_process(
            &proc_root,
            900,
            300,
            7000,
            "redis",
            "0::/system.slice/docker-ab.scope\n",
        );
        fs::write(
            proc_root.join("700/environ"),
            b"PATH=/bin\0HOSTNAME=api-7d9f-xk2p\0",
        )
        .unwrap();
        let sa = proc_root.join("700/root/var/run/secrets/kubernetes.io/serviceaccount");
        fs::create_dir_all(&sa).unwrap();
        fs::write(sa.join("namespace"), "shop").unwrap();
        // An unreadable process is left out, not an error.
        fs::create_dir_all(proc_root.join("999")).unwrap();

        let found = discover(&proc_root, &tmp.path().join("no-run-netns"), 100);
        assert_eq!(found.len(), 2, "{found:?}");
        let pod = &found[0];
        assert_eq!(pod.label.inode, 200);
        assert_eq!(pod.pids, [650, 700], "oldest first");
        assert_eq!(
            (pod.label.pid, pod.label.process.as_deref()),
            (Some(650), Some("pause"))
        );
        assert_eq!(pod.path, proc_root.join("650/ns/net"));
        assert_eq!(
            pod.label.pod_uid.as_deref(),
            Some("8a7c1b2e-4f3d-4e21-9c6a-0b1d2e3f4a5b")
        );
        assert_eq!(pod.label.pod_name.as_deref(), Some("api-7d9f-xk2p"));
        assert_eq!(pod.label.pod_namespace.as_deref(), Some("shop"));
        assert_eq!(pod.label.describe(), "pod shop/api-7d9f-xk2p");
        let other = &found[1];
        assert_eq!((other.label.inode, other.label.pid), (300, Some(900)));
        assert_eq!(other.label.pod_uid, None, "not a pod");
        assert_eq!(other.label.describe(), "netns 300 (pid 900 redis)");
    }

    #[test]
    fn pod_name_prefers_the_downward_api() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = "0::/kubepods/burstable/pod0b1d2e3f-4a5b-4e21-9c6a-8a7c1b2e4f3d/c1\n";
        fake_process(tmp.path(), 10, 5, 1, "app", cg);
        fs::write(
            tmp.path().join("10/environ"),
            b"HOSTNAME=custom-host\0POD_NAME=web-0\0POD_NAMESPACE=edge\0",
        )
        .unwrap();
        let (uid, name, ns) = pod_of(tmp.path(), &[10]);
        assert!(uid.is_some());
        assert_eq!(
            (name.as_deref(), ns.as_deref()),
            (Some("web-0"), Some("edge"))
        );
    }

    #[test]
    fn a_namespace_that_cannot_be_entered_or_read_is_named_in_the_reason() {
        let gone = Found {
            label: NetnsLabel {
                inode: 7,
                name: Some("gone".into()),
                ..NetnsLabel::default()
            },
            pids: Vec::new(),
            path: PathBuf::from("/nonexistent/netns/gone"),
        };
        let n = Namespaces::open_found(Path::new("/proc"), vec![gone]);
        assert!(n.is_empty());
        let (obs, why) = n.finish(&[]);
        assert!(obs.is_empty());
        let why = why.expect("a reason");
        assert!(
            why.starts_with(
                "1 other network namespace(s) not read (netns gone: opening /nonexistent"
            ),
            "{why}"
        );
    }

    #[test]
    fn many_namespaces_are_sampled_less_often_than_the_host() {
        let found = |n: u64| -> Vec<Found> {
            (1..=n)
                .map(|i| Found {
                    label: NetnsLabel {
                        inode: i,
                        ..NetnsLabel::default()
                    },
                    // Not enterable: read through this process's /proc.
                    pids: vec![std::process::id()],
                    path: PathBuf::from("/nonexistent"),
                })
                .collect()
        };
        let few = Namespaces::open_found(Path::new("/proc"), found(3));
        assert_eq!(few.every(), SAMPLE_EVERY);
        let many =
            Namespaces::open_found(Path::new("/proc"), found(DUMPS_PER_SECOND as u64 * 2 + 1));
        assert_eq!(many.every(), SAMPLE_EVERY * 3);
    }
}
