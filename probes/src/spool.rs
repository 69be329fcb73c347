//! The on-disk queue of reports waiting for the server.
//!
//! Each report is one file, written atomically (temp file, fsync, rename,
//! fsync of the directory) so a crash leaves either the whole report or
//! nothing. Names start with a nanosecond timestamp, so sorting by name is
//! oldest first. A file is deleted only after the server acknowledged it;
//! since the server dedupes on `report_id`, a resend after a crash is harmless.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::Deserialize;
use uuid::Uuid;

/// Bounds on the spool; past them the oldest reports are dropped first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolLimits {
    /// Most reports kept.
    pub max_files: usize,
    /// Most bytes kept.
    pub max_bytes: u64,
    /// Oldest report kept, seconds.
    pub max_age_s: u64,
}

impl Default for SpoolLimits {
    fn default() -> Self {
        SpoolLimits {
            max_files: 1000,
            max_bytes: 100 * 1024 * 1024,
            max_age_s: 7 * 24 * 3600,
        }
    }
}

/// A spooled report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// When it was spooled (from the file name).
    pub spooled_at: SystemTime,
}

/// A spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    limits: SpoolLimits,
}

const SUFFIX: &str = ".json";
const TMP_PREFIX: &str = ".tmp-";
const DROPPED_FILE: &str = "dropped.count";

impl Spool {
    /// Opens (creating) the directory and removes temp files a crash left behind.
    pub fn open(dir: &Path, limits: SpoolLimits) -> Result<Spool> {
        fs::create_dir_all(dir).with_context(|| format!("creating spool {}", dir.display()))?;
        for e in fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .flatten()
        {
            if e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            limits,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one report durably and returns its path.
    pub fn put(&self, report_id: Uuid, json: &[u8]) -> Result<PathBuf> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let name = format!("{nanos:020}-{report_id}{SUFFIX}");
        let path = self.dir.join(&name);
        write_atomic(&path, json)?;
        Ok(path)
    }

    /// Spooled reports, oldest first.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let mut out: Vec<Entry> = fs::read_dir(&self.dir)
            .with_context(|| format!("listing {}", self.dir.display()))?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.ends_with(SUFFIX) || name.starts_with('.') {
                    return None;
                }
                let nanos: u64 = name.split('-').next()?.parse().ok()?;
                let size = e.metadata().ok()?.len();
                Some(Entry {
                    path: e.path(),
                    size,
                    spooled_at: UNIX_EPOCH + Duration::from_nanos(nanos),
                })
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Deletes an acknowledged report.
    pub fn remove(&self, entry: &Entry) -> Result<()> {
        fs::remove_file(&entry.path)
            .with_context(|| format!("removing {}", entry.path.display()))?;
        sync_dir(&self.dir)
    }

    /// Moves a report the server will never accept (4xx) aside for inspection.
    pub fn reject(&self, entry: &Entry) -> Result<()> {
        let rejected = self.dir.join("rejected");
        fs::create_dir_all(&rejected)?;
        let name = entry
            .path
            .file_name()
            .context("spool entry without a name")?;
        fs::rename(&entry.path, rejected.join(name))
            .with_context(|| format!("moving {} aside", entry.path.display()))?;
        sync_dir(&self.dir)
    }

    /// Drops the oldest reports until the limits hold; returns how many were dropped.
    pub fn enforce_limits(&self) -> Result<usize> {
        let entries = self.entries()?;
        let now = SystemTime::now();
        let max_age = Duration::from_secs(self.limits.max_age_s);
        let mut total: u64 = entries.iter().map(|e| e.size).sum();
        let mut count = entries.len();
        let mut dropped = 0;
        for e in &entries {
            let too_old = now.duration_since(e.spooled_at).unwrap_or_default() > max_age;
            if !too_old && count <= self.limits.max_files && total <= self.limits.max_bytes {
                break;
            }
            fs::remove_file(&e.path).with_context(|| format!("dropping {}", e.path.display()))?;
            total -= e.size;
            count -= 1;
            dropped += 1;
        }
        if dropped > 0 {
            let before = self.dropped_total();
            write_atomic(
                &self.dir.join(DROPPED_FILE),
                (before + dropped as u64).to_string().as_bytes(),
            )?;
        }
        Ok(dropped)
    }

    /// Reports dropped over the spool's life (kept across restarts).
    pub fn dropped_total(&self) -> u64 {
        fs::read_to_string(self.dir.join(DROPPED_FILE))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// temp file + fsync + rename + fsync(dir): all or nothing across crashes.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    // A bare file name (`report.json`) has the empty path as its parent:
    // that is the current directory, which must be synced like any other.
    let dir = match path.parent().context("path without a directory")? {
        d if d.as_os_str().is_empty() => Path::new("."),
        d => d,
    };
    let name = path
        .file_name()
        .context("path without a file name")?
        .to_string_lossy();
    let tmp = dir.join(format!("{TMP_PREFIX}{}-{name}", std::process::id()));
    let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.sync_all()
        .with_context(|| format!("syncing {}", tmp.display()))?;
    drop(f);
    fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool(limits: SpoolLimits) -> (tempfile::TempDir, Spool) {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path(), limits).unwrap();
        (dir, s)
    }

    #[test]
    fn entries_are_oldest_first_and_removable() {
        let (_d, s) = spool(SpoolLimits::default());
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            s.put(*id, b"{}").unwrap();
        }
        let e = s.entries().unwrap();
        assert_eq!(e.len(), 3);
        for (entry, id) in e.iter().zip(&ids) {
            assert!(entry.path.to_string_lossy().contains(&id.to_string()));
        }
        s.remove(&e[0]).unwrap();
        assert_eq!(s.entries().unwrap().len(), 2);
    }

    #[test]
    fn limits_drop_oldest_and_count() {
        let (_d, s) = spool(SpoolLimits {
            max_files: 2,
            max_bytes: 1 << 20,
            max_age_s: 3600,
        });
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            s.put(*id, b"{\"x\":1}").unwrap();
        }
        assert_eq!(s.enforce_limits().unwrap(), 3);
        let left = s.entries().unwrap();
        assert!(left[0].path.to_string_lossy().contains(&ids[3].to_string()));
        assert_eq!(s.dropped_total(), 3);
        let (_d2, small) = spool(SpoolLimits {
            max_files: 10,
            max_bytes: 10,
            max_age_s: 3600,
        });
        small.put(Uuid::new_v4(), b"0123456789").unwrap();
        small.put(Uuid::new_v4(), b"0123456789").unwrap();
        assert_eq!(small.enforce_limits().unwrap(), 1, "bytes bound");
    }

    #[test]
    fn leftover_temp_files_are_cleaned_and_ignored() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".tmp-1-x.json"), b"partial").unwrap();
        let s = Spool::open(dir.path(), SpoolLimits::default()).unwrap();
        assert!(s.entries().unwrap().is_empty());
        assert!(!dir.path().join(".tmp-1-x.json").exists());
    }
}
