//! `GET`, `POST` and `DELETE /api/push`: a login session's Web Push subscription, one per
//! session (device), kept with it in the logins file (`login::set_push`), so that
//! `sessctl dashboard sessions` lists it and `revoke` ends it with the session.
//!
//! - `GET` answers the server's VAPID public key (what the page subscribes with) and this
//!   session's endpoint, or null.
//! - `POST` takes the browser's `PushSubscription.toJSON()`; a new one replaces the old. An
//!   endpoint that is neither https nor http on loopback, or keys that do not decode, are a 400
//!   naming the value and the fix (`push::Subscription::check`).
//! - `DELETE` removes it (none is fine).
//!
//! Only a browser's login session subscribes: the token names no device.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Serialize;

use super::api::{json, ApiError};
use super::auth::Access;
use super::{blocking, App};
use crate::login::{self, Session};
use crate::push::{Keys, Subscription};

/// What `GET /api/push` answers.
#[derive(Serialize)]
struct Offer {
    key: String,
    endpoint: Option<String>,
}

/// `GET /api/push`.
pub async fn show(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Access>,
) -> Result<Response, ApiError> {
    let file = app.paths.push_key();
    let key = blocking(move || Keys::load_or_create(&file).map(|keys| keys.public())).await?;
    let endpoint = match access {
        Access::Session(session) => session.push.map(|p| p.endpoint),
        _ => None,
    };
    Ok(json(&Offer { key, endpoint }))
}

/// `POST /api/push`.
pub async fn subscribe(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Access>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let session = device(access)?;
    let subscription = Subscription::from_json(&body)
        .map_err(|err| ApiError::refused(StatusCode::BAD_REQUEST, format!("{err:#}")))?;
    set(&app, session, Some(subscription)).await
}

/// `DELETE /api/push`.
pub async fn unsubscribe(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Access>,
) -> Result<Response, ApiError> {
    let session = device(access)?;
    set(&app, session, None).await
}

async fn set(
    app: &Arc<App>,
    session: Session,
    push: Option<Subscription>,
) -> Result<Response, ApiError> {
    let token = app.gate.token()?;
    let paths = app.paths.clone();
    blocking(move || login::set_push(&paths, &token, &session.id, push)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The login session a subscription belongs to.
fn device(access: Access) -> Result<Session, ApiError> {
    match access {
        Access::Session(session) => Ok(session),
        Access::Token => Err(ApiError::refused(
            StatusCode::BAD_REQUEST,
            "notices go to a browser's login session, and the token names none: turn them on from the dashboard's page on the device",
        )),
        Access::Shell => Err(ApiError::refused(
            StatusCode::UNAUTHORIZED,
            "subscribing needs the login session's key",
        )),
    }
}
