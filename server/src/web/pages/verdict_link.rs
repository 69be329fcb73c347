//! The Right / Wrong links in outbound messages, as the incident page
//! receives them: `/incidents/{id}?verdict=right&playbook=…&until=…&sig=…`.
//!
//! Following one records nothing (chat clients fetch links for previews):
//! when its signature holds and it has not expired, the page offers to
//! record that verdict, to a logged-in responder, with one click that posts
//! the usual verdict form (CSRF and all). A link whose signature does not
//! hold, or that expired, is said to be so and offers nothing.

use chrono::Utc;

use crate::notify::LinkError;
use crate::store::{Incident, Role, Verdict};
use crate::web::AppState;
use crate::web::auth::CurrentUser;

/// The query of a verdict link (all present, or it is not one).
pub struct LinkParams<'a> {
    pub verdict: &'a str,
    pub playbook: &'a str,
    pub until: &'a str,
    pub sig: &'a str,
}

/// What the page shows about a verdict link.
pub struct VerdictLinkView {
    /// `ok` or `warn`: the flash style.
    pub kind: &'static str,
    pub text: String,
    /// Offer the one-click form (a responder, a good link).
    pub offer: bool,
    pub playbook: String,
    /// `right` or `wrong`.
    pub verdict: &'static str,
    /// Where to log in first, when nobody is.
    pub login: Option<String>,
}

fn warn(text: String) -> VerdictLinkView {
    VerdictLinkView {
        kind: "warn",
        text,
        offer: false,
        playbook: String::new(),
        verdict: "right",
        login: None,
    }
}

pub async fn view(
    state: &AppState,
    incident: &Incident,
    user: Option<&CurrentUser>,
    p: LinkParams<'_>,
    here: &str,
) -> VerdictLinkView {
    let Some(verdict) = Verdict::parse(p.verdict) else {
        return warn(format!(
            "This link asks for the verdict {:?}, which is neither right nor wrong.",
            p.verdict
        ));
    };
    let Ok(until) = p.until.parse::<i64>() else {
        return warn("This Right / Wrong link is damaged (its expiry does not read).".into());
    };
    let signer = match state.links.signer(state.kb.store()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "verdict link not checked: the key is not readable");
            return warn(
                "This Right / Wrong link cannot be checked just now; judge the diagnosis below."
                    .into(),
            );
        }
    };
    match signer.check(incident.id, p.playbook, verdict, until, p.sig, Utc::now()) {
        Err(LinkError::BadSignature) => {
            return warn(
                "This Right / Wrong link was not written by this server, or was changed since: \
                 nothing is offered from it. Judge the diagnosis below."
                    .into(),
            );
        }
        Err(LinkError::Expired) => {
            return warn("This Right / Wrong link has expired; judge the diagnosis below.".into());
        }
        Ok(()) => {}
    }
    let Some(current) = state.kb.get(p.playbook) else {
        return warn(format!(
            "The playbook {:?} this link is about no longer exists.",
            p.playbook
        ));
    };
    let title = &current.playbook.meta.title;
    let word = verdict.as_str();
    let user = user.filter(|u| !u.is_anonymous());
    let (text, offer, login) = match user {
        Some(u) if u.can(Role::Responder) => (
            format!("From the message: record that “{title}” is the {word} diagnosis?"),
            true,
            None,
        ),
        Some(_) => (
            format!(
                "The message asks whether “{title}” is the {word} diagnosis; recording a \
                 verdict needs the responder role."
            ),
            false,
            None,
        ),
        None => (
            format!(
                "The message asks whether “{title}” is the {word} diagnosis: log in as a \
                 responder to record it."
            ),
            false,
            Some(format!(
                "/login?next={}",
                crate::web::auth::percent_encode(here)
            )),
        ),
    };
    VerdictLinkView {
        kind: "ok",
        text,
        offer,
        playbook: p.playbook.to_owned(),
        verdict: verdict.as_str(),
        login,
    }
}
