//! The charts a postmortem references (`charts/KEY.svg`), drawn again from
//! the observation each key names, the same way the report and incident
//! pages draw them; and the same SVG made standalone for exports, where no
//! page stylesheet colours it.

use std::collections::BTreeMap;

use faultline_probe::report::{Observation, Report};

use crate::core::postmortem::{ChartKey, ChartSource};
use crate::kb::KnowledgeBase;
use crate::store::{EventKind, StoreResult};
use crate::web::pages::observation_view::ObservationView;

/// The SVG of every key that can still be drawn, by key. A key whose report
/// was deleted (retention) or that names nothing is left out.
pub async fn draw(
    kb: &KnowledgeBase,
    incident_id: i64,
    keys: &[String],
) -> StoreResult<BTreeMap<String, String>> {
    let mut sources: BTreeMap<String, Vec<Observation>> = BTreeMap::new();
    let mut events = None;
    let mut out = BTreeMap::new();
    for key in keys {
        let Some(parsed) = ChartKey::parse(key) else {
            continue;
        };
        let source_key = match &parsed.source {
            ChartSource::Report(id) => format!("r{id}"),
            ChartSource::Paste(id) => format!("p{id}"),
        };
        if !sources.contains_key(&source_key) {
            let observations = match &parsed.source {
                ChartSource::Report(id) => match kb.store().report(*id).await? {
                    Some(stored) => serde_json::from_str::<Report>(&stored.body)
                        .map(|r| r.observations)
                        .unwrap_or_default(),
                    None => Vec::new(),
                },
                ChartSource::Paste(event_id) => {
                    if events.is_none() {
                        events = Some(kb.store().events(incident_id).await?);
                    }
                    events
                        .iter()
                        .flatten()
                        .find(|e| e.id == *event_id && e.kind == EventKind::Paste)
                        .and_then(|e| serde_json::from_value(e.body["observations"].clone()).ok())
                        .unwrap_or_default()
                }
            };
            sources.insert(source_key.clone(), observations);
        }
        let svg = sources[&source_key]
            .get(parsed.observation - 1)
            .map(ObservationView::of)
            .and_then(|v| v.charts.into_iter().nth(parsed.chart - 1));
        if let Some(svg) = svg {
            out.insert(key.clone(), svg);
        }
    }
    Ok(out)
}

/// Colours for a chart outside the page (light theme of `static/app.css`).
const STANDALONE_STYLE: &str = "<style>\
svg{font-family:system-ui,sans-serif;font-size:11px;background:#fff}\
text{fill:#1d2330}.axis-label,.bar-value{fill:#5b6475}.axis{stroke:#dde1e8;stroke-width:1}\
.frame{fill:none;stroke:#dde1e8}.bar-track{fill:#f0f2f5}.bar{fill:#1f6feb}\
.bar-attention,.bar-rst,.bar-failed{fill:#b42318}.bar-relative,.bar-timeout{fill:#b45309}\
.bar-absolute,.bar-fin{fill:#15803d}.bar-open{fill:#5b6475}\
.gauge-track{fill:#f0f2f5;stroke:#dde1e8}.gauge-ok{fill:#15803d}.gauge-warn{fill:#b45309}\
.gauge-critical{fill:#b42318}.gauge-tick{stroke:#5b6475;stroke-dasharray:3 2}\
.gauge-value{font-size:13px;font-weight:600}.pt{fill:#1f6feb;fill-opacity:.55}\
.pt-error{fill:#b42318;fill-opacity:.9}.pct-line{stroke-width:1.5;stroke-dasharray:6 3}\
.pct-p50{stroke:#15803d}.pct-p99{stroke:#b42318}.pct-label{font-weight:600}.heat{stroke:none}\
.heat-none{fill:#f0f2f5}.heat-0{fill:#dbeafe}.heat-1{fill:#fde68a}.heat-2{fill:#fbbf24}\
.heat-3{fill:#f97316}.heat-4{fill:#dc2626}\
.marker{stroke:#b42318;stroke-width:2;stroke-dasharray:4 2}.marker-label{fill:#b42318;font-weight:600}\
</style>";

/// The chart as a file of its own: its colours inside it.
pub fn standalone(svg: &str) -> String {
    match svg.find('>') {
        Some(end) if svg.starts_with("<svg") => {
            format!("{}{STANDALONE_STYLE}{}\n", &svg[..=end], &svg[end + 1..])
        }
        _ => svg.to_owned(),
    }
}

/// A `data:` URI of a standalone chart, percent-encoded so it is a valid
/// Markdown link target (no spaces, no parentheses).
pub fn data_uri(svg: &str) -> String {
    let mut out = String::from("data:image/svg+xml;charset=utf-8,");
    for b in standalone(svg).bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_charts_carry_their_style_and_encode_cleanly() {
        let svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\"><rect class=\"bar\"/></svg>";
        let one = standalone(svg);
        assert!(
            one.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\"><style>")
        );
        assert!(one.contains(".bar{fill:#1f6feb}"));
        let uri = data_uri(svg);
        assert!(uri.starts_with("data:image/svg+xml;charset=utf-8,%3Csvg%20xmlns"));
        assert!(!uri.contains([' ', '(', ')', '<', '"']), "{uri}");
    }
}
