//! The HTTP shell: one state, one router, one way to serve it.

pub mod access;
mod api;
mod assets;
pub mod auth;
pub mod charts;
mod error;
pub mod forwarded;
mod head_deadline;
mod health;
pub mod limits;
pub mod metrics;
mod pages;
pub mod peers;
pub mod render;
mod serve;
pub mod units;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderName;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::routing::{get, post};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::kb::KnowledgeBase;

pub use error::{ApiError, PageError};
pub use serve::{Stop, serve, shutdown_signal};

/// Everything a handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub kb: Arc<KnowledgeBase>,
    pub config: Arc<Config>,
    /// Set on SIGTERM: `/readyz` fails so traffic moves away before we stop.
    pub draining: Arc<AtomicBool>,
    /// Rate and concurrency limits (`web::limits`).
    pub limits: Arc<limits::Limits>,
    /// Request counters and latencies for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Incident timeline appends, for the incident pages' live streams.
    pub incident_bus: crate::incidents::bus::Bus,
    /// Per-collector cool-down of incidents opened from reports.
    pub report_cool_down: Arc<crate::incidents::CoolDown>,
    /// Markdown rendering off the async workers, cached per version.
    pub renderer: Arc<render::Renderer>,
    /// Links in outbound messages and the key that signs their Right /
    /// Wrong links (the incident page checks them).
    pub links: Arc<crate::notify::Links>,
    /// The group commit reports and their incident events are written by.
    pub report_writer: crate::ingest::GroupCommit,
    /// Where to pull evidence from (`prometheus_url`), when set.
    pub prometheus: Option<crate::prometheus::Settings>,
}

impl AppState {
    pub fn new(kb: Arc<KnowledgeBase>, config: Config) -> AppState {
        AppState {
            report_writer: crate::ingest::GroupCommit::new(
                kb.store().clone(),
                crate::ingest::BatchOptions::from_config(&config),
            ),
            kb,
            limits: Arc::new(limits::Limits::new(&config.security)),
            metrics: Arc::default(),
            incident_bus: Default::default(),
            report_cool_down: Arc::new(
                crate::incidents::CoolDown::new(Duration::from_secs(config.incident_cool_down_s))
                    .with_fold(crate::incidents::Fold {
                        labels: config.fold_labels.clone(),
                        window: Duration::from_secs(config.fold_window_s),
                    }),
            ),
            links: Arc::new(crate::notify::Links::new(
                &config.public_base_url(),
                config.notifications.link_valid_days,
            )),
            // `serve` refuses a configuration whose settings do not read.
            prometheus: config.prometheus().ok().flatten(),
            config: Arc::new(config),
            draining: Arc::default(),
            renderer: Arc::default(),
        }
    }
}

/// Request id header: kept when a proxy sent one, made up otherwise, logged
/// in the request span and echoed in the response.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Requests larger than this are refused with 413 before a handler runs.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Every route of the server, in one place. Each route also needs its line
/// in `access::RULES` (who may call it); `tests/access.rs` checks that.
/// Add routes above the `route_layer` call: it only covers routes before it.
pub fn app(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config.request_timeout_s);
    let (limits, request_metrics) = (state.limits.clone(), state.metrics.clone());
    let report_body_limit = state.config.report_body_limit;
    let state_body_timeout = state.config.body_read_timeout();
    let trusted_proxies = Arc::new(state.config.security.trusted_proxies.clone());
    Router::new()
        .route("/", get(pages::home::view_home_get))
        .route("/playbooks", get(pages::library::view_library_get))
        .route("/playbooks/{id}", get(pages::playbook::view_playbook_get))
        .route(
            "/playbooks/new",
            get(pages::editor::view_new_get).post(pages::editor::view_new_post),
        )
        .route(
            "/playbooks/{id}/edit",
            get(pages::editor::view_editor_get).post(pages::editor::view_editor_post),
        )
        .route(
            "/playbooks/{id}/history",
            get(pages::history::view_history_get),
        )
        .route(
            "/playbooks/{id}/revert",
            post(pages::history::view_revert_post),
        )
        .route(
            "/postmortems",
            get(pages::postmortems::view_postmortems_get),
        )
        .route(
            "/postmortems/{id}",
            get(pages::postmortems::view_postmortem_get),
        )
        .route(
            "/postmortems/{id}/edit",
            get(pages::postmortems::view_postmortem_edit_get)
                .post(pages::postmortems::view_postmortem_edit_post),
        )
        .route(
            "/postmortems/{id}/history",
            get(pages::postmortems::view_postmortem_history_get),
        )
        .route(
            "/postmortems/{id}/export.md",
            get(pages::postmortems::view_postmortem_export_get),
        )
        .route(
            "/postmortems/{id}/promote",
            post(pages::promote::view_postmortem_promote_post),
        )
        .route(
            "/incidents/{id}/postmortem",
            post(pages::postmortems::view_incident_postmortem_post),
        )
        .route(
            "/api/v1/postmortems/preview",
            post(pages::postmortems::preview),
        )
        .route(
            "/api/v1/postmortems",
            get(api::postmortems::list_postmortems),
        )
        .route(
            "/api/v1/postmortems/{id}",
            get(api::postmortems::get_postmortem),
        )
        .route("/search", get(pages::search::view_search_get))
        .route("/lessons", get(pages::lessons::view_lessons_get))
        .route("/signals", get(pages::signals::view_signals_get))
        .route("/static/{*path}", get(assets::get_asset))
        .route("/api/v1/playbooks", get(api::playbooks::list_playbooks))
        .route(
            "/api/v1/playbooks/{id}",
            get(api::playbooks::get_playbook).put(api::playbook_edit::put_playbook),
        )
        .route(
            "/api/v1/playbooks/preview",
            post(api::playbook_edit::preview),
        )
        .route(
            "/api/v1/playbooks/testbench",
            post(api::playbook_edit::testbench),
        )
        .route("/api/v1/search", get(api::search::search))
        .route(
            "/api/v1/diagnose",
            axum::routing::post(api::diagnose::diagnose),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route(
            "/login",
            get(pages::login::view_login_get).post(pages::login::view_login_post),
        )
        .route("/logout", post(pages::login::view_logout_post))
        .route(
            "/account/password",
            get(pages::account::view_password_get).post(pages::account::view_password_post),
        )
        .route("/admin", get(pages::admin::view_admin_get))
        .route("/admin/users", post(pages::admin::view_admin_users_post))
        .route(
            "/admin/users/{name}",
            post(pages::admin::view_admin_user_post),
        )
        .route("/admin/tokens", post(pages::admin::view_admin_tokens_post))
        .route(
            "/admin/tokens/{id}/revoke",
            post(pages::admin::view_admin_token_revoke_post),
        )
        .route(
            "/admin/collectors",
            post(pages::admin::view_admin_collectors_post),
        )
        .route(
            "/admin/collectors/{name}/revoke",
            post(pages::admin::view_admin_collector_revoke_post),
        )
        .route(
            "/admin/notifications",
            post(pages::admin::view_admin_notifications_post),
        )
        .route(
            "/admin/notifications/{name}/remove",
            post(pages::admin::view_admin_notification_remove_post),
        )
        .route(
            "/admin/notifications/{name}/test",
            post(pages::admin::view_admin_notification_test_post),
        )
        .route("/collectors", get(pages::collectors::view_collectors_get))
        .route("/reports", get(pages::reports::view_reports_get))
        .route("/reports/{id}", get(pages::reports::view_report_get))
        .route(
            "/reports/{id}/incident",
            post(pages::reports::view_report_incident_post),
        )
        .route("/study", get(pages::study::view_study_get))
        .route("/study/team", get(pages::study::view_study_team_get))
        .route(
            "/study/{id}",
            get(pages::study::view_exercise_get).post(pages::study::view_exercise_post),
        )
        .route(
            "/study/{id}/hint",
            post(pages::study::view_exercise_hint_post),
        )
        .route(
            "/study/{id}/attempts/{attempt}",
            get(pages::study::view_reveal_get).post(pages::study::view_reveal_post),
        )
        .route("/study/{id}/sheet", get(pages::study::view_sheet_get))
        .route(
            "/api/v1/reports",
            post(api::reports::post_report)
                .layer::<_, Infallible>(axum::extract::DefaultBodyLimit::max(report_body_limit))
                // Inflates `Content-Encoding: gzip` as the handler reads: the
                // limit above counts inflated bytes, so a small gzip bomb is
                // refused (413) after `report_body_limit`, never inflated whole.
                // Other encodings reach the handler, which answers 415 JSON.
                .layer::<_, Infallible>(
                    RequestDecompressionLayer::new().pass_through_unaccepted(true),
                )
                .get(api::reports::list_reports),
        )
        .route("/api/v1/reports/{id}", get(api::reports::get_report))
        .route(
            "/incidents",
            get(pages::incidents::view_incidents_get).post(pages::incidents::view_incidents_post),
        )
        .route(
            "/incidents/new",
            get(pages::incidents::view_incident_new_get),
        )
        .route(
            "/incidents/{id}",
            get(pages::incidents::view_incident_get).post(pages::incidents::view_incident_post),
        )
        .route(
            "/incidents/{id}/verdict",
            post(pages::feedback::view_incident_verdict_post),
        )
        .route(
            "/incidents/{id}/live",
            get(pages::incidents::view_incident_live_get),
        )
        .route(
            "/incidents/{id}/events",
            get(pages::incidents::view_incident_events_get),
        )
        .route("/api/v1/incidents", get(api::incidents::list_incidents))
        .route("/api/v1/incidents/{id}", get(api::incidents::get_incident))
        .route(
            "/api/v1/alertmanager",
            post(api::alertmanager::post_alertmanager),
        )
        .route(
            "/r/{alertname}",
            get(pages::alert_routes::view_alert_redirect_get),
        )
        .route(
            "/alert-routes",
            get(pages::alert_routes::view_alert_routes_get)
                .post(pages::alert_routes::view_alert_routes_post),
        )
        // Who may call what: every route above, by `access::RULES`.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .fallback(pages::not_found)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(
            BODY_LIMIT.max(report_body_limit),
        ))
        .layer(middleware::from_fn(api::reports::json_payload_too_large))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(middleware::from_fn_with_state(
            request_metrics,
            metrics::track,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            let request_id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            let client = req.extensions().get::<forwarded::ClientIp>().map(|c| c.0);
            tracing::info_span!("http", method = %req.method(), route, request_id, client = ?client)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::from_fn_with_state(limits, limits::shed_load))
        .layer(middleware::from_fn_with_state(
            limits::BodyRead {
                limit: BODY_LIMIT.max(report_body_limit),
                timeout: state_body_timeout,
            },
            limits::read_body,
        ))
        .layer(middleware::from_fn_with_state(
            trusted_proxies,
            forwarded::resolve_client,
        ))
}
