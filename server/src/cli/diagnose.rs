//! `faultline diagnose [REPORT.json | -] [--format text|json]`: the matcher
//! offline. Built-in playbooks always; the stored ones too when a database is
//! configured or the data directory already exists (it is never created here).

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use faultline_probe::report::Report;

use super::Format;
use crate::config::Config;
use crate::diagnose::{builtin_matcher, diagnose, matcher_for, render_text};

pub async fn run(config: &Config, report: Option<&Path>, format: Format) -> Result<()> {
    let bytes = read_input(report)?;
    let report = Report::from_json(&bytes).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!("not a valid v1 report:\n{}", lines.join("\n"))
    })?;
    let diagnosis = if config.database.is_some() || config.data_dir.exists() {
        let kb = super::commands::open_kb(config).await?;
        diagnose(&matcher_for(&kb), &report)
    } else {
        diagnose(&builtin_matcher(), &report)
    };
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&diagnosis.summary())?),
        Format::Text => print!("{}", render_text(&diagnosis)),
    }
    Ok(())
}

fn read_input(path: Option<&Path>) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match path {
        None => std::io::stdin().read_to_end(&mut bytes).map(drop),
        Some(p) if p == Path::new("-") => std::io::stdin().read_to_end(&mut bytes).map(drop),
        Some(p) => std::fs::read(p).map(|b| bytes = b),
    }
    .with_context(|| {
        format!(
            "cannot read {}",
            path.map_or("standard input".into(), |p| p.display().to_string())
        )
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        bail!("the report is empty");
    }
    Ok(bytes)
}
