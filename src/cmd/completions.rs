//! `sessctl completions` and `sessctl man`: the command line's own description, for shells and
//! for man(1). build.rs writes the same pages and scripts for the Debian package.

use std::io::Write;

use anyhow::{Context, Result};
use clap_complete::env::{Bash, EnvCompleter, Fish, Zsh};

use crate::cli::{Shell, COMPLETE_VAR};
use crate::error::{quoted, usage};

/// Prints the shell code that registers sessctl's completions: at each <TAB> it runs
/// `SESSCTL_COMPLETE=<shell> sessctl -- <words>`, so product names are the ones that exist then.
pub fn completions(command: &clap::Command, shell: Shell) -> Result<()> {
    let shell: &dyn EnvCompleter = match shell {
        Shell::Bash => &Bash,
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
    };
    let name = command.get_name();
    let mut out = Vec::new();
    // The completer is found on PATH, as the shell finds sessctl itself.
    shell
        .write_registration(COMPLETE_VAR, name, name, name, &mut out)
        .context("writing the completion script")?;
    std::io::stdout()
        .write_all(&out)
        .context("writing to stdout")
}

/// Prints the man page of sessctl, or of the subcommand `path` names.
pub fn man(mut command: clap::Command, path: &[String]) -> Result<()> {
    command.build();
    let mut page = &command;
    for (depth, name) in path.iter().enumerate() {
        page = page
            .get_subcommands()
            .find(|sub| sub.get_name() == name && !sub.is_hide_set())
            .ok_or_else(|| {
                let searched: Vec<&str> = std::iter::once("sessctl man")
                    .chain(path[..depth].iter().map(String::as_str))
                    .collect();
                usage(format!(
                    "{} has no subcommand {}; `{}` lists them",
                    page.get_display_name().unwrap_or(page.get_name()),
                    quoted(name),
                    searched.join(" "),
                ))
            })?;
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(page.clone())
        .render(&mut out)
        .context("rendering the man page")?;
    std::io::stdout()
        .write_all(&out)
        .context("writing to stdout")
}
