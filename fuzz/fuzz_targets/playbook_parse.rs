//! The playbook parser on arbitrary text: no panic, and whatever parses
//! parses again from its own source to the same playbook.
#![no_main]

use faultline::core::playbook::Playbook;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(p) = Playbook::parse("fuzz.md", text) {
        assert_eq!(Playbook::parse("fuzz.md", p.source()).expect("reparses"), p);
    }
});
