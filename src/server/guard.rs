//! What every request passes before a handler sees it: the `Host` check (a name this server
//! serves, so a DNS-rebinding page reaches nothing), the login (see `auth`), and the headers
//! every answer carries, which keep the pages out of frames, caches and other sites' reach.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::api::ApiError;
use super::auth::{self, Access, Refusal};
use super::App;
use crate::error::{quoted, usage};
use crate::lifecycle::dashboard::HOST_NAME;
use crate::login;
use crate::tls::Leaf;

/// Scripts and everything else come from the dashboard itself; styles may also be set inline,
/// which the terminal (xterm.js) does. No page may frame it, and forms post only to it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

/// The headers every answer carries; `Cache-Control: no-store` unless the handler chose (the
/// embedded assets, which hold nothing of the user's).
pub async fn headers(request: Request, next: Next) -> Response {
    let legacy = auth::has_cookie(request.headers(), auth::LEGACY_COOKIE);
    let mut response = next.run(request).await;
    if legacy {
        // Before login sessions the cookie held the token itself, for a year, and went to every
        // port of the host: a browser that still sends it is told to drop it.
        set_cookie(&mut response, &auth::drop_legacy_cookie());
    }
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Refuses a request for a host name this server does not serve: a page of another site whose
/// name was made to resolve to this machine (DNS rebinding) gets nothing but this refusal.
pub async fn host(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if served(&app.hosts, app.leaf.as_ref(), host) {
        return next.run(request).await;
    }
    let message = format!(
        "this dashboard does not serve the host {}: open it as http://{HOST_NAME}:PORT/ or by its address, or start it with --allow-host NAME",
        quoted(host)
    );
    ApiError::refused(StatusCode::MISDIRECTED_REQUEST, message).into_response()
}

/// Whether `host` (a `Host` header: a name or address, and maybe a port) is one the server
/// answers: any IP address (no rebinding can produce one), `localhost`, the dashboard's own
/// name, the names given with `--allow-host`, and those its TLS certificate covers. Ports are
/// not compared: a tunnel or a proxy may put any port in front of the server.
fn served(allowed: &[String], leaf: Option<&Leaf>, host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split(']')
                .next()
                .is_some_and(|a| a.parse::<IpAddr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<IpAddr>().is_ok()
        || name == "localhost"
        || name == HOST_NAME
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
        || leaf.is_some_and(|leaf| leaf.covers(&name))
}

/// Checks a name for `--allow-host`: a DNS name, without a port.
pub fn check_host_name(name: &str) -> anyhow::Result<()> {
    let fits = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !fits {
        return Err(usage(format!(
            "--allow-host {} is not a host name: give a DNS name such as box.example.ts.net, without a port",
            quoted(name)
        )));
    }
    Ok(())
}

/// The address the request came from, for the failed-login delays.
fn source(request: &Request) -> IpAddr {
    source_of(request.extensions())
}

fn source_of(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
}

/// The address a request came from, as a handler's argument.
pub struct Source(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Source, Self::Rejection> {
        Ok(Source(source_of(&parts.extensions)))
    }
}

/// Whether the browser reaches the server over HTTPS: the server's own TLS, or a proxy in front
/// of it (`tailscale serve`), so that cookies may be `Secure`.
pub fn secure(app: &App, headers: &HeaderMap) -> bool {
    app.tls
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|p| p.as_bytes() == b"https")
}

/// The API, the terminal and logout: the token, or a login session with its key. A refusal is
/// JSON.
pub async fn api(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    admit(&app, request, next, false, |refusal| {
        let mut response = ApiError::refused(refusal.status(), refusal.message()).into_response();
        if refusal.status() == StatusCode::UNAUTHORIZED {
            let bearer = HeaderValue::from_static("Bearer");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, bearer);
        }
        response
    })
    .await
}

/// A page: a browser that is not logged in goes to the login page; a login session's cookie
/// without its key gets the page's shell (its script then asks again with the key).
pub async fn page(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    admit(&app, request, next, true, |refusal| match refusal {
        Refusal::Missing | Refusal::LoggedOut => Redirect::to("/login").into_response(),
        refusal => (refusal.status(), refusal.message()).into_response(),
    })
    .await
}

/// Lets the request through with what it may see (`shell_ok`: a cookie without its key), or
/// answers it with `refused`; a session the server does not know also drops its cookie.
async fn admit(
    app: &App,
    mut request: Request,
    next: Next,
    shell_ok: bool,
    refused: impl FnOnce(Refusal) -> Response,
) -> Response {
    let source = source(&request);
    match app
        .gate
        .authorize(request.headers(), source, shell_ok)
        .await
    {
        Ok(access) => {
            seen(app, &access);
            request.extensions_mut().insert(access);
            next.run(request).await
        }
        Err(refusal) => {
            let mut response = refused(refusal);
            if refusal == Refusal::LoggedOut {
                let secure = secure(app, request.headers());
                set_cookie(&mut response, &auth::logout_cookie(secure));
            }
            response
        }
    }
}

/// Records, off the request's path and at most once a minute, that a login session was used.
fn seen(app: &App, access: &Access) {
    let Access::Session(session) = access else {
        return;
    };
    if !session.seen_due() {
        return;
    }
    let (paths, session) = (app.paths.clone(), session.clone());
    let Ok(token) = app.gate.token() else {
        return;
    };
    tokio::task::spawn_blocking(move || {
        // Last-seen is a courtesy for `dashboard sessions`; failing to write it ends nothing.
        let _ = login::seen(&paths, &token, &session);
    });
}

pub fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_loopback_names_and_allowed_names_are_served() {
        let allowed = ["box.tail.ts.net".to_string()];
        let made = rcgen::generate_simple_self_signed(vec!["cert.example".to_string()]).unwrap();
        let leaf = crate::tls::Leaf::from_der(made.cert.der().to_vec());
        assert!(served(&[], Some(&leaf), "cert.example:8443"));
        assert!(!served(&[], None, "cert.example:8443"));
        for host in [
            "127.0.0.1:7878",
            "sessctl.localhost:7878",
            "SESSCTL.localhost.",
            "localhost",
            "[::1]:7878",
            "192.0.2.7:8443",
            "box.tail.ts.net",
        ] {
            assert!(served(&allowed, Some(&leaf), host), "{host}");
        }
        for host in [
            "",
            "evil.example:7878",
            "sessctl.localhost.evil.example",
            "[evil]:1",
            "a.localhost",
        ] {
            assert!(!served(&allowed, Some(&leaf), host), "{host}");
        }
    }
}
