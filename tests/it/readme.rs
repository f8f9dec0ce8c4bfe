//! The docs say what the code does: every command's help line and usage in docs/commands.md,
//! every flag the docs show after `sessctl <command>`, the exit codes, the journal's MESSAGE_IDs,
//! doctor's and `transcript check`'s finding ids, the links between the markdown files, and the README's length.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use regex::Regex;
use sessctl::cli::Cli;

use crate::support::SESSCTL;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The README is for a newcomer: one screen or two.
const README_MAX_LINES: usize = 300;

/// A file of the repository, by its path from the root.
fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The user's and contributor's markdown: the README, CONTRIBUTING.md and every docs/*.md, by
/// path from the root.
fn markdown() -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = ["README.md", "CONTRIBUTING.md"]
        .into_iter()
        .map(|p| (p.to_string(), read(p)))
        .collect();
    for entry in std::fs::read_dir(Path::new(ROOT).join("docs")).expect("docs/") {
        let name = entry.expect("a docs/ entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".md") {
            let path = format!("docs/{name}");
            files.insert(path.clone(), read(&path));
        }
    }
    files
}

/// `sessctl WORDS --help`, as the binary prints it.
fn help(words: &[String]) -> String {
    let out = Command::new(SESSCTL)
        .args(words)
        .arg("--help")
        .output()
        .expect("running --help");
    assert!(out.status.success(), "sessctl {words:?} --help failed");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// Every visible command and subcommand, as the words after `sessctl`, with its one-line help.
fn commands() -> Vec<(Vec<String>, String)> {
    fn walk(cmd: &clap::Command, path: &[String], out: &mut Vec<(Vec<String>, String)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let mut path = path.to_vec();
            path.push(sub.get_name().to_string());
            let about = sub.get_about().expect("every command has help").to_string();
            out.push((path.clone(), about));
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &[], &mut out);
    out
}

#[test]
fn commands_md_gives_every_command_its_help_line_and_usage() {
    let index = read("docs/commands.md");
    let mut known = BTreeSet::new();
    for (path, about) in commands() {
        let help = help(&path);
        let usage = help
            .lines()
            .find(|l| l.starts_with("Usage: "))
            .expect("a usage line");
        let name = path.join(" ");
        let entry = format!("### sessctl {name}\n\n{about}\n\n```\n{usage}\n```\n");
        assert!(
            index.contains(&entry),
            "docs/commands.md lacks, or differs from --help in:\n{entry}"
        );
        known.insert(name);
    }
    for heading in index.lines().filter_map(|l| l.strip_prefix("### sessctl ")) {
        assert!(
            known.contains(heading),
            "docs/commands.md documents `sessctl {heading}`, which is no command"
        );
    }
}

#[test]
fn the_readme_fits_a_newcomer_and_names_every_command() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines; at most {README_MAX_LINES}: move reference text to docs/"
    );
    for (path, _) in commands().iter().filter(|(p, _)| p.len() == 1) {
        let link = format!("[`sessctl {0}`](docs/commands.md#sessctl-{0})", path[0]);
        assert!(
            readme.contains(&link),
            "README's command table lacks {link}"
        );
    }
}

/// The code the markdown shows: the lines of its fenced blocks and its inline code spans.
fn code_of(text: &str) -> Vec<String> {
    let mut code = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            code.push(line.to_string());
        } else {
            code.extend(spans(line));
        }
    }
    code
}

/// A line's inline code: `a`, or ``a `b` c``, between a run of backticks and the next equal run.
fn spans(line: &str) -> Vec<String> {
    let (mut out, mut rest) = (Vec::new(), line);
    while let Some(start) = rest.find('`') {
        let ticks = rest[start..].len() - rest[start..].trim_start_matches('`').len();
        let fence = &rest[start..start + ticks];
        let body = &rest[start + ticks..];
        let Some(end) = body.find(fence) else { break };
        out.push(body[..end].to_string());
        rest = &body[end + ticks..];
    }
    out
}

/// Each `sessctl ...` command line in `code`, as its words: up to a bare `--` (the agent's
/// own command follows), a pipe, `;`, `&`, `#` or `)`.
fn command_lines(code: &str) -> Vec<Vec<String>> {
    let starts = Regex::new(r"(?:^|[\s(])sessctl ").expect("a regex");
    starts
        .find_iter(code)
        .map(|m| {
            let rest = &code[m.end()..];
            let end = rest.find(['|', ';', '&', '#', ')']).unwrap_or(rest.len());
            rest[..end]
                .split_whitespace()
                .map(|w| w.trim_matches(['[', ']', '.']).to_string())
                .take_while(|w| w != "--")
                .collect()
        })
        .collect()
}

/// The subcommand path `words` begins with, and the long flags after it (`--env` of
/// `--env=K=V`).
fn path_and_flags(words: &[String]) -> (Vec<String>, Vec<String>) {
    // `--host HOST` goes anywhere, before the subcommand too (it is global): its value is no
    // subcommand, and the flag is checked in the help like the others.
    let mut global = Vec::new();
    let mut rest = words.iter();
    let mut kept = Vec::new();
    while let Some(word) = rest.next() {
        match word.as_str() {
            "--host" => {
                rest.next();
                global.push(word.clone());
            }
            _ if word.starts_with("--host=") => global.push("--host".to_string()),
            _ => kept.push(word.clone()),
        }
    }
    let words = &kept[..];
    let mut cmd = Cli::command();
    let mut path = Vec::new();
    for word in words {
        match cmd.find_subcommand(word) {
            Some(sub) => {
                path.push(word.clone());
                cmd = sub.clone();
            }
            None => break,
        }
    }
    let flag = Regex::new(r"^--[a-z][a-z0-9-]*").expect("a regex");
    let flags = (words[path.len()..].iter())
        .filter_map(|w| flag.find(w).map(|m| m.as_str().to_string()))
        .chain(global)
        .collect();
    (path, flags)
}

#[test]
fn every_flag_the_docs_show_exists_in_its_commands_help() {
    let mut helps: BTreeMap<Vec<String>, String> = BTreeMap::new();
    let mut checked = 0;
    for (file, text) in markdown() {
        for code in code_of(&text) {
            for words in command_lines(&code) {
                let (path, flags) = path_and_flags(&words);
                let shown = helps.entry(path.clone()).or_insert_with(|| help(&path));
                for flag in flags {
                    let listed = Regex::new(&format!(r"(?m)(^|[\s,\[]){flag}([\s=,\]]|$)"))
                        .expect("a regex");
                    assert!(
                        listed.is_match(shown),
                        "{file} shows `sessctl {} {flag}`, which `sessctl {} --help` lacks",
                        path.join(" "),
                        path.join(" ")
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} flags found in the docs");
}

/// The exit-code table of `src/error.rs`, the one place codes are decided, row by row.
fn code_table() -> Vec<(u8, String)> {
    read("src/error.rs")
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
fn the_docs_and_help_list_the_exit_codes_the_code_decides() {
    let table = code_table();
    let codes: Vec<u8> = table.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        codes,
        (0..=6).collect::<Vec<u8>>(),
        "one row per code, in order"
    );
    let help = help(&[]).replace('\n', " ");
    let files = read("docs/files.md");
    for (code, meaning) in table {
        assert!(
            files.contains(&format!("| {code} | {meaning} |")),
            "docs/files.md's row for exit code {code} differs from src/error.rs: {meaning}"
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

/// docs/files.md lists each event kind's MESSAGE_ID as `sessctl::journal` sends it.
#[test]
fn the_docs_list_every_message_id() {
    let files = read("docs/files.md");
    for kind in sessctl::journal::EventKind::ALL {
        let id = kind.message_id();
        let row = format!("| {kind} | `{id}` |");
        assert!(files.contains(&row), "docs/files.md lacks the row {row}");
    }
}

/// The finding ids in a source file (doctor's, the transcript model's): the spellings
/// `FindingId::as_str` gives its variants, one `Variant => "id",` arm each. Its `match` is exhaustive, so every variant has one.
fn finding_ids(source: &str) -> BTreeSet<String> {
    let body = source
        .split("pub fn as_str(self) -> &'static str {")
        .nth(1)
        .expect("FindingId::as_str");
    let body = &body[..body.find("\n    }\n").expect("the end of as_str")];
    let arm = Regex::new(r#"(?m)^\s*[A-Z][A-Za-z]* => "([a-z][a-z0-9-]*)",$"#).expect("a regex");
    arm.captures_iter(body).map(|c| c[1].to_string()).collect()
}

/// Every finding id doctor's checks can report.
fn doctor_ids() -> BTreeSet<String> {
    finding_ids(&read("src/query/doctor/mod.rs"))
}

/// The ids in the first column of docs/troubleshooting.md's findings table.
fn documented_finding_ids() -> BTreeSet<String> {
    let doc = read("docs/troubleshooting.md");
    let section = doc
        .split("\n## The doctor findings\n")
        .nth(1)
        .expect("a doctor findings section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let id = Regex::new(r"`([a-z][a-z0-9-]*)`").expect("a regex");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| {
            id.captures_iter(cell)
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_findings_table_lists_exactly_the_ids_doctor_has() {
    let sample = "pub fn as_str(self) -> &'static str {\n        match self {\n            \
                  AB => \"a-b\",\n            Cd => \"c\",\n        }\n    }\n}\n        X => \"x\",\n";
    assert_eq!(
        finding_ids(sample),
        ["a-b", "c"].map(String::from).into(),
        "the id extraction"
    );
    let code = doctor_ids();
    let docs = documented_finding_ids();
    assert!(
        code.len() > 20,
        "only {} ids found in doctor: {code:?}",
        code.len()
    );
    let undocumented: Vec<_> = code.difference(&docs).collect();
    let unknown: Vec<_> = docs.difference(&code).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "docs/troubleshooting.md lacks {undocumented:?} and lists ids doctor does not have: \
         {unknown:?}"
    );
}

/// The finding ids `transcript check --help` describes: each paragraph that opens with ids and
/// a severity, `broken-chain (error): ...` or `missing-transcript, empty-transcript (error): ...`.
fn transcript_check_help_ids() -> BTreeSet<String> {
    let mut cli = Cli::command();
    let check = cli
        .find_subcommand_mut("transcript")
        .and_then(|t| t.find_subcommand_mut("check"))
        .expect("a transcript check command");
    let help = check
        .get_long_about()
        .expect("transcript check's long help");
    let opening = Regex::new(r"(?m)^([a-z][a-z0-9-]*(?:, [a-z][a-z0-9-]*)*) \((?:error|warning)")
        .expect("a regex");
    opening
        .captures_iter(&help.to_string())
        .flat_map(|c| c[1].split(", ").map(String::from).collect::<Vec<_>>())
        .collect()
}

#[test]
fn transcript_check_help_lists_exactly_the_ids_it_has() {
    let code = finding_ids(&read("src/transcript/mod.rs"));
    assert!(
        code.len() > 8,
        "only {} ids found in the transcript model: {code:?}",
        code.len()
    );
    let help = transcript_check_help_ids();
    let undocumented: Vec<_> = code.difference(&help).collect();
    let unknown: Vec<_> = help.difference(&code).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "`transcript check --help` (src/cli.rs) lacks {undocumented:?} and describes ids \
         transcript::FindingId does not have: {unknown:?}"
    );
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a markdown file's headings (outside fenced code).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let files = markdown();
    let link = Regex::new(r"\]\(([^)\s]+)\)").expect("a regex");
    let mut checked = 0;
    for (file, text) in &files {
        let dir = Path::new(file).parent().unwrap_or(Path::new(""));
        for target in link.captures_iter(text).map(|c| c[1].to_string()) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let resolved = if path.is_empty() {
                PathBuf::from(file)
            } else {
                normalize(&dir.join(path))
            };
            assert!(
                Path::new(ROOT).join(&resolved).exists(),
                "{file} links to {target}, and {} does not exist",
                resolved.display()
            );
            if !fragment.is_empty() {
                let text = read(&resolved.to_string_lossy());
                assert!(
                    anchors(&text).contains(fragment),
                    "{file} links to {target}, and {} has no heading #{fragment}",
                    resolved.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} links found");
}

/// `docs/../README.md` as `README.md`: the path from the root a relative link names.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                assert!(out.pop(), "{} leaves the repository", path.display());
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
