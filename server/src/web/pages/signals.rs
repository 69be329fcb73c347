//! `/signals`: every signal with its unit, meaning, how to collect it and
//! which playbooks use it; then the catalogue of default timers.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::render;
use crate::core::clause::Expression;
use crate::core::signals::{SIGNALS, catalogue};
use crate::core::timers::{TIMERS, Timer, tolerance_s};
use crate::web::AppState;

pub struct PlaybookRef {
    pub id: String,
    pub title: String,
}

pub struct SignalRow {
    pub name: &'static str,
    pub unit: &'static str,
    pub meaning: &'static str,
    pub collect: &'static str,
    /// Members of a family (`logs.*`) that playbooks name.
    pub members: Vec<String>,
    pub used_by: Vec<PlaybookRef>,
}

pub struct GroupView {
    pub name: &'static str,
    pub rows: Vec<SignalRow>,
}

pub struct TimerRow {
    pub timer: &'static Timer,
    pub tolerance: String,
}

#[derive(Template)]
#[template(path = "signals.html")]
struct SignalsView {
    title: &'static str,
    query: String,
    groups: Vec<GroupView>,
    timers: Vec<TimerRow>,
}

pub async fn view_signals_get(State(state): State<AppState>) -> Response {
    // Catalogue entry name -> (playbook id -> title), and family members seen.
    let mut used: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    let mut members: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in state.kb.list() {
        let meta = &c.playbook.meta;
        for clause in &meta.clauses {
            let Ok(expr) = Expression::compile(&clause.when) else {
                continue;
            };
            for name in expr.signals() {
                let Some(def) = catalogue::lookup(name) else {
                    continue;
                };
                used.entry(def.name)
                    .or_default()
                    .insert(meta.id.clone(), meta.title.clone());
                let m = members.entry(def.name).or_default();
                if def.name.ends_with(".*") && !m.contains(name) {
                    m.push(name.clone());
                }
            }
        }
    }
    let mut groups: Vec<GroupView> = Vec::new();
    for def in SIGNALS {
        let group = def.name.split_once('.').map_or(def.name, |(g, _)| g);
        let row = SignalRow {
            name: def.name,
            unit: def.unit,
            meaning: def.meaning,
            collect: def.collect,
            members: members.remove(def.name).unwrap_or_default(),
            used_by: used
                .get(def.name)
                .into_iter()
                .flatten()
                .map(|(id, title)| PlaybookRef {
                    id: id.clone(),
                    title: title.clone(),
                })
                .collect(),
        };
        match groups.iter_mut().find(|g| g.name == group) {
            Some(g) => g.rows.push(row),
            None => groups.push(GroupView {
                name: group,
                rows: vec![row],
            }),
        }
    }
    let timers = TIMERS
        .iter()
        .map(|t| TimerRow {
            timer: t,
            tolerance: format!("±{:.0} s", tolerance_s(t.seconds)),
        })
        .collect();
    render(&SignalsView {
        title: "Signals",
        query: String::new(),
        groups,
        timers,
    })
}
