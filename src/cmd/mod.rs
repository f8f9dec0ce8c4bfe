//! The subcommands: each parses its arguments, calls one `query` or `lifecycle` function (or,
//! for another host, `fleet`) and formats what it returns. None imports another. `run` first
//! decides where a command runs: here, or on the hosts `--host` or `product@host` name.
//!
//! Before a command runs, `run` resolves the paths; a command that changes things first moves
//! state of the layout before 0.2 (`lifecycle::move_old_layout`), a read-only one notes that
//! it waits (`query::old_layout`).
//!
//! May import: `cli`, `query`, `lifecycle`, `fleet`, `server`, and the records and base
//! modules for their types; never an adapter.

mod attach;
mod completions;
mod control;
mod dashboard;
mod disable;
mod doctor;
mod enable;
mod gc;
mod host;
mod internal;
mod log;
mod relay;
mod render;
mod resume;
mod serve;
mod status;
mod transcript;
mod verify;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, Command, Dashboard, HostCmd, Transcript};
use crate::context::Ctx;
use crate::error::usage;
use crate::fleet;
use crate::hosts;
use crate::lifecycle;
use crate::paths::Paths;
use crate::product::ProductName;
use crate::query::{self, names};

pub fn run(cli: Cli) -> Result<()> {
    let product = product_of(&cli.command);
    let at = hosts_of(product, &cli.host)?;
    if at.is_empty() {
        return here(cli.command);
    }
    let hosts = fleet::named(&Paths::from_env()?, &at)?;
    let args = relay::args(product)?;
    elsewhere(hosts, cli.command, &args)
}

/// Runs `command` on this machine.
fn here(given: Command) -> Result<()> {
    let writes = changes(&given);
    let ctx = || paths_for(writes).map(Ctx::new);
    match given {
        Command::Enable(args) => enable::run(&ctx()?, args),
        Command::Disable(args) => disable::run(&ctx()?, args),
        Command::Render(args) => render::run(&ctx()?, &name(&args.product)?),
        Command::Start(args) => control::start(&ctx()?, &name(&args.product)?, args.json),
        Command::Stop(args) => control::stop(&ctx()?, &name(&args.product)?, args.json),
        Command::Restart(args) => control::restart(&ctx()?, &name(&args.product)?, args.json),
        Command::Resume(args) => resume::run(&ctx()?, args),
        Command::Verify(args) => verify::run(&ctx()?, args),
        Command::Log(args) => log::run(&ctx()?, &name(&args.product)?, args.json),
        Command::Doctor(args) => doctor::run(&ctx()?, args),
        Command::Gc(args) => gc::run(&ctx()?, args),
        Command::Transcript(cmd) => transcript::run(&ctx()?, cmd),
        Command::Status(args) => status::status(
            &ctx()?,
            args.product.as_deref().map(name).transpose()?.as_ref(),
            args.json,
        ),
        Command::List(args) => status::list(&ctx()?, args.json),
        Command::Attach(args) => attach::run(&ctx()?, &name(&args.product)?),
        Command::Demo => crate::demo::run(),
        Command::Serve(args) => serve::run(paths_for(writes)?, args),
        Command::Dashboard(cmd) => dashboard::run(&ctx()?, cmd),
        Command::Host(cmd) => host::run(&paths_for(writes)?, cmd),
        Command::Completions(args) => completions::completions(&command(), args.shell),
        Command::Man(args) => completions::man(command(), &args.subcommand),
        Command::Internal(cmd) => internal::run(cmd),
    }
}

/// Runs `command` on other hosts, whose sessctl gets `args`: `list` and `status` through
/// their JSON (several hosts at once), `attach` and `resume` on this terminal, the rest
/// relayed as they are. What only makes sense here is refused.
fn elsewhere(hosts: Vec<fleet::Host>, command: Command, args: &[String]) -> Result<()> {
    let terminal = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let word = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map_or("", String::as_str);
    match command {
        Command::List(json) => status::on_hosts(&hosts, None, true, json.json),
        Command::Status(args) => {
            let product = args.product.as_deref().map(hosts::split_at).transpose()?;
            status::on_hosts(&hosts, product.map(|(p, _)| p).as_ref(), false, args.json)
        }
        Command::Attach(_) if terminal => fleet::one(hosts, word)?.interactive(args),
        Command::Resume(resume) if terminal && !resume.no_attach => {
            fleet::one(hosts, word)?.interactive(args)
        }
        Command::Demo
        | Command::Serve(_)
        | Command::Dashboard(_)
        | Command::Completions(_)
        | Command::Man(_)
        | Command::Internal(_) => Err(usage(format!(
            "sessctl {word} runs on this machine only; run it without --host"
        ))),
        _ => fleet::one(hosts, word)?.relay(args),
    }
}

/// The product a command names, as written (`web`, or `web@build` for another host).
fn product_of(command: &Command) -> Option<&str> {
    match command {
        Command::Render(a) | Command::Attach(a) => Some(&a.product),
        Command::Start(a) | Command::Stop(a) | Command::Restart(a) => Some(&a.product),
        Command::Enable(a) => Some(&a.product),
        Command::Disable(a) => Some(&a.product),
        Command::Resume(a) => Some(&a.product),
        Command::Verify(a) => Some(&a.product),
        Command::Log(a) => Some(&a.product),
        Command::Status(a) => a.product.as_deref(),
        _ => None,
    }
}

/// The hosts a command runs on: `--host`'s, or the one its product names (`web@build`);
/// none when it runs here.
fn hosts_of(product: Option<&str>, given: &[String]) -> Result<Vec<String>> {
    let named = product.map(hosts::split_at).transpose()?;
    match (named.and_then(|(_, host)| host), given) {
        (None, given) => Ok(given.to_vec()),
        (Some(host), []) => Ok(vec![host]),
        (Some(host), [one]) if *one == host => Ok(vec![host]),
        (Some(host), given) => Err(usage(format!(
            "{} names host {host} but --host says {}; give one of them",
            product.unwrap_or_default(),
            given.join(",")
        ))),
    }
}

/// A product named on the command line, checked once here for every layer below.
fn name(product: &str) -> Result<ProductName> {
    ProductName::parse(product)
}

/// The paths a command works in. One that `writes` first moves state left in the layout
/// before 0.2 into place; one that only reads leaves it, and says it waits.
fn paths_for(writes: bool) -> Result<Paths> {
    let paths = Paths::from_env()?;
    if writes {
        lifecycle::move_old_layout(&paths)?;
    } else if let Some(note) = query::old_layout(&paths)? {
        errln!("sessctl: note: {note}");
    }
    Ok(paths)
}

/// Whether `command` may write sessctl's state; the others only read it.
fn changes(command: &Command) -> bool {
    match command {
        Command::Render(_)
        | Command::Log(_)
        | Command::Doctor(_)
        | Command::Status(_)
        | Command::List(_)
        | Command::Demo
        | Command::Completions(_)
        | Command::Man(_) => false,
        Command::Transcript(cmd) => {
            !matches!(cmd, Transcript::Check { .. } | Transcript::Snapshots { .. })
        }
        Command::Dashboard(cmd) => !matches!(
            cmd,
            Dashboard::Url | Dashboard::Pair | Dashboard::Sessions(_)
        ),
        Command::Host(cmd) => !matches!(cmd, HostCmd::List(_)),
        _ => true,
    }
}

/// The command line, with what `cli` cannot know as pure data: the agent profiles `--agent`
/// accepts, from `query::names`. Arguments and subcommands are changed in place: their
/// order is their positions'.
pub fn command() -> clap::Command {
    Cli::command().mut_subcommands(|sub| match sub.get_name() {
        "enable" => sub.mut_args(|arg| match arg.get_id().as_str() {
            "agent" => arg.value_parser(clap::builder::PossibleValuesParser::new(names::agents())),
            _ => arg,
        }),
        _ => sub,
    })
}

/// [`command`] as a completion request sees it: a product argument completes from the
/// products that exist. Only a completion builds this, so no other run pays for it.
pub fn completing() -> clap::Command {
    with_products(command())
}

/// Adds the product names to every argument that names a product, in every subcommand.
fn with_products(command: clap::Command) -> clap::Command {
    use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
    command
        .mut_args(|arg| match arg.get_id().as_str() {
            "product" | "target" => arg.add(ArgValueCandidates::new(|| {
                product_names().map(CompletionCandidate::new).collect()
            })),
            _ => arg,
        })
        .mut_subcommands(with_products)
}

/// The products configured now; a completion offers nothing rather than fail.
fn product_names() -> impl Iterator<Item = String> {
    Paths::from_env()
        .and_then(|paths| names::products(&paths))
        .unwrap_or_default()
        .into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own consistency checks, over every subcommand: a parse only checks the one used.
    #[test]
    fn the_command_line_passes_clap_checks() {
        completing().debug_assert();
    }
}
