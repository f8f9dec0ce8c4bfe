//! The dashboard (`sessctl serve`): its API mirrors the CLI on a real private manager, it runs
//! as a socket-activated unit whose restart, stop or crash touches no session, and it lets in
//! only the token's holder.
//!
//! The sessions here run a stand-in agent (`sleep`): what is tested is the dashboard, systemd
//! and tmux, none of which depends on what the agent is.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::http::{Client, Reply};
use crate::support::{manager, status_json, tmux, wait_for, Env, SESSCTL};

const DASHBOARD: &str = "sessctl-dashboard.service";
const SOCKET: &str = "sessctl-dashboard.socket";

pub fn token(env: &Env) -> String {
    let out = env
        .sessctl()
        .args(["dashboard", "token"])
        .stdout_read()
        .run();
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

fn cli_json(env: &Env, args: &[&str]) -> Value {
    let out = env.sessctl().args(args).stdout_read().status_any().run();
    serde_json::from_slice(&out.stdout).expect("the CLI's JSON")
}

/// A report with its uptimes removed: the seconds tick between two reads of the same session.
fn steady(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => {
            map.remove("uptime_seconds");
            for v in map.values_mut() {
                *v = steady(v.take());
            }
        }
        Value::Array(items) => {
            for v in items.iter_mut() {
                *v = steady(v.take());
            }
        }
        _ => {}
    }
    value
}

/// The session as the proof sees it: invocation, main PID, agent PID.
pub fn identity(env: &Env) -> (Value, Value, Value) {
    let s = status_json(env);
    (
        s["invocation_id"].clone(),
        s["main_pid"].clone(),
        s["agent_pid"].clone(),
    )
}

#[track_caller]
fn ok(reply: Reply) -> Value {
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

#[test]
fn the_socket_activated_dashboard_mirrors_the_cli_and_its_restarts_touch_no_session() {
    let Some(env) = manager("dashboard") else {
        return;
    };
    // No silence monitor: a wait it marks could land between the API's list and the CLI's.
    env.sessctl()
        .args(["enable", "web", "--silence", "0", "--", "sleep", "100000"])
        .stdout_read()
        .run();
    env.sessctl()
        .args(["dashboard", "enable"])
        .stdout(
            "sessctl-dashboard.socket: written and reloaded\n\
             sessctl-dashboard.socket: enabled, listening on 127.0.0.1:7878; open http://sessctl.localhost:7878/\n\
             log in: open the link `sessctl dashboard url` prints\n",
        )
        .run();
    // The server runs before anyone connects, and starts at login too: it sends push notices.
    let systemd = env.systemd();
    assert_ne!(systemd.status(DASHBOARD).expect("status").main_pid, 0);
    assert_eq!(
        systemd
            .unit_file(DASHBOARD)
            .expect("its unit file")
            .unit_file_state,
        sessctl::systemd::UnitFileState::Enabled
    );
    // The socket listens in the private manager's network namespace: the client joins it.
    let netns = env.bed.as_ref().expect("a manager").netns();
    let client = Client::new(
        "http://127.0.0.1:7878",
        Some(netns.try_clone_to_owned().expect("dup netns")),
    );
    let auth = format!("Bearer {}", token(&env));
    let h = [("authorization", auth.as_str())];

    let list = ok(client.get("/api/products", &h));
    assert_eq!(steady(list), steady(cli_json(&env, &["list", "--json"])));
    // A wait begins: the list shows it at once, though its systemd part is cached for a second.
    let state = env.var("XDG_STATE_HOME").join("sessctl/products/web");
    let state = state.to_str().expect("utf-8");
    env.sessctl()
        .args(["internal", "notify", "--state", state, "stop"])
        .run();
    let list = ok(client.get("/api/products", &h));
    assert_eq!(list[0]["waiting"]["kind"], "stop", "{list:#}");
    env.sessctl()
        .args(["internal", "notify", "--state", state, "--clear"])
        .run();
    assert_eq!(
        ok(client.get("/api/products", &h))[0]["waiting"],
        Value::Null
    );

    // Resume from the dashboard: the verdict is the CLI's, and the session is untouched.
    let before = identity(&env);
    let resumed = ok(client.post("/api/products/web/resume", &h, None));
    assert_eq!(
        (&resumed["verdict"], &resumed["recovered"]),
        (&json!("survived"), &json!(false)),
        "{resumed:#}"
    );
    let cli = cli_json(&env, &["resume", "web", "--no-attach", "--json"]);
    assert_eq!(steady(resumed), steady(cli));
    assert_eq!(identity(&env), before);
    let status = ok(client.get("/api/products/web", &h));
    assert_eq!(steady(status.clone()), steady(status_json(&env)));
    assert_eq!(status["last_resume"]["verdict"], "survived");
    assert_eq!(status["last_resume"]["main_pid"], status["main_pid"]);
    assert_eq!(status["last_resume"]["agent_pid"], status["agent_pid"]);
    let events = ok(client.get("/api/products/web/events", &h));
    assert_eq!(events, cli_json(&env, &["log", "web", "--json"]));
    let doctor = ok(client.get("/api/doctor", &h));
    assert!(doctor["healthy"].is_boolean(), "{doctor:#}");
    assert!(doctor["findings"].is_array(), "{doctor:#}");

    // Stop, start and restart answer with the CLI's step and line.
    let stopped = ok(client.post("/api/products/web/stop", &h, None));
    assert_eq!(
        stopped,
        json!({"product": "web", "step": "stopped", "line": "sessctl-web.service: stopped"})
    );
    assert_eq!(status_json(&env)["active_state"], "inactive");
    let started = ok(client.post("/api/products/web/start", &h, None));
    assert_eq!(
        started,
        json!({"product": "web", "step": "started", "line": "sessctl-web.service: started"})
    );
    let restarted = ok(client.post("/api/products/web/restart", &h, None));
    assert_eq!(restarted["line"], "sessctl-web.service: restarted");

    // The dashboard runs in a unit of its own, outside the session's.
    let server = systemd.details(DASHBOARD).expect("the dashboard's unit");
    assert!(
        server
            .control_group
            .ends_with("/app.slice/sessctl-dashboard.service"),
        "{}",
        server.control_group
    );
    assert!(status_json(&env)["cgroup"]
        .as_str()
        .expect("a cgroup")
        .ends_with("/app.slice/app-sessctl.slice/sessctl-web.service"));

    // Its restart, its stop and its crash leave the session exactly as it was; the socket
    // brings the server back on the next request.
    let before = identity(&env);
    systemd
        .restart(DASHBOARD)
        .expect("restarting the dashboard");
    assert_eq!(identity(&env), before);
    ok(client.get("/api/products/web", &h));
    systemd.stop(DASHBOARD).expect("stopping the dashboard");
    assert_eq!(identity(&env), before);
    ok(client.get("/api/products/web", &h));
    let pid = systemd.status(DASHBOARD).expect("status").main_pid;
    assert_ne!(pid, 0);
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("killing the dashboard");
    wait_for("the killed dashboard to end", || {
        let now = systemd.status(DASHBOARD).expect("status").main_pid;
        (now != pid).then_some(())
    });
    assert_eq!(identity(&env), before);
    ok(client.get("/api/products/web", &h));
    assert_eq!(identity(&env), before);

    // gc never takes the dashboard's units for a product's leftovers.
    let gc = cli_json(&env, &["gc", "--dry-run", "--json"]);
    assert!(!gc.to_string().contains("dashboard"), "{gc:#}");

    env.sessctl()
        .args(["dashboard", "disable"])
        .stdout(
            "sessctl-dashboard.socket, sessctl-dashboard.service: stopped, disabled and removed\n",
        )
        .run();
    let units = env.config_home().join("systemd/user");
    assert!(!units.join(SOCKET).exists() && !units.join(DASHBOARD).exists());
    // Nor is anything left to start it at the next login.
    assert!(!units.join("default.target.wants").join(DASHBOARD).exists());
    assert_eq!(identity(&env), before);
}

/// `sessctl serve` on an ephemeral loopback port, with no manager: enough for everything that
/// is decided before a product is read. Killed when dropped.
pub struct Served {
    child: Child,
    pub client: Client,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// What the server wrote to stderr after its first line (its journal, as a unit).
    log: Arc<Mutex<String>>,
}

impl Served {
    /// The server's stderr after the "dashboard on" line, so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("the server's log").clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(env: &Env) -> Served {
    serve_with(env, &[])
}

/// `sessctl serve ARGS` on an ephemeral loopback port. It says it is served by its own host
/// name; the tests reach it by its address, which it serves too.
pub fn serve_with(env: &Env, args: &[&str]) -> Served {
    serve_with_vars(env, args, &[])
}

/// [`serve_with`], the server's environment having `vars` too.
pub fn serve_with_vars(env: &Env, args: &[&str], vars: &[(&str, &Path)]) -> Served {
    let args = [&["--listen", "127.0.0.1:0"][..], args].concat();
    let (child, base, log) = spawn_server(env, &args, vars);
    let port = base
        .strip_prefix("http://sessctl.localhost:")
        .unwrap_or_else(|| panic!("not served as sessctl.localhost: {base}"));
    let addr = format!("127.0.0.1:{port}");
    Served {
        child,
        client: Client::new(&format!("http://{addr}"), None),
        addr,
        log,
    }
}

/// `sessctl serve ARGS` with `vars` in its environment; where it says it is served
/// (`http://HOST:PORT`), and the rest of its stderr as it comes.
fn spawn_server(
    env: &Env,
    args: &[&str],
    vars: &[(&str, &Path)],
) -> (Child, String, Arc<Mutex<String>>) {
    let mut child = Command::new(SESSCTL)
        .arg("serve")
        .args(args)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .envs(env.vars())
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning sessctl serve");
    // The server says where it listens once it does; a server that fails says why and exits.
    let mut line = String::new();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    stderr
        .read_line(&mut line)
        .expect("reading the server's first line");
    let base = line
        .strip_prefix("sessctl: dashboard on ")
        .map(|rest| rest.split('/').take(3).collect::<Vec<_>>().join("/"))
        .unwrap_or_else(|| panic!("the server did not start: {line}"));
    // Read on, so the server never writes into a closed pipe and a test can read its log.
    let log = Arc::new(Mutex::new(String::new()));
    let kept = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let mut kept = kept.lock().expect("the server's log");
            kept.push_str(&line);
            kept.push('\n');
        }
    });
    (child, base, log)
}

/// The path of the one-time login link `sessctl dashboard url` prints, which must begin with
/// `base` (the scheme, host and port).
pub fn link_path(env: &Env, base: &str) -> String {
    let link = env.sessctl().args(["dashboard", "url"]).stdout_read().run();
    let link = String::from_utf8(link.stdout).expect("utf-8");
    let path = link
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix(base))
        .unwrap_or_else(|| panic!("{link}"));
    assert!(path.starts_with("/login?code="), "{link}");
    path.to_string()
}

/// Opens a one-time login link's `path` as a browser whose `User-Agent` is `agent`: it moves
/// on to a clean URL with a new login session.
pub fn open_link(client: &Client, path: &str, agent: &str) -> Login {
    let reply = client.get(path, &[("user-agent", agent)]);
    assert_eq!(
        (reply.status, reply.header("location")),
        (303, Some("/login/done")),
        "{reply:?}"
    );
    login_of(&reply)
}

/// Opens a spent or expired login link's `path`: refused, and told so.
pub fn refused_link(client: &Client, path: &str) {
    let again = client.get(path, &[]);
    assert_eq!(again.status, 401, "{again:?}");
    assert!(
        again
            .body
            .contains("this login link was used or has expired"),
        "{}",
        again.body
    );
}

/// A browser's login session: the cookie it sends everywhere, and the key its pages send.
pub struct Login {
    /// `sessctl_session=SECRET`, as a `Cookie` header holds it.
    pub cookie: String,
    pub key: String,
}

impl Login {
    /// The headers a logged-in page's requests carry.
    pub fn headers(&self) -> [(&str, &str); 2] {
        [("cookie", &self.cookie), ("x-sessctl-key", &self.key)]
    }
}

/// Logs in with the login form as a browser whose `User-Agent` is `agent`.
pub fn log_in(client: &Client, token: &str, agent: &str) -> Login {
    let form = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("user-agent", agent),
    ];
    let reply = client.post("/login", &form, Some(&format!("token={token}")));
    assert_eq!(
        (reply.status, reply.header("location")),
        (303, Some("/login/done")),
        "{reply:?}"
    );
    login_of(&reply)
}

/// The login session a login's answer sets: its first cookie (`sessctl_session`, or under
/// HTTPS `__Host-sessctl_session`), and the key.
pub fn login_of(reply: &Reply) -> Login {
    let cookies: Vec<&str> = reply
        .all("set-cookie")
        .into_iter()
        .filter_map(|c| c.split(';').next())
        .collect();
    let (Some(cookie), Some(key)) = (
        cookies.first(),
        cookies.iter().find_map(|c| c.strip_prefix("sessctl_key=")),
    ) else {
        panic!("no session and key cookies in {reply:?}");
    };
    Login {
        cookie: cookie.to_string(),
        key: key.to_string(),
    }
}

#[test]
fn a_non_loopback_address_without_tls_is_refused_and_nothing_is_written() {
    let env = Env::offline();
    env.sessctl()
        .args(["serve", "--listen", "0.0.0.0:7878"])
        .stderr("sessctl: 0.0.0.0:7878 is not a loopback address, and the dashboard would carry its token there in clear text: give --tls-cert and --tls-key, or listen on 127.0.0.1 and reach it through `tailscale serve` or an SSH tunnel (README)\n")
        .status(2)
        .run();
    env.sessctl()
        .args(["dashboard", "enable", "--listen", "192.0.2.1:7878"])
        .stderr("sessctl: 192.0.2.1:7878 is not a loopback address, and the dashboard would carry its token there in clear text: give --tls-cert and --tls-key, or listen on 127.0.0.1 and reach it through `tailscale serve` or an SSH tunnel (README)\n")
        .status(2)
        .run();
    assert!(!env.config_home().join("systemd").exists());
}

/// A self-signed certificate for 127.0.0.1, written as PEM: (cert file, key file, cert DER).
fn certificate(env: &Env) -> (String, String, Vec<u8>) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
        .expect("a self-signed certificate");
    let cert = env.scratch.join("cert.pem");
    let key = env.scratch.join("key.pem");
    std::fs::write(&cert, made.cert.pem()).expect("writing cert.pem");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("writing key.pem");
    let path = |p: std::path::PathBuf| p.to_str().expect("utf-8").to_string();
    (path(cert), path(key), made.cert.der().to_vec())
}

#[test]
fn with_tls_the_dashboard_listens_beyond_loopback_speaks_only_https_and_its_cookie_is_secure() {
    let env = Env::offline();
    let (cert, key, der) = certificate(&env);
    let (child, base, log) = spawn_server(
        &env,
        &[
            "--listen",
            "0.0.0.0:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ],
        &[],
    );
    let served = Served {
        child,
        client: Client::new(&base, None),
        addr: String::new(),
        log,
    };
    let port = base
        .strip_prefix("https://0.0.0.0:")
        .unwrap_or_else(|| panic!("not HTTPS on every address: {base}"));
    let c = Client::trusting(&format!("https://127.0.0.1:{port}"), None, &der);
    let token = token(&env);

    let form = [("content-type", "application/x-www-form-urlencoded")];
    // Under HTTPS the session's cookie takes the `__Host-` prefix: the browser then takes it
    // only from this host, over TLS, for every path.
    let login = c.post("/login", &form, Some(&format!("token={token}")));
    let cookies = login.all("set-cookie");
    let session = cookies[0]
        .strip_prefix("__Host-sessctl_session=")
        .and_then(|c| c.split_once(';'))
        .unwrap_or_else(|| panic!("{login:?}"));
    assert_eq!(
        session.1, " HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000; Secure",
        "{login:?}"
    );
    assert!(cookies[1].ends_with("; SameSite=Strict; Path=/login/done; Max-Age=120; Secure"));
    let secure = login_of(&login);
    assert_eq!(
        secure.cookie,
        format!("__Host-sessctl_session={}", session.0)
    );
    assert_eq!(c.get("/api/products", &secure.headers()).status, 200);
    let bearer = format!("Bearer {token}");
    let list = c.get("/api/products", &[("authorization", &bearer)]);
    assert_eq!((list.status, list.json()), (200, json!([])), "{list:?}");
    assert_eq!(c.get("/api/products", &[]).status, 401);

    // Plain HTTP on the same port gets no answer: the token never travels in clear.
    let mut plain = TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("a port")))
        .expect("connecting");
    plain
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    plain
        .write_all(
            format!("GET /api/products HTTP/1.1\r\nHost: x\r\nAuthorization: {bearer}\r\n\r\n")
                .as_bytes(),
        )
        .expect("writing");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    drop(served);
}

#[test]
fn the_socket_activated_dashboard_serves_https_beyond_loopback_and_its_link_says_so() {
    let Some(env) = manager("dashboard-tls") else {
        return;
    };
    let (cert, key, der) = certificate(&env);
    env.sessctl()
        .args(["dashboard", "enable", "--listen", "0.0.0.0:8443"])
        .args(["--tls-cert", &cert, "--tls-key", &key])
        .stdout(
            "sessctl-dashboard.socket: written and reloaded\n\
             sessctl-dashboard.socket: enabled, listening on 0.0.0.0:8443; open https://0.0.0.0:8443/\n\
             log in: open the link `sessctl dashboard url` prints\n",
        )
        .run();
    let token = token(&env);
    let path = link_path(&env, "https://0.0.0.0:8443");
    let netns = env.bed.as_ref().expect("a manager").netns();
    let c = Client::trusting(
        "https://127.0.0.1:8443",
        Some(netns.try_clone_to_owned().expect("dup netns")),
        &der,
    );
    let link = c.get(&path, &[]);
    assert_eq!(link.status, 303, "{link:?}");
    assert!(
        link.header("set-cookie")
            .is_some_and(|c| c.ends_with("; Secure")),
        "{link:?}"
    );
    let bearer = format!("Bearer {token}");
    let list = c.get("/api/products", &[("authorization", &bearer)]);
    assert_eq!((list.status, list.json()), (200, json!([])), "{list:?}");
    env.sessctl()
        .args(["dashboard", "disable"])
        .stdout_read()
        .run();
}

#[test]
fn bad_tls_files_are_refused_naming_the_file() {
    let env = Env::offline();
    let junk = env.scratch.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").expect("writing junk");
    let junk = junk.to_str().expect("utf-8");
    let (cert, _, _) = certificate(&env);
    env.sessctl()
        .args(["serve", "--tls-cert", junk, "--tls-key", junk])
        .stderr_redacted("sessctl: \"[tmp]/scratch/junk.pem\" is not a PEM certificate chain (no certificate in it); give the PEM files your certificate authority issued (or `tailscale cert` wrote)\n")
        .status(2)
        .run();
    env.sessctl()
        .args(["dashboard", "enable", "--listen", "0.0.0.0:8443", "--tls-cert", &cert, "--tls-key", junk])
        .stderr_redacted("sessctl: \"[tmp]/scratch/junk.pem\" is not a PEM private key (no items found); give the PEM files your certificate authority issued (or `tailscale cert` wrote)\n")
        .status(2)
        .run();
    let alone = env
        .sessctl()
        .args(["serve", "--tls-cert", &cert])
        .stderr_read()
        .status(2)
        .run();
    let said = String::from_utf8_lossy(&alone.stderr);
    assert!(said.contains("--tls-key <PEM>"), "{said}");
    assert!(!env.config_home().join("systemd").exists());
}

#[test]
fn the_token_is_private_and_a_token_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::offline();
    let first = token(&env);
    assert_eq!(first.len(), 64);
    assert_eq!(token(&env), first, "the token is made once");
    let file = env.config_home().join("sessctl/dashboard.token");
    let mode = std::fs::metadata(&file)
        .expect("the token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The login link carries a one-time code, never the token.
    let path = link_path(&env, "http://sessctl.localhost:7878");
    let code = &path["/login?code=".len()..];
    assert_eq!(code.len(), 64, "{path}");
    assert!(!path.contains(&first));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    env.sessctl()
        .args(["dashboard", "token"])
        .stderr(&format!(
            "sessctl: {f} is readable by others (mode 644); run `chmod 600 {f}`\n",
            f = file.display()
        ))
        .status(1)
        .run();
}

#[test]
fn the_dashboards_name_is_no_products() {
    let env = Env::offline();
    env.sessctl()
        .args(["enable", "dashboard", "--", "sleep", "1"])
        .stderr("sessctl: product name \"dashboard\" is reserved: sessctl-dashboard.service is the dashboard's own unit; choose another name\n")
        .status(2)
        .run();
}

/// A WebSocket onto `path` of the server at `addr`, as the dashboard's page opens it: with the
/// login cookie and the page's own origin. Reads are bounded by a minute.
fn terminal(addr: &str, path: &str, login: &Login) -> tungstenite::WebSocket<TcpStream> {
    use tungstenite::client::IntoClientRequest;
    let stream = TcpStream::connect(addr).expect("connecting to the dashboard");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("a read timeout");
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("a WebSocket request");
    let headers = request.headers_mut();
    headers.insert("cookie", login.cookie.parse().expect("a header"));
    // A browser cannot add a header to a WebSocket: the page's key is its second subprotocol.
    let protocols = format!("sessctl, sessctl.key.{}", login.key);
    headers.insert(
        "sec-websocket-protocol",
        protocols.parse().expect("a header"),
    );
    let origin = format!("http://{addr}");
    headers.insert("origin", origin.parse().expect("a header"));
    tungstenite::client(request, stream)
        .unwrap_or_else(|err| panic!("opening {path}: {err}"))
        .0
}

fn send(ws: &mut tungstenite::WebSocket<TcpStream>, frame: Value) {
    ws.send(tungstenite::Message::text(frame.to_string()))
        .expect("sending a frame");
}

/// Whether the pane shows a line that is exactly `line`.
fn pane_shows(env: &Env, line: &str) -> bool {
    tmux(&env.socket("web"), &["capture-pane", "-p", "-t", "main"])
        .is_some_and(|screen| screen.lines().any(|l| l.trim_end() == line))
}

fn clients(env: &Env) -> String {
    tmux(
        &env.socket("web"),
        &[
            "list-clients",
            "-F",
            "#{client_width}x#{client_height} #{client_readonly}",
        ],
    )
    .unwrap_or_default()
}

#[test]
fn the_terminal_types_into_the_session_only_when_asked_and_only_from_the_dashboard() {
    let Some(env) = manager("terminal") else {
        return;
    };
    // The stand-in agent is a shell: typing into a session is what is tested, not an agent.
    env.sessctl()
        .args(["enable", "web", "--", "sh"])
        .stdout_read()
        .run();
    let before = identity(&env);
    let served = serve(&env);
    let addr = served.addr.clone();
    let login = log_in(&served.client, &token(&env), "test");
    let path = "/api/products/web/terminal";

    // Another site's page cannot open it with the user's cookie and key, nor can a request
    // without an origin; the cookie alone (all a server on another port could be sent) opens
    // nothing.
    let upgrade = [
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let keyed = [&upgrade[..], &login.headers()[..]].concat();
    let foreign = [&keyed[..], &[("origin", "http://evil.example")]].concat();
    assert_eq!(served.client.get(path, &foreign).status, 403);
    assert_eq!(served.client.get(path, &keyed).status, 403);
    let origin = format!("http://{addr}");
    let cookie_only = [
        &upgrade[..],
        &[
            ("cookie", login.cookie.as_str()),
            ("origin", origin.as_str()),
        ],
    ]
    .concat();
    assert_eq!(served.client.get(path, &cookie_only).status, 401);

    // A read-only viewer's keys never arrive: its frames are handled in order, so once its
    // resize shows, its keys have been handled too.
    let mut viewer = terminal(&addr, &format!("{path}?cols=100&rows=30"), &login);
    send(&mut viewer, json!({"input": "echo typed-read-only\r"}));
    send(&mut viewer, json!({"resize": [90, 20]}));
    wait_for("the read-only viewer's resize", || {
        clients(&env).contains("90x20 1").then_some(())
    });

    let mut writer = terminal(&addr, &format!("{path}?write=1&cols=100&rows=30"), &login);
    send(&mut writer, json!({"input": "echo hello-from-phone\r"}));
    wait_for("the typed command's output in the pane", || {
        pane_shows(&env, "hello-from-phone").then_some(())
    });
    let mut seen = Vec::new();
    wait_for("the typed command's output on the WebSocket", || {
        if let tungstenite::Message::Binary(bytes) = writer.read().expect("reading the terminal") {
            seen.extend_from_slice(&bytes);
        }
        String::from_utf8_lossy(&seen)
            .contains("hello-from-phone")
            .then_some(())
    });
    assert!(!pane_shows(&env, "typed-read-only"));

    // Closing the viewers ends their tmux clients, and nothing of the session.
    viewer.close(None).expect("closing");
    writer.close(None).expect("closing");
    wait_for("the viewers' tmux clients to end", || {
        clients(&env).is_empty().then_some(())
    });
    assert_eq!(identity(&env), before);
}

#[test]
fn env_values_are_masked_in_every_answer_unless_asked_for() {
    let Some(env) = manager("dashboard-env") else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--env", "SECRET_X=hunter2", "--no-start"])
        .args(["--", "sleep", "100000"])
        .stdout_read()
        .run();
    // An edited unit: doctor's fix is the `enable` command, with the product's --env.
    let unit = env.config_home().join("systemd/user/sessctl-web.service");
    let mut text = std::fs::read_to_string(&unit).expect("the unit");
    text.push_str("# edited\n");
    std::fs::write(&unit, text).expect("editing the unit");
    let served = serve(&env);
    let c = &served.client;
    let login = log_in(c, &token(&env), "test");
    let cli = cli_json(&env, &["doctor", "--json"]);
    assert!(cli.to_string().contains("SECRET_X=hunter2"), "{cli:#}");
    for path in [
        "/api/doctor",
        "/api/products",
        "/api/products/web",
        "/p/web",
        "/",
    ] {
        let masked = c.get(path, &login.headers());
        assert_eq!(masked.status, 200, "{path}: {masked:?}");
        assert!(!masked.body.contains("hunter2"), "{path}: {}", masked.body);
    }
    let doctor = c.get("/api/doctor", &login.headers());
    assert!(doctor.body.contains("SECRET_X=••••"), "{}", doctor.body);
    let page = c.get("/p/web", &login.headers());
    assert!(page.body.contains("SECRET_X=••••"), "{}", page.body);
    // Asked for, the answer is the CLI's.
    let revealed = ok(c.get("/api/doctor?reveal=env", &login.headers()));
    assert_eq!(steady(revealed), steady(cli));
}

/// Every `/static/` URL `body` (a page or the manifest) names, as `(name, version)`.
fn asset_urls(body: &str) -> BTreeSet<(String, String)> {
    body.match_indices("/static/")
        .map(|(at, _)| {
            let url = &body[at + "/static/".len()..];
            let url = &url[..url.find('"').unwrap_or(url.len())];
            let (name, version) = url.split_once("?v=").unwrap_or((url, ""));
            (name.to_string(), version.to_string())
        })
        .collect()
}

/// The URL `body` names the asset `name` by.
pub fn asset_url(body: &str, name: &str) -> String {
    let (_, version) = asset_urls(body)
        .into_iter()
        .find(|(named, _)| named == name)
        .unwrap_or_else(|| panic!("no /static/{name} in {body}"));
    format!("/static/{name}?v={version}")
}

#[test]
fn pages_name_each_asset_by_a_digest_of_its_bytes_and_only_that_url_is_cached() {
    let env = Env::offline();
    let served = serve(&env);
    let c = &served.client;
    let login = log_in(c, &token(&env), "test");
    let cookie = [("cookie", login.cookie.as_str())];
    let mut named = BTreeSet::new();
    for (what, reply) in [
        ("list", c.get("/", &login.headers())),
        ("a product's shell", c.get("/p/web", &cookie)),
        ("login", c.get("/login", &[])),
        ("manifest", c.get("/manifest.webmanifest", &[])),
    ] {
        assert_eq!(reply.status, 200, "{what}: {reply:?}");
        named.extend(asset_urls(&reply.body));
    }
    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server/assets");
    let files = [
        "app.css",
        "app.js",
        "create.js",
        "notify.js",
        "session.js",
        "icon.svg",
        "icon-192.png",
        "icon-512.png",
        "terminal.js",
        "vendor/xterm.js",
        "vendor/xterm.css",
        "vendor/addon-fit.js",
    ];
    let digests: BTreeSet<(String, String)> = files
        .iter()
        .map(|file| {
            let bytes = std::fs::read(assets.join(file)).expect("an asset");
            let digest = Sha256::digest(&bytes)[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (file.trim_start_matches("vendor/").to_string(), digest)
        })
        .collect();
    // Every asset is named, each by the digest of its bytes, so a new build's pages ask anew.
    assert_eq!(named, digests);
    for (name, version) in &named {
        let reply = c.get(&format!("/static/{name}?v={version}"), &[]);
        assert_eq!(
            (reply.status, reply.header("cache-control")),
            (200, Some("max-age=3600")),
            "{name}"
        );
    }
    // Another version (a page of the server before an upgrade), or none: today's bytes, which
    // fit today's API, but never cached under that URL.
    let script = std::fs::read_to_string(assets.join("app.js")).expect("app.js");
    for url in ["/static/app.js?v=0123456789ab", "/static/app.js"] {
        let reply = c.get(url, &[]);
        assert_eq!(
            (reply.status, reply.header("cache-control")),
            (200, Some("no-store")),
            "{url}"
        );
        assert_eq!(reply.body, script, "{url}");
    }
    assert_eq!(c.get("/static/nothing.js", &[]).status, 404);
}

#[test]
fn a_path_naming_no_product_or_no_action_is_refused_alike_on_every_route() {
    let env = Env::offline();
    let products = env.config_home().join("sessctl/products");
    std::fs::create_dir_all(&products).expect("the products' folder");
    std::fs::write(products.join("web.toml"), "").expect("a product's config");
    let served = serve(&env);
    let c = &served.client;
    let login = log_in(c, &token(&env), "test");
    let h = login.headers();
    let refused = |error: &str| format!("{{\n  \"error\": \"{error}\",\n  \"exit_code\": 2\n}}\n");
    let origin = format!("http://{}", served.addr);
    let upgrade = [
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let socket = [&upgrade[..], &h[..], &[("origin", origin.as_str())]].concat();
    for name in ["nope", "a%20b"] {
        let shown = name.replace("%20", " ");
        let none = refused(&format!(
            "no product \\\"{shown}\\\"; `sessctl list` shows the products"
        ));
        for (what, reply) in [
            ("status", c.get(&format!("/api/products/{name}"), &h)),
            ("events", c.get(&format!("/api/products/{name}/events"), &h)),
            (
                "start",
                c.post(&format!("/api/products/{name}/start"), &h, None),
            ),
            (
                "no action",
                c.post(&format!("/api/products/{name}/x"), &h, None),
            ),
            (
                "terminal",
                c.get(&format!("/api/products/{name}/terminal"), &socket),
            ),
            ("page", c.get(&format!("/p/{name}"), &h)),
        ] {
            assert_eq!(
                (reply.status, reply.body.as_str()),
                (404, none.as_str()),
                "{name} {what}"
            );
        }
    }
    // Another site's page learns nothing of which products exist.
    let foreign = [&upgrade[..], &h[..], &[("origin", "http://evil.example")]].concat();
    let reply = c.get("/api/products/nope/terminal", &foreign);
    assert_eq!(reply.status, 403, "{reply:?}");
    // A page's shell is for any name sessctl accepts, and refuses others as the CLI does.
    let cookie = [("cookie", login.cookie.as_str())];
    assert_eq!(c.get("/p/nope", &cookie).status, 200);
    let bad = c.get("/p/a%20b", &cookie);
    assert_eq!(
        (bad.status, bad.json()["exit_code"].as_u64()),
        (400, Some(2)),
        "{bad:?}"
    );
    // Actions are named in lowercase, as the pages post them.
    for action in ["bogus", "Start"] {
        let reply = c.post(&format!("/api/products/web/{action}"), &h, None);
        let none = refused(&format!(
            "no action \\\"{action}\\\": resume, start, stop or restart"
        ));
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (404, none.as_str()),
            "{action}"
        );
    }
}
