//! `sessctl demo`: a throwaway product kept alive by sessctl, next to the naive launch that
//! loses its session, on the user's manager or, failing that, a private one. Every step is
//! printed and everything made is removed.
//!
//! A show, not a command on products: it drives the sessctl binary as a user would, and stages
//! the naive launch itself, which no lifecycle function may do. So it sits beside `cmd` and may
//! import the adapters and, with the `testbed` feature, the private manager.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::error::{Exit, NO_MANAGER};
use crate::paths::Paths;
use crate::poll;
use crate::product;
use crate::session;
use crate::store;
use crate::systemd::{ActiveState, Systemd, UnitStatus};
use crate::unit;

/// A small interactive stand-in for an agent CLI: it answers each line it reads.
const STAND_IN: &str = "#!/bin/sh\n\
echo 'stand-in agent for the sessctl demo: type a line and it answers'\n\
while IFS= read -r line; do echo \"agent: $line\"; done\n";

const STOP_WAIT: Duration = Duration::from_secs(30);

pub fn run() -> Result<()> {
    outln!("sessctl demo: a session that survives, next to one that does not\n");
    let bed = match Systemd::connect() {
        Ok(_) => {
            outln!("- using your systemd user manager");
            None
        }
        // A private manager only where no user manager can run: on a host booted with
        // systemd it would make cgroups in PID 1's own tree.
        Err(err) if nix::unistd::geteuid().is_root() && !booted_with_systemd() => {
            outln!("- no user manager is reachable ({err:#})");
            let bed = private_manager()?;
            outln!("- started a private systemd --user in cgroup /{}", bed.name);
            Some(bed)
        }
        Err(err) => {
            return Err(Exit {
                code: NO_MANAGER,
                message: format!(
                    "{err:#}; the demo needs your user manager (on a host booted with systemd), or root on a host without systemd to start a private one"
                ),
            }
            .into())
        }
    };
    let private = bed.is_some();
    let demo = Demo::new(bed)?;
    let played = demo.play();
    outln!("\nCleaning up");
    let cleaned = demo.clean_up();
    // The private manager goes last, with the demo that used it.
    drop(demo);
    if private {
        outln!("- stopped the private manager and removed its cgroup and directories");
    }
    let verdict = played?;
    cleaned?;
    outln!("\ndemo done: {verdict}");
    Ok(())
}

/// A private manager and the way to it; dropping `_bed` stops it and removes everything.
struct Private {
    name: String,
    paths: Paths,
    systemd: Systemd,
    env: Vec<(OsString, OsString)>,
    _bed: Box<dyn std::any::Any>,
}

#[cfg(feature = "testbed")]
fn private_manager() -> Result<Private> {
    let bed =
        crate::testbed::Testbed::start("demo").context("starting a private systemd --user")?;
    Ok(Private {
        name: bed.name.clone(),
        paths: Paths {
            config_home: bed.config_home.clone(),
            state_home: bed.state_home.clone(),
            runtime_dir: Some(bed.runtime_dir.clone()),
        },
        systemd: bed.connect()?,
        env: bed.env(),
        _bed: Box::new(bed),
    })
}

/// The root-only mount and cgroup code of a private manager is not in this build.
#[cfg(not(feature = "testbed"))]
fn private_manager() -> Result<Private> {
    Err(Exit {
        code: NO_MANAGER,
        message: "no user manager is reachable, and this sessctl was built without the `testbed` feature that starts a private one on a host without systemd; run `cargo run --features testbed -- demo`".into(),
    }
    .into())
}

/// Whether PID 1 is systemd: sd_booted(3) tests for this directory.
fn booted_with_systemd() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

struct Demo {
    product: String,
    dir: PathBuf,
    paths: Paths,
    bed_env: Option<Vec<(OsString, OsString)>>,
    /// Dropped last: the private manager the demo ran on, if any.
    _bed: Option<Box<dyn std::any::Any>>,
    systemd: Systemd,
    tmux: String,
    naive_unit: String,
}

impl Demo {
    fn new(private: Option<Private>) -> Result<Demo> {
        let product = format!("demo-{}", std::process::id());
        let (paths, systemd, bed_env, bed) = match private {
            Some(p) => (p.paths, p.systemd, Some(p.env), Some(p._bed)),
            None => (Paths::from_env()?, Systemd::connect()?, None, None),
        };
        let dir = std::env::temp_dir().join(format!("sessctl-{product}"));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let agent = dir.join("agent");
        store::write_atomic(&agent, STAND_IN.as_bytes())?;
        fs::set_permissions(&agent, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making {} executable", agent.display()))?;
        outln!("- stand-in agent: {}", agent.display());
        Ok(Demo {
            naive_unit: format!("sessctl-{product}-naive.service"),
            tmux: product::resolve_program("tmux")?,
            product,
            dir,
            paths,
            bed_env,
            systemd,
            _bed: bed,
        })
    }

    fn play(&self) -> Result<String> {
        let agent = self.dir.join("agent");
        let dir = self.dir.to_string_lossy().into_owned();
        let agent_arg = agent.to_string_lossy().into_owned();
        outln!("\nThe sessctl launch: a user service whose main process is the tmux server");
        self.sessctl(&["enable", &self.product, "--dir", &dir, "--", &agent_arg])?;
        self.sessctl(&["status", &self.product])?;
        outln!("\nA resume click on a live session must not start anything new, and proves it:");
        // resume exits non-zero unless the session survived with the same identity.
        self.sessctl(&["resume", &self.product, "--no-attach"])?;

        outln!("\nThe naive launch: Type=simple running `tmux new-session -d`");
        let naive_socket = self.dir.join("naive.sock");
        let text = unit::render_naive(&self.tmux, &naive_socket.to_string_lossy(), &agent_arg)?;
        store::write_atomic(
            &self.paths.unit_dir().join(&self.naive_unit),
            text.as_bytes(),
        )?;
        self.systemd.reload()?;
        self.systemd.start(&self.naive_unit)?;
        outln!("- started {}", self.naive_unit);
        let status = self.wait_stopped(&self.naive_unit)?;
        let naive_alive = session::has_session(Path::new(&self.tmux), &naive_socket)?;
        if naive_alive {
            outln!(
                "- survived: {} is {} and its session still exists",
                self.naive_unit,
                status.active_state
            );
        } else {
            outln!(
                "- lost: {} is {} and systemd killed its tmux session with it",
                self.naive_unit,
                status.active_state
            );
        }
        Ok(format!(
            "the sessctl session survived; the naive one was {}",
            if naive_alive {
                "kept (unexpected here)"
            } else {
                "lost"
            }
        ))
    }

    fn clean_up(&self) -> Result<()> {
        let product = self.sessctl(&["disable", &self.product, "--purge"]);
        let naive = self.remove_naive();
        let dir = fs::remove_dir_all(&self.dir)
            .with_context(|| format!("removing {}", self.dir.display()));
        if dir.is_ok() {
            outln!("- removed {}", self.dir.display());
        }
        product.and(naive).and(dir)
    }

    fn remove_naive(&self) -> Result<()> {
        let file = self.paths.unit_dir().join(&self.naive_unit);
        if !file.exists() {
            return Ok(());
        }
        self.systemd.stop(&self.naive_unit)?;
        if self.systemd.status(&self.naive_unit)?.active_state == ActiveState::Failed {
            self.systemd.reset_failed(&self.naive_unit)?;
        }
        store::remove_file(&file)?;
        self.systemd.reload()?;
        outln!("- removed {}", self.naive_unit);
        Ok(())
    }

    /// Runs this sessctl binary as a user would, printing the command and its output.
    fn sessctl(&self, args: &[&str]) -> Result<()> {
        outln!("\n$ sessctl {}", args.join(" "));
        let exe = std::env::current_exe().context("locating the sessctl binary")?;
        let mut cmd = Command::new(exe);
        cmd.args(args);
        if let Some(env) = &self.bed_env {
            cmd.envs(env.iter().map(|(k, v)| (k, v)));
        }
        let out = cmd
            .output()
            .with_context(|| format!("running sessctl {}", args.join(" ")))?;
        for line in String::from_utf8_lossy(&out.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
        {
            outln!("  {line}");
        }
        if !out.status.success() {
            bail!("sessctl {} failed ({})", args.join(" "), out.status);
        }
        Ok(())
    }

    fn wait_stopped(&self, unit: &str) -> Result<UnitStatus> {
        let settled = poll::until(STOP_WAIT, || {
            let status = self.systemd.status(unit)?;
            let done = status.active_state.is_down();
            Ok(done.then_some(status))
        })?;
        // Past the wait, the state as it is: the demo reports it either way.
        settled.map_or_else(|| self.systemd.status(unit), Ok)
    }
}
