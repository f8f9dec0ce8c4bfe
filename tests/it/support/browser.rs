//! Debian's chromium, driven through chromedriver (WebDriver) with fantoccini, inside the
//! private manager's network namespace so that it reaches the socket-activated dashboard
//! there, and nothing else; and what a test does with it as a user would: log in, tap, swipe
//! or wheel, wait for the page.
//!
//! A socket belongs to the namespace of the thread that makes it, so the driver is started
//! through `nsenter`, and the WebDriver client runs on a single-threaded runtime on a thread
//! that joined the namespace ([`Browser::run`]). The browser runs in a time zone other than
//! UTC ([`TIME_ZONE`]), so that a time shown in UTC differs from one shown in local time.

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use nix::sched::{setns, CloneFlags};
use serde_json::{json, Value};

use super::Env;

/// Where the browser finds the dashboard: chromium resolves every `*.localhost` name to
/// loopback itself.
pub const BASE: &str = "http://sessctl.localhost:7878";

/// The browser's time zone: UTC+05:30 all year, no daylight saving time.
pub const TIME_ZONE: &str = "Asia/Kolkata";
/// [`TIME_ZONE`]'s offset from UTC, in minutes.
pub const TIME_ZONE_OFFSET: i64 = 5 * 60 + 30;

/// The viewports the dashboard is tested at: a phone's, and a desktop's.
#[derive(Debug, Clone, Copy)]
pub enum Viewport {
    Phone,
    Desktop,
}

impl Viewport {
    pub fn name(self) -> &'static str {
        match self {
            Viewport::Phone => "phone",
            Viewport::Desktop => "desktop",
        }
    }

    fn options(self, profile: &std::path::Path) -> Value {
        let mut args = vec![
            "--headless=new".to_string(),
            // Root has no user namespaces for chromium's sandbox here.
            "--no-sandbox".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-gpu".to_string(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut options = json!({"binary": "/usr/bin/chromium"});
        match self {
            Viewport::Phone => {
                options["mobileEmulation"] = json!({
                    "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2, "touch": true, "mobile": true},
                    "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36"
                });
            }
            Viewport::Desktop => args.push("--window-size=1280,900".to_string()),
        }
        options["args"] = json!(args);
        options
    }
}

/// A chromedriver in the manager's network namespace; it and its browsers are killed when
/// dropped (they share a process group of their own).
pub struct Driver {
    child: Child,
    netns: std::os::fd::OwnedFd,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Starts chromedriver in `env`'s manager's network namespace, or `None` when it cannot
/// start: the test is then skipped (see [`super::skip`]).
#[track_caller]
pub fn driver(env: &Env) -> Option<Driver> {
    match start(env) {
        Ok(driver) => Some(driver),
        Err(err) => super::skip(format_args!("no chromium/chromedriver: {err}")),
    }
}

fn start(env: &Env) -> Result<Driver, String> {
    let bed = env.bed.as_ref().ok_or("no manager")?;
    let netns = bed
        .netns()
        .try_clone_to_owned()
        .map_err(|e| format!("dup netns: {e}"))?;
    let path = format!("/proc/{}/fd/{}", std::process::id(), netns.as_raw_fd());
    let mut child = Command::new("nsenter")
        .arg(format!("--net={path}"))
        .args(["chromedriver", "--port=9515"])
        .env("HOME", env.scratch.as_os_str())
        .env("TZ", TIME_ZONE)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("running nsenter chromedriver: {e}"))?;
    // The driver says when it listens; one that fails exits and closes its stdout.
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("started successfully"));
    // Keep draining its stdout so that the driver never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
    let driver = Driver {
        child,
        netns,
        profile,
    };
    if !started {
        return Err("chromedriver exited before it listened".to_string());
    }
    Ok(driver)
}

impl Driver {
    /// Runs `scenario` with a new browser at `viewport`, on a thread in the manager's network
    /// namespace; a panic in it fails the test.
    pub fn run<F>(&self, viewport: Viewport, scenario: F)
    where
        F: AsyncFnOnce(&Client) + Send,
    {
        let options = viewport.options(self.profile.path());
        std::thread::scope(|s| {
            s.spawn(|| {
                setns(&self.netns, CloneFlags::CLONE_NEWNET).expect("joining the netns");
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async {
                    let mut caps = serde_json::Map::new();
                    caps.insert("goog:chromeOptions".to_string(), options);
                    let client = ClientBuilder::new(
                        hyper_util::client::legacy::connect::HttpConnector::new(),
                    )
                    .capabilities(caps)
                    .connect("http://127.0.0.1:9515")
                    .await
                    .expect("a chromium session");
                    scenario(&client).await;
                    let _ = client.close().await;
                });
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        });
    }
}

/// Waits for an element matching `css`, for at most a minute.
pub async fn element(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("waiting for {css}: {err}"))
}

/// The text of the element matching `css`, once it exists. Found and read in one script: the
/// page replaces its live part every second, and an element found in one WebDriver call may
/// be gone by the next.
pub async fn text(c: &Client, css: &str) -> String {
    element(c, css).await;
    let script = "const e = document.querySelector(arguments[0]); return e && e.innerText;";
    match c.execute(script, vec![css.into()]).await {
        Ok(Value::String(text)) => text,
        other => panic!("reading {css}: {other:?}"),
    }
}

/// Logs the browser in as a user does, by opening the one-time link `sessctl dashboard url`
/// printed (`path`: its path and query), and waits until the list shows.
pub async fn log_in(c: &Client, path: &str) {
    c.goto(&format!("{BASE}{path}"))
        .await
        .expect("opening the login link");
    until(
        c,
        "the logged-in list",
        "location.pathname === '/' && document.querySelector('#updated')",
    )
    .await;
}

/// Asks the page to refresh its live part and waits until it shows the answer.
pub async fn refreshed(c: &Client) {
    let script = "return window.sessctlRefresh && window.sessctlRefresh().then(() => true);";
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|err| panic!("refreshing the page: {err}"));
}

/// The centre on screen of the element matching `css`, scrolled into view first; found in one
/// script, as the page may replace the element at any time.
async fn centre(c: &Client, css: &str) -> (f64, f64) {
    element(c, css).await;
    let script = "const e = document.querySelector(arguments[0]); \
        e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); \
        return [r.x + r.width / 2, r.y + r.height / 2];";
    let centre = c
        .execute(script, vec![css.into()])
        .await
        .unwrap_or_else(|err| panic!("locating {css}: {err}"));
    match (centre[0].as_f64(), centre[1].as_f64()) {
        (Some(x), Some(y)) => (x.floor(), y.floor()),
        _ => panic!("locating {css}: {centre}"),
    }
}

/// Taps the element matching `css` as a hurried finger would: it aims at the element's centre,
/// the page refreshes its live part meanwhile (whatever changed since is now on screen), and
/// the finger lands where it aimed, in one action. A page whose layout moves with its state
/// makes the tap miss.
pub async fn tap(c: &Client, css: &str) {
    use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
    let (x, y) = centre(c, css).await;
    refreshed(c).await;
    let finger = MouseActions::new("finger".to_string())
        .then(PointerAction::MoveTo {
            duration: None,
            x,
            y,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(finger)
        .await
        .unwrap_or_else(|err| panic!("tapping {css}: {err}"));
}

/// Scrolls the element matching `css` back (towards its top) by about a screenful, as its
/// user would: a finger's swipe down on a phone, the wheel on a desktop.
pub async fn scroll_back(c: &Client, viewport: Viewport, css: &str) {
    use fantoccini::actions::{
        InputSource, PointerAction, TouchActions, WheelAction, WheelActions, MOUSE_BUTTON_LEFT,
    };
    let (x, y) = centre(c, css).await;
    let done = match viewport {
        Viewport::Phone => {
            let swipe = TouchActions::new("swiping finger".to_string())
                .then(PointerAction::MoveTo {
                    duration: None,
                    x,
                    y: y - 100.0,
                })
                .then(PointerAction::Down {
                    button: MOUSE_BUTTON_LEFT,
                })
                .then(PointerAction::MoveTo {
                    duration: Some(Duration::from_millis(250)),
                    x,
                    y: y + 100.0,
                })
                .then(PointerAction::Up {
                    button: MOUSE_BUTTON_LEFT,
                });
            c.perform_actions(swipe).await
        }
        Viewport::Desktop => {
            let wheel = WheelActions::new("wheel".to_string()).then(WheelAction::Scroll {
                duration: None,
                x: x as i64,
                y: y as i64,
                delta_x: 0,
                delta_y: -200,
            });
            c.perform_actions(wheel).await
        }
    };
    done.unwrap_or_else(|err| panic!("scrolling {css} back: {err}"));
}

/// Polls the page's `script` (a JavaScript expression) until it is true, for at most a minute.
pub async fn until(c: &Client, what: &str, script: &str) {
    for _ in 0..600 {
        let value = c
            .execute(&format!("return Boolean({script});"), vec![])
            .await
            .unwrap_or_else(|err| panic!("{what}: {err}"));
        if value == Value::Bool(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Whether the page was current says whether it or the server was slow.
    let line = "return document.getElementById('updated')?.textContent ?? 'no updated line';";
    let updated = c.execute(line, vec![]).await;
    panic!("timed out waiting for {what}; the page says {updated:?}");
}

/// Saves the page as `<viewport>-<name>.png` under the test target's `screenshots/`.
pub async fn screenshot(c: &Client, viewport: Viewport, name: &str) -> PathBuf {
    let png = c.screenshot().await.expect("a screenshot");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("creating the screenshot dir");
    let path = dir.join(format!("{}-{name}.png", viewport.name()));
    std::fs::write(&path, png).expect("writing a screenshot");
    path
}

/// A connection to one target of the browser (a page, a service worker) over Chrome's own
/// DevTools protocol, for what WebDriver cannot do: grant a permission, deliver a push
/// message, watch a service worker. chromedriver answers CDP commands but streams no events,
/// so this talks to the browser's DevTools websocket itself. Made on [`Driver::run`]'s
/// thread, so its socket is in the manager's network namespace, where the browser listens.
pub struct Cdp {
    socket: tungstenite::WebSocket<std::net::TcpStream>,
    sent: u64,
    /// Events read while waiting for something else, oldest first.
    events: std::collections::VecDeque<Value>,
}

/// How long a DevTools answer or event may take.
const CDP_WAIT: Duration = Duration::from_secs(60);

impl Cdp {
    /// Connects to the first target of `kind` (`page`, `service_worker`) whose URL starts
    /// with `url`, among those of `c`'s browser.
    pub fn connect(c: &Client, kind: &str, url: &str) -> Cdp {
        let address = debugger_address(c);
        let targets = devtools_get(&address, "/json/list");
        let target = targets
            .as_array()
            .and_then(|all| {
                all.iter().find(|t| {
                    t["type"] == kind && t["url"].as_str().is_some_and(|u| u.starts_with(url))
                })
            })
            .unwrap_or_else(|| panic!("no {kind} target at {url} in {targets:#}"));
        let ws = target["webSocketDebuggerUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("a target without a websocket: {target}"));
        let stream = std::net::TcpStream::connect(&address)
            .unwrap_or_else(|err| panic!("connecting to DevTools at {address}: {err}"));
        stream
            .set_read_timeout(Some(CDP_WAIT))
            .expect("a read timeout");
        let (socket, _) = tungstenite::client(ws, stream)
            .unwrap_or_else(|err| panic!("opening DevTools' websocket {ws}: {err}"));
        Cdp {
            socket,
            sent: 0,
            events: std::collections::VecDeque::new(),
        }
    }

    /// Sends `method` with `params` and returns its result; an error answer fails the test.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.sent += 1;
        let id = self.sent;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket
            .send(tungstenite::Message::text(message))
            .unwrap_or_else(|err| panic!("sending {method}: {err}"));
        let deadline = std::time::Instant::now() + CDP_WAIT;
        loop {
            let message = self.next(method, deadline);
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    panic!("{method} {params}: {error}");
                }
                return message["result"].clone();
            }
            self.events.push_back(message);
        }
    }

    /// Waits for the first event `method` (one already read included) for which `wanted`
    /// holds, takes it and returns its parameters; the other events stay for later calls.
    pub fn event(&mut self, method: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let fits = |event: &Value| event["method"] == method && wanted(&event["params"]);
        if let Some(at) = self.events.iter().position(fits) {
            return self
                .events
                .remove(at)
                .map_or(Value::Null, |e| e["params"].clone());
        }
        let deadline = std::time::Instant::now() + CDP_WAIT;
        loop {
            let event = self.next(method, deadline);
            if fits(&event) {
                return event["params"].clone();
            }
            self.events.push_back(event);
        }
    }

    /// The next message, read before `deadline`.
    fn next(&mut self, awaited: &str, deadline: std::time::Instant) -> Value {
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "no {awaited} from DevTools within {CDP_WAIT:?}"
            );
            let message = self
                .socket
                .read()
                .unwrap_or_else(|err| panic!("waiting for {awaited} from DevTools: {err}"));
            if let tungstenite::Message::Text(text) = message {
                return serde_json::from_str(text.as_str())
                    .unwrap_or_else(|err| panic!("DevTools sent no JSON ({err}): {text}"));
            }
        }
    }
}

/// Where the browser of `c`'s session serves DevTools: `HOST:PORT`, as chromedriver reports it.
fn debugger_address(c: &Client) -> String {
    let caps = c.capabilities().expect("the session's capabilities");
    caps.get("goog:chromeOptions")
        .and_then(|options| options["debuggerAddress"].as_str())
        .unwrap_or_else(|| panic!("no goog:chromeOptions.debuggerAddress in {caps:?}"))
        .to_string()
}

/// GETs `path` of DevTools' HTTP endpoint at `address`, as JSON. (It answers HTTP/1.1 only,
/// and keeps the connection open: the body is as long as its `Content-Length` says.)
fn devtools_get(address: &str, path: &str) -> Value {
    use std::io::{Read, Write};
    let failed =
        |err: std::io::Error| -> ! { panic!("GET {path} of DevTools at {address}: {err}") };
    let mut stream = std::net::TcpStream::connect(address).unwrap_or_else(|err| failed(err));
    stream
        .set_read_timeout(Some(CDP_WAIT))
        .unwrap_or_else(|err| failed(err));
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n")
        .unwrap_or_else(|err| failed(err));
    let mut reply = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reply.read_line(&mut line).unwrap_or_else(|err| failed(err));
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("a Content-Length");
            }
        }
    }
    let mut body = vec![0; length];
    reply
        .read_exact(&mut body)
        .unwrap_or_else(|err| failed(err));
    serde_json::from_slice(&body).unwrap_or_else(|err| {
        panic!(
            "DevTools' {path} is no JSON ({err}): {}",
            String::from_utf8_lossy(&body)
        )
    })
}
