//! Reading import input from disk, bounded: only regular files, at most
//! [`MAX_FILE_BYTES`] each, so `faultline import /dev/zero` or a FIFO fails
//! at once with a clear message instead of reading without end or blocking.

use std::collections::HashSet;
use std::fs::{self, File, FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest file an import reads (4 MiB; the longest runbook document
/// we know is a few dozen KB).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Why one file could not be read.
#[derive(Debug)]
pub(super) enum ReadError {
    /// A device, FIFO, socket or directory: what it is.
    NotRegular(&'static str),
    /// Larger than [`MAX_FILE_BYTES`]; at least this many bytes.
    TooLarge(u64),
    NotUtf8,
    Io(io::Error),
}

impl ReadError {
    /// The reason, as a skipped-file list or an error shows it.
    pub(super) fn reason(&self) -> String {
        match self {
            ReadError::NotRegular(kind) => {
                format!("{kind}, not a regular file; import reads regular files only")
            }
            ReadError::TooLarge(size) => format!(
                "{} bytes or more, over the import limit of {} MiB ({MAX_FILE_BYTES} bytes)",
                size,
                MAX_FILE_BYTES / (1024 * 1024)
            ),
            ReadError::NotUtf8 => "not UTF-8 text".to_owned(),
            ReadError::Io(e) => e.to_string(),
        }
    }
}

/// What a file type is, in words, when it is not a regular file.
fn kind_of(t: &FileType) -> Option<&'static str> {
    Some(if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    })
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`] as UTF-8. Checks the
/// type before opening (a device is never opened), opens without blocking
/// (a FIFO swapped in meanwhile cannot hang the open), checks the opened
/// file again, and never reads past the limit.
pub(super) fn read_capped(path: &Path) -> Result<String, ReadError> {
    let meta = fs::metadata(path).map_err(ReadError::Io)?;
    if let Some(kind) = kind_of(&meta.file_type()) {
        return Err(ReadError::NotRegular(kind));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(meta.len()));
    }
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if let Some(kind) = kind_of(&meta.file_type()) {
        return Err(ReadError::NotRegular(kind));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_FILE_BYTES) as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)
}

/// What a directory walk found: Markdown files to read (sorted), and the
/// other entries it passed over with the reason.
#[derive(Debug, Default)]
pub(super) struct Walk {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// Walks `dir` for `.md` files. Hidden entries (`.git`) are passed over
/// silently; other files are listed as skipped with the reason. Symbolic
/// links are followed, each directory visited once.
pub(super) fn walk(dir: &Path) -> Result<Walk, (PathBuf, io::Error)> {
    let mut out = Walk::default();
    let mut seen = HashSet::new();
    walk_into(dir, &mut out, &mut seen)?;
    out.files.sort();
    out.skipped.sort();
    Ok(out)
}

fn walk_into(
    dir: &Path,
    out: &mut Walk,
    seen: &mut HashSet<PathBuf>,
) -> Result<(), (PathBuf, io::Error)> {
    let real = fs::canonicalize(dir).map_err(|e| (dir.to_owned(), e))?;
    if !seen.insert(real) {
        return Ok(());
    }
    let entries = fs::read_dir(dir).map_err(|e| (dir.to_owned(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| (dir.to_owned(), e))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = match fs::metadata(&path) {
            Ok(meta) => meta.file_type(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                out.skipped
                    .push((path, "a symbolic link to nothing".to_owned()));
                continue;
            }
            Err(e) => return Err((path, e)),
        };
        if kind.is_dir() {
            walk_into(&path, out, seen)?;
        } else if let Some(what) = kind_of(&kind) {
            out.skipped.push((
                path,
                format!("{what}, not a regular file; import reads regular files only"),
            ));
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("md"))
        {
            out.files.push(path);
        } else {
            out.skipped
                .push((path, "not a Markdown file (no .md extension)".to_owned()));
        }
    }
    Ok(())
}
