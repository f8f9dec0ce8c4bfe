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

/// The exit-code table of `src/error.rs`, the one place codes are decided, row by row.
fn code_table() -> Vec<(u8, String)> {
    include_str!("../../src/error.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//! | "))
        .filter_map(|row| {
            let (code, meaning) = row.split_once(" | ")?;
            Some((
                code.parse().ok()?,
                meaning.trim_end_matches(" |").to_string(),
            ))
        })
        .collect()
}

#[test]
fn readme_and_help_list_the_exit_codes_the_code_decides() {
    let table = code_table();
    let codes: Vec<u8> = table.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        codes,
        (0..=6).collect::<Vec<u8>>(),
        "one row per code, in order"
    );
    let help = String::from_utf8_lossy(
        &Command::new(SESSCTL)
            .arg("--help")
            .output()
            .expect("help")
            .stdout,
    )
    .replace('\n', " ");
    let readme = include_str!("../../README.md");
    for (code, meaning) in table {
        assert!(
            readme.contains(&format!("| {code} | {meaning} |")),
            "README's row for exit code {code} differs from src/error.rs: {meaning}"
        );
        // --help gives each meaning's first words.
        let short = meaning
            .split([':', '(', ','])
            .next()
            .expect("a meaning")
            .trim();
        assert!(
            help.contains(&format!("{code} {short}")),
            "--help lacks exit code {code} ({short}): {help}"
        );
    }
}

/// The README lists each event kind's MESSAGE_ID as `sessctl::journal` sends it.
#[test]
fn readme_lists_every_message_id() {
    let readme = include_str!("../../README.md");
    for kind in sessctl::journal::EventKind::ALL {
        let id = kind.message_id();
        let row = format!("| {kind} | `{id}` |");
        assert!(readme.contains(&row), "README lacks the row {row}");
    }
}
