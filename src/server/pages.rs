//! The dashboard's pages: server-rendered HTML (tera, escaped), a little plain JavaScript that
//! calls the API and refreshes the page's live part, and the assets, all embedded in the
//! binary: nothing is fetched from anywhere at run time.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use tera::{Tera, Value};

use super::api::ApiError;
use super::{blocking, product_name, App};
use crate::identity;
use crate::query;

const TEMPLATES: [(&str, &str); 5] = [
    ("base.html", include_str!("assets/base.html")),
    ("buttons.html", include_str!("assets/buttons.html")),
    ("list.html", include_str!("assets/list.html")),
    ("product.html", include_str!("assets/product.html")),
    ("login.html", include_str!("assets/login.html")),
];

/// The files under `/static/`: name, content type, bytes.
const ASSETS: [(&str, &str, &[u8]); 9] = [
    ("app.css", "text/css", include_bytes!("assets/app.css")),
    ("app.js", "text/javascript", include_bytes!("assets/app.js")),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("assets/icon.svg"),
    ),
    (
        "icon-192.png",
        "image/png",
        include_bytes!("assets/icon-192.png"),
    ),
    (
        "icon-512.png",
        "image/png",
        include_bytes!("assets/icon-512.png"),
    ),
    // The terminal's, loaded by a product's page only.
    (
        "terminal.js",
        "text/javascript",
        include_bytes!("assets/terminal.js"),
    ),
    (
        "xterm.js",
        "text/javascript",
        include_bytes!("assets/vendor/xterm.js"),
    ),
    (
        "xterm.css",
        "text/css",
        include_bytes!("assets/vendor/xterm.css"),
    ),
    (
        "addon-fit.js",
        "text/javascript",
        include_bytes!("assets/vendor/addon-fit.js"),
    ),
];

const MANIFEST: &str = include_str!("assets/manifest.webmanifest");

/// How many of a product's events its page shows, newest first.
const EVENTS_SHOWN: usize = 50;

/// The compiled templates.
pub struct Pages {
    tera: Tera,
}

impl Pages {
    pub fn new() -> Result<Pages> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES)
            .context("compiling the dashboard's templates")?;
        tera.register_filter("duration", duration);
        Ok(Pages { tera })
    }

    fn render(&self, name: &str, ctx: &tera::Context) -> Result<Html<String>, ApiError> {
        self.tera
            .render(name, ctx)
            .map(Html)
            .map_err(|err| ApiError::internal(format!("rendering {name}: {err:?}")))
    }
}

/// `uptime_seconds | duration`: `3h 12m`, or `-` for null.
fn duration(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    Ok(Value::String(
        value
            .as_u64()
            .map_or("-".to_string(), identity::human_duration),
    ))
}

fn context(app: &App) -> tera::Context {
    let mut ctx = tera::Context::new();
    ctx.insert("csrf", &app.keys.csrf);
    ctx
}

/// `/`: every product with its state, its last resume's proof and its buttons.
pub async fn list(State(app): State<Arc<App>>) -> Result<Html<String>, ApiError> {
    let mut ctx = context(&app);
    ctx.insert("products", &app.list().await?);
    app.pages.render("list.html", &ctx)
}

/// `/p/{product}`: its status, conversation, events and doctor's findings.
pub async fn product(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Html<String>, ApiError> {
    let name = product_name(&app, &name)?;
    let report = app.reports(Some(name.clone())).await?.remove(0);
    let paths = app.paths.clone();
    let (events, doctor) = blocking(move || {
        let mut events = query::log::events(&paths, &name)?;
        events.reverse();
        events.truncate(EVENTS_SHOWN);
        let doctor = query::doctor::sweep(&paths, Some(&name))?;
        Ok((events, doctor))
    })
    .await?;
    let mut ctx = context(&app);
    ctx.insert("p", &report);
    ctx.insert("events", &events);
    ctx.insert("doctor", &doctor);
    app.pages.render("product.html", &ctx)
}

#[derive(Deserialize)]
pub struct Login {
    token: Option<String>,
}

/// `GET /login`: the form; `GET /login?token=...` (the link `sessctl dashboard url` prints)
/// logs in at once.
pub async fn login_form(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(query): Query<Login>,
) -> Response {
    match query.token {
        Some(token) => log_in(&app, &headers, &token),
        None => login_page(&app, StatusCode::OK, None),
    }
}

/// `POST /login` with the form's token.
pub async fn login(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Response {
    log_in(&app, &headers, form.token.as_deref().unwrap_or_default())
}

fn log_in(app: &App, headers: &HeaderMap, token: &str) -> Response {
    match app.keys.check(token.trim()) {
        Ok(()) => {
            // Over the server's own TLS, or behind `tailscale serve`, where the browser speaks
            // HTTPS to the proxy.
            let secure = app.tls
                || headers
                    .get("x-forwarded-proto")
                    .is_some_and(|p| p.as_bytes() == b"https");
            let cookie = app.keys.login_cookie(secure);
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Err(refusal) => login_page(app, refusal.status(), Some(refusal.message())),
    }
}

fn login_page(app: &App, status: StatusCode, error: Option<&str>) -> Response {
    let mut ctx = tera::Context::new();
    ctx.insert("error", &error);
    match app.pages.render("login.html", &ctx) {
        Ok(html) => (status, html).into_response(),
        Err(err) => err.into_response(),
    }
}

/// `/static/{file}`: the embedded assets; nothing secret, so no login.
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, bytes)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `/manifest.webmanifest`: what a phone needs to add the dashboard to its home screen.
pub async fn manifest() -> Response {
    (
        [(header::CONTENT_TYPE, "application/manifest+json")],
        MANIFEST,
    )
        .into_response()
}
