//! Creating a product from the page: `POST /api/products` is `sessctl enable NAME --dir DIR
//! [--agent AGENT] -- COMMAND`, allowed only for a directory under the roots the user gave
//! `sessctl dashboard enable --root`; `GET /api/roots` tells the page those roots and the
//! agents, or why creating is off.
//!
//! The checks, the errors and the writes are `lifecycle::roots::create`'s, which calls the
//! lifecycle functions `sessctl enable` calls, so the page shows the CLI's own error.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Json, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::api::{json, ApiError};
use super::{blocking, App};
use crate::lifecycle::control::{Request, Step};
use crate::lifecycle::roots;
use crate::product;

/// What the page sends: `enable`'s arguments; the other settings keep `enable`'s defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    name: String,
    dir: PathBuf,
    /// `None`: detected from the command, as `enable` does.
    #[serde(default)]
    agent: Option<String>,
    /// Empty: `claude`, as `enable` does; a bare program name is looked up in the user
    /// manager's PATH (`lifecycle::roots`).
    #[serde(default)]
    command: Vec<String>,
}

/// What `POST /api/products` answers: the steps `enable` took and the lines it prints.
#[derive(Serialize)]
struct Created {
    product: String,
    steps: Vec<Step>,
    lines: Vec<String>,
}

/// `POST /api/products`.
pub async fn create(
    State(app): State<Arc<App>>,
    body: Result<Json<NewProduct>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(asked) =
        body.map_err(|rejection| ApiError::refused(rejection.status(), rejection.body_text()))?;
    let request = Request {
        product: asked.name,
        dir: Some(asked.dir),
        env: Vec::new(),
        agent: asked.agent.filter(|a| !a.is_empty()),
        keep_snapshots: product::KEEP_SNAPSHOTS,
        stagger: product::STAGGER_SECONDS,
        silence: product::SILENCE_SECONDS,
        on_waiting: None,
        command: asked.command,
    };
    let ctx = app.ctx().await;
    let created = blocking(move || {
        let steps = roots::create(&ctx, &request)?;
        Ok(Created {
            lines: steps.iter().map(|s| s.line(&request.product)).collect(),
            product: request.product,
            steps,
        })
    })
    .await?;
    app.forget_list().await;
    Ok(json(&created))
}

/// What the page's form offers.
#[derive(Serialize)]
struct Offer {
    /// Empty while creating is off.
    roots: Vec<String>,
    agents: Vec<&'static str>,
    /// Why creating is off and how to turn it on; `None` while it is on.
    off: Option<&'static str>,
}

/// `GET /api/roots`.
pub async fn offer(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let paths = app.paths.clone();
    let roots = blocking(move || roots::read(&paths)).await?;
    Ok(json(&Offer {
        off: roots.is_empty().then_some(roots::OFF),
        roots,
        agents: roots::agents(),
    }))
}
