//! Importing playbooks from Markdown written the common ways, and exporting
//! them back as files.
//!
//! Three layouts are recognised (see DESIGN §2):
//!
//! - our own playbook files (`+++` TOML front matter), kept byte for byte;
//! - one long document with a `## Scenario: <name>` section per case and
//!   `### Alert / Symptoms / Investigation / Root cause / Fix / Prevention`
//!   subsections;
//! - one runbook per file, `# Title` then `## Meaning / Impact / Diagnosis /
//!   Mitigation` (the Prometheus runbook style).
//!
//! Parsing is pure (strings in, playbooks out); only [`import_path`] and
//! [`export_to_dir`] touch the file system.

mod hugo;
mod read;
mod runbook;
mod scenario;
mod text;

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

pub use self::read::MAX_FILE_BYTES;
use self::read::ReadError;
use crate::core::playbook::{FrontMatter, Playbook, PlaybookError, SectionKind, check_id};

/// The layouts an import understands, named in "unknown layout" errors.
pub const SUPPORTED_LAYOUTS: &str = "supported layouts: a Faultline playbook (starts with a `+++` line opening \
TOML front matter); a scenario document (`## Scenario: <name>` sections with `### Alert`, `### Symptoms`, \
`### Investigation`, `### Root cause`, `### Fix`, `### Prevention` subsections); a runbook file (`# Title` \
with `## Meaning`, `## Impact`, `## Diagnosis`, `## Mitigation` sections)";

/// Which layout a playbook was imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Own,
    ScenarioDocument,
    Runbook,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Own => "own",
            Format::ScenarioDocument => "scenario_document",
            Format::Runbook => "runbook",
        }
    }
}

/// One imported playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub playbook: Playbook,
    pub format: Format,
    /// What a complete playbook would have that this one lacks, and what the
    /// import had to guess or leave out.
    pub warnings: Vec<String>,
    /// Where it came from: the file, and for a scenario the heading's line.
    pub origin: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// An own-format file that does not parse; names the file and line.
    #[error("{0}")]
    Playbook(#[from] PlaybookError),
    /// A recognised layout whose content cannot make a valid playbook.
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("{origin}: no recognisable layout; {SUPPORTED_LAYOUTS}")]
    UnknownLayout { origin: String },
    #[error("duplicate playbook id `{id}`: {first} and {second}")]
    DuplicateId {
        id: String,
        first: String,
        second: String,
    },
    /// A file that is not importable: a device, a FIFO, too large, a stub.
    #[error("{file}: {reason}")]
    Skipped { file: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// A playbook assembled from another layout, before validation.
#[derive(Debug, Default)]
struct Draft {
    id: String,
    title: String,
    alert: String,
    sections: Vec<(SectionKind, String)>,
    warnings: Vec<String>,
    /// Line in the source file where this playbook starts.
    line: usize,
}

/// Imports one file's text. `origin` names the file in errors and warnings.
pub fn import_text(origin: &str, text: &str) -> Result<Vec<Imported>, ImportError> {
    let imported = if is_own(text) {
        let playbook = Playbook::parse(origin, text)?;
        let warnings = missing_warnings(&playbook);
        vec![Imported {
            playbook,
            format: Format::Own,
            warnings,
            origin: origin.to_owned(),
        }]
    } else if let Some(drafts) = scenario::parse(text) {
        drafts
            .into_iter()
            .map(|d| finish(origin, d, Format::ScenarioDocument))
            .collect::<Result<_, _>>()?
    } else if let Some(draft) = runbook::parse(origin, text) {
        vec![finish(origin, draft, Format::Runbook)?]
    } else {
        return Err(ImportError::UnknownLayout {
            origin: origin.to_owned(),
        });
    };
    check_duplicates(&imported)?;
    Ok(imported)
}

/// Our own playbook file: a `+++` line first. A `+++` block without an `id`
/// or `alert` is another tool's TOML front matter (Hugo's), not ours.
fn is_own(text: &str) -> bool {
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("+++") {
        return false;
    }
    let front: Vec<&str> = lines.take_while(|l| l.trim_end() != "+++").collect();
    match front.join("\n").parse::<toml::Table>() {
        Ok(table) => table.contains_key("id") || table.contains_key("alert"),
        _ => true,
    }
}

/// A file a batch import passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

/// Everything a batch import read.
#[derive(Debug, Default)]
pub struct Batch {
    pub playbooks: Vec<Imported>,
    /// Postmortem files (an export's `postmortems/`) as (file name, text),
    /// for [`crate::postmortems`].
    pub postmortems: Vec<(String, String)>,
    /// Files in the directories walked that were not imported, each with
    /// the reason, sorted by path.
    pub skipped: Vec<Skipped>,
}

/// One file read for a batch.
struct Source {
    path: PathBuf,
    origin: String,
    text: String,
    /// Named on the command line (its problems are errors), rather than
    /// found by walking a directory (its problems skip it).
    named: bool,
}

/// Imports files and directories. A file named directly must import (any
/// problem is an error); under a directory every `.md` file is read (sorted
/// by path, hidden entries passed over) and each one that is not a playbook,
/// scenario document, runbook or postmortem is listed in
/// [`Batch::skipped`] with the reason: an index page with only front matter,
/// a stub that only links elsewhere, an unknown layout, a device, FIFO or
/// file over [`MAX_FILE_BYTES`]. A broken file of our own format is still an
/// error, and ids must be unique across everything read.
///
/// Hugo `{{< ref "Other.md" >}}` / `relref` shortcodes become links to the
/// playbook the target file became (resolved against the linking file's
/// folder, then by file name).
pub fn import_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Batch, ImportError> {
    let mut batch = Batch::default();
    let mut sources = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let meta = fs::metadata(path).map_err(|source| ImportError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            let found = read::walk(path).map_err(|(p, source)| ImportError::Io {
                path: p.display().to_string(),
                source,
            })?;
            for (p, reason) in found.skipped {
                batch.skipped.push(Skipped {
                    file: p.display().to_string(),
                    reason,
                });
            }
            for file in found.files {
                let origin = file.display().to_string();
                match read::read_capped(&file) {
                    Ok(text) => sources.push(Source {
                        path: file,
                        origin,
                        text,
                        named: false,
                    }),
                    Err(ReadError::Io(source)) => {
                        return Err(ImportError::Io {
                            path: origin,
                            source,
                        });
                    }
                    Err(e) => batch.skipped.push(Skipped {
                        file: origin,
                        reason: e.reason(),
                    }),
                }
            }
        } else {
            let text = read_file(path)?;
            sources.push(Source {
                path: path.to_owned(),
                origin: path.display().to_string(),
                text,
                named: true,
            });
        }
    }

    let (postmortems, sources): (Vec<Source>, Vec<Source>) = sources
        .into_iter()
        .partition(|s| crate::postmortems::looks_like_postmortem(&s.text));
    batch.postmortems = postmortems
        .into_iter()
        .map(|s| (s.origin, s.text))
        .collect();

    // First pass: which playbook each file becomes, for cross-references.
    let mut ids: HashMap<PathBuf, String> = HashMap::new();
    let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
    for s in &sources {
        if let Ok(v) = import_text(&s.origin, &s.text)
            && let [one] = v.as_slice()
        {
            let id = one.playbook.id().to_owned();
            ids.insert(normalize(&s.path), id.clone());
            if let Some(name) = s.path.file_name() {
                by_name
                    .entry(name.to_string_lossy().into_owned())
                    .or_default()
                    .push(id);
            }
        }
    }
    let resolve = |from: &Path, target: &str| -> Option<String> {
        let target = target.split('#').next().unwrap_or_default();
        let with_md = if target.ends_with(".md") {
            target.to_owned()
        } else {
            format!("{target}.md")
        };
        let dir = from.parent().unwrap_or(Path::new(""));
        if let Some(id) = ids.get(&normalize(&dir.join(&with_md))) {
            return Some(id.clone());
        }
        let name = Path::new(&with_md)
            .file_name()?
            .to_string_lossy()
            .into_owned();
        match by_name.get(&name).map(Vec::as_slice) {
            Some([id]) => Some(id.clone()),
            _ => None,
        }
    };

    for s in sources {
        let (text, link_warnings) = if is_own(&s.text) || hugo::refs(&s.text).is_empty() {
            (s.text.clone(), Vec::new())
        } else {
            hugo::rewrite(&s.text, |t| resolve(&s.path, t))
        };
        match import_text(&s.origin, &text) {
            Ok(mut v) => {
                for i in &mut v {
                    i.warnings.extend(link_warnings.iter().cloned());
                }
                batch.playbooks.extend(v);
            }
            Err(e @ (ImportError::UnknownLayout { .. } | ImportError::Invalid { .. }))
                if !s.named =>
            {
                let reason = match e {
                    ImportError::Invalid { message, .. } => message,
                    _ => unknown_layout_reason(&text),
                };
                batch.skipped.push(Skipped {
                    file: s.origin,
                    reason,
                });
            }
            Err(e) => return Err(e),
        }
    }
    batch.skipped.sort_by(|a, b| a.file.cmp(&b.file));
    check_duplicates(&batch.playbooks)?;
    Ok(batch)
}

/// Imports one file, or a directory, strictly: a file the batch import
/// would skip is an error here (see [`import_paths`]). Postmortem files are
/// left out.
pub fn import_path(path: &Path) -> Result<Vec<Imported>, ImportError> {
    let batch = import_paths(&[path])?;
    if let Some(s) = batch.skipped.into_iter().next() {
        return Err(ImportError::Skipped {
            file: s.file,
            reason: s.reason,
        });
    }
    Ok(batch.playbooks)
}

/// Reads one named file for import: a regular file of at most
/// [`MAX_FILE_BYTES`], as UTF-8; anything else is an error naming the file.
pub fn read_file(path: &Path) -> Result<String, ImportError> {
    let name = path.display().to_string();
    read::read_capped(path).map_err(|e| match e {
        ReadError::Io(source) => ImportError::Io { path: name, source },
        other => ImportError::Skipped {
            file: name,
            reason: other.reason(),
        },
    })
}

/// `a/./b/../c` -> `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Why a file in a walked directory is not a runbook: an index page, a stub
/// that only points elsewhere, or no layout we know.
fn unknown_layout_reason(text: &str) -> String {
    let body = runbook::without_front_matter(text);
    let rest: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !(l.is_empty() || l.starts_with("# ") || *l == "#"))
        .collect();
    if rest.is_empty() {
        return "only front matter and a title, no content (an index page)".to_owned();
    }
    let links = hugo::link_targets(&rest.join("\n"));
    let words = rest
        .iter()
        .map(|l| l.split_whitespace().count())
        .sum::<usize>();
    if !links.is_empty() && rest.len() <= 3 && words <= 12 * links.len() {
        return format!(
            "a stub that only links elsewhere ({}); nothing to import",
            links.join(", ")
        );
    }
    "no recognisable layout: no `## Meaning` / `## Diagnosis` / `## Mitigation` sections, \
no `## Scenario:` sections, no `+++` playbook front matter"
        .to_owned()
}

fn check_duplicates(imported: &[Imported]) -> Result<(), ImportError> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for i in imported {
        if let Some(first) = seen.insert(i.playbook.id(), &i.origin) {
            return Err(ImportError::DuplicateId {
                id: i.playbook.id().to_owned(),
                first: first.to_owned(),
                second: i.origin.clone(),
            });
        }
    }
    Ok(())
}

fn missing_warnings(playbook: &Playbook) -> Vec<String> {
    playbook
        .missing_sections()
        .into_iter()
        .map(|k| format!("no {} section", k.heading()))
        .collect()
}

/// Validates a draft and composes it in the canonical layout.
fn finish(file: &str, mut d: Draft, format: Format) -> Result<Imported, ImportError> {
    let origin = if d.line > 0 {
        format!("{file}:{}", d.line)
    } else {
        file.to_owned()
    };
    let invalid = |message: String| ImportError::Invalid {
        origin: origin.clone(),
        message,
    };
    if let Err(why) = check_id(&d.id) {
        return Err(invalid(format!(
            "cannot make an id from `{}`: {why}",
            d.title
        )));
    }
    if d.title.trim().is_empty() {
        d.title = d.id.clone();
    }
    if d.alert.trim().is_empty() {
        d.warnings.push("no alert text; used the title".to_owned());
        d.alert = d.title.clone();
    }
    d.sections.retain(|(_, md)| !md.trim().is_empty());
    d.sections.sort_by_key(|(k, _)| *k);
    let headline = format!("{} {}", d.title, d.alert);
    let body: String = d
        .sections
        .iter()
        .map(|(_, md)| md.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let meta = FrontMatter {
        id: d.id.clone(),
        title: d.title.clone(),
        alert: d.alert.clone(),
        tags: text::infer_tags(&headline, &body),
        layer: text::infer_layer(&headline, &body),
        clauses: Vec::new(),
        examples: Vec::new(),
    };
    let playbook = Playbook::compose(&meta, &d.sections).map_err(|e| invalid(e.message))?;
    let mut warnings = d.warnings;
    warnings.extend(missing_warnings(&playbook));
    Ok(Imported {
        playbook,
        format,
        warnings,
        origin,
    })
}

/// The file name a playbook is exported to.
pub fn export_file_name(id: &str) -> String {
    format!("{id}.md")
}

/// Writes each `(id, source)` to `dir/<id>.md`, each file atomically (a
/// temporary file renamed into place). Returns how many files were written.
pub fn export_to_dir(
    dir: &Path,
    sources: impl IntoIterator<Item = (String, String)>,
) -> io::Result<usize> {
    fs::create_dir_all(dir)?;
    let mut written = 0;
    for (id, source) in sources {
        if let Err(why) = check_id(&id) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("playbook id `{id}`: {why}"),
            ));
        }
        let target = dir.join(export_file_name(&id));
        let temp = dir.join(format!(
            ".{}.tmp-{}",
            export_file_name(&id),
            std::process::id()
        ));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp)?;
            f.write_all(source.as_bytes())?;
            f.sync_all()?;
            fs::rename(&temp, &target)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&temp);
            return Err(io::Error::new(
                e.kind(),
                format!("{}: {e}", target.display()),
            ));
        }
        written += 1;
    }
    if written > 0
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(written)
}

/// The `--dry-run --format json` shape: every playbook with its sections
/// (all five keys; "" where a section is missing) and warnings.
pub fn dry_run_json(imported: &[Imported]) -> Value {
    let playbooks: Vec<Value> = imported
        .iter()
        .map(|i| {
            let p = &i.playbook;
            let sections: serde_json::Map<String, Value> = SectionKind::ALL
                .into_iter()
                .map(|k| {
                    (
                        k.key().to_owned(),
                        Value::String(p.section_markdown(k).to_owned()),
                    )
                })
                .collect();
            json!({
                "id": p.id(),
                "title": p.meta.title,
                "alert": p.meta.alert,
                "layer": p.meta.layer.as_str(),
                "tags": p.meta.tags,
                "format": i.format.as_str(),
                "origin": i.origin,
                "sections": sections,
                "warnings": i.warnings,
            })
        })
        .collect();
    json!({ "playbooks": playbooks })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "+++\nid = \"disk-full\"\ntitle = \"Disk full\"\nalert = \"No space left on device\"\ntags = [\"disk\"]\nlayer = \"infrastructure\"\n+++\n## Symptoms\n\nWrites fail.\n\n## Fix\n\nDelete old logs.\n";

    const SCENARIOS: &str = "# Incidents\n\n## Contents\n\n1. [Slow lookups](#a)\n\n## Scenario: Slow Lookups\n\n### Alert\n\n```\n\"Lookups take\n 5 seconds.\"\n```\n\n### Symptoms\n\n- slow at first call\n\n### Investigation\n\n```bash\n# Check resolv.conf\ncat /etc/resolv.conf\n# options ndots:5  ← many dots\n```\n\n### Root Cause\n\nThe search list is tried first.\n\n### Fix\n\nUse a trailing dot.\n\n### Prevention\n\nSet ndots to 1.\n\n## Scenario: Leaking Sockets\n\n### Alert\n\nToo many open files.\n\n### Diagnosis\n\n```sh\n# Count sockets\nss -tan state close-wait | wc -l\n```\n\n### Root cause\n\nBodies are never closed.\n\nFix: close every body.\n\n## Key Takeaways\n\n1. **Leaking sockets sit in CLOSE_WAIT** — close every body you open.\n";

    #[test]
    fn own_format_is_kept_verbatim() {
        let got = import_text("disk.md", OWN).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].format, Format::Own);
        assert_eq!(got[0].playbook.source(), OWN);
        assert!(
            got[0]
                .warnings
                .contains(&"no Prevention section".to_owned()),
            "{:?}",
            got[0].warnings
        );
    }

    #[test]
    fn scenario_documents_become_one_playbook_per_scenario() {
        let got = import_text("doc.md", SCENARIOS).unwrap();
        let ids: Vec<_> = got.iter().map(|i| i.playbook.id()).collect();
        assert_eq!(ids, ["slow-lookups", "leaking-sockets"]);
        let slow = &got[0].playbook;
        assert_eq!(slow.meta.alert, "Lookups take 5 seconds.");
        assert_eq!(slow.meta.layer, crate::core::playbook::Layer::Dns);
        assert_eq!(slow.steps()[0].commands, ["cat /etc/resolv.conf"]);
        assert_eq!(
            slow.section_markdown(SectionKind::Prevention),
            "Set ndots to 1."
        );
        assert_eq!(got[0].origin, "doc.md:7");
        let leak = &got[1].playbook;
        assert_eq!(leak.steps()[0].title, "Count sockets.");
        assert_eq!(
            leak.section_markdown(SectionKind::RootCause),
            "Bodies are never closed."
        );
        assert!(
            leak.section_markdown(SectionKind::Fix)
                .contains("close every body")
        );
        assert!(
            leak.section_markdown(SectionKind::Prevention)
                .contains("sit in CLOSE_WAIT")
        );
        assert!(
            got[1].warnings.iter().any(|w| w.contains("Symptoms")),
            "{:?}",
            got[1].warnings
        );
    }

    #[test]
    fn unknown_layout_names_file_and_layouts() {
        let e = import_text("notes.md", "# Notes\n\nJust some notes.\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("notes.md: no recognisable layout"), "{msg}");
        assert!(
            msg.contains("## Scenario:") && msg.contains("## Meaning") && msg.contains("+++"),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_scenarios_are_named() {
        let doc =
            format!("{SCENARIOS}\n## Scenario: Slow lookups\n\n### Alert\n\nx\n\n### Fix\n\ny\n");
        let e = import_text("doc.md", &doc).unwrap_err();
        assert!(matches!(e, ImportError::DuplicateId { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("`slow-lookups`") && msg.contains("doc.md:7") && msg.contains("doc.md:"),
            "{msg}"
        );
    }

    #[test]
    fn dry_run_shape() {
        let got = import_text("doc.md", SCENARIOS).unwrap();
        let v = dry_run_json(&got);
        let first = &v["playbooks"][0];
        assert_eq!(first["id"], "slow-lookups");
        assert_eq!(first["format"], "scenario_document");
        assert_eq!(first["layer"], "dns");
        assert!(
            first["sections"]["investigation"]
                .as_str()
                .unwrap()
                .contains("resolv.conf")
        );
        assert_eq!(
            first["sections"]["root_cause"],
            "The search list is tried first."
        );
        assert!(first["warnings"].is_array());
        assert_eq!(v["playbooks"][1]["sections"]["symptoms"], "");
    }

    #[test]
    fn export_names() {
        assert_eq!(export_file_name("close-wait-leak"), "close-wait-leak.md");
    }
}
