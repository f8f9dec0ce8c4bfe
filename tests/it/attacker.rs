//! The dashboard against a hostile neighbour, in a real browser: a web server on another
//! loopback port (an agent's own dev server, or another local user's listener) that the
//! logged-in browser opens. Cookies ignore ports, so the server is opened by every name the
//! dashboard's cookie could go to: `127.0.0.1`, `localhost` and the dashboard's own
//! `sessctl.localhost`, where its page also asks itself for whatever the browser will send
//! and tries to frame the dashboard. Nothing it collects opens the API or the terminal, and
//! no frame shows the dashboard.
//!
//! The product's agent is a stand-in (`sh`): what is attacked is the dashboard.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use fantoccini::Client as Browser;
use nix::sched::{setns, CloneFlags};

use crate::browser::dashboard;
use crate::dashboard::link_path;
use crate::support::browser::{log_in, until, Viewport, BASE};
use crate::support::http::Client;

const NEIGHBOUR_PORT: u16 = 18000;

/// The neighbour's page: it asks its own server again (with whatever cookies the browser
/// sends it there) and frames the dashboard by both of its names; its title says when all
/// three are done (a frame the browser refuses to fill still fires `load`).
const PAGE: &str = r#"<!doctype html><title>dev server</title><body><script>
let pending = 3;
const done = () => { if (--pending === 0) document.title = "asked"; };
for (const src of ["http://sessctl.localhost:7878/", "http://127.0.0.1:7878/"]) {
  const frame = document.createElement("iframe");
  frame.onload = done;
  frame.src = src;
  document.body.appendChild(frame);
}
fetch("/echo", { credentials: "include" }).then(done);
</script>"#;

/// The request heads the neighbour received, in order.
type Seen = Arc<Mutex<Vec<String>>>;

/// Serves [`PAGE`] on 127.0.0.1:[`NEIGHBOUR_PORT`] in network namespace `netns`, recording
/// every request's head, until asked for `/quit`.
fn neighbour(netns: OwnedFd) -> Seen {
    let seen = Seen::default();
    let record = seen.clone();
    let (ready, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        setns(&netns, CloneFlags::CLONE_NEWNET).expect("joining the netns");
        let listener =
            TcpListener::bind(("127.0.0.1", NEIGHBOUR_PORT)).expect("the neighbour's port");
        ready.send(()).expect("saying it listens");
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let head = answer(stream);
            let quit = head.starts_with("GET /quit ");
            record.lock().expect("the record").push(head);
            if quit {
                return;
            }
        }
    });
    listening.recv().expect("the neighbour listening");
    seen
}

/// Reads one request's head and answers it with the page; returns the head.
fn answer(mut stream: TcpStream) -> String {
    let mut head = String::new();
    let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        head.push_str(&line);
        line.clear();
    }
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
        PAGE.len()
    );
    head
}

/// Every `Cookie` and `Authorization` value in the heads.
fn credentials(heads: &[String]) -> Vec<String> {
    heads
        .iter()
        .flat_map(|head| head.lines())
        .filter_map(|line| line.split_once(": "))
        .filter(|(name, _)| {
            name.eq_ignore_ascii_case("cookie") || name.eq_ignore_ascii_case("authorization")
        })
        .map(|(_, value)| value.trim().to_string())
        .collect()
}

#[test]
fn a_server_on_another_loopback_port_collects_nothing_that_opens_the_dashboard() {
    let Some((env, driver)) = dashboard("attacker", &[]) else {
        return;
    };
    let netns = || {
        let bed = env.bed.as_ref().expect("a manager");
        bed.netns().try_clone_to_owned().expect("dup netns")
    };
    let seen = neighbour(netns());
    let link = link_path(&env, BASE);
    let mut per_name = Vec::new();
    driver.run(Viewport::Phone, async |c: &Browser| {
        log_in(c, &link).await;
        for name in ["127.0.0.1", "localhost", "sessctl.localhost"] {
            let before = seen.lock().expect("the record").len();
            visit(c, &format!("http://{name}:{NEIGHBOUR_PORT}/")).await;
            per_name.push((name, seen.lock().expect("the record")[before..].to_vec()));
        }
    });
    let heads: Vec<String> = per_name.iter().flat_map(|(_, h)| h.clone()).collect();
    assert!(
        heads.iter().any(|h| h.starts_with("GET /echo ")),
        "{heads:#?}"
    );

    // By address or as localhost, the neighbour is not even sent the cookie.
    for (name, heads) in &per_name[..2] {
        assert_eq!(
            credentials(heads),
            Vec::<String>::new(),
            "{name}: {heads:#?}"
        );
    }
    // By the dashboard's own name it may be (cookies ignore ports): it opens nothing.
    let dashboard = Client::new("http://127.0.0.1:7878", Some(netns()));
    let collected = credentials(&heads);
    // The browser does send it the session's cookie there: the name alone would not keep it.
    assert!(
        collected.iter().any(|c| c.starts_with("sessctl_session=")),
        "{heads:#?}"
    );
    for credential in &collected {
        for header in ["cookie", "authorization"] {
            let reply = dashboard.get("/api/products", &[(header, credential)]);
            assert_eq!(reply.status, 401, "{header}: {credential}: {reply:?}");
            let terminal = dashboard.get(
                "/api/products/web/terminal?write=1",
                &[
                    (header, credential),
                    ("origin", "http://sessctl.localhost:7878"),
                    ("connection", "Upgrade"),
                    ("upgrade", "websocket"),
                    ("sec-websocket-version", "13"),
                    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ],
            );
            assert_eq!(terminal.status, 401, "{header}: {credential}: {terminal:?}");
        }
    }
    let _ =
        Client::new(&format!("http://127.0.0.1:{NEIGHBOUR_PORT}"), Some(netns())).get("/quit", &[]);
}

/// Opens the neighbour's page at `url`, waits for its own request, and checks that neither
/// of its frames shows the dashboard.
async fn visit(c: &Browser, url: &str) {
    c.goto(url).await.expect("opening the neighbour's page");
    until(
        c,
        "the neighbour's page and its frames",
        "document.title === 'asked'",
    )
    .await;
    for frame in 0..2 {
        c.enter_frame(frame)
            .await
            .unwrap_or_else(|err| panic!("{url}: entering frame {frame}: {err}"));
        let framed = c
            .execute("return document.querySelector('a.home') !== null", vec![])
            .await
            .unwrap_or_else(|err| panic!("{url}: reading frame {frame}: {err}"));
        assert_eq!(
            framed,
            serde_json::Value::Bool(false),
            "{url}: frame {frame} shows the dashboard"
        );
        c.enter_parent_frame()
            .await
            .unwrap_or_else(|err| panic!("{url}: leaving frame {frame}: {err}"));
    }
}
