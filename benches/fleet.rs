//! `cargo bench --bench fleet`: sessctl at 200 products against the stock tools, every pair
//! interleaved in the same rounds on the same private `systemd --user`, medians over RUNS
//! rounds after WARMUP. Writes `bench/fleet.md`:
//! - `list --json` of 200 products against `systemctl --user show` of the same properties of
//!   the same units, one process;
//! - `resume --no-attach` of a live unit against `systemctl --user start` of it;
//! - `start` to attachable against `systemd-run --user -p Type=forking tmux -S S new-session -d`,
//!   each timed from its command invoked until the same probe (`attachable`) sees the session
//!   and the agent running in its pane;
//! - `enable --no-start` of one more product against one `daemon-reload` of the manager;
//! - `doctor` of 200 products against `list`;
//! - sessctl's peak RSS for `list`, and each live tmux server's RSS.
//!
//! It runs on a private manager (root with writable cgroups) and removes it afterwards.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use anyhow::{ensure, Context};
use sessctl::testbed::Testbed;

#[path = "support/median.rs"]
mod median;
#[path = "support/peak_rss.rs"]
mod peak_rss;
use median::{heading, median, row, TABLE_HEAD};

const PRODUCTS: usize = 200;
const RUNS: usize = 20;
const WARMUP: usize = 2;
/// One property of the manager over the user bus: connect, authenticate, one round trip.
const BUSCTL: [&str; 6] = [
    "--user",
    "get-property",
    "org.freedesktop.systemd1",
    "/org/freedesktop/systemd1",
    "org.freedesktop.systemd1.Manager",
    "Version",
];
/// The properties `list` reports of every unit.
const SHOWN: &str = "ActiveState,SubState,InvocationID,MainPID,ExecMainStartTimestamp,NRestarts,ControlGroup,NeedDaemonReload";

fn main() {
    if let Err(err) = run() {
        eprintln!("benchmark failed: {err:#}");
        std::process::exit(1);
    }
}

/// The commands of one run, on the private manager.
struct Bench {
    env: Vec<(OsString, OsString)>,
    sessctl: &'static str,
    scratch: tempfile::TempDir,
}

impl Bench {
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// The tmux socket of `product`'s session.
    fn socket(&self, product: &str) -> anyhow::Result<String> {
        let runtime = (self.env.iter())
            .find(|(k, _)| k == "XDG_RUNTIME_DIR")
            .context("the manager's XDG_RUNTIME_DIR")?;
        let socket = Path::new(&runtime.1).join(format!("sessctl/{product}/tmux.sock"));
        Ok(socket.to_str().context("a UTF-8 path")?.to_string())
    }

    fn sessctl(&self, args: &[&str]) -> anyhow::Result<ExitStatus> {
        Ok(self.command(self.sessctl, args).status()?)
    }

    fn ok(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let status = self.command(program, args).status()?;
        ensure!(status.success(), "{program} {args:?}: {status}");
        Ok(())
    }

    /// Milliseconds `f` took, and its result.
    fn timed<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(f64, T)> {
        let start = Instant::now();
        let value = f()?;
        Ok((start.elapsed().as_secs_f64() * 1000.0, value))
    }
}

/// One round's milliseconds per figure.
#[derive(Clone, Copy)]
struct Round {
    list: f64,
    show: f64,
    resume: f64,
    start_unit: f64,
    start: f64,
    run_tmux: f64,
    enable: f64,
    reload: f64,
    doctor: f64,
    // Where the time goes: the floors under the figures above.
    version: f64,
    busctl: f64,
    start_job: f64,
}

/// One figure over every round.
fn column(rounds: &[Round], figure: fn(&Round) -> f64) -> Vec<f64> {
    rounds.iter().map(figure).collect()
}

fn run() -> anyhow::Result<()> {
    let bed = Testbed::start("bench-fleet")?;
    let b = Bench {
        env: bed.env(),
        sessctl: env!("CARGO_BIN_EXE_sessctl"),
        scratch: tempfile::tempdir()?,
    };
    for n in 0..PRODUCTS {
        let name = format!("p{n:03}");
        b.ok(
            b.sessctl,
            &["enable", &name, "--stagger", "0", "--", "sleep", "1000000"],
        )?;
    }
    let cold = [
        "enable",
        "cold",
        "--no-start",
        "--stagger",
        "0",
        "--",
        "sleep",
        "1000000",
    ];
    b.ok(b.sessctl, &cold)?;
    let units: Vec<String> = (0..PRODUCTS)
        .map(|n| format!("sessctl-p{n:03}.service"))
        .collect();
    let mut rounds = Vec::new();
    for round in 0..WARMUP + RUNS {
        let measured = measure(&b, &units, round)?;
        if round >= WARMUP {
            rounds.push(measured);
        }
    }
    let survived = b.sessctl(&["verify", "p000", "--rounds", "3"])?;
    ensure!(
        survived.success(),
        "p000's session did not survive the benchmark"
    );
    let memory = memory(&b)?;
    let report = report(&rounds, &memory)?;
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/fleet.md");
    std::fs::write(&out, &report)?;
    print!("{report}");
    println!("\nwritten to {}", out.display());
    Ok(())
}

/// One round: every figure once, each pair back to back.
fn measure(b: &Bench, units: &[String], round: usize) -> anyhow::Result<Round> {
    let time = |program: &str, args: &[&str]| -> anyhow::Result<f64> {
        Ok(Bench::timed(|| b.ok(program, args))?.0)
    };
    let mut show = vec!["--user", "show", "--property", SHOWN];
    show.extend(units.iter().map(String::as_str));
    let list = time(b.sessctl, &["list", "--json"])?;
    let show = time("systemctl", &show)?;
    // Beside `list`, whose time it is judged against. It exits 6 when it finds something
    // (this private manager has no linger, for one); only a failure to run is an error.
    let (doctor, status) = Bench::timed(|| b.sessctl(&["doctor"]))?;
    ensure!(status.code() != Some(1), "sessctl doctor failed: {status}");
    let resume = time(b.sessctl, &["resume", "p000", "--no-attach"])?;
    let start_unit = time("systemctl", &["--user", "start", "sessctl-p000.service"])?;
    // From `sessctl start` invoked to attachable, proved as the stock path's is.
    let start = Bench::timed(|| {
        b.ok(b.sessctl, &["start", "cold"])?;
        attachable(b, &b.socket("cold")?)
    })?
    .0;
    b.ok(b.sessctl, &["stop", "cold"])?;
    let run_tmux = Bench::timed(|| run_tmux(b, round))?.0;
    b.ok(
        "systemctl",
        &["--user", "stop", &format!("bench-run-{round}.service")],
    )?;
    let start_job = time("systemctl", &["--user", "start", "sessctl-cold.service"])?;
    b.ok(b.sessctl, &["stop", "cold"])?;
    let extra = format!("extra{round}");
    let enable = time(
        b.sessctl,
        &["enable", &extra, "--no-start", "--", "sleep", "1000000"],
    )?;
    b.ok(b.sessctl, &["disable", &extra, "--purge"])?;
    let reload = time("systemctl", &["--user", "daemon-reload"])?;
    Ok(Round {
        list,
        show,
        resume,
        start_unit,
        start,
        run_tmux,
        enable,
        reload,
        doctor,
        version: time(b.sessctl, &["--version"])?,
        busctl: time("busctl", &BUSCTL)?,
        start_job,
    })
}

/// The stock path to an attachable session: a transient forking unit that runs tmux, then
/// `has-session` until the session is there.
fn run_tmux(b: &Bench, round: usize) -> anyhow::Result<()> {
    let socket = stock_socket(b, round)?;
    let socket = socket.as_str();
    let unit = format!("--unit=bench-run-{round}");
    let args = ["--user", &unit, "-p", "Type=forking", "tmux", "-S", socket];
    let mut run = args.to_vec();
    run.extend(["new-session", "-d", "sleep", "1000000"]);
    b.ok("systemd-run", &run)?;
    attachable(b, socket)
}

/// Asks the tmux server on `socket` until its session exists (what `has-session` asks) and
/// the pane runs the agent, `sleep`, as the pane's own process or one of its descendants: the
/// same proof for both paths, one tmux client per look, with no sleep between looks.
fn attachable(b: &Bench, socket: &str) -> anyhow::Result<()> {
    for _ in 0..10_000 {
        let out = b
            .command(
                "tmux",
                &["-S", socket, "display-message", "-p", "#{pane_pid}"],
            )
            .stdout(Stdio::piped())
            .output()?;
        let pane = String::from_utf8_lossy(&out.stdout).trim().parse::<u32>();
        if let (true, Ok(pane)) = (out.status.success(), pane) {
            if runs_agent(pane) {
                return Ok(());
            }
        }
    }
    anyhow::bail!("tmux on {socket} never showed a session whose pane runs the agent")
}

/// Whether `pid` or a descendant of it is the agent, `sleep`.
fn runs_agent(pid: u32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    comm.trim() == "sleep"
        || (std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|c| c.parse().ok())
            .any(runs_agent)
}

fn stock_socket(b: &Bench, round: usize) -> anyhow::Result<String> {
    let socket = b.scratch.path().join(format!("run-{round}.sock"));
    Ok(socket.to_str().context("a UTF-8 path")?.to_string())
}

/// RSS and PSS (KiB) of a stock tmux server hosting one session of the same agent, started
/// the stock way: what tmux itself costs.
fn stock_tmux(b: &Bench) -> anyhow::Result<(u64, u64)> {
    const ROUND: usize = 9999;
    run_tmux(b, ROUND)?;
    let socket = stock_socket(b, ROUND)?;
    let out = (b.command("tmux", &["-S", &socket, "display-message", "-p", "#{pid}"]))
        .stdout(Stdio::piped())
        .output()?;
    let pid: u32 = String::from_utf8(out.stdout)?.trim().parse()?;
    let sizes = rss_pss(pid)?;
    b.ok(
        "systemctl",
        &["--user", "stop", &format!("bench-run-{ROUND}.service")],
    )?;
    Ok(sizes)
}

/// RSS and PSS of `pid`, in KiB.
fn rss_pss(pid: u32) -> anyhow::Result<(u64, u64)> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    Ok((kib(&smaps, "Rss:")?, kib(&smaps, "Pss:")?))
}

/// sessctl's peak RSS for `list --json` (KiB, five runs), and every live tmux server's RSS
/// and PSS (KiB): its resident pages, and its share of them, each page shared with other
/// servers (the libraries, the binary) divided among them.
struct Memory {
    list_peak: Vec<u64>,
    tmux: Vec<(u64, u64)>,
    /// A stock tmux server's, for comparison.
    stock: (u64, u64),
}

fn memory(b: &Bench) -> anyhow::Result<Memory> {
    let mut list_peak = Vec::new();
    for _ in 0..5 {
        // time's child is `env`, which execs sessctl in the manager's environment.
        let env: Vec<String> = (b.env.iter())
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect();
        let mut args: Vec<&str> = vec!["-u", "DBUS_SESSION_BUS_ADDRESS"];
        args.extend(env.iter().map(String::as_str));
        args.extend([b.sessctl, "list", "--json"]);
        let (out, kib) = peak_rss::run("env".as_ref(), &args)?;
        ensure!(
            out.status.success(),
            "sessctl list under time: {}",
            out.status
        );
        list_peak.push(kib);
    }
    let out = b
        .command(b.sessctl, &["list", "--json"])
        .stdout(Stdio::piped())
        .output()?;
    let list: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut tmux = Vec::new();
    for product in list.as_array().context("an array")? {
        let pid = product["main_pid"].as_u64().unwrap_or(0);
        if pid != 0 {
            tmux.push(rss_pss(u32::try_from(pid)?)?);
        }
    }
    Ok(Memory {
        list_peak,
        tmux,
        stock: stock_tmux(b)?,
    })
}

/// The KiB of `field` in a /proc memory report.
fn kib(report: &str, field: &str) -> anyhow::Result<u64> {
    let line = report
        .lines()
        .find(|l| l.starts_with(field))
        .context("a field")?;
    Ok(line.split_whitespace().nth(1).context("a size")?.parse()?)
}

fn report(rounds: &[Round], m: &Memory) -> anyhow::Result<String> {
    let mut r = heading(
        "fleet",
        &format!("{PRODUCTS} live products (a `sleep` as the agent) on a private `systemd --user`; every pair interleaved, {RUNS} rounds after {WARMUP} warm-up rounds; wall time per command, process start included;"),
    );
    let c = |figure: fn(&Round) -> f64| column(rounds, figure);
    r.push_str(TABLE_HEAD);
    for (name, samples) in [
        ("`sessctl list --json`", c(|r| r.list)),
        ("`systemctl --user show` of the 200 units, the same properties", c(|r| r.show)),
        ("`sessctl resume p000 --no-attach` (live)", c(|r| r.resume)),
        ("`systemctl --user start sessctl-p000.service` (live)", c(|r| r.start_unit)),
        ("`sessctl start` to attachable (the session exists, the agent runs in its pane)", c(|r| r.start)),
        ("`systemd-run --user -p Type=forking tmux new-session -d` to attachable, the same proof", c(|r| r.run_tmux)),
        ("`sessctl enable --no-start` of product 201", c(|r| r.enable)),
        ("`systemctl --user daemon-reload`", c(|r| r.reload)),
        ("`sessctl doctor` of 200 products", c(|r| r.doctor)),
        ("floor: `sessctl --version` (process start)", c(|r| r.version)),
        ("floor: `busctl --user get-property` of the manager (connect, one round trip)", c(|r| r.busctl)),
        ("floor: `systemctl --user start sessctl-cold.service` (the start job alone)", c(|r| r.start_job)),
    ] {
        r.push_str(&row(name, &samples));
    }
    let met = |ok: bool| if ok { "met" } else { "missed" };
    let ratio =
        |theirs: fn(&Round) -> f64, ours: fn(&Round) -> f64| median(&c(theirs)) / median(&c(ours));
    r.push_str("\n| target | in this run | |\n|---|---|---|\n");
    // (target, how many times as fast sessctl is, the least that meets it)
    for (target, times, least) in [
        (
            "`list` at least 10x as fast as `systemctl show`",
            ratio(|r| r.show, |r| r.list),
            10.0,
        ),
        (
            "`resume` at least 3x as fast as `systemctl start`",
            ratio(|r| r.start_unit, |r| r.resume),
            3.0,
        ),
        (
            "`start` no slower than `systemd-run` + `has-session`",
            ratio(|r| r.run_tmux, |r| r.start),
            1.0,
        ),
        (
            "`enable` at most 1.5x one `daemon-reload`",
            ratio(|r| r.reload, |r| r.enable),
            1.0 / 1.5,
        ),
        (
            "`doctor` at most 3x `list`",
            ratio(|r| r.list, |r| r.doctor),
            1.0 / 3.0,
        ),
    ] {
        writeln!(
            r,
            "| {target} | {times:.2}x as fast | {} |",
            met(times >= least)
        )?;
    }
    let mib = |kib: &mut dyn Iterator<Item = u64>| {
        median(&kib.map(|k| k as f64 / 1024.0).collect::<Vec<_>>())
    };
    let list_mib = mib(&mut m.list_peak.iter().copied());
    let (rss, pss) = (
        mib(&mut m.tmux.iter().map(|t| t.0)),
        mib(&mut m.tmux.iter().map(|t| t.1)),
    );
    writeln!(
        r,
        "\nMemory: sessctl's peak RSS for `list --json` of 200 products, median of {}: {list_mib:.1} MiB. A tmux server, median of the {} live products: RSS {rss:.2} MiB (target at most 4 MiB: {}), PSS {pss:.2} MiB.",
        m.list_peak.len(),
        m.tmux.len(),
        met(rss <= 4.0)
    )?;
    let stock = (m.stock.0 as f64 / 1024.0, m.stock.1 as f64 / 1024.0);
    r.push_str(&where_time_goes(rounds, stock, (rss, pss))?);
    Ok(r)
}

/// The floors under the missed targets, from this run's own figures.
fn where_time_goes(
    rounds: &[Round],
    stock: (f64, f64),
    ours: (f64, f64),
) -> anyhow::Result<String> {
    let m = |figure: fn(&Round) -> f64| median(&column(rounds, figure));
    let (list, show, start, version) = (
        m(|r| r.list),
        m(|r| r.show),
        m(|r| r.start),
        m(|r| r.version),
    );
    let messages = 8.0 * PRODUCTS as f64;
    let per_message = (list - version) / messages * 1000.0;
    let known_only_to_systemd = version + 5.0 * PRODUCTS as f64 * per_message / 1000.0;
    let mut r = String::from("\n## Where the time goes\n\n");
    writeln!(
        r,
        "- **list.** Past its process start ({version:.2} ms), `list` is {messages:.0} property reads (8 of each of {PRODUCTS} units) sent as one pipelined batch on one connection, which dbus-daemon relays and systemd answers one at a time: {per_message:.1} µs each in this run. The stock tool asks for every property of each unit (`GetAll` per interface: fewer messages, each far bigger), {:.2}x as slow. The 10x target means {:.1} ms; five of the properties exist only in systemd (InvocationID, MainPID, ExecMainStartTimestamp, NRestarts, NeedDaemonReload), and reading just those costs {known_only_to_systemd:.1} ms at this run's price per message. The floor is the bus's and the manager's cost per message; below it only a cache would go, and a cache is what `list` must never serve as proof.",
        show / list,
        show / 10.0
    )?;
    writeln!(
        r,
        "- **resume.** `bench/resume.md` measures its parts one by one: process start, bus connect and two identity readings make up nearly all of it, and their sum is above a third of `systemctl --user start`'s time, which is what the 3x target asks."
    )?;
    writeln!(
        r,
        "- **start.** Both paths are timed from the command invoked until the same probe sees the session and the agent (`sleep`) running in its pane. The start job alone (`systemctl --user start` of the same unit, stopped) takes {:.2} ms; `sessctl start` to attachable adds {:.2} ms to it (connect, lock, two unit readings, the identity recorded, the probe). The job is where the stock path wins: it returns once a forking tmux client has made the server and its session, while sessctl's job runs in series the host (a sessctl start), which execs the tmux server in the foreground (`tmux -D`, so that MainPID is the server itself and never a guess), the pane's process (`env`, then a sessctl start) that waits for the agent to record its end, the agent's launcher (a sessctl start, which takes the start slot and execs the agent), and the readiness probe (a sessctl start and two tmux clients). A `tmux -D` server makes the session of its config only when a first client comes, so the probe's first client is on the path too. Each of these starts costs about {version:.1} ms here; each is what makes the start provable or the session's end recorded, so this is sessctl's floor, not a fixable delay.",
        m(|r| r.start_job),
        start - m(|r| r.start_job)
    )?;
    writeln!(
        r,
        "- **doctor.** It reads 11 properties of each product's unit in one batch, every other service of the user's in a second, and every process of the user in /proc (a tmux server is judged by its cgroup there, asking systemd only when it is elsewhere): {:.2}x the time of `list`, which reads 8 properties of each unit. Before the batches it made 6 round trips in a row per product, 3 per other service and 2 per tmux server.",
        m(|r| r.doctor) / list
    )?;
    writeln!(
        r,
        "- **tmux.** RSS counts every page a server maps, tmux's binary and its libraries (libc, libevent, libtinfo, libutempter) included, again in each of the {PRODUCTS} servers. A stock tmux server with one session of the same agent, started as the stock path starts it, has an RSS of {:.2} MiB and a PSS of {:.2} MiB in this run; sessctl's servers have {:.2} MiB and {:.2} MiB. PSS, the shared pages divided among the servers that share them, is what a product really costs the machine. sessctl's server runs a configuration (`exit-empty`, the silence monitor and its hooks) where the stock one runs tmux's defaults; which of it makes the difference in RSS was not measured.",
        stock.0, stock.1, ours.0, ours.1
    )?;
    Ok(r)
}
