//! Standard output that fails: a reader that went away is a quiet exit 0 (as in ripgrep and
//! zoxide), a full disk an error naming stdout, and never a panic.

use std::fs;
use std::process::{Command, Stdio};

use rstest::rstest;

use crate::support::{finish_within, Env, SESSCTL};

/// A transcript `transcript check` reports on: one record whose parent was never written.
fn transcript(env: &Env) -> String {
    let path = env.scratch.join("t.jsonl");
    let line = r#"{"type":"user","uuid":"b","parentUuid":"gone","sessionId":"s","version":"2.1.197","message":{"role":"user","content":"hi"}}"#;
    fs::write(&path, format!("{line}\n")).expect("transcript");
    path.to_str().expect("a UTF-8 path").to_string()
}

/// `args` run offline with stdout going to `stdout`; `FILE` stands for a transcript.
fn run(args: &[&str], stdout: impl FnOnce() -> Stdio) -> std::process::Output {
    let env = Env::offline();
    let file = transcript(&env);
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "FILE" { file.as_str() } else { a })
        .collect();
    let child = Command::new(SESSCTL)
        .args(&args)
        .env_clear()
        .envs(env.vars())
        .stdin(Stdio::null())
        .stdout(stdout())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting sessctl");
    finish_within(child, &format!("sessctl {args:?}"))
}

#[rstest]
#[case::list(&["list", "--json"])]
#[case::check(&["transcript", "check", "FILE", "--json"])]
#[case::check_text(&["transcript", "check", "FILE"])]
fn a_closed_pipe_is_a_quiet_exit_0(#[case] args: &[&str]) {
    // The reader is gone before sessctl writes a byte.
    let out = run(args, || {
        let (reader, writer) = nix::unistd::pipe().expect("a pipe");
        drop(reader);
        Stdio::from(writer)
    });
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).as_ref()
        ),
        (Some(0), "")
    );
}

#[rstest]
#[case::list(&["list", "--json"])]
#[case::check(&["transcript", "check", "FILE"])]
fn a_full_stdout_is_an_error_naming_it(#[case] args: &[&str]) {
    let out = run(args, || {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        Stdio::from(full)
    });
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).as_ref()
        ),
        (
            Some(1),
            "sessctl: writing to stdout: No space left on device (os error 28)\n"
        )
    );
}
