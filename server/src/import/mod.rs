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

mod runbook;
mod scenario;
mod text;

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

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
    let first = text.lines().next().unwrap_or_default();
    let imported = if first.trim_end() == "+++" {
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

/// Imports a file, or every `.md` file under a directory (sorted by path,
/// hidden directories skipped). Ids must be unique across everything read.
/// Postmortem files among them (an export's `postmortems/`) are left to
/// [`postmortem_texts`].
pub fn import_path(path: &Path) -> Result<Vec<Imported>, ImportError> {
    let mut all = Vec::new();
    for (origin, text) in markdown_texts(path)? {
        if !crate::postmortems::looks_like_postmortem(&text) {
            all.extend(import_text(&origin, &text)?);
        }
    }
    check_duplicates(&all)?;
    Ok(all)
}

/// The postmortem files at `path` (a file, or `.md` files under a
/// directory), as (file name, text).
pub fn postmortem_texts(path: &Path) -> Result<Vec<(String, String)>, ImportError> {
    let mut texts = markdown_texts(path)?;
    texts.retain(|(_, text)| crate::postmortems::looks_like_postmortem(text));
    Ok(texts)
}

/// (file name, text) of a file, or of every `.md` file under a directory.
fn markdown_texts(path: &Path) -> Result<Vec<(String, String)>, ImportError> {
    let io_err = |p: &Path| {
        let path = p.display().to_string();
        move |source| ImportError::Io { path, source }
    };
    let meta = fs::metadata(path).map_err(io_err(path))?;
    let files = if meta.is_dir() {
        let mut files = Vec::new();
        collect_markdown(path, &mut files).map_err(|(p, e)| io_err(&p)(e))?;
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    files
        .into_iter()
        .map(|file| {
            let text = fs::read_to_string(&file).map_err(io_err(&file))?;
            Ok((file.display().to_string(), text))
        })
        .collect()
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), (PathBuf, io::Error)> {
    let entries = fs::read_dir(dir).map_err(|e| (dir.to_owned(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| (dir.to_owned(), e))?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let kind = entry.file_type().map_err(|e| (path.clone(), e))?;
        let kind = if kind.is_symlink() {
            fs::metadata(&path)
                .map_err(|e| (path.clone(), e))?
                .file_type()
        } else {
            kind
        };
        if kind.is_dir() {
            if !hidden {
                collect_markdown(&path, out)?;
            }
        } else if !hidden
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("md"))
        {
            out.push(path);
        }
    }
    Ok(())
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
