//! Postmortems on the command line: `export DIR` writes each one's newest
//! text to `DIR/postmortems/<id>.md` byte for byte, with its charts as
//! standalone SVG files in `DIR/postmortems/charts/` (where the text's
//! `charts/KEY.svg` references point); `import` of such a file re-creates
//! the postmortem with the same id, incident and bytes.

use std::path::Path;

use anyhow::{Context, Result};

use crate::core::postmortem::{Postmortem, chart_path};
use crate::kb::KnowledgeBase;
use crate::web::charts::postmortem as charts;

/// The postmortem files an import read (file name, text), parsed (so a bad
/// one stops the import before anything is written).
pub fn read(texts: &[(String, String)]) -> Result<Vec<Postmortem>> {
    let mut out: Vec<Postmortem> = Vec::new();
    for (origin, text) in texts {
        let p = Postmortem::parse(origin, text)?;
        if let Some(other) = out.iter().find(|o| o.meta.id == p.meta.id) {
            anyhow::bail!(
                "two files are postmortem {}: “{}” and {origin}",
                p.meta.id,
                other.meta.title
            );
        }
        out.push(p);
    }
    Ok(out)
}

/// Stores each postmortem (see `postmortems::import`).
pub async fn import(kb: &KnowledgeBase, items: &[Postmortem]) -> Result<()> {
    for p in items {
        let origin = crate::postmortems::label(p.meta.id);
        crate::postmortems::import(kb, &origin, p.source(), "import")
            .await
            .with_context(|| format!("postmortem {}", p.meta.id))?;
    }
    Ok(())
}

pub fn print(items: &[Postmortem], verb: &str) {
    for p in items {
        println!("{verb} postmortem {:<22} {}", p.meta.id, p.meta.title);
    }
    if !items.is_empty() {
        println!("{} postmortem(s)", items.len());
    }
}

/// Writes every postmortem and its charts under `dir/postmortems`.
/// Returns (postmortems, charts) written.
pub async fn export(kb: &KnowledgeBase, dir: &Path) -> Result<(usize, usize)> {
    let texts = kb.store().current_postmortem_texts().await?;
    if texts.is_empty() {
        return Ok((0, 0));
    }
    let dir = dir.join("postmortems");
    let written = crate::import::export_to_dir(
        &dir,
        texts
            .iter()
            .map(|v| (v.postmortem_id.to_string(), v.source.clone())),
    )
    .with_context(|| format!("cannot write to {}", dir.display()))?;
    let mut drawn = 0;
    for v in &texts {
        let Ok(p) = Postmortem::parse(&crate::postmortems::label(v.postmortem_id), &v.source)
        else {
            continue;
        };
        let keys: Vec<String> = p.charts().into_iter().map(|c| c.key).collect();
        for (key, svg) in charts::draw(kb, p.meta.incident, &keys).await? {
            let file = dir.join(chart_path(&key));
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&file, charts::standalone(&svg))
                .with_context(|| format!("cannot write {}", file.display()))?;
            drawn += 1;
        }
    }
    Ok((written, drawn))
}
