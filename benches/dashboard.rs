//! `cargo bench --bench dashboard`: the dashboard's figures, on a private `systemd --user`
//! with 200 products (one live, 199 enabled but stopped), against `sessctl serve`:
//!
//! - `POST /api/products/{p}/resume` on the live session against the CLI's
//!   `sessctl resume p --no-attach --json`, interleaved, medians over RUNS each;
//! - the list page's time, cold (its one-second list cache expired: one `list` query) and
//!   warm, and the bytes it transfers, gzip as a browser asks for it and plain;
//! - that the terminal's assets load on a product's page only.
//!
//! Writes `bench/dashboard.md`. Times are wall times seen by a client on loopback.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sessctl::testbed::Testbed;

#[path = "support/median.rs"]
mod median;
#[path = "support/serve.rs"]
mod serve;
use median::{heading, median, row, TABLE_HEAD};

const RUNS: usize = 30;
const PRODUCTS: usize = 200;
/// The properties a list reads of each unit (`Core::views`).
const SHOWN: &str = "ActiveState,SubState,InvocationID,MainPID,ExecMainStartTimestamp,NRestarts,ControlGroup,NeedDaemonReload";

fn main() {
    if let Err(err) = run() {
        eprintln!("benchmark failed: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let sessctl = env!("CARGO_BIN_EXE_sessctl");
    let bed = Testbed::start("bench-dash")?;
    let env = bed.env();
    let command = |args: &[&str]| {
        let mut cmd = Command::new(sessctl);
        cmd.args(args)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let ok = |args: &[&str]| -> anyhow::Result<Vec<u8>> {
        let out = command(args).output()?;
        anyhow::ensure!(out.status.success(), "sessctl {args:?}: {}", out.status);
        Ok(out.stdout)
    };
    ok(&["enable", "live", "--", "sleep", "1000000"])?;
    for n in 1..PRODUCTS {
        ok(&[
            "enable",
            &format!("p{n:03}"),
            "--no-start",
            "--",
            "sleep",
            "1",
        ])?;
    }
    let token = String::from_utf8(ok(&["dashboard", "token"])?)?
        .trim()
        .to_string();
    let server = serve::serve(command(&[]))?;
    let base = &server.base;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let bearer = format!("Bearer {token}");
    let get = |path: &str, gzip: bool| -> anyhow::Result<(f64, Vec<u8>)> {
        let mut request = agent
            .get(format!("{base}{path}"))
            .header("authorization", &bearer);
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        let start = Instant::now();
        let mut response = request.call()?;
        let body = response.body_mut().read_to_vec()?;
        let took = start.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(
            response.status() == 200,
            "GET {path}: {}",
            response.status()
        );
        Ok((took, body))
    };

    // Resume: the API and the CLI, interleaved on the same live session.
    let (mut api, mut cli) = (Vec::new(), Vec::new());
    for round in 0..RUNS + 3 {
        let start = Instant::now();
        let mut response = agent
            .post(format!("{base}/api/products/live/resume"))
            .header("authorization", &bearer)
            .send_empty()?;
        let body = response.body_mut().read_to_string()?;
        let took_api = start.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(body.contains("\"survived\""), "the API's resume: {body}");
        let start = Instant::now();
        let out = ok(&["resume", "live", "--no-attach", "--json"])?;
        let took_cli = start.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(String::from_utf8_lossy(&out).contains("\"survived\""));
        if round >= 3 {
            api.push(took_api);
            cli.push(took_cli);
        }
    }

    // The list page: cold (the cache expired: one list query of 200 products), then warm.
    // Interleaved with it, the stock tool reading the same properties of the same units.
    let units: Vec<String> = std::iter::once("sessctl-live.service".to_string())
        .chain((1..PRODUCTS).map(|n| format!("sessctl-p{n:03}.service")))
        .collect();
    let (mut cold, mut show) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(1100));
        cold.push(get("/", true)?.0);
        let start = Instant::now();
        let out = Command::new("systemctl")
            .args(["--user", "show", "--property", SHOWN])
            .args(&units)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()?;
        show.push(start.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(out.status.success(), "systemctl show: {}", out.status);
    }
    let mut warm = Vec::new();
    for _ in 0..RUNS {
        warm.push(get("/", true)?.0);
    }
    let gzip_bytes = get("/", true)?.1.len();
    let plain = get("/", false)?.1;
    let list_text = String::from_utf8_lossy(&plain);
    anyhow::ensure!(list_text.matches("class=\"card\"").count() == PRODUCTS);
    let product_page = String::from_utf8(get("/p/live", false)?.1)?;
    let terminal_only_on_product_page =
        !list_text.contains("xterm") && product_page.contains("/static/xterm.js");

    let report = write_report(&Figures {
        api,
        cli,
        cold,
        show,
        warm,
        gzip_bytes,
        plain_bytes: plain.len(),
        terminal_only_on_product_page,
    })?;
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/dashboard.md");
    std::fs::write(&out, &report)?;
    print!("{report}");
    println!("\nwritten to {}", out.display());
    Ok(())
}

/// What the run measured: times in milliseconds, sizes in bytes.
struct Figures {
    api: Vec<f64>,
    cli: Vec<f64>,
    cold: Vec<f64>,
    show: Vec<f64>,
    warm: Vec<f64>,
    gzip_bytes: usize,
    plain_bytes: usize,
    terminal_only_on_product_page: bool,
}

fn write_report(f: &Figures) -> anyhow::Result<String> {
    let met = |ok: bool| if ok { "met" } else { "missed" };
    let mut r = heading(
        "dashboard",
        &format!("`sessctl serve` on a private `systemd --user` with {PRODUCTS} products (one live, the rest enabled and stopped), a client on loopback."),
    );
    r.push_str(TABLE_HEAD);
    for (name, samples) in [
        ("`POST /api/products/live/resume`", &f.api),
        (
            "`sessctl resume live --no-attach --json` (interleaved)",
            &f.cli,
        ),
        (
            "list page, cold (one `list` query of 200 products)",
            &f.cold,
        ),
        (
            "`systemctl --user show` of the 200 units, the list's properties (interleaved)",
            &f.show,
        ),
        ("list page, warm (the one-second list cache)", &f.warm),
    ] {
        r.push_str(&row(name, samples));
    }
    let (m_api, m_cli, m_cold, m_warm) = (
        median(&f.api),
        median(&f.cli),
        median(&f.cold),
        median(&f.warm),
    );
    writeln!(r, "\nTargets:\n")?;
    writeln!(
        r,
        "- the API's resume at most the CLI's median: {m_api:.2} ms against {m_cli:.2} ms, {:.2}x as fast ({}).",
        m_cli / m_api,
        met(m_api <= m_cli)
    )?;
    writeln!(
        r,
        "- the list page of {PRODUCTS} products in at most 30 ms: warm {m_warm:.2} ms ({}); cold {m_cold:.2} ms ({}).",
        met(m_warm <= 30.0),
        met(m_cold <= 30.0)
    )?;
    writeln!(
        r,
        "- the list page transfers at most 60 KB: {:.1} KB gzip-compressed, as a browser asks for it ({}); {:.1} KB uncompressed.",
        f.gzip_bytes as f64 / 1000.0,
        met(f.gzip_bytes <= 60_000),
        f.plain_bytes as f64 / 1000.0
    )?;
    writeln!(
        r,
        "- the terminal's assets load on a product's page only: {}.",
        met(f.terminal_only_on_product_page)
    )?;
    writeln!(
        r,
        "\nWhere a cold page's time goes: it reads 8 properties of each of the {PRODUCTS} units over the user bus, every message sent before the first reply is awaited (`Core::views`, {} calls that dbus-daemon relays and systemd answers one by one; the server's own work on them is parsing), then each product's files. The stock tool reading the same properties of the same units takes {:.2} ms in this run, so the cold page is {:.2}x as fast as that alone. The floor is the manager's and the bus's per-message cost; the one-second cache is what keeps polling pages under the target.",
        8 * PRODUCTS,
        median(&f.show),
        median(&f.show) / m_cold
    )?;
    Ok(r)
}
