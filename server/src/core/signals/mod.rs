//! Signals: the numbers, flags and words a report reduces to. Each signal has
//! a dotted name documented in [`catalogue::SIGNALS`]; clauses are written
//! over them. A signal is present only when its observation was made, so an
//! absent signal means "not measured", never zero.

pub mod catalogue;
mod derive;
mod stats;

use std::collections::BTreeMap;
use std::fmt;

use faultline_probe::report::{NetnsLabel, Observation, Report, TcpStates};
use serde::Serialize;

pub use catalogue::{SIGNALS, SignalDef};

/// The value of one signal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SignalValue {
    Number(f64),
    Bool(bool),
    Text(String),
}

impl fmt::Display for SignalValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{n:.0}"),
            SignalValue::Number(n) if n.abs() < 1.0 => write!(f, "{n:.3}"),
            SignalValue::Number(n) => write!(f, "{n:.1}"),
            SignalValue::Bool(b) => write!(f, "{b}"),
            SignalValue::Text(s) => write!(f, "\"{s}\""),
        }
    }
}

/// The signals of one report, by dotted name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Signals(BTreeMap<String, SignalValue>);

/// Names whose worst value is the smallest (fewer certificates served, a
/// smaller packet getting through).
const LOWER_IS_WORSE: &[&str] = &["tls.chain_length", "pmtu.max_ok_size", "iface.min_mtu"];

impl Signals {
    pub fn get(&self, name: &str) -> Option<&SignalValue> {
        self.0.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &SignalValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records a value. When several observations give the same signal (two
    /// targets, two pods), the more alarming value is kept.
    pub fn set(&mut self, name: impl Into<String>, value: SignalValue) {
        let name = name.into();
        let merged = match (self.0.get(&name), &value) {
            (Some(SignalValue::Number(a)), SignalValue::Number(b)) => {
                let keep_low = LOWER_IS_WORSE.contains(&name.as_str());
                SignalValue::Number(if keep_low { a.min(*b) } else { a.max(*b) })
            }
            (Some(SignalValue::Bool(a)), SignalValue::Bool(b)) => SignalValue::Bool(*a || *b),
            (Some(SignalValue::Text(a)), SignalValue::Text(_)) if a != "ok" && !a.is_empty() => {
                SignalValue::Text(a.clone())
            }
            _ => value,
        };
        self.0.insert(name, merged);
    }

    pub fn num(&mut self, name: &str, value: Option<f64>) {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            self.set(name, SignalValue::Number(v));
        }
    }

    pub fn flag(&mut self, name: &str, value: bool) {
        self.set(name, SignalValue::Bool(value));
    }

    pub fn text(&mut self, name: &str, value: impl Into<String>) {
        self.set(name, SignalValue::Text(value.into()));
    }

    /// Sets a value as it is, whatever was there.
    fn replace(&mut self, name: &str, value: SignalValue) {
        self.0.insert(name.to_owned(), value);
    }

    /// Drops every signal whose name starts with `prefix`.
    fn remove_prefix(&mut self, prefix: &str) {
        self.0.retain(|k, _| !k.starts_with(prefix));
    }
}

/// Reduces every observation of a report to signals. Unknown kinds add none.
///
/// Socket states read in other network namespaces (a DaemonSet probe's
/// pods) are reduced one namespace at a time, so no signal mixes two
/// namespaces' sockets; see `derive::namespaces` for how they join.
pub fn derive(report: &Report) -> Signals {
    let mut out = Signals::default();
    let mut spaces: BTreeMap<u64, (&NetnsLabel, Signals)> = BTreeMap::new();
    for observation in &report.observations {
        match observation {
            Observation::TcpStates(TcpStates {
                netns: Some(label), ..
            }) => {
                let (_, signals) = spaces
                    .entry(label.inode)
                    .or_insert_with(|| (label, Signals::default()));
                derive::observation(signals, observation);
            }
            _ => derive::observation(&mut out, observation),
        }
    }
    let focus = derive::namespaces(&mut out, spaces.into_values().collect());
    derive::cross(&mut out);
    derive::joined(&mut out, report, focus);
    out
}
