//! The JSON API, which mirrors the CLI: each route returns what the matching `--json` command
//! prints, from the same query or lifecycle function.
//!
//! | route | the CLI |
//! |---|---|
//! | `GET /api/products` | `sessctl list --json`, waiting and troubled products first (`query::triage`) |
//! | `POST /api/products` | `sessctl enable`, under the roots only (see `create`) |
//! | `GET /api/products/{p}` | `sessctl status p --json` |
//! | `POST /api/products/{p}/resume` | `sessctl resume p --no-attach --json` |
//! | `POST /api/products/{p}/start`, `stop`, `restart` | `sessctl start p` and so on, as `{product, step, line}` |
//! | `GET /api/products/{p}/events` | `sessctl log p --json` |
//! | `POST /api/products/{p}/permission` | none: the answer to the agent's question (`permission`) |
//! | `GET /api/doctor` | `sessctl doctor --json` |
//! | `GET /api/hosts` | each host of hosts.toml: its state and `list --json` there, as last read (see `hosts`) |
//!
//! `{p}` may be `PRODUCT@HOST` for a resume, start, stop or restart, HOST a hosts.toml name:
//! the answer is the one that host's sessctl gives, in the same shape.
//!
//! The dashboard masks `--env` values in every answer unless asked with `?reveal=env` (see
//! `mask`); with it, each answer is byte for byte the CLI's (the list's reports in their own
//! order).
//!
//! Every verdict of a resume is a 200: the verdict is the answer, in the body. An error is
//! `{"error", "exit_code"}` with the status its exit code maps to (see [`ApiError`]).

use std::sync::Arc;

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::IntoDeserializer;
use serde::{Deserialize, Serialize};

use super::hosts::{self, Target};
use super::mask::Reveal;
use super::{blocking, segment, App, Product};
use crate::error;
use crate::lifecycle::{control, resume};
use crate::query;
use crate::state::EventKind;

/// The JSON of `value`, byte for byte what the CLI prints (pretty, one trailing newline).
pub fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_string_pretty(value) {
        Ok(mut text) => {
            text.push('\n');
            ([(header::CONTENT_TYPE, "application/json")], text).into_response()
        }
        Err(err) => ApiError::internal(format!("writing JSON: {err}")).into_response(),
    }
}

/// A failed request: the status, and the message and exit code the CLI would have given.
/// Built only by [`ApiError::refused`], [`ApiError::internal`], [`ApiError::timed_out`] or
/// from an error, so that the exit code always fits the status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    exit_code: u8,
}

impl ApiError {
    /// The server failed: a 500, with the CLI's exit code for a failure.
    pub fn internal(message: String) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message,
            exit_code: error::FAILURE,
        }
    }

    /// A host that did not finish what it was asked in time: a 504, with the CLI's exit code
    /// for a host that does not answer.
    pub fn timed_out(message: String) -> ApiError {
        ApiError {
            status: StatusCode::GATEWAY_TIMEOUT,
            message,
            exit_code: error::NO_MANAGER,
        }
    }

    /// A request refused for what it asks or lacks (no such product, no login, another
    /// site's origin or host): `status`, with the CLI's exit code for bad input.
    pub fn refused(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            exit_code: error::USAGE,
        }
    }
}

impl From<anyhow::Error> for ApiError {
    /// Bad input is a 400, an unreachable manager a 503, anything else a 500.
    fn from(err: anyhow::Error) -> ApiError {
        let exit_code = error::code_of(&err);
        let status = match exit_code {
            error::USAGE => StatusCode::BAD_REQUEST,
            error::NO_MANAGER => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: format!("{err:#}"),
            exit_code,
        }
    }
}

/// Its message, as a log line of the server's own work (the notifier) says it.
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            exit_code: u8,
        }
        let body = Body {
            error: &self.message,
            exit_code: self.exit_code,
        };
        let mut response = json(&body);
        *response.status_mut() = self.status;
        response
    }
}

pub async fn products(
    State(app): State<Arc<App>>,
    Query(reveal): Query<Reveal>,
) -> Result<Response, ApiError> {
    Ok(json(&app.list(&reveal).await?))
}

pub async fn product(
    State(app): State<Arc<App>>,
    Product(name): Product,
    Query(reveal): Query<Reveal>,
) -> Result<Response, ApiError> {
    let mut reports = app.reports(Some(name)).await?;
    Ok(json(&reveal.apply(&reports.remove(0))?))
}

pub async fn events(
    State(app): State<Arc<App>>,
    Product(name): Product,
    Query(reveal): Query<Reveal>,
) -> Result<Response, ApiError> {
    let paths = app.paths.clone();
    let events = blocking(move || query::log::events(&paths, &name)).await?;
    Ok(json(&reveal.apply(&events)?))
}

pub async fn hosts(
    State(app): State<Arc<App>>,
    Query(reveal): Query<Reveal>,
) -> Result<Response, ApiError> {
    Ok(json(&app.fleet.shown(&reveal)?))
}

pub async fn doctor(
    State(app): State<Arc<App>>,
    Query(reveal): Query<Reveal>,
) -> Result<Response, ApiError> {
    let ctx = app.ctx().await;
    let report = blocking(move || query::doctor::sweep(&ctx, None)).await?;
    Ok(json(&reveal.apply(&report)?))
}

/// What `POST /api/products/{p}/{action}` may ask for: the path's last segment, by its
/// lowercase name; any other is a 404.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Resume,
    Start,
    Stop,
    Restart,
}

impl Action {
    /// Its name, the CLI's command.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Resume => "resume",
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Action {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Action, ApiError> {
        let action = segment(parts, "action").await?;
        let named: Result<Action, serde::de::value::Error> =
            Action::deserialize(action.as_str().into_deserializer());
        named.map_err(|_| {
            ApiError::refused(
                StatusCode::NOT_FOUND,
                format!(
                    "no action {}: resume, start, stop or restart",
                    error::quoted(&action)
                ),
            )
        })
    }
}

/// `POST /api/products/{p}/{action}`: resume, start, stop or restart.
pub async fn act(
    State(app): State<Arc<App>>,
    target: Target,
    action: Action,
) -> Result<Response, ApiError> {
    let name = match target {
        Target::Here(name) => name,
        Target::There(name, host) => return hosts::act(host, name, action).await,
    };
    let ctx = app.ctx().await;
    let step = match action {
        Action::Resume => {
            let resumed =
                blocking(move || resume::resume_product(&ctx, &name, EventKind::Resume)).await?;
            app.forget_list().await;
            return Ok(json(&resumed.outcome));
        }
        Action::Start => control::start,
        Action::Stop => control::stop,
        Action::Restart => control::restart,
    };
    let done = blocking(move || Ok(control::Done::new(&name, step(&ctx, &name)?))).await?;
    app.forget_list().await;
    Ok(json(&done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refusal_is_its_status_with_the_message_and_the_usage_exit_code() {
        let response = ApiError::refused(StatusCode::FORBIDDEN, "not from here").into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            body,
            "{\n  \"error\": \"not from here\",\n  \"exit_code\": 2\n}\n"
        );
    }
}
