//! `sessctl man` and `sessctl completions` name every subcommand and flag: the man pages as
//! man(1) renders them, the bash completions through bash itself, zsh's and fish's through the
//! requests their scripts make. Product names complete from the products that exist.

use std::process::Command;

use clap::CommandFactory;

use crate::support::{Env, SESSCTL};

/// Every visible subcommand, as the words after `sessctl`, with its long flags.
fn subcommands() -> Vec<(Vec<String>, Vec<String>)> {
    fn walk(cmd: &clap::Command, path: &[String], out: &mut Vec<(Vec<String>, Vec<String>)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let mut here = path.to_vec();
            here.push(sub.get_name().to_string());
            let flags = sub
                .get_arguments()
                .filter(|a| !a.is_hide_set())
                .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
                .collect();
            out.push((here.clone(), flags));
            walk(sub, &here, out);
        }
    }
    let mut cli = sessctl::cli::Cli::command();
    cli.build();
    let mut out = Vec::new();
    walk(&cli, &[], &mut out);
    out
}

/// Runs a command, which must succeed; its stdout.
fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running a command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sessctl man WORDS` as man(1) shows it, in ASCII and on lines too long to break.
fn rendered_page(env: &Env, words: &[String]) -> String {
    let roff = env
        .sessctl()
        .arg("man")
        .args(words)
        .stdout_read()
        .run()
        .stdout;
    let file = env.scratch.join("page.1");
    std::fs::write(&file, roff).expect("writing the page");
    stdout(
        Command::new("man")
            .args(["-l", "-P", "cat"])
            .arg(&file)
            .env("LC_ALL", "C")
            .env("MANWIDTH", "1000")
            .env("MAN_DISABLE_SECCOMP", "1"),
    )
}

#[test]
fn the_man_pages_name_every_subcommand_and_flag() {
    let env = Env::offline();
    let top = rendered_page(&env, &[]);
    for (path, flags) in subcommands() {
        let page = rendered_page(&env, &path);
        let name = format!("sessctl-{}", path.join("-"));
        assert!(
            page.contains(&format!("NAME\n       {name} - ")),
            "{name}:\n{page}"
        );
        for flag in &flags {
            assert!(page.contains(flag), "{name} lacks {flag}:\n{page}");
        }
        // Each page lists its own subcommands, and sessctl(1) the top-level ones.
        let parent = match path.len() {
            1 => top.clone(),
            _ => rendered_page(&env, &path[..path.len() - 1]),
        };
        assert!(
            parent.contains(&format!("{name}(1)")),
            "no {name}(1) in its parent page"
        );
    }
    env.sessctl()
        .args(["man", "nope"])
        .stderr("sessctl: sessctl has no subcommand \"nope\"; `sessctl man` lists them\n")
        .status(2)
        .run();
}

/// What bash completes for `words` (the last one being completed) with the script
/// `sessctl completions bash` prints, sessctl on PATH.
fn bash_complete(env: &Env, words: &str) -> Vec<String> {
    let script = env
        .sessctl()
        .args(["completions", "bash"])
        .stdout_read()
        .run()
        .stdout;
    let file = env.scratch.join("sessctl.bash");
    std::fs::write(&file, script).expect("writing the script");
    let bin = std::path::Path::new(SESSCTL)
        .parent()
        .expect("the binary's folder");
    let test = format!(
        "source {}\n\
         COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMP_TYPE=9\n\
         _clap_complete_sessctl sessctl \"${{COMP_WORDS[COMP_CWORD]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    stdout(
        Command::new("bash")
            .args(["-c", &test])
            .envs(env.vars())
            .env("PATH", path),
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// What zsh's or fish's script gets back for `words`, asked as that script asks.
fn shell_complete(env: &Env, shell: &str, words: &[&str]) -> String {
    let index = (words.len() - 1).to_string();
    stdout(
        Command::new(SESSCTL)
            .env(sessctl::cli::COMPLETE_VAR, shell)
            .env("_CLAP_COMPLETE_INDEX", index)
            .env("_CLAP_IFS", "\n")
            .envs(env.vars())
            .arg("--")
            .args(words),
    )
}

#[test]
fn the_completions_name_every_subcommand_and_flag_and_the_products() {
    let env = Env::offline();
    std::fs::create_dir_all(env.config_home().join("sessctl/products")).expect("a config dir");
    for product in ["web", "api"] {
        std::fs::write(env.product_file(product), "").expect("a product config");
    }
    for (path, flags) in subcommands() {
        let (last, before) = path.split_last().expect("a subcommand");
        let words = format!("sessctl {} ''", before.join(" "));
        assert!(bash_complete(&env, &words).contains(last), "bash: {path:?}");
        let words = format!("sessctl {} --", path.join(" "));
        let offered = bash_complete(&env, &words);
        for flag in &flags {
            assert!(
                offered.contains(flag),
                "bash: {path:?} {flag} not in {offered:?}"
            );
        }
        for shell in ["zsh", "fish"] {
            let mut words: Vec<&str> = vec!["sessctl"];
            words.extend(path.iter().map(String::as_str));
            words.push("--");
            let offered = shell_complete(&env, shell, &words);
            for flag in &flags {
                assert!(
                    offered.contains(flag.as_str()),
                    "{shell}: {path:?} {flag}:\n{offered}"
                );
            }
        }
    }
    let resume = bash_complete(&env, "sessctl resume ''");
    assert_eq!(
        resume,
        ["api", "web", "--no-attach", "--host", "--json", "--help"]
    );
    assert_eq!(bash_complete(&env, "sessctl transcript check w"), ["web"]);
    for shell in ["bash", "zsh", "fish"] {
        let script = env
            .sessctl()
            .args(["completions", shell])
            .stdout_read()
            .run()
            .stdout;
        let script = String::from_utf8_lossy(&script);
        assert!(
            script.contains("SESSCTL_COMPLETE") && script.contains("sessctl"),
            "{shell}: {script}"
        );
    }
}
