//! Who may call which route: one table, read by the `authorize` middleware
//! on every request and walked by `tests/access.rs` with every role.
//!
//! Adding a route to `web::app`? Add its line here too. The test scans the
//! router's source for `.route(` calls and fails for any path and method
//! without a rule. At run time a safe method (GET, HEAD) without a rule
//! defaults to the viewer role; an unsafe one without a rule is refused
//! (fail closed) and logged.

use axum::http::Method;

use crate::store::Role;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not (health, metrics, assets, the login page).
    Public,
    /// At least this role, from a session cookie or an API bearer token.
    Role(Role),
    /// The probe ingest endpoint: a collector bearer token, checked by the
    /// ingest handler's own extractor; sessions and API tokens do not count.
    Collector,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The route as written in `web::app` (`/playbooks/{id}`).
    pub path: &'static str,
    pub method: Method,
    pub access: Access,
    /// Largest request body, when smaller than the global limit.
    pub body_limit: Option<usize>,
    /// An unsafe method that changes nothing (`POST /api/v1/diagnose`
    /// computes an answer): anonymous read access covers it like a GET.
    pub reads_only: bool,
}

const fn rule(path: &'static str, method: Method, access: Access) -> Rule {
    Rule {
        path,
        method,
        access,
        body_limit: None,
        reads_only: false,
    }
}

/// A POST that only reads (see [`Rule::reads_only`]).
const fn read(path: &'static str, method: Method, access: Access) -> Rule {
    Rule {
        path,
        method,
        access,
        body_limit: None,
        reads_only: true,
    }
}

const fn small(path: &'static str, method: Method, access: Access) -> Rule {
    Rule {
        path,
        method,
        access,
        body_limit: Some(FORM_LIMIT),
        reads_only: false,
    }
}

/// Body limit of the login and admin forms.
pub const FORM_LIMIT: usize = 16 * 1024;

/// Body limit of the playbook editor's form (the whole text, URL-encoded).
pub const PLAYBOOK_FORM_LIMIT: usize = 512 * 1024;

/// A form posting a playbook's text: read whole by `authorize` so the CSRF
/// field in it can be checked.
const fn playbook_form(path: &'static str, access: Access) -> Rule {
    Rule {
        path,
        method: Method::POST,
        access,
        body_limit: Some(PLAYBOOK_FORM_LIMIT),
        reads_only: false,
    }
}

/// Body limit of the incident page's forms: a paste of command output, URL-encoded.
pub const INCIDENT_FORM_LIMIT: usize = 1024 * 1024;

/// A form on an incident (note, paste, tick, status): read whole by
/// `authorize` so the CSRF field in it can be checked.
const fn incident_form(path: &'static str, access: Access) -> Rule {
    Rule {
        path,
        method: Method::POST,
        access,
        body_limit: Some(INCIDENT_FORM_LIMIT),
        reads_only: false,
    }
}

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const VIEWER: Access = Access::Role(Role::Viewer);
const RESPONDER: Access = Access::Role(Role::Responder);
const EDITOR: Access = Access::Role(Role::Editor);
const ADMIN: Access = Access::Role(Role::Admin);
const PUBLIC: Access = Access::Public;

/// Every route. Routes other parts of the product are adding get their
/// line here as they land; a line for a route not (yet) in the router is
/// harmless.
pub static RULES: &[Rule] = &[
    // Pages
    rule("/", GET, VIEWER),
    rule("/playbooks", GET, VIEWER),
    rule("/playbooks/{id}", GET, VIEWER),
    rule("/playbooks/{id}/edit", GET, EDITOR),
    playbook_form("/playbooks/{id}/edit", EDITOR),
    rule("/playbooks/new", GET, EDITOR),
    playbook_form("/playbooks/new", EDITOR),
    rule("/playbooks/{id}/history", GET, VIEWER),
    small("/playbooks/{id}/revert", POST, EDITOR),
    rule("/postmortems", GET, VIEWER),
    rule("/postmortems/{id}", GET, VIEWER),
    rule("/postmortems/{id}/edit", GET, RESPONDER),
    playbook_form("/postmortems/{id}/edit", RESPONDER),
    rule("/postmortems/{id}/history", GET, VIEWER),
    rule("/postmortems/{id}/export.md", GET, VIEWER),
    small("/postmortems/{id}/promote", POST, EDITOR),
    small("/incidents/{id}/postmortem", POST, RESPONDER),
    read("/api/v1/postmortems/preview", POST, RESPONDER),
    rule("/api/v1/postmortems", GET, VIEWER),
    rule("/api/v1/postmortems/{id}", GET, VIEWER),
    rule("/search", GET, VIEWER),
    rule("/lessons", GET, VIEWER),
    rule("/reports", GET, VIEWER),
    rule("/reports/{id}", GET, VIEWER),
    small("/reports/{id}/incident", POST, RESPONDER),
    rule("/collectors", GET, VIEWER),
    rule("/signals", GET, VIEWER),
    rule("/study", GET, VIEWER),
    rule("/study/team", GET, EDITOR),
    rule("/study/{id}", GET, VIEWER),
    small("/study/{id}", POST, VIEWER),
    small("/study/{id}/hint", POST, VIEWER),
    rule("/study/{id}/attempts/{attempt}", GET, VIEWER),
    small("/study/{id}/attempts/{attempt}", POST, VIEWER),
    rule("/study/{id}/sheet", GET, VIEWER),
    rule("/incidents", GET, VIEWER),
    small("/incidents", POST, RESPONDER),
    rule("/incidents/{id}", GET, VIEWER),
    incident_form("/incidents/{id}", RESPONDER),
    small("/incidents/{id}/verdict", POST, RESPONDER),
    rule("/incidents/new", GET, RESPONDER),
    rule("/incidents/{id}/live", GET, VIEWER),
    rule("/incidents/{id}/events", GET, VIEWER),
    rule("/r/{alertname}", GET, VIEWER),
    rule("/alert-routes", GET, VIEWER),
    small("/alert-routes", POST, EDITOR),
    rule("/static/{*path}", GET, PUBLIC),
    // Accounts
    rule("/login", GET, PUBLIC),
    small("/login", POST, PUBLIC),
    small("/logout", POST, VIEWER),
    rule("/account/password", GET, VIEWER),
    small("/account/password", POST, VIEWER),
    rule("/admin", GET, ADMIN),
    small("/admin/users", POST, ADMIN),
    small("/admin/users/{name}", POST, ADMIN),
    small("/admin/tokens", POST, ADMIN),
    small("/admin/tokens/{id}/revoke", POST, ADMIN),
    small("/admin/collectors", POST, ADMIN),
    small("/admin/collectors/{name}/revoke", POST, ADMIN),
    small("/admin/notifications", POST, ADMIN),
    small("/admin/notifications/{name}/remove", POST, ADMIN),
    small("/admin/notifications/{name}/test", POST, ADMIN),
    // JSON API
    rule("/api/v1/playbooks", GET, VIEWER),
    rule("/api/v1/playbooks/{id}", GET, VIEWER),
    rule("/api/v1/playbooks/{id}", PUT, EDITOR),
    read("/api/v1/playbooks/preview", POST, EDITOR),
    read("/api/v1/playbooks/testbench", POST, EDITOR),
    rule("/api/v1/search", GET, VIEWER),
    rule("/api/v1/reports", POST, Access::Collector),
    rule("/api/v1/reports", GET, VIEWER),
    rule("/api/v1/reports/{id}", GET, VIEWER),
    read("/api/v1/diagnose", POST, VIEWER),
    rule("/api/v1/incidents", GET, VIEWER),
    rule("/api/v1/incidents/{id}", GET, VIEWER),
    rule("/api/v1/alertmanager", POST, RESPONDER),
    // Operations
    rule("/healthz", GET, PUBLIC),
    rule("/readyz", GET, PUBLIC),
    rule("/metrics", GET, PUBLIC),
];

/// The rule for a matched route and method. HEAD follows GET.
pub fn rule_for(path: &str, method: &Method) -> Option<&'static Rule> {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    RULES.iter().find(|r| r.path == path && r.method == *method)
}

/// GET, HEAD and OPTIONS change nothing; everything else needs a CSRF check.
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_route_and_method_has_two_rules() {
        for (i, a) in RULES.iter().enumerate() {
            for b in &RULES[i + 1..] {
                assert!(
                    !(a.path == b.path && a.method == b.method),
                    "{} {} is listed twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    #[test]
    fn head_follows_get_and_writes_are_never_public_by_accident() {
        assert_eq!(rule_for("/", &Method::HEAD).map(|r| r.access), Some(VIEWER));
        for r in RULES {
            if !is_safe(&r.method) && r.access == PUBLIC {
                assert_eq!(r.path, "/login", "only the login form is a public write");
            }
        }
    }
}
