//! The subcommands: each composes `unit`, `systemd` and `session`, and none calls another.

mod attach;
mod control;
mod demo;
mod disable;
mod doctor;
mod enable;
mod gc;
mod internal;
mod log;
mod render;
mod resume;
mod status;
mod transcript;
mod verify;

use anyhow::{Context, Result};

use crate::cli::{Cli, Command};
use crate::paths::Paths;
use crate::product::Product;
use crate::store;
use crate::unit::{self, ServiceSpec};

pub fn run(cli: Cli) -> Result<()> {
    let paths = Paths::from_env;
    match cli.command {
        Command::Enable(args) => enable::run(&paths()?, args),
        Command::Disable(args) => disable::run(&paths()?, args),
        Command::Render(args) => render::run(&paths()?, &args.product),
        Command::Start(args) => control::start(&paths()?, &args.product),
        Command::Stop(args) => control::stop(&paths()?, &args.product),
        Command::Restart(args) => control::restart(&paths()?, &args.product),
        Command::Resume(args) => resume::run(&paths()?, args),
        Command::Verify(args) => verify::run(&paths()?, args),
        Command::Log(args) => log::run(&paths()?, &args.product, args.json),
        Command::Doctor(args) => doctor::run(&paths()?, args),
        Command::Gc(args) => gc::run(&paths()?, args),
        Command::Transcript(cmd) => transcript::run(&paths()?, cmd),
        Command::Status(args) => status::status(&paths()?, args.product.as_deref(), args.json),
        Command::List(args) => status::list(&paths()?, args.json),
        Command::Attach(args) => attach::run(&paths()?, &args.product),
        Command::Demo => demo::run(),
        Command::Internal(cmd) => internal::run(cmd),
    }
}

/// The product's unit text as `enable` writes it, hosted by the running sessctl binary.
fn render_unit(paths: &Paths, product: &Product) -> Result<String> {
    let exe = std::env::current_exe().context("locating the sessctl binary")?;
    let sessctl = exe
        .to_str()
        .with_context(|| format!("the sessctl binary's path {exe:?} is not valid UTF-8"))?;
    let env: Vec<(String, String)> = product.env.clone().into_iter().collect();
    let pin = product
        .agent
        .pins()
        .then(|| paths.pin_file(&product.name).to_string_lossy().into_owned());
    let keep = product.keep_snapshots.to_string();
    let stagger = product.stagger.to_string();
    let state = paths.state_dir(&product.name);
    let state = state
        .to_str()
        .with_context(|| format!("the state directory {state:?} is not valid UTF-8"))?;
    unit::render_service(&ServiceSpec {
        state,
        stagger: &stagger,
        pin: pin.as_deref(),
        keep_snapshots: &keep,
        agent: product.agent.name(),
        product: &product.name,
        dir: &product.dir,
        command: &product.command,
        env: &env,
        sessctl,
        tmux: &product.tmux,
    })
}

/// The marker that a unit file changed under a live session: it holds that session's
/// InvocationID, so it means "restart pending" exactly until the session is replaced.
fn pending_marker(paths: &Paths, product: &str) -> std::path::PathBuf {
    paths.state_dir(product).join("restart-pending")
}

fn restart_pending(paths: &Paths, product: &str, invocation_id: &str) -> Result<bool> {
    let marker = store::read_optional(&pending_marker(paths, product))?;
    Ok(!invocation_id.is_empty() && marker.as_deref().map(str::trim) == Some(invocation_id))
}
