//! The report decoder and the server's ingest parsing on arbitrary bytes:
//! no panic, the two agree, and whatever decodes re-encodes to the same
//! report.
#![no_main]

use faultline::ingest::{ParseError, parse_report};
use faultline_probe::report::Report;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let direct = Report::from_json(data);
    match (&direct, parse_report(data)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, &b);
            let again = serde_json::to_vec(a).expect("a decoded report encodes");
            assert_eq!(&Report::from_json(&again).expect("re-decodes"), a);
        }
        (Err(a), Err(ParseError::Invalid(b))) => assert_eq!(a, &b),
        (Err(_), Err(ParseError::Malformed { .. })) => {}
        // Stricter on purpose: JSON that would not read back as a value.
        (Ok(_), Err(ParseError::Invalid(_))) => {
            assert!(serde_json::from_slice::<serde_json::Value>(data).is_err());
        }
        (a, b) => panic!("from_json and parse_report disagree: {a:?} vs {b:?}"),
    }
});
