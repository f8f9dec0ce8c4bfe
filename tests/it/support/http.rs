//! An HTTP client for the dashboard's tests. A socket belongs to the network namespace of the
//! thread that makes it, so a client of a server inside the private manager's namespace (the
//! socket-activated dashboard) makes each request on a thread that joined that namespace.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use nix::sched::{setns, CloneFlags};

/// One answer: status, headers (names lowercase), body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; the test fails naming the reply when it is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("the reply is not JSON ({err}): {self:?}"))
    }
}

/// A client of `base` (`http://127.0.0.1:PORT`), in network namespace `netns` when given.
pub struct Client {
    pub base: String,
    netns: Option<OwnedFd>,
    /// For `https://`: the one certificate authority trusted (DER).
    ca: Option<Vec<u8>>,
}

impl Client {
    pub fn new(base: &str, netns: Option<OwnedFd>) -> Client {
        Client {
            base: base.to_string(),
            netns,
            ca: None,
        }
    }

    /// A client of an `https://` `base` that trusts only `ca` (DER).
    pub fn trusting(base: &str, netns: Option<OwnedFd>, ca: &[u8]) -> Client {
        Client {
            ca: Some(ca.to_vec()),
            ..Client::new(base, netns)
        }
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers, None)
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
        self.send("POST", path, headers, body)
    }

    /// One request, never followed through a redirect, bounded by a minute.
    #[track_caller]
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let url = format!("{}{path}", self.base);
        let run = || {
            if let Some(netns) = &self.netns {
                setns(netns.as_fd(), CloneFlags::CLONE_NEWNET).expect("joining the netns");
            }
            request(method, &url, headers, body, self.ca.as_deref())
        };
        std::thread::scope(|s| s.spawn(run).join())
            .unwrap_or_else(|_| panic!("{method} {url}: the request's thread panicked"))
            .unwrap_or_else(|err| panic!("{method} {url}: {err}"))
    }
}

fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    ca: Option<&[u8]>,
) -> Result<Reply, ureq::Error> {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)));
    if let Some(ca) = ca {
        let roots = vec![ureq::tls::Certificate::from_der(ca).to_owned()];
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(roots)))
                .build(),
        );
    }
    let agent: ureq::Agent = config.build().into();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let request = builder
        .body(body.unwrap_or_default().to_string())
        .expect("a request");
    let mut response = agent.run(request)?;
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    Ok(Reply {
        status: response.status().as_u16(),
        headers,
        // Lossy: an icon's bytes are checked by their content type, not read as text.
        body: String::from_utf8_lossy(&response.body_mut().read_to_vec()?).into_owned(),
    })
}
