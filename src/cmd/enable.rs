//! `sessctl enable`: validates a product, writes its config and unit, enables and starts it,
//! and never restarts a live session.

use std::path::Path;

use anyhow::Result;

use crate::agent::{self, Agent, Pin};
use crate::cli::Enable;
use crate::paths::Paths;
use crate::product::{self, Product};
use crate::resume;
use crate::state::{self, Event};
use crate::store::{self, Lock};
use crate::systemd::Systemd;
use crate::unit;

pub fn run(paths: &Paths, args: Enable) -> Result<()> {
    // Everything that can refuse the input runs before anything is written.
    product::check_name(&args.product)?;
    let dir = match &args.dir {
        Some(dir) => product::resolve_dir(dir)?,
        None => product::resolve_dir(&product::default_dir()?)?,
    };
    let mut command = if args.command.is_empty() {
        vec!["claude".to_string()]
    } else {
        args.command
    };
    command[0] = product::resolve_program(&command[0])?;
    let env = args
        .env
        .iter()
        .map(|a| product::parse_env(a))
        .collect::<Result<_>>()?;
    let agent = args.agent.unwrap_or_else(|| Agent::detect(&command[0]));
    let wanted = Product {
        name: args.product,
        dir,
        command,
        tmux: product::resolve_program("tmux")?,
        agent,
        keep_snapshots: args.keep_snapshots,
        stagger: args.stagger,
        env,
    };
    let text = super::render_unit(paths, &wanted)?;
    let systemd = Systemd::connect()?;

    let _lock = Lock::acquire(&paths.lock_file(&wanted.name))?;
    let name = unit::unit_name(&wanted.name);
    let unit_file = paths.unit_file(&wanted.name);
    let slice_file = paths.unit_dir().join(unit::SLICE_NAME);
    let before = systemd.status(&name)?;
    let file = systemd.unit_file(&name)?;
    let settings_changed = Product::load_optional(paths, &wanted.name)?.as_ref() != Some(&wanted);
    let same = !settings_changed
        && store::read_optional(&unit_file)?.as_deref() == Some(text.as_str())
        && store::read_optional(&slice_file)?.as_deref() == Some(unit::SLICE_TEXT)
        && file.unit_file_state == "enabled"
        && !file.need_daemon_reload;

    // A pinned agent gets its conversation id before its first start.
    let pin_file = paths.pin_file(&wanted.name);
    if wanted.agent == Agent::Claude && Pin::load(&pin_file)?.is_none() {
        let pin = Pin {
            session_id: agent::new_uuid()?,
            history: Vec::new(),
        };
        pin.save(&pin_file)?;
        outln!("{name}: pinned to conversation {}", pin.session_id);
    }
    if same {
        outln!("{name}: unchanged");
    } else {
        wanted.save(paths)?;
        write_if_changed(&slice_file, unit::SLICE_TEXT)?;
        store::write_atomic(&unit_file, text.as_bytes())?;
        systemd.reload()?;
        systemd.enable(&name)?;
        state::append(paths, &wanted.name, &Event::new("enable", None));
        if before.is_running() {
            outln!("{name}: rewritten, reloaded and enabled");
            // Only new settings make the live session out of date; a file merely put back as
            // sessctl renders it does not.
            if settings_changed {
                store::write_atomic(
                    &super::pending_marker(paths, &wanted.name),
                    before.invocation_id.as_bytes(),
                )?;
            }
        } else {
            outln!("{name}: written, reloaded and enabled");
        }
    }

    if before.is_running() {
        if super::restart_pending(paths, &wanted.name, &before.invocation_id)? {
            outln!(
                "{name}: restart pending; the live session keeps running until `sessctl restart {}`",
                wanted.name
            );
        } else {
            outln!("{name}: already active");
        }
    } else if args.no_start {
        outln!("{name}: not started (--no-start)");
    } else {
        resume::start_session(paths, &systemd, &wanted, &before)?;
        resume::observe(paths, &systemd, &wanted.name, "start")?;
        outln!("{name}: started");
    }
    Ok(())
}

fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    if store::read_optional(path)?.as_deref() == Some(text) {
        return Ok(());
    }
    store::write_atomic(path, text.as_bytes())
}
