//! `sessctl serve`: the dashboard, an HTTP server that resumes, starts and stops sessions and
//! shows the proof of every resume, on a phone as on a desktop.
//!
//! It changes sessions only through `lifecycle` and reads them only through `query`, exactly
//! as the CLI does, so a session the dashboard starts is started by the user manager in its
//! own unit and outlives the dashboard's restart, stop or crash. Most of those functions
//! block, so each request runs them on tokio's blocking pool, where the systemd adapter's
//! `block_on` drives their connections on this server's runtime. What systemd says of every
//! product for a list is awaited natively instead, in one batch on the server's one
//! connection (`App::reports`).
//!
//! A non-loopback address, whether given with `--listen` or handed over by the socket unit, is
//! refused unless the server speaks TLS (`--tls-cert`, `--tls-key`; rustls): the token must
//! never cross a network in clear text. On loopback it is served as `sessctl.localhost`.
//! Every request passes `guard` (the host name, the login of `auth`, the headers every answer
//! carries), and every connection is bounded by `conn` (header timeout, a cap on connections).
//! Beside the requests, `notify` sends Web Push notices to the devices subscribed in `push`.
//!
//! Other hosts' products are shown and acted on through `fleet`, for the hosts of hosts.toml
//! only (`hosts`).
//!
//! Server layer. May import: `query`, `lifecycle`, `fleet`, and the records, model and base modules;
//! of the adapters only `systemd::Systemd` (the connection its runtime drives), `tls` and
//! `push` (Web Push, which only the server sends); never `cmd` or `cli`.

mod api;
mod auth;
mod conn;
mod create;
mod guard;
mod hosts;
mod listen;
mod mask;
mod notify;
mod pages;
mod permission;
mod push;
mod terminal;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Mutex;

use crate::context::Ctx;
use crate::error::quoted;
use crate::lifecycle::dashboard::Tls;
use crate::login;
use crate::paths::Paths;
use crate::product::ProductName;
use crate::query;
use crate::systemd::Systemd;
use api::ApiError;
use auth::Access;
use mask::Reveal;

/// How long one `list` answer serves every viewer: polling pages cost at most one list query
/// per second, however many are open.
const LIST_TTL: Duration = Duration::from_secs(1);

/// What every request shares.
pub struct App {
    paths: Paths,
    gate: auth::Gate,
    /// The host names served besides loopback's (`--allow-host`).
    hosts: Vec<String>,
    /// The certificate served with TLS: the names it covers are served too.
    leaf: Option<crate::tls::Leaf>,
    pages: pages::Pages,
    list: Mutex<Option<Listed>>,
    /// The hosts of hosts.toml and what each last answered.
    fleet: hosts::Fleet,
    systemd: Mutex<Option<Systemd>>,
    /// Whether browsers reach the server over TLS, so its cookie may be `Secure`.
    tls: bool,
}

/// Every product's report, as read at `at`.
struct Listed {
    at: Instant,
    reports: Vec<query::status::Report>,
}

impl App {
    /// Every product's report, as `list --json` gives it but in the dashboard's order
    /// (`query::triage`) and masked as `reveal` asks, at most
    /// [`LIST_TTL`] old but for the waiting marks, read now: each is one small file, and a
    /// badge should show within one poll of the hook that set it. The lock is held while a
    /// new list is read, so viewers that ask together share one query, and while the marks
    /// are set on the cached reports.
    async fn list(&self, reveal: &Reveal) -> Result<serde_json::Value, ApiError> {
        let mut cached = self.list.lock().await;
        let mut listed = match cached.take() {
            Some(listed) if listed.at.elapsed() < LIST_TTL => listed,
            _ => {
                let reports = self.reports(None).await?;
                Listed {
                    at: Instant::now(),
                    reports,
                }
            }
        };
        let asked: Vec<(String, bool)> = listed
            .reports
            .iter()
            .map(|r| (r.product.clone(), r.active_state.is_running()))
            .collect();
        let paths = self.paths.clone();
        let waiting = blocking(move || {
            asked
                .iter()
                .map(|(name, running)| query::status::waiting(&paths, name, *running))
                .collect::<Result<Vec<_>>>()
        })
        .await;
        let shown = waiting.and_then(|waiting| {
            for (report, waiting) in listed.reports.iter_mut().zip(waiting) {
                report.waiting = waiting;
            }
            // Sorted after the marks are set: a wait moves its product to the top.
            query::triage::sort(&mut listed.reports);
            reveal.apply(&listed.reports)
        });
        *cached = Some(listed);
        shown
    }

    /// What `status --json` reports of the products `name` names (every product for `None`).
    /// What systemd says of their units is awaited here, in one batch on the server's one
    /// connection; the files are read on the blocking pool.
    async fn reports(
        &self,
        name: Option<ProductName>,
    ) -> Result<Vec<query::status::Report>, ApiError> {
        let paths = self.paths.clone();
        let names = blocking(move || query::status::names(&paths, name.as_ref())).await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let systemd = self.systemd().await?;
        let units = match query::status::units(systemd.core(), &names).await {
            Ok(units) => units,
            Err(err) => {
                // The next request connects anew: the manager or its bus may have restarted.
                *self.systemd.lock().await = None;
                return Err(err.into());
            }
        };
        let paths = self.paths.clone();
        blocking(move || query::status::reports(&paths, &systemd, &names, units)).await
    }

    /// The server's connection to the user manager, opened on first use.
    async fn systemd(&self) -> Result<Systemd, ApiError> {
        let mut systemd = self.systemd.lock().await;
        if let Some(systemd) = systemd.as_ref() {
            return Ok(systemd.clone());
        }
        let opened = Systemd::open().await?;
        *systemd = Some(opened.clone());
        Ok(opened)
    }

    /// What a blocking query or lifecycle call works with: the server's paths and its one
    /// connection. Without a manager to reach, the call connects itself, and says why not.
    async fn ctx(&self) -> Ctx {
        match self.systemd().await {
            Ok(systemd) => Ctx::with_systemd(self.paths.clone(), systemd),
            Err(_) => Ctx::new(self.paths.clone()),
        }
    }

    /// After a change, the next list is read anew.
    async fn forget_list(&self) {
        *self.list.lock().await = None;
    }
}

/// Runs `work` (a blocking query or lifecycle call) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(err) => Err(ApiError::internal(format!(
            "a request's worker failed: {err}"
        ))),
    }
}

/// The product a request's `{product}` segment names. For a request that may see the
/// products, a name sessctl would refuse, or one without a config, is a 404, so no path can
/// reach anything but a product's own state. A page's shell (see `auth`) takes any name
/// sessctl accepts: whether such a product exists is for the key's holder to learn.
pub struct Product(pub ProductName);

impl FromRequestParts<Arc<App>> for Product {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Product, ApiError> {
        let name = segment(parts, "product").await?;
        if parts.extensions.get::<Access>() == Some(&Access::Shell) {
            return Ok(Product(ProductName::parse(&name)?));
        }
        match ProductName::parse(&name) {
            Ok(name) if app.paths.product_file(&name).is_file() => Ok(Product(name)),
            _ => Err(ApiError::refused(
                StatusCode::NOT_FOUND,
                format!(
                    "no product {}; `sessctl list` shows the products",
                    quoted(&name)
                ),
            )),
        }
    }
}

/// The request path's `{name}` segment, decoded.
async fn segment(parts: &mut Parts, name: &str) -> Result<String, ApiError> {
    let Path(mut segments) = Path::<HashMap<String, String>>::from_request_parts(parts, &())
        .await
        .map_err(|rejection| ApiError::refused(rejection.status(), rejection.body_text()))?;
    segments
        .remove(name)
        .ok_or_else(|| ApiError::internal(format!("the route has no {{{name}}} segment")))
}

/// Serves the dashboard until SIGTERM or Ctrl-C: on the socket systemd hands over
/// (sessctl-dashboard.socket), else on `listen`; over TLS with `tls`.
pub fn serve(paths: Paths, listen: SocketAddr, tls: Option<Tls>, hosts: Vec<String>) -> Result<()> {
    let (config, leaf) = tls.as_ref().map(crate::tls::load).transpose()?.unzip();
    for host in &hosts {
        guard::check_host_name(host)?;
    }
    login::token(&paths)?;
    let app = Arc::new(App {
        gate: auth::Gate::new(paths.clone()),
        hosts,
        leaf,
        pages: pages::Pages::new()?,
        list: Mutex::new(None),
        fleet: hosts::Fleet::new(paths.clone()),
        systemd: Mutex::new(None),
        tls: config.is_some(),
        paths,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    let notifier = notify::run(app.clone());
    runtime.block_on(listen::run(router(app), listen, tls, config, || {
        tokio::spawn(notifier);
    }))
}

fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/api/products", get(api::products).post(create::create))
        .route("/api/roots", get(create::offer))
        .route("/api/hosts", get(api::hosts))
        .route("/api/products/{product}", get(api::product))
        .route("/api/products/{product}/events", get(api::events))
        .route("/api/products/{product}/terminal", get(terminal::open))
        .route(
            "/api/products/{product}/permission",
            post(permission::answer),
        )
        .route("/api/products/{product}/{action}", post(api::act))
        .route("/api/doctor", get(api::doctor))
        .route(
            "/api/push",
            get(push::show)
                .post(push::subscribe)
                .delete(push::unsubscribe),
        )
        .route("/logout", post(pages::logout))
        .route_layer(middleware::from_fn_with_state(app.clone(), guard::api));
    let pages = Router::new()
        .route("/", get(pages::list))
        .route("/p/{product}", get(pages::product))
        .route_layer(middleware::from_fn_with_state(app.clone(), guard::page));
    Router::new()
        .merge(api)
        .merge(pages)
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/login/done", get(pages::login_done))
        .route("/static/{file}", get(pages::asset))
        .route("/manifest.webmanifest", get(pages::manifest))
        .route("/sw.js", get(pages::service_worker))
        // A list of 200 products is some 250 KB of HTML, and a phone's link may be slow:
        // gzip takes it to a tenth. (WebSocket upgrades pass through untouched.)
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(middleware::from_fn_with_state(app.clone(), guard::host))
        // Outermost: every answer carries them, a refused host's too.
        .layer(middleware::from_fn(guard::headers))
        .with_state(app)
}
