//! `sessctl serve`: the dashboard, an HTTP server that resumes, starts and stops sessions and
//! shows the proof of every resume, on a phone as on a desktop.
//!
//! It changes sessions only through `lifecycle` and reads them only through `query`, exactly
//! as the CLI does, so a session the dashboard starts is started by the user manager in its
//! own unit and outlives the dashboard's restart, stop or crash. Those functions block (the
//! CLI's face of the systemd core), so each request runs them on tokio's blocking pool.
//!
//! Loopback only: a non-loopback address is refused, whether given with `--listen` or handed
//! over by the socket unit (TLS, which such an address would need, is not built yet).
//!
//! Server layer. May import: `query`, `lifecycle`, and the records, model and base modules;
//! never `cmd`, `cli` or an adapter.

mod api;
mod auth;
mod pages;
mod terminal;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Mutex;

pub use auth::token;

use crate::error::quoted;
use crate::lifecycle::dashboard::check_loopback;
use crate::paths::Paths;
use crate::product;
use crate::query;
use api::ApiError;

/// Where `serve` listens when no socket is handed to it.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

/// How long one `list` answer serves every viewer: polling pages cost at most one list query
/// per second, however many are open.
const LIST_TTL: Duration = Duration::from_secs(1);

/// What every request shares.
pub struct App {
    paths: Paths,
    keys: auth::Keys,
    pages: pages::Pages,
    list: Mutex<Option<(Instant, Arc<serde_json::Value>)>>,
}

impl App {
    /// Every product's report, as `list --json` gives it, at most [`LIST_TTL`] old. The lock
    /// is held while a new list is read, so viewers that ask together share one query.
    async fn list(&self) -> Result<Arc<serde_json::Value>, ApiError> {
        let mut cached = self.list.lock().await;
        if let Some((at, list)) = cached.as_ref() {
            if at.elapsed() < LIST_TTL {
                return Ok(list.clone());
            }
        }
        let paths = self.paths.clone();
        let reports = blocking(move || {
            let reports = query::status::status(&paths, None)?;
            serde_json::to_value(reports).context("writing the product list as JSON")
        })
        .await?;
        let list = Arc::new(reports);
        *cached = Some((Instant::now(), list.clone()));
        Ok(list)
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

/// `name` from a request path, when it names a product: a name sessctl would refuse, or one
/// without a config, is a 404, so no path can reach anything but a product's own state.
fn product_name(app: &App, name: &str) -> Result<String, ApiError> {
    if product::check_name(name).is_ok() && app.paths.product_file(name).is_file() {
        return Ok(name.to_string());
    }
    Err(ApiError::not_found(format!(
        "no product {}; `sessctl list` shows the products",
        quoted(name)
    )))
}

/// Serves the dashboard until SIGTERM or Ctrl-C: on the socket systemd hands over
/// (sessctl-dashboard.socket), else on `listen`.
pub fn serve(paths: Paths, listen: SocketAddr) -> Result<()> {
    let keys = auth::Keys::new(token(&paths)?);
    let app = Arc::new(App {
        paths,
        keys,
        pages: pages::Pages::new()?,
        list: Mutex::new(None),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    runtime.block_on(async move {
        let listener = listener(listen).await?;
        let addr = listener
            .local_addr()
            .context("reading the listening address")?;
        errln!(
            "sessctl: dashboard on http://{addr}/ (`sessctl dashboard url` prints the login link)"
        );
        axum::serve(listener, router(app))
            .with_graceful_shutdown(shutdown())
            .await
            .context("serving the dashboard")
    })
}

/// The socket systemd passed (`LISTEN_FDS`), else a new one on `listen`; loopback only.
async fn listener(listen: SocketAddr) -> Result<tokio::net::TcpListener> {
    let mut fds = listenfd::ListenFd::from_env();
    let listener = match fds
        .take_tcp_listener(0)
        .context("taking the socket systemd passed")?
    {
        Some(socket) => {
            socket
                .set_nonblocking(true)
                .context("making the passed socket non-blocking")?;
            tokio::net::TcpListener::from_std(socket).context("using the passed socket")?
        }
        None => {
            check_loopback(listen)?;
            tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?
        }
    };
    check_loopback(
        listener
            .local_addr()
            .context("reading the listening address")?,
    )?;
    Ok(listener)
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/api/products", get(api::products))
        .route("/api/products/{product}", get(api::product))
        .route("/api/products/{product}/events", get(api::events))
        .route("/api/products/{product}/terminal", get(terminal::open))
        .route("/api/products/{product}/{action}", post(api::act))
        .route("/api/doctor", get(api::doctor))
        .route_layer(middleware::from_fn_with_state(app.clone(), guard_api));
    let pages = Router::new()
        .route("/", get(pages::list))
        .route("/p/{product}", get(pages::product))
        .route_layer(middleware::from_fn_with_state(app.clone(), guard_page));
    Router::new()
        .merge(api)
        .merge(pages)
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/static/{file}", get(pages::asset))
        .route("/manifest.webmanifest", get(pages::manifest))
        // A list of 200 products is some 250 KB of HTML, and a phone's link may be slow:
        // gzip takes it to a tenth. (WebSocket upgrades pass through untouched.)
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(app)
}

/// The API answers a refused request with the refusal as JSON.
async fn guard_api(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    match app.keys.authorize(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            let err = ApiError {
                status: refusal.status(),
                message: refusal.message().to_string(),
                exit_code: crate::error::USAGE,
            };
            let mut response = err.into_response();
            if refusal.status() == axum::http::StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            response
        }
    }
}

/// A page sends a browser that is not logged in to the login page.
async fn guard_page(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    match app.keys.authorize(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(auth::Refusal::Missing | auth::Refusal::Wrong) => {
            Redirect::to("/login").into_response()
        }
        Err(refusal) => (refusal.status(), refusal.message()).into_response(),
    }
}
