//! faultline-probe: measures what the kernel and the network show on a host
//! and ships it to the Faultline server as v1 reports (the wire format is [`report`]).
//!
//! - [`report`]: the wire format, shared with the server.
//! - [`collect`]: one module per observation kind.
//! - [`ship`] and [`spool`]: delivery with retries and an on-disk queue.
//! - [`redact`]: optional keyed hashing of peers and names.
//! - [`cli`]: the `faultline-probe` command line (see probes/README.md).
//!
//! Everything but [`report`] sits behind the default `collectors` feature, so
//! a consumer of the schema alone can use `default-features = false`.

#![warn(missing_docs)]

#[cfg(feature = "collectors")]
pub mod cli;
#[cfg(feature = "collectors")]
pub mod collect;
#[cfg(feature = "collectors")]
pub mod config;
#[cfg(feature = "collectors")]
pub mod redact;
pub mod report;
#[cfg(feature = "collectors")]
pub mod ship;
#[cfg(feature = "collectors")]
pub mod spool;
