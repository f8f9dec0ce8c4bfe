//! The dashboard's pages: server-rendered HTML (tera, escaped), a little plain JavaScript that
//! calls the API and refreshes the page's live part, and the assets, all embedded in the
//! binary: nothing is fetched from anywhere at run time.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use std::net::IpAddr;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use axum::Form;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tera::{Tera, Value};

use super::api::ApiError;
use super::auth::{self, Access, Refusal};
use super::guard::{self, Source};
use super::hosts::{self, Page, Target};
use super::mask::Reveal;
use super::{blocking, App};
use crate::hosts::join_at;
use crate::identity;
use crate::login;
use crate::query;

const TEMPLATES: [(&str, &str); 7] = [
    ("base.html", include_str!("assets/base.html")),
    ("buttons.html", include_str!("assets/buttons.html")),
    ("list.html", include_str!("assets/list.html")),
    ("product.html", include_str!("assets/product.html")),
    ("login.html", include_str!("assets/login.html")),
    ("done.html", include_str!("assets/done.html")),
    // Not HTML, so not escaped: it names the icons by their versioned URLs too.
    (
        "manifest.webmanifest",
        include_str!("assets/manifest.webmanifest"),
    ),
];

/// The files under `/static/`: name, content type, bytes.
const ASSETS: [(&str, &str, &[u8]); 12] = [
    ("app.css", "text/css", include_bytes!("assets/app.css")),
    (
        "notify.js",
        "text/javascript",
        include_bytes!("assets/notify.js"),
    ),
    (
        "session.js",
        "text/javascript",
        include_bytes!("assets/session.js"),
    ),
    ("app.js", "text/javascript", include_bytes!("assets/app.js")),
    (
        "create.js",
        "text/javascript",
        include_bytes!("assets/create.js"),
    ),
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

/// How many of a product's events its page shows, newest first.
const EVENTS_SHOWN: usize = 50;

/// The compiled templates, and each asset's version.
pub struct Pages {
    tera: Tera,
    versions: Versions,
}

impl Pages {
    pub fn new() -> Result<Pages> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES)
            .context("compiling the dashboard's templates")?;
        tera.register_filter("duration", duration);
        let versions = Versions(
            ASSETS
                .iter()
                .map(|(name, _, bytes)| (*name, version(bytes)))
                .collect(),
        );
        tera.register_function("asset", versions.clone());
        Ok(Pages { tera, versions })
    }

    fn render(&self, name: &str, ctx: &tera::Context) -> Result<Html<String>, ApiError> {
        self.text(name, ctx).map(Html)
    }

    fn text(&self, name: &str, ctx: &tera::Context) -> Result<String, ApiError> {
        self.tera
            .render(name, ctx)
            .map_err(|err| ApiError::internal(format!("rendering {name}: {err:?}")))
    }
}

/// Each asset's version: a digest of its bytes, taken once at start. Pages ask for an asset by
/// it (`asset(name="app.js")` in a template gives `/static/app.js?v=VERSION`), so a browser
/// that cached an asset of the server before an upgrade, or of another build, asks anew.
#[derive(Clone)]
struct Versions(HashMap<&'static str, String>);

/// The first 12 hex digits of the SHA-256 of `bytes`: enough to tell two builds' assets apart.
fn version(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl tera::Function for Versions {
    fn call(&self, args: &HashMap<String, Value>) -> tera::Result<Value> {
        let name = args.get("name").and_then(Value::as_str).unwrap_or_default();
        match self.0.get(name) {
            Some(version) => Ok(Value::String(format!("/static/{name}?v={version}"))),
            None => Err(format!("asset(name={name:?}): no such asset under /static/").into()),
        }
    }

    /// The URL is made of an asset's name and hex digits only.
    fn is_safe(&self) -> bool {
        true
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

/// A page's context: `shell` when the request showed no session key, and then nothing of the
/// products is in it (see `auth`).
fn context(access: &Access) -> tera::Context {
    let mut ctx = tera::Context::new();
    ctx.insert("logged_in", &true);
    ctx.insert("shell", &(*access == Access::Shell));
    ctx
}

/// `/`: every product with its state, its last resume's proof and its buttons, then each
/// host of hosts.toml with its state and its products as last read.
pub async fn list(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Access>,
    Query(reveal): Query<Reveal>,
) -> Result<Html<String>, ApiError> {
    let mut ctx = context(&access);
    if access != Access::Shell {
        ctx.insert("products", &app.list(&reveal).await?);
        ctx.insert("hosts", &app.fleet.shown(&reveal)?);
    }
    app.pages.render("list.html", &ctx)
}

/// `/p/{product}`: its status, conversation, events and doctor's findings; for another
/// host's product (`/p/web@build`) its status as the host last listed it, the host's, and
/// its events and findings asked of the host while it answers.
pub async fn product(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Access>,
    page: Page,
    Query(reveal): Query<Reveal>,
) -> Result<Html<String>, ApiError> {
    let mut ctx = context(&access);
    let name = match page {
        Page::Shell(name) => {
            // `name` may name no product (see `Page`): the shell shows nothing of it.
            ctx.insert("product", &name);
            return app.pages.render("product.html", &ctx);
        }
        Page::Shown(Target::There(name, watched)) => {
            let (report, host) = app.fleet.product(&watched, &name, &reveal)?;
            if let Some((events, doctor)) = hosts::details(&watched, &name, EVENTS_SHOWN).await {
                ctx.insert("events", &reveal.apply(&events)?);
                ctx.insert("doctor", &reveal.apply(&doctor)?);
            }
            ctx.insert("product", &join_at(name.as_str(), watched.name()));
            ctx.insert("p", &report);
            ctx.insert("host", &host);
            return app.pages.render("product.html", &ctx);
        }
        Page::Shown(Target::Here(name)) => name,
    };
    let report = app.reports(Some(name.clone())).await?.remove(0);
    let work = app.ctx().await;
    let events_of = name.clone();
    let (events, doctor) = blocking(move || {
        let mut events = query::log::events(&work.paths, &events_of)?;
        events.reverse();
        events.truncate(EVENTS_SHOWN);
        let doctor = query::doctor::sweep(&work, Some(&events_of))?;
        Ok((events, doctor))
    })
    .await?;
    ctx.insert("product", &name);
    ctx.insert("p", &reveal.apply(&report)?);
    ctx.insert("events", &reveal.apply(&events)?);
    ctx.insert("doctor", &reveal.apply(&doctor)?);
    app.pages.render("product.html", &ctx)
}

#[derive(Deserialize)]
pub struct Login {
    token: Option<String>,
    code: Option<String>,
}

/// `GET /login`: the form; `GET /login?code=...` (the one-time link `sessctl dashboard url`
/// prints) or `?token=...` logs in at once and moves on to a clean URL.
pub async fn login_form(
    State(app): State<Arc<App>>,
    Source(source): Source,
    headers: HeaderMap,
    Query(query): Query<Login>,
) -> Response {
    match (query.code, query.token) {
        (Some(code), _) => log_in(&app, &headers, source, Proof::Code(code)).await,
        (None, Some(token)) => log_in(&app, &headers, source, Proof::Token(token)).await,
        (None, None) => login_page(&app, StatusCode::OK, None),
    }
}

/// `POST /login` with the form's token.
pub async fn login(
    State(app): State<Arc<App>>,
    Source(source): Source,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Response {
    let token = form.token.unwrap_or_default();
    log_in(&app, &headers, source, Proof::Token(token)).await
}

/// Why a login link's code did not log in.
const SPENT: &str =
    "this login link was used or has expired: `sessctl dashboard url` prints a new one";

/// What a browser logs in with.
enum Proof {
    Token(String),
    /// A one-time code, spent by the attempt whether or not it is live.
    Code(String),
}

async fn log_in(app: &App, headers: &HeaderMap, source: IpAddr, proof: Proof) -> Response {
    let valid = match proof {
        Proof::Token(token) => (app.gate.check(token.trim(), source).await)
            .map_err(|refusal| (refusal.status(), refusal.message())),
        Proof::Code(code) => match spend(app, code).await {
            Ok(true) => Ok(()),
            Ok(false) => match app.gate.fail(source).await {
                Refusal::Wrong => Err((Refusal::Wrong.status(), SPENT)),
                refusal => Err((refusal.status(), refusal.message())),
            },
            Err(err) => return err.into_response(),
        },
    };
    if let Err((status, message)) = valid {
        return login_page(app, status, Some(message));
    }
    let (paths, device) = (app.paths.clone(), auth::device(headers));
    let made = match app.gate.token() {
        Ok(token) => blocking(move || login::create(&paths, &token, &device)).await,
        Err(err) => Err(err.into()),
    };
    match made {
        Ok(made) => {
            let mut response = Redirect::to("/login/done").into_response();
            for cookie in auth::login_cookies(&made, guard::secure(app, headers)) {
                guard::set_cookie(&mut response, &cookie);
            }
            response
        }
        Err(err) => err.into_response(),
    }
}

async fn spend(app: &App, code: String) -> Result<bool, ApiError> {
    let paths = app.paths.clone();
    let token = app.gate.token().map_err(ApiError::from)?;
    blocking(move || login::spend_code(&paths, &token, code.trim())).await
}

fn login_page(app: &App, status: StatusCode, error: Option<&str>) -> Response {
    let mut ctx = tera::Context::new();
    ctx.insert("error", &error);
    match app.pages.render("login.html", &ctx) {
        Ok(html) => (status, html).into_response(),
        Err(err) => err.into_response(),
    }
}

/// `/login/done`: keeps the session's key in the page's storage (its script does) and goes on
/// to the list; nothing secret is in the page itself.
pub async fn login_done(State(app): State<Arc<App>>) -> Response {
    match app.pages.render("done.html", &tera::Context::new()) {
        Ok(html) => html.into_response(),
        Err(err) => err.into_response(),
    }
}

/// `POST /logout`: ends the login session that asks, and drops its cookie.
pub async fn logout(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Access::Session(session) = access {
        let paths = app.paths.clone();
        let token = app.gate.token().map_err(ApiError::from)?;
        blocking(move || login::revoke(&paths, &token, login::Which::One(&session.id)).map(|_| ()))
            .await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    guard::set_cookie(
        &mut response,
        &auth::logout_cookie(guard::secure(&app, &headers)),
    );
    Ok(response)
}

/// The query of an asset's URL: `?v=VERSION`.
#[derive(Deserialize)]
pub struct AssetQuery {
    v: Option<String>,
}

/// `/static/{file}?v=VERSION`: the embedded assets; nothing secret, so no login. The version
/// the pages ask for may be cached. Another version (a page of the server before an upgrade
/// that had not loaded it yet) or none gets the current bytes too, since they fit the API
/// that now answers, but uncached: a browser must not keep them under a URL that meant other
/// bytes.
pub async fn asset(
    State(app): State<Arc<App>>,
    Path(file): Path<String>,
    Query(query): Query<AssetQuery>,
) -> Response {
    let Some((name, kind, bytes)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = ([(header::CONTENT_TYPE, *kind)], *bytes).into_response();
    if query.v.as_ref() == app.pages.versions.0.get(name) {
        let cached = HeaderValue::from_static("max-age=3600");
        response.headers_mut().insert(header::CACHE_CONTROL, cached);
    }
    response
}

/// `/manifest.webmanifest`: what a phone needs to add the dashboard to its home screen.
pub async fn manifest(State(app): State<Arc<App>>) -> Response {
    match app
        .pages
        .text("manifest.webmanifest", &tera::Context::new())
    {
        Ok(text) => ([(header::CONTENT_TYPE, "application/manifest+json")], text).into_response(),
        Err(err) => err.into_response(),
    }
}

/// `/sw.js`: the service worker, at the root so that its scope is the whole dashboard. Nothing
/// secret, so no login; revalidated on every check, so that an upgrade's worker reaches a phone
/// at its next visit.
pub async fn service_worker() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_bytes!("assets/sw.js").as_slice(),
    )
        .into_response()
}
