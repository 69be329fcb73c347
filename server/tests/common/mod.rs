//! Shared set-up for the integration tests: a real SQLite file in a
//! temporary directory, the built-in playbooks loaded into it.
#![allow(dead_code)]

use std::sync::Arc;

use faultline::config::Config;
use faultline::kb::KnowledgeBase;
use faultline::web::AppState;
use tempfile::TempDir;

pub struct TestApp {
    pub dir: TempDir,
    pub state: AppState,
}

pub async fn app_with(config: Config) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = faultline::store::connect(&faultline::store::sqlite_url(dir.path()))
        .await
        .expect("open sqlite");
    let kb: Arc<KnowledgeBase> = KnowledgeBase::open(store)
        .await
        .expect("open knowledge base");
    TestApp {
        dir,
        state: AppState::new(kb, config),
    }
}

/// The default config with anonymous read access on: most page and API
/// tests read without logging in.
pub fn anonymous_read_config() -> Config {
    let mut config = Config::default();
    config.security.anonymous_read = true;
    config
}

pub async fn app() -> TestApp {
    app_with(anonymous_read_config()).await
}

/// A logged-in browser session: the `Cookie` header value and the CSRF token.
#[derive(Debug, Clone)]
pub struct Login {
    pub cookie: String,
    pub csrf: String,
}

/// Creates a user with `role` (no usable password: tests that log in
/// through the form use `accounts::add_user`) and a session for them.
pub async fn session_for(state: &AppState, name: &str, role: faultline::store::Role) -> Login {
    use faultline::accounts::{hash_secret, random_secret};
    let store = state.kb.store();
    let user = match store.user_by_name(name).await.unwrap() {
        Some((user, _)) => user,
        None => store
            .create_user(name, "not-a-password-hash", role, "test")
            .await
            .expect("create user"),
    };
    let id = random_secret();
    let csrf = random_secret();
    store
        .create_session(faultline::store::NewSession {
            id_hash: &hash_secret(&id),
            user_id: user.id,
            csrf_token: &csrf,
            replaces: None,
        })
        .await
        .expect("create session");
    Login {
        cookie: format!("{}={id}", faultline::web::auth::SESSION_COOKIE),
        csrf,
    }
}
