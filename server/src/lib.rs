//! Faultline: a network-incident triage dashboard with a knowledge base.
//!
//! `core` is pure (no I/O); everything else is the shell that wires it to
//! storage, search, HTTP and the command line. Dependencies point inward:
//! web → kb → core.

pub mod accounts;
pub mod authoring;
pub mod builtin;
pub mod cli;
pub mod config;
pub mod core;
pub mod diagnose;
pub mod feedback;
pub mod import;
pub mod incidents;
pub mod ingest;
pub mod kb;
pub mod logging;
pub mod notify;
pub mod postmortems;
pub mod prometheus;
pub mod promote;
pub mod replicas;
pub mod retention;
pub mod search;
pub mod store;
pub mod web;
