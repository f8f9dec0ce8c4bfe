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
//!
//! Server layer. May import: `query`, `lifecycle`, and the records, model and base modules;
//! of the adapters only `systemd::Systemd` (the connection its runtime drives) and `tls`;
//! never `cmd` or `cli`.

mod api;
mod auth;
mod conn;
mod guard;
mod listen;
mod mask;
mod pages;
mod terminal;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Mutex;

use crate::context::Ctx;
use crate::error::quoted;
use crate::identity::ActiveState;
use crate::lifecycle::dashboard::Tls;
use crate::login;
use crate::paths::Paths;
use crate::product::ProductName;
use crate::query;
use crate::systemd::Systemd;
use api::ApiError;

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
    list: Mutex<Option<(Instant, Arc<serde_json::Value>)>>,
    systemd: Mutex<Option<Systemd>>,
    /// Whether browsers reach the server over TLS, so its cookie may be `Secure`.
    tls: bool,
}

impl App {
    /// Every product's report, as `list --json` gives it, at most [`LIST_TTL`] old but for the
    /// waiting marks, read now: each is one small file, and a badge should show within one
    /// poll of the hook that set it.
    async fn list(&self) -> Result<serde_json::Value, ApiError> {
        let list = self.cached_list().await?;
        let paths = self.paths.clone();
        blocking(move || fresh_waiting(&paths, &list)).await
    }

    /// Every product's report, at most [`LIST_TTL`] old. The lock is held while a new list is
    /// read, so viewers that ask together share one query.
    async fn cached_list(&self) -> Result<Arc<serde_json::Value>, ApiError> {
        let mut cached = self.list.lock().await;
        if let Some((at, list)) = cached.as_ref() {
            if at.elapsed() < LIST_TTL {
                return Ok(list.clone());
            }
        }
        let reports = self.reports(None).await?;
        let list = Arc::new(
            serde_json::to_value(reports)
                .context("writing the product list as JSON")
                .map_err(ApiError::from)?,
        );
        *cached = Some((Instant::now(), list.clone()));
        Ok(list)
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

/// `list` with each running product's waiting mark read anew.
fn fresh_waiting(paths: &Paths, list: &serde_json::Value) -> Result<serde_json::Value> {
    let mut list = list.clone();
    for report in list.as_array_mut().into_iter().flatten() {
        let (Some(name), Some(state)) =
            (report["product"].as_str(), report["active_state"].as_str())
        else {
            continue;
        };
        let running = state.parse::<ActiveState>().is_ok_and(|s| s.is_running());
        let waiting = query::status::waiting(paths, name, running)?;
        report["waiting"] = serde_json::to_value(waiting).context("writing a waiting mark")?;
    }
    Ok(list)
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

/// `name` from a request path, when it names a product: a name sessctl would refuse, or one
/// without a config, is a 404, so no path can reach anything but a product's own state.
fn product_name(app: &App, name: &str) -> Result<ProductName, ApiError> {
    if let Ok(name) = ProductName::parse(name) {
        if app.paths.product_file(&name).is_file() {
            return Ok(name);
        }
    }
    Err(ApiError::not_found(format!(
        "no product {}; `sessctl list` shows the products",
        quoted(name)
    )))
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
        paths,
        hosts,
        leaf,
        pages: pages::Pages::new()?,
        list: Mutex::new(None),
        systemd: Mutex::new(None),
        tls: config.is_some(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    runtime.block_on(listen::run(router(app), listen, tls, config))
}

fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/api/products", get(api::products))
        .route("/api/products/{product}", get(api::product))
        .route("/api/products/{product}/events", get(api::events))
        .route("/api/products/{product}/terminal", get(terminal::open))
        .route("/api/products/{product}/{action}", post(api::act))
        .route("/api/doctor", get(api::doctor))
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
        // A list of 200 products is some 250 KB of HTML, and a phone's link may be slow:
        // gzip takes it to a tenth. (WebSocket upgrades pass through untouched.)
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(middleware::from_fn_with_state(app.clone(), guard::host))
        // Outermost: every answer carries them, a refused host's too.
        .layer(middleware::from_fn(guard::headers))
        .with_state(app)
}
