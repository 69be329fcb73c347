//! The JSON API under `/api/v1/`.

pub mod alertmanager;
pub mod collector_auth;
pub mod diagnose;
pub mod incidents;
pub mod playbook_edit;
pub mod playbooks;
pub mod postmortems;
pub mod reports;
pub mod search;
