//! Pure rendering of sessctl's unit files: the product's service from `templates/` and the
//! static units from `units/`. No I/O, and no knowledge of systemd's bus or of tmux.
//!
//! Every user value reaches the unit text through one of the escaping filters below, each
//! written for the directive it lands in (systemd.syntax(7), systemd.service(5) "Command
//! lines", systemd.unit(5) "Specifiers"). A value that no escaping can carry safely (a control
//! character, which could start a new directive) makes rendering fail.
//!
//! Model layer. May import: `error`.

use std::collections::HashMap;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use serde::Serialize;
use tera::{Tera, Value};

use crate::error::{quoted, usage};

/// The slice every session lives in, installed verbatim from `units/`.
pub const SLICE_NAME: &str = "app-sessctl.slice";
/// The text of [`SLICE_NAME`].
pub const SLICE_TEXT: &str = include_str!("../units/app-sessctl.slice");

/// The templates, by the names `render` takes: each is parsed once per process, since `list`
/// renders one unit per product to judge its drift.
const TEMPLATES: [(&str, &str); 4] = [
    (
        SERVICE_TEMPLATE,
        include_str!("../templates/session.service.tera"),
    ),
    (
        NAIVE_TEMPLATE,
        include_str!("../templates/naive.service.tera"),
    ),
    (
        DASHBOARD_SOCKET_TEMPLATE,
        include_str!("../templates/dashboard.socket.tera"),
    ),
    (
        DASHBOARD_SERVICE_TEMPLATE,
        include_str!("../templates/dashboard.service.tera"),
    ),
];
const SERVICE_TEMPLATE: &str = "session.service";
const NAIVE_TEMPLATE: &str = "naive.service";
const DASHBOARD_SOCKET_TEMPLATE: &str = "dashboard.socket";
const DASHBOARD_SERVICE_TEMPLATE: &str = "dashboard.service";

/// The dashboard's socket unit, which starts [`DASHBOARD_SERVICE`] on the first connection.
pub const DASHBOARD_SOCKET: &str = "sessctl-dashboard.socket";
/// The dashboard's server (`sessctl serve`), a unit apart from every session.
pub const DASHBOARD_SERVICE: &str = "sessctl-dashboard.service";

/// The unit name that hosts `product`.
pub fn unit_name(product: &str) -> String {
    format!("sessctl-{product}.service")
}

/// Everything the service template needs; paths are absolute and already resolved.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceSpec<'a> {
    pub product: &'a str,
    pub dir: &'a str,
    pub command: &'a [String],
    pub env: &'a [(String, String)],
    /// The sessctl binary that hosts and probes the session inside the unit.
    pub sessctl: &'a str,
    pub tmux: &'a str,
    /// The pin file of an agent pinned to one conversation.
    pub pin: Option<&'a str>,
    /// How many snapshots of a pinned conversation to keep.
    pub keep_snapshots: &'a str,
    /// The agent kind, which decides how the pinned conversation is passed to it.
    pub agent: &'a str,
    /// The product's state directory, where the agent's end is recorded.
    pub state: &'a str,
    /// Seconds between two products' agent starts.
    pub stagger: &'a str,
    /// Seconds of quiet after which the agent is marked waiting.
    pub silence: &'a str,
    /// The shell command run when the agent starts waiting.
    pub on_waiting: Option<&'a str>,
}

/// Renders the product's service unit.
pub fn render_service(spec: &ServiceSpec) -> Result<String> {
    let mut ctx = tera::Context::from_serialize(spec).context("building the template context")?;
    ctx.insert("version", env!("CARGO_PKG_VERSION"));
    let env: Vec<[&str; 2]> = spec
        .env
        .iter()
        .map(|(k, v)| [k.as_str(), v.as_str()])
        .collect();
    ctx.insert("env", &env);
    let text = render(SERVICE_TEMPLATE, &ctx).map_err(|err| {
        usage(format!(
            "rendering the unit for product {}: {err}",
            spec.product
        ))
    })?;
    check_line_lengths(spec.product, &text)?;
    Ok(text)
}

/// The longest line systemd reads in a unit file (`LONG_LINE_MAX` in its source, 1 MiB): a
/// longer one makes the whole unit fail to load, and a unit that does not load can be neither
/// started nor, by name, disabled.
const LONG_LINE_MAX: usize = 1024 * 1024;

/// Refuses a unit systemd would not load because a line is too long: a command or an
/// environment value of more than a megabyte.
fn check_line_lengths(product: &str, text: &str) -> Result<()> {
    match text.lines().find(|line| line.len() >= LONG_LINE_MAX) {
        None => Ok(()),
        Some(line) => Err(usage(format!(
            "the unit for product {product} would have an {}= line of {} bytes, and systemd reads no line of {LONG_LINE_MAX} bytes or more; pass a shorter command or environment (a long prompt can go in a file)",
            line.split('=').next().unwrap_or(""),
            line.len(),
        ))),
    }
}

/// Renders the demo's counter-example: a `Type=simple` unit that runs `tmux new-session -d`.
pub fn render_naive(tmux: &str, socket: &str, agent: &str) -> Result<String> {
    let mut ctx = tera::Context::new();
    ctx.insert("tmux", tmux);
    ctx.insert("socket", socket);
    ctx.insert("agent", agent);
    render(NAIVE_TEMPLATE, &ctx)
        .map_err(|err| usage(format!("rendering the naive demo unit: {err}")))
}

/// The dashboard's socket and service units, in that order: the server is `sessctl`, the
/// socket listens on `listen` (an address and port, as `SocketAddr` prints them), and the
/// server speaks TLS with `tls`, a certificate and key file, when given.
pub fn render_dashboard(
    sessctl: &str,
    listen: &str,
    tls: Option<(&str, &str)>,
    hosts: &[String],
) -> Result<[String; 2]> {
    let mut ctx = tera::Context::new();
    ctx.insert("sessctl", sessctl);
    ctx.insert("listen", listen);
    ctx.insert("hosts", hosts);
    if let Some((cert, key)) = tls {
        ctx.insert("tls_cert", cert);
        ctx.insert("tls_key", key);
    }
    let fail = |err| usage(format!("rendering the dashboard's units: {err}"));
    Ok([
        render(DASHBOARD_SOCKET_TEMPLATE, &ctx).map_err(fail)?,
        render(DASHBOARD_SERVICE_TEMPLATE, &ctx).map_err(fail)?,
    ])
}

/// Templates are tested, so what fails here is a value a filter refused: the innermost error
/// names it.
fn render(template: &str, ctx: &tera::Context) -> std::result::Result<String, String> {
    static TERA: OnceLock<std::result::Result<Tera, String>> = OnceLock::new();
    let tera = TERA.get_or_init(|| {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_filter("exec_arg", string_filter(exec_arg));
        tera.register_filter("path", string_filter(path_value));
        tera.register_filter("unit_word", string_filter(unit_word));
        tera.register_filter("env_assignment", env_assignment_filter);
        tera.register_filter("listen_address", string_filter(listen_address));
        tera.add_raw_templates(TEMPLATES)
            .map_err(|err| innermost(&err))?;
        Ok(tera)
    });
    tera.as_ref()
        .map_err(Clone::clone)?
        .render(template, ctx)
        .map_err(|err| innermost(&err))
}

/// Tera wraps a filter's error in several layers; the innermost one names the bad value.
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

type Escape = fn(&str) -> std::result::Result<String, String>;

fn string_filter(
    escape: Escape,
) -> impl Fn(&Value, &HashMap<String, Value>) -> tera::Result<Value> + Sync + Send {
    move |value, _| {
        let text = value
            .as_str()
            .ok_or_else(|| tera::Error::msg(format!("expected a string, got {value}")))?;
        escape(text).map(Value::String).map_err(tera::Error::msg)
    }
}

fn env_assignment_filter(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let pair = value
        .as_array()
        .filter(|pair| pair.len() == 2)
        .and_then(|pair| Some((pair[0].as_str()?, pair[1].as_str()?)))
        .ok_or_else(|| tera::Error::msg(format!("expected a [key, value] pair, got {value}")))?;
    env_assignment(pair.0, pair.1)
        .map(Value::String)
        .map_err(tera::Error::msg)
}

/// Refuses what no unit line can carry: a control character could end the line and start a
/// directive of the caller's choosing.
fn check_no_control(value: &str) -> std::result::Result<(), String> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "{} contains the control character {c:?}, which a unit file cannot carry; remove it",
            quoted(value)
        )),
        None => Ok(()),
    }
}

/// One word of an Exec line: double-quoted, with C escapes for `\` and `"`, `%` doubled
/// (specifiers expand before unquoting) and `$` doubled (variable expansion ignores quotes).
pub fn exec_arg(value: &str) -> std::result::Result<String, String> {
    check_no_control(value)?;
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// An `Environment=` item: quoted like an Exec word, but `$` is literal there
/// (systemd.exec(5): no variable expansion in Environment=).
pub fn env_assignment(key: &str, value: &str) -> std::result::Result<String, String> {
    exec_arg(&format!("{key}={value}")).map(|quoted| quoted.replace("$$", "$"))
}

/// A path setting such as `WorkingDirectory=`: taken verbatim to the end of the line, with
/// specifiers expanded, so only `%` needs doubling. Edges that systemd would strip or treat as
/// a line continuation cannot be expressed and are refused.
pub fn path_value(value: &str) -> std::result::Result<String, String> {
    check_no_control(value)?;
    if !value.starts_with('/') {
        return Err(format!("{value:?} is not an absolute path"));
    }
    if value.ends_with('\\') || value.ends_with(char::is_whitespace) {
        return Err(format!(
            "{value:?} ends with a backslash or whitespace, which a unit file cannot express; rename the directory"
        ));
    }
    Ok(value.replace('%', "%%"))
}

/// A word that is safe anywhere in a unit without quoting: product names and versions.
pub fn unit_word(value: &str) -> std::result::Result<String, String> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(value.to_string())
    } else {
        Err(format!("{value:?} is not a plain word ([A-Za-z0-9_.-])"))
    }
}

/// A `ListenStream=` address: an IPv4 or bracketed IPv6 address and a port, nothing else.
pub fn listen_address(value: &str) -> std::result::Result<String, String> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_hexdigit() || ".:[]".contains(c));
    if ok {
        Ok(value.to_string())
    } else {
        Err(format!("{} is not an address and port", quoted(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rstest::rstest;

    #[rstest]
    #[case("plain", r#""plain""#)]
    #[case("a b", r#""a b""#)]
    #[case(r#"it's "q""#, r#""it's \"q\"""#)]
    #[case(r"back\slash", r#""back\\slash""#)]
    #[case("100%", r#""100%%""#)]
    #[case("$HOME", r#""$$HOME""#)]
    #[case(";", r#"";""#)]
    #[case("-x", r#""-x""#)]
    fn exec_arg_escapes(#[case] input: &str, #[case] expected: &str) {
        assert_eq!(exec_arg(input).unwrap(), expected);
    }

    #[rstest]
    #[case("a\nb")]
    #[case("a\rb")]
    #[case("a\0b")]
    #[case("a\tb")]
    #[case("a\u{7f}b")]
    fn control_characters_are_refused(#[case] input: &str) {
        assert!(exec_arg(input).is_err());
        assert!(path_value(&format!("/{input}")).is_err());
        assert!(env_assignment("K", input).is_err());
    }

    #[test]
    fn env_keeps_dollar_and_doubles_percent() {
        assert_eq!(
            env_assignment("K", "$x 5% \"q\"").unwrap(),
            r#""K=$x 5%% \"q\"""#
        );
    }

    #[rstest]
    #[case("/tmp/d ir\\")]
    #[case("/tmp/dir ")]
    #[case("relative")]
    fn inexpressible_paths_are_refused(#[case] input: &str) {
        assert!(path_value(input).is_err());
    }

    #[test]
    fn rendering_fails_on_a_control_character_in_an_argument() {
        let command = vec!["/bin/sleep".to_string(), "1\n[Service]".to_string()];
        let spec = ServiceSpec {
            product: "web",
            dir: "/tmp",
            command: &command,
            env: &[],
            sessctl: "/usr/bin/sessctl",
            tmux: "/usr/bin/tmux",
            pin: None,
            keep_snapshots: "10",
            agent: "generic",
            state: "/tmp/state",
            stagger: "2",
            silence: "30",
            on_waiting: None,
        };
        let err = format!("{:#}", render_service(&spec).unwrap_err());
        assert!(err.contains("control character"), "{err}");
    }

    /// `units/` ships the dashboard's units as the package installs them: rendered for
    /// /usr/bin/sessctl on the default address, never edited by hand.
    #[test]
    fn the_shipped_dashboard_units_are_the_templates_rendered_for_the_package() {
        let [socket, service] =
            render_dashboard("/usr/bin/sessctl", "127.0.0.1:7878", None, &[]).unwrap();
        assert_eq!(socket, include_str!("../units/sessctl-dashboard.socket"));
        assert_eq!(service, include_str!("../units/sessctl-dashboard.service"));
    }

    #[rstest]
    #[case("127.0.0.1:7878", true)]
    #[case("[::1]:7878", true)]
    #[case("127.0.0.1:7878\n[Service]", false)]
    #[case("0.0.0.0:80 x", false)]
    fn only_an_address_and_port_reach_listen_stream(#[case] input: &str, #[case] ok: bool) {
        assert_eq!(listen_address(input).is_ok(), ok, "{input}");
    }
}
