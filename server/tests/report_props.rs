//! Property tests for the report decoder (`Report::from_json`) and the
//! server's ingest parsing (`ingest::parse_report`): mutated reports never
//! panic and either decode or say which field is wrong; valid generated
//! reports survive a JSON round trip unchanged.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use faultline::ingest::{ParseError, parse_report};
use faultline_probe::report::{Report, SchemaError};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Top-level fields of a v1 report: every error path starts with one.
const FIELDS: [&str; 7] = [
    "schema",
    "report_id",
    "collector",
    "started_at",
    "finished_at",
    "observations",
    "skipped",
];

/// The built-in playbooks' example reports: every observation kind, valid.
fn seeds() -> &'static [Value] {
    static SEEDS: OnceLock<Vec<Value>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/examples");
        let mut seeds = Vec::new();
        for dir in [root.clone(), root.join("healthy")] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "json") {
                    let text = std::fs::read(&path).unwrap();
                    Report::from_json(&text)
                        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
                    seeds.push(serde_json::from_slice(&text).unwrap());
                }
            }
        }
        assert!(seeds.len() >= 20, "only {} example reports", seeds.len());
        seeds
    })
}

/// One step into a JSON value.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Every path in `v`, as steps from the root.
fn paths(v: &Value, at: &[Seg], out: &mut Vec<Vec<Seg>>) {
    let children: Vec<(Seg, &Value)> = match v {
        Value::Object(map) => map.iter().map(|(k, c)| (Seg::Key(k.clone()), c)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, c)| (Seg::Index(i), c))
            .collect(),
        _ => return,
    };
    for (seg, child) in children {
        let mut p = at.to_vec();
        p.push(seg);
        out.push(p.clone());
        paths(child, &p, out);
    }
}

fn step<'a>(v: &'a mut Value, seg: &Seg) -> &'a mut Value {
    match seg {
        Seg::Key(k) => &mut v[k.as_str()],
        Seg::Index(i) => &mut v[*i],
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    Remove,
    AddField(String, Value),
}

fn apply(root: &mut Value, path: &[Seg], m: &Mutation) {
    let (last, init) = path.split_last().expect("a non-empty path");
    let parent = init.iter().fold(root, step);
    match (m, last, parent) {
        (Mutation::AddField(k, new), _, parent) => {
            if let Value::Object(map) = step(parent, last) {
                map.insert(k.clone(), new.clone());
            }
        }
        (Mutation::Replace(new), seg, parent) => *step(parent, seg) = new.clone(),
        (Mutation::Remove, Seg::Index(i), Value::Array(items)) => {
            items.remove(*i);
        }
        (Mutation::Remove, Seg::Key(k), Value::Object(map)) => {
            map.remove(k);
        }
        _ => unreachable!("{path:?}"),
    }
}

/// The first step of a decoder error path (`a.b[0]` -> `a`).
fn first_segment(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or_default()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(json!("ESTABLISHED")),
        Just(json!("2026-11-23T10:00:00Z")),
        Just(json!("10.0.0.0/8")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => json_value().prop_map(Mutation::Replace),
        2 => Just(Mutation::Remove),
        1 => ("[a-z_]{1,10}", json_value()).prop_map(|(k, v)| Mutation::AddField(k, v)),
    ]
}

/// Each error names where: a path from a top-level field of the report.
fn check_errors(errors: &[SchemaError]) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty());
    for e in errors {
        prop_assert!(
            FIELDS.contains(&first_segment(&e.path)),
            "error without a field path: {:?}",
            e
        );
        prop_assert!(!e.message.is_empty());
    }
    Ok(())
}

/// The decoder and the server's parser agree, and neither panics.
fn decode(bytes: &[u8]) -> Result<Result<Report, ParseError>, TestCaseError> {
    let direct = Report::from_json(bytes);
    let served = parse_report(bytes);
    match (&direct, &served) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
        (Err(a), Err(ParseError::Invalid(b))) => prop_assert_eq!(a, b),
        // The server also refuses a report that would not read back as a
        // JSON value (a number past f64 or a lone surrogate in a field the
        // decoder skips).
        (Ok(_), Err(ParseError::Invalid(_))) => {
            prop_assert!(serde_json::from_slice::<Value>(bytes).is_err())
        }
        (Err(_), Err(ParseError::Malformed { line, .. })) => prop_assert!(*line >= 1),
        _ => prop_assert!(false, "from_json and parse_report disagree"),
    }
    Ok(served)
}

fn mutated() -> impl Strategy<Value = (Value, Vec<Seg>, Mutation)> {
    (0..seeds().len(), any::<prop::sample::Index>(), mutation()).prop_map(|(seed, at, m)| {
        let mut v = seeds()[seed].clone();
        let mut all = Vec::new();
        paths(&v, &[], &mut all);
        let path = at.get(&all).clone();
        apply(&mut v, &path, &m);
        (v, path, m)
    })
}

fn timestamp() -> impl Strategy<Value = DateTime<Utc>> {
    // 2000-01-01 .. 2100-01-01, microseconds.
    (946_684_800_000_000i64..4_102_444_800_000_000)
        .prop_map(|us| DateTime::from_timestamp_micros(us).unwrap())
}

/// A valid report: a seed's observations (a subset, from one or two
/// seeds), a new collector, id and times, and unknown kinds kept raw.
fn valid_report() -> impl Strategy<Value = Report> {
    let seeds_n = seeds().len();
    (
        0..seeds_n,
        0..seeds_n,
        prop::collection::vec(any::<bool>(), 16),
        "[a-z0-9][a-z0-9.-]{0,20}",
        prop::collection::btree_map("[a-z]{1,8}", ".{0,16}", 0..4),
        any::<u128>(),
        timestamp(),
        0i64..3_600_000_000,
        prop::collection::vec(
            prop::collection::btree_map("[a-z_]{1,8}", json_value(), 0..3),
            0..3,
        ),
    )
        .prop_map(|(a, b, keep, name, labels, id, started, micros, unknown)| {
            let mut base: Report = serde_json::from_value(seeds()[a].clone()).unwrap();
            let other: Report = serde_json::from_value(seeds()[b].clone()).unwrap();
            let mut observations: Vec<_> = base
                .observations
                .drain(..)
                .chain(other.observations)
                .zip(keep.iter().cycle())
                .filter(|(_, keep)| **keep)
                .map(|(o, _)| o)
                .collect();
            for fields in unknown {
                let mut raw: Map<String, Value> = fields.into_iter().collect();
                raw.insert("kind".into(), json!("x_future_kind"));
                observations.push(serde_json::from_value(Value::Object(raw)).unwrap());
            }
            base.report_id = uuid::Uuid::from_u128(id);
            base.collector.name = name.clone();
            base.collector.host = name;
            base.collector.labels = labels.into_iter().collect::<BTreeMap<_, _>>();
            base.started_at = started;
            base.finished_at = started + Duration::microseconds(micros);
            base.observations = observations;
            base
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// A report with one field replaced, removed or added decodes, or every
    /// error names a field path.
    #[test]
    fn mutated_reports_decode_or_name_the_field((v, _path, _mutation) in mutated()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        match decode(&bytes)? {
            Ok(report) => {
                // Whatever decodes is valid and decodes again the same.
                prop_assert!(report.validate().is_ok());
                let again = serde_json::to_vec(&report).unwrap();
                prop_assert_eq!(Report::from_json(&again).unwrap(), report);
            }
            Err(ParseError::Invalid(errors)) => {
                check_errors(&errors)?;
            }
            Err(ParseError::Malformed { .. }) => prop_assert!(false, "valid JSON called malformed"),
        }
    }

    /// Bytes flipped, cut or inserted anywhere: never a panic; not JSON is a
    /// line and column, JSON of the wrong shape names the field.
    #[test]
    fn garbled_bytes_never_panic(
        seed in 0..20usize,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
    ) {
        let mut bytes = serde_json::to_vec(&seeds()[seed % seeds().len()]).unwrap();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len().max(1));
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 if i < bytes.len() => { bytes.truncate(i.max(1)); }
                _ => bytes.insert(i.min(bytes.len()), byte),
            }
        }
        let root_is_object = serde_json::from_slice::<Value>(&bytes).is_ok_and(|v| v.is_object());
        if let Err(ParseError::Invalid(errors)) = decode(&bytes)?
            && root_is_object
        {
            check_errors(&errors)?;
        }
    }

    /// Generated valid reports survive JSON and come back identical, through
    /// the decoder and the server's parser alike.
    #[test]
    fn valid_reports_round_trip(report in valid_report()) {
        prop_assert!(report.validate().is_ok(), "{:?}", report.validate());
        let bytes = serde_json::to_vec(&report).unwrap();
        let back = decode(&bytes)?;
        prop_assert!(back.is_ok());
        let back = back.unwrap();
        prop_assert_eq!(&back, &report);
        prop_assert_eq!(serde_json::to_vec(&back).unwrap(), bytes);
    }
}
