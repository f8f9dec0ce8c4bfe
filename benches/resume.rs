//! `cargo bench --bench resume`: on one live unit, the median wall time of
//! `sessctl resume <p> --no-attach` against `systemctl --user start <unit>`, process start
//! included, each over RUNS runs after WARMUP runs. Writes `bench/resume.md`.
//!
//! It runs on a private `systemd --user` (root with writable cgroups), so it never touches your
//! own manager, and removes it afterwards.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sessctl::testbed::Testbed;

#[path = "support/median.rs"]
mod median;
use median::{heading, median, row, TABLE_HEAD};

const RUNS: usize = 50;
const WARMUP: usize = 5;
const TARGET_MS: f64 = 3.0;
const TARGET_RATIO: f64 = 3.0;

fn main() {
    if let Err(err) = run() {
        eprintln!("benchmark failed: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let sessctl = env!("CARGO_BIN_EXE_sessctl");
    let bed = Testbed::start("bench")?;
    let env = bed.env();
    let command = |program: &str, args: &[&str]| {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let status = command(sessctl, &["enable", "bench", "--", "sleep", "1000000"]).status()?;
    anyhow::ensure!(status.success(), "sessctl enable failed: {status}");

    let resume = ["resume", "bench", "--no-attach"];
    let start = ["--user", "start", "sessctl-bench.service"];
    let ours = measure(|| command(sessctl, &resume).status())?;
    let theirs = measure(|| command("systemctl", &start).status())?;
    let floor = floor(&bed, || command(sessctl, &["--version"]).status())?;
    // The session must have survived all of it.
    let verify = command(sessctl, &["verify", "bench", "--rounds", "3"]).status()?;
    anyhow::ensure!(
        verify.success(),
        "the session did not survive the benchmark"
    );

    let (m_ours, m_theirs) = (median(&ours), median(&theirs));
    let ratio = m_theirs / m_ours;
    let mut report = heading(
        "resume",
        &format!("{RUNS} runs each after {WARMUP} warm-up runs, on one live unit of a private `systemd --user`; wall time per command, process start included."),
    );
    report.push_str(TABLE_HEAD);
    report.push_str(&row("`sessctl resume bench --no-attach`", &ours));
    report.push_str(&row(
        "`systemctl --user start sessctl-bench.service`",
        &theirs,
    ));
    writeln!(
        report,
        "\nsessctl is {ratio:.2}x as fast as systemctl. Targets: median at most {TARGET_MS} ms ({}), at least {TARGET_RATIO}x ({}).",
        if m_ours <= TARGET_MS { "met" } else { "missed" },
        if ratio >= TARGET_RATIO { "met" } else { "missed" }
    )?;
    report.push_str(&floor.explain(m_ours, m_theirs)?);
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/resume.md");
    std::fs::write(&out, &report)?;
    print!("{report}");
    println!("\nwritten to {}", out.display());
    command(sessctl, &["disable", "bench", "--purge"]).status()?;
    Ok(())
}

/// Milliseconds per run of `f`, which spawns one command and waits for it.
fn measure(
    mut f: impl FnMut() -> std::io::Result<std::process::ExitStatus>,
) -> anyhow::Result<Vec<f64>> {
    for _ in 0..WARMUP {
        anyhow::ensure!(f()?.success(), "a warm-up run failed");
    }
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let status = f()?;
        let took: Duration = start.elapsed();
        anyhow::ensure!(status.success(), "a run failed: {status}");
        samples.push(took.as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

/// What any resume costs before it does anything of its own, in milliseconds: the parts
/// measured one by one.
struct Floor {
    /// `sessctl --version`: exec, the dynamic loader, the command line parsed.
    start: Vec<f64>,
    /// A connection to the user bus (SASL, `Hello`), in-process.
    connect: Vec<f64>,
    /// One identity reading: the unit's five properties in one round trip, the tmux server's
    /// and the agent's start times from /proc, in-process.
    read: Vec<f64>,
}

fn floor(
    bed: &Testbed,
    version: impl FnMut() -> std::io::Result<std::process::ExitStatus>,
) -> anyhow::Result<Floor> {
    let start = measure(version)?;
    let (mut connect, mut read) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let began = Instant::now();
        let systemd = bed.connect()?;
        connect.push(began.elapsed().as_secs_f64() * 1000.0);
        let began = Instant::now();
        let (identity, _) =
            sessctl::lifecycle::observe::identity(&systemd, "sessctl-bench.service")?;
        read.push(began.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(identity.is_live(), "the session is not live");
    }
    Ok(Floor {
        start,
        connect,
        read,
    })
}

impl Floor {
    /// The parts as table rows, and what they add up to against `ours` and `theirs`.
    fn explain(&self, ours: f64, theirs: f64) -> anyhow::Result<String> {
        let mut r = String::from(
            "\nWhere resume's time goes, each part measured alone in the same run:\n\n",
        );
        r.push_str(TABLE_HEAD);
        r.push_str(&row("process start: `sessctl --version`", &self.start));
        r.push_str(&row(
            "bus connect (SASL, `Hello`), in-process",
            &self.connect,
        ));
        r.push_str(&row("one identity reading (5 properties in one round trip, 2 PIDs' start times from /proc), in-process", &self.read));
        let floor = median(&self.start) + median(&self.connect) + 2.0 * median(&self.read);
        writeln!(
            r,
            "\nA resume of a live session is those three, with the identity read twice (before, and again as the proof that it survived), plus its lock, its record and one line of its event log. Their sum, {floor:.2} ms, is the floor: the resume took {ours:.2} ms, {:.0}% of it above the floor. The 3x target would need {:.2} ms, {}.",
            (ours - floor) / ours * 100.0,
            theirs / 3.0,
            if theirs / 3.0 < floor {
                "below that floor: no resume that starts a process, connects and proves the session twice can meet it"
            } else {
                "above that floor"
            }
        )?;
        Ok(r)
    }
}
