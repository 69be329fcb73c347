//! The pure core: no I/O, no HTTP, no SQL. The CLI, the server and the tests
//! all call these functions.

pub mod clause;
pub mod diff;
pub mod labels;
pub mod markdown;
pub mod matcher;
pub mod paste;
pub mod placeholders;
pub mod playbook;
pub mod postmortem;
pub mod prometheus;
pub mod promote;
pub mod signals;
pub mod study;
pub mod timers;
pub mod words;
