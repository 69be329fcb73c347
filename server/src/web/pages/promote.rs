//! `POST /postmortems/{id}/promote`: the postmortem becomes a new playbook,
//! and the editor opens on it with the test bench run against its examples.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::kb::KbError;
use crate::promote::{PromotionError, promote_postmortem};
use crate::store::{Role, StoreError};
use crate::web::auth::{CurrentUser, signed_in};
use crate::web::{ApiError, AppState, PageError};

/// Whether the caller may promote (the postmortem page shows the button).
pub fn can_promote() -> bool {
    signed_in().is_some_and(|u| u.can(Role::Editor))
}

pub async fn view_postmortem_promote_post(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let promotion = promote_postmortem(&state.kb, &state.incident_bus, id, &user.actor())
        .await
        .map_err(page_error)?;
    let to = format!(
        "/playbooks/{}/edit?bench=1#bench",
        promotion.playbook.playbook.id()
    );
    Ok(Redirect::to(&to).into_response())
}

fn page_error(e: PromotionError) -> PageError {
    let message = format!("Not promoted: {e}.");
    let status = match e {
        PromotionError::NoPostmortem(_) => StatusCode::NOT_FOUND,
        PromotionError::NoIncident(_) => StatusCode::GONE,
        PromotionError::Unreadable { .. } | PromotionError::Promote(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        // Another promotion took the id between choosing and saving it.
        PromotionError::Kb(KbError::Store(StoreError::Conflict { .. })) => {
            return PageError {
                status: StatusCode::CONFLICT,
                message: "A playbook with this id was saved a moment ago; promote again to get \
                          a fresh id."
                    .into(),
            };
        }
        PromotionError::Kb(k) => return ApiError::from(k).into(),
        PromotionError::Store(s) => return ApiError::from(s).into(),
    };
    PageError { status, message }
}
