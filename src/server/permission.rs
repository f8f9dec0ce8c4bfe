//! `POST /api/products/{p}/permission`: the answer to the agent's question for permission to
//! run a tool (`lifecycle::permission`), `{"id", "decision": "allow" | "deny"}`. It is logged
//! with who gave it: the login session by its id (`sessctl dashboard sessions`), or `token`.
//! A question no longer open is a 409, so a late tap never answers a later question. Another
//! host's product (`web@build`) is answered there, through its sessctl (`internal decide`),
//! logged there with the login session and this machine's name.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::api::{json, ApiError};
use super::auth::Access;
use super::hosts::{self, Target};
use super::{blocking, App};
use crate::error::quoted;
use crate::hosts::join_at;
use crate::lifecycle::permission;
use crate::state::{Asked, Behavior};

/// What the page sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    id: String,
    decision: Behavior,
}

/// What the answer did.
#[derive(Serialize)]
struct Answered {
    product: String,
    decision: Behavior,
    by: String,
    #[serde(flatten)]
    asked: Asked,
}

pub async fn answer(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Access>,
    target: Target,
    Json(answer): Json<Answer>,
) -> Result<Response, ApiError> {
    let by = match access {
        Access::Token => "token".to_string(),
        Access::Session(session) => format!("login session {}", session.id),
        Access::Shell => {
            return Err(ApiError::refused(
                StatusCode::UNAUTHORIZED,
                "answering needs the login session's key",
            ))
        }
    };
    let answer_id = answer.id.clone();
    let (id, decision) = (answer.id, answer.decision);
    let (product, decided) = match target {
        Target::Here(name) => {
            let ctx = app.ctx().await;
            let (product, who) = (name.to_string(), by.clone());
            let decided = blocking(move || permission::decide(&ctx, &name, &id, decision, &who));
            (product, decided.await?)
        }
        Target::There(name, watched) => {
            let product = join_at(name.as_str(), watched.name());
            let who = format!("{by} of the dashboard on {}", this_host());
            let decided = hosts::decide(&watched, name, id, decision, who).await?;
            (product, decided)
        }
    };
    let Some(asked) = decided else {
        return Err(ApiError::refused(
            StatusCode::CONFLICT,
            format!(
                "{product} has no open permission question {}; it was answered, or left to the terminal",
                quoted(&answer_id)
            ),
        ));
    };
    app.forget_list().await;
    Ok(json(&Answered {
        product,
        decision,
        by,
        asked,
    }))
}

/// This machine's name, as another host's event log names where an answer came from.
fn this_host() -> String {
    nix::unistd::gethostname().map_or_else(
        |_| "an unnamed host".to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}
