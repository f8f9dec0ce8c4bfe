//! `cargo bench --bench hosts`: `sessctl --host` against the same commands run on each host,
//! on real hosts of one machine (`testbed::lan`: network namespaces joined by veth pairs, each
//! host with its own sshd and private `systemd --user`), PRODUCTS products per host, every
//! pair interleaved in the same rounds, medians over RUNS rounds after WARMUP. Writes
//! `bench/hosts.md`:
//! - `--host h1,h2,h3 list --json` against the sum of the three hosts' own `list --json`;
//! - a second `--host h1 list --json` (the shared connection is up) against h1's own
//!   `list --json`: the overhead of a call over ssh;
//! - a first call, with no shared connection yet, against the stock way to ask once, a plain
//!   `ssh h1 sessctl list --json`.
//!
//! It runs as root with writable cgroups and sshd installed (`./test` installs it), and
//! removes every namespace, manager and process afterwards.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{ensure, Context};
use sessctl::testbed::{lan, Testbed};

#[path = "support/median.rs"]
mod median;
use median::{heading, median, row, TABLE_HEAD};

const HOSTS: usize = 3;
const PRODUCTS: usize = 20;
const RUNS: usize = 20;
const WARMUP: usize = 2;
const SESSCTL: &str = env!("CARGO_BIN_EXE_sessctl");

fn main() {
    if let Err(err) = run() {
        eprintln!("benchmark failed: {err:#}");
        std::process::exit(1);
    }
}

/// Where a command runs: a host's own environment, or the desk's.
struct Place {
    env: Vec<(OsString, OsString)>,
}

impl Place {
    /// `program ARGS` here, which must succeed; its milliseconds.
    fn time(&self, program: &OsString, args: &[&str]) -> anyhow::Result<f64> {
        let start = Instant::now();
        let status = Command::new(program)
            .args(args)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("running {program:?} {args:?}"))?;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        ensure!(status.success(), "{program:?} {args:?}: {status}");
        Ok(ms)
    }

    fn sessctl(&self, args: &[&str]) -> anyhow::Result<f64> {
        self.time(&SESSCTL.into(), args)
    }

    /// This place with `name` set to `value`.
    fn with(&self, name: &str, value: &Path) -> Place {
        let mut env: Vec<_> = (self.env.iter())
            .filter(|(k, _)| k != name)
            .cloned()
            .collect();
        env.push((name.into(), value.into()));
        Place { env }
    }
}

/// One round's milliseconds per figure.
struct Round {
    all: f64,
    local_sum: f64,
    warm: f64,
    local_h1: f64,
    cold: f64,
    plain_ssh: f64,
}

fn run() -> anyhow::Result<()> {
    let desk_bed = Testbed::start("bench-hosts")?;
    let mut beds = (1..=HOSTS)
        .map(|i| Testbed::start(&format!("bench-h{i}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bin = Path::new(SESSCTL)
        .parent()
        .context("the binary's directory")?;
    let net = lan::Lan::start(&desk_bed, &mut beds, bin)?;
    let hosts: Vec<Place> = beds.iter().map(|b| Place { env: b.env() }).collect();
    for host in &hosts {
        for n in 0..PRODUCTS {
            let name = format!("p{n:02}");
            host.sessctl(&["enable", &name, "--stagger", "0", "--", "sleep", "1000000"])?;
        }
    }
    let _in_desk = net.enter()?;
    let ssh = net.ssh();
    let desk = Place {
        env: desk_bed.env(),
    }
    .with("SESSCTL_SSH", &ssh);
    let scratch = tempfile::tempdir()?;
    let mut rounds = Vec::new();
    for round in 0..WARMUP + RUNS {
        let measured = measure(&desk, &hosts, &ssh, &scratch.path().join(round.to_string()))?;
        if round >= WARMUP {
            rounds.push(measured);
        }
    }
    let report = report(&rounds);
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/hosts.md");
    std::fs::write(&out, &report)?;
    print!("{report}");
    println!("\nwritten to {}", out.display());
    // The masters sessctl started go with the Lan, before the hosts' managers.
    drop(net);
    Ok(())
}

/// One round: each pair back to back. `fresh` is a runtime folder no call used yet, so the
/// first call there has no shared connection.
fn measure(desk: &Place, hosts: &[Place], ssh: &Path, fresh: &PathBuf) -> anyhow::Result<Round> {
    let list = ["list", "--json"];
    let all = desk.sessctl(&["--host", "h1,h2,h3", "list", "--json"])?;
    let mut local_sum = 0.0;
    for host in hosts {
        local_sum += host.sessctl(&list)?;
    }
    let warm = desk.sessctl(&["--host", "h1", "list", "--json"])?;
    let local_h1 = hosts[0].sessctl(&list)?;
    std::fs::create_dir_all(fresh)?;
    let cold = desk
        .with("XDG_RUNTIME_DIR", fresh)
        .sessctl(&["--host", "h1", "list", "--json"])?;
    let plain_ssh = desk.time(&ssh.into(), &["h1", "sessctl", "list", "--json"])?;
    Ok(Round {
        all,
        local_sum,
        warm,
        local_h1,
        cold,
        plain_ssh,
    })
}

fn report(rounds: &[Round]) -> String {
    let column = |f: fn(&Round) -> f64| -> Vec<f64> { rounds.iter().map(f).collect() };
    let (all, sum) = (column(|r| r.all), column(|r| r.local_sum));
    let (warm, local) = (column(|r| r.warm), column(|r| r.local_h1));
    let (cold, plain) = (column(|r| r.cold), column(|r| r.plain_ssh));
    let overhead: Vec<f64> = rounds.iter().map(|r| r.warm - r.local_h1).collect();
    let mut text = heading(
        "hosts",
        &format!(
            "{HOSTS} hosts of {PRODUCTS} products each, network namespaces on one machine \
             joined by veth pairs, each with its own sshd and private systemd --user; \
             medians of {RUNS} rounds after {WARMUP} warm-up rounds, on"
        ),
    );
    text.push_str(TABLE_HEAD);
    for (name, samples) in [
        ("`sessctl --host h1,h2,h3 list --json`", &all),
        ("sum of the three hosts' own `list --json`", &sum),
        (
            "second `sessctl --host h1 list --json` (shared connection up)",
            &warm,
        ),
        ("h1's own `list --json`", &local),
        (
            "first `sessctl --host h1 list --json` (no shared connection)",
            &cold,
        ),
        ("stock: `ssh h1 sessctl list --json`", &plain),
        (
            "overhead of a second call over ssh (second call - own list)",
            &overhead,
        ),
    ] {
        text.push_str(&row(name, samples));
    }
    let _ = write!(
        text,
        "\nThree hosts at once against the sum of their own lists: {:.2}× (the hosts are asked \
         concurrently, so the list takes about the slowest host plus one round trip). A second \
         call against the host's own list: {:.2}×, {:.1} ms more (one round trip over the \
         shared connection, and the remote sessctl's start). A first call against a plain ssh \
         call: {:.2}× (it starts the shared connection that later calls reuse).\n",
        median(&all) / median(&sum),
        median(&warm) / median(&local),
        median(&overhead),
        median(&cold) / median(&plain),
    );
    text
}
