//! The README's command reference matches `--help`: every subcommand has a heading, its
//! one-line help and its usage line.

use std::process::Command;

use clap::CommandFactory;
use sessctl::cli::Cli;

use crate::support::SESSCTL;

#[test]
fn readme_documents_every_command_as_help_does() {
    let readme = include_str!("../../README.md");
    for sub in Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
    {
        let name = sub.get_name();
        let about = sub.get_about().expect("every command has help").to_string();
        let help = Command::new(SESSCTL)
            .args([name, "--help"])
            .output()
            .expect("--help");
        let help = String::from_utf8_lossy(&help.stdout);
        let usage = help
            .lines()
            .find(|l| l.starts_with("Usage: "))
            .expect("a usage line");
        let section = format!("### sessctl {name}\n\n{about}\n\n```\n{usage}\n```\n");
        assert!(
            readme.contains(&section),
            "README lacks, or differs from --help in:\n{section}"
        );
    }
}

#[test]
fn readme_lists_the_exit_codes_help_lists() {
    let readme = include_str!("../../README.md");
    for (code, meaning) in [
        (0, "success"),
        (1, "an operation failed"),
        (2, "invalid usage or input"),
        (3, "the systemd user manager could not be reached"),
        (4, "a session was lost"),
        (5, "a session needs repair"),
    ] {
        assert!(
            readme.contains(&format!("| {code} | {meaning}")),
            "exit code {code}"
        );
        let help = String::from_utf8_lossy(
            &Command::new(SESSCTL)
                .arg("--help")
                .output()
                .expect("help")
                .stdout,
        )
        .replace('\n', " ");
        assert!(
            help.contains(&format!("{code} {meaning}")),
            "--help lacks exit code {code}: {help}"
        );
    }
}
