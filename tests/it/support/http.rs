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

    /// Every value of header `name`, in order (`set-cookie` comes once per cookie).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
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

/// One HTTP/1.1 request written by hand to `addr` (`127.0.0.1:PORT`) from the source address
/// `from`, for what a client library will not send: another `Host`, another source. `head` is
/// the request line and headers without the blank line; the connection closes after it.
pub fn raw(addr: &str, from: std::net::IpAddr, head: &str) -> Reply {
    use std::io::{Read, Write};
    let stream = connect_from(addr, from);
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("a read timeout");
    let mut stream = stream;
    write!(stream, "{head}\r\nConnection: close\r\n\r\n").expect("writing the request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("reading the answer");
    parse(&String::from_utf8_lossy(&answer))
}

/// A TCP connection to `addr` whose source address is `from` (any of 127.0.0.0/8).
pub fn connect_from(addr: &str, from: std::net::IpAddr) -> std::net::TcpStream {
    let to: std::net::SocketAddr = addr.parse().expect("an address");
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(std::net::SocketAddr::new(from, 0))
        .unwrap_or_else(|err| panic!("binding to {from}: {err}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a runtime");
    let stream = runtime
        .block_on(socket.connect(to))
        .unwrap_or_else(|err| panic!("connecting to {addr} from {from}: {err}"));
    let stream = stream.into_std().expect("a std stream");
    stream.set_nonblocking(false).expect("a blocking stream");
    stream
}

fn parse(answer: &str) -> Reply {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}
