//! The JSON API, which mirrors the CLI: each route returns what the matching `--json` command
//! prints, from the same query or lifecycle function.
//!
//! | route | the CLI |
//! |---|---|
//! | `GET /api/products` | `sessctl list --json` |
//! | `GET /api/products/{p}` | `sessctl status p --json` |
//! | `POST /api/products/{p}/resume` | `sessctl resume p --no-attach --json` |
//! | `POST /api/products/{p}/start`, `stop`, `restart` | `sessctl start p` and so on, as `{product, step, line}` |
//! | `GET /api/products/{p}/events` | `sessctl log p --json` |
//! | `GET /api/doctor` | `sessctl doctor --json` |
//!
//! The dashboard masks `--env` values in every answer unless asked with `?reveal=env` (see
//! `mask`); with it, each answer is byte for byte the CLI's.
//!
//! Every verdict of a resume is a 200: the verdict is the answer, in the body. An error is
//! `{"error", "exit_code"}` with the status its exit code maps to (see [`ApiError`]).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::mask::Reveal;
use super::{blocking, product_name, App};
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
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub exit_code: u8,
}

impl ApiError {
    pub fn internal(message: String) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message,
            exit_code: error::FAILURE,
        }
    }

    pub fn not_found(message: String) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message,
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
    Ok(json(&reveal.apply(&app.list().await?)?))
}

pub async fn product(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(reveal): Query<Reveal>,
) -> Result<Response, ApiError> {
    let name = product_name(&app, &name)?;
    let mut reports = app.reports(Some(name)).await?;
    Ok(json(&reveal.apply(&reports.remove(0))?))
}

pub async fn events(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(reveal): Query<Reveal>,
) -> Result<Response, ApiError> {
    let name = product_name(&app, &name)?;
    let paths = app.paths.clone();
    let events = blocking(move || query::log::events(&paths, &name)).await?;
    Ok(json(&reveal.apply(&events)?))
}

pub async fn doctor(
    State(app): State<Arc<App>>,
    Query(reveal): Query<Reveal>,
) -> Result<Response, ApiError> {
    let ctx = app.ctx().await;
    let report = blocking(move || query::doctor::sweep(&ctx, None)).await?;
    Ok(json(&reveal.apply(&report)?))
}

/// What `start`, `stop` and `restart` did: the step as JSON, and the CLI's line.
#[derive(Serialize)]
struct Done {
    product: String,
    #[serde(flatten)]
    step: control::Step,
    line: String,
}

/// What `POST /api/products/{p}/{action}` may ask for.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    Resume,
    Start,
    Stop,
    Restart,
}

impl std::str::FromStr for Action {
    type Err = ApiError;

    fn from_str(action: &str) -> Result<Action, ApiError> {
        match action {
            "resume" => Ok(Action::Resume),
            "start" => Ok(Action::Start),
            "stop" => Ok(Action::Stop),
            "restart" => Ok(Action::Restart),
            _ => Err(ApiError::not_found(format!(
                "no action {}: resume, start, stop or restart",
                error::quoted(action)
            ))),
        }
    }
}

/// `POST /api/products/{p}/{action}`: resume, start, stop or restart.
pub async fn act(
    State(app): State<Arc<App>>,
    Path((name, action)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let name = product_name(&app, &name)?;
    let action: Action = action.parse()?;
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
    let done = blocking(move || {
        let step = step(&ctx, &name)?;
        Ok(Done {
            line: step.line(&name),
            product: name.to_string(),
            step,
        })
    })
    .await?;
    app.forget_list().await;
    Ok(json(&done))
}
