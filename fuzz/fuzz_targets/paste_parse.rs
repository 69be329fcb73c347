//! The paste parsers (`ss`, `nstat`, `conntrack`, resolv.conf, …) on
//! arbitrary text: no panic, and what they recognise makes a valid report
//! (the property `tests/paste.rs` checks with proptest).
#![no_main]

use faultline::core::paste::{recognise, recognise_all, to_report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = recognise_all(text);
    if let Ok(observations) = recognise(text) {
        let report = to_report(observations, "fuzz");
        assert!(report.validate().is_ok(), "{:?}", report.validate());
    }
});
