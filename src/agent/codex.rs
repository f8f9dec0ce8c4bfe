//! Codex, as version 0.171 does it (observed with the real client; `tests/it/real_codex.rs`
//! runs it).
//!
//! Its home is `$CODEX_HOME`, else `~/.codex`. A conversation is
//! `sessions/YYYY/MM/DD/rollout-<local time>-<id>.jsonl`, written lazily at the first prompt:
//! line 1 is `{"type":"session_meta","payload":{"id", "cwd", "thread_source", …}}` with `cwd`
//! the canonical working directory; `codex resume <id>` appends to the same file. The side
//! request that names a new conversation (`thread_source: "thread_title"`) writes no rollout.
//!
//! Codex picks its own ids (openai/codex discussion #3827), so sessctl pins the newest rollout
//! of the product's directory once it appears, and later starts run `codex resume <id>`.
//!
//! Every start passes `--no-daemon`. Without it the first window of a `CODEX_HOME` starts a
//! shared app-server daemon (feature `daemon_auto_start`, on) as a setsid child, in that
//! product's unit, and every other window of the same home runs its turns, tools and rollout
//! in it: stopping the first product strands the others on "Reconnecting to server…".
//! `--no-daemon` runs the server in the agent's own process, and also refuses a daemon that
//! is already running. It goes before the subcommand (`codex --no-daemon resume <id>`), where
//! a user's own `--no-daemon` after `resume` is still accepted.
//!
//! Retention: none. Codex 0.171 deletes no rollout by itself (`codex delete` and `codex
//! archive` are the user's). Two features would move a rollout away from where sessctl looks,
//! both off by default and "under development": `local_thread_store_compression` (to
//! `.jsonl.zst`) and `background_paginated_rollout_migration` (to paginated thread history).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use super::{AgentEnv, Found, Moved, Profile};

pub struct Codex;

/// Runs the app-server in the agent's own process (see the module's header).
const NO_DAEMON: &str = "--no-daemon";

impl Profile for Codex {
    fn name(&self) -> &'static str {
        "codex"
    }

    fn programs(&self) -> &'static [&'static str] {
        &["codex"]
    }

    fn placing(&self) -> &'static [&'static str] {
        &["CODEX_HOME"]
    }

    fn pins(&self) -> bool {
        true
    }

    fn transcript(&self, env: &AgentEnv, id: &str) -> Result<Option<PathBuf>> {
        let suffix = format!("-{id}.jsonl");
        Ok(rollouts(env)
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with(&suffix)))
    }

    fn switches(&self) -> &'static [&'static str] {
        &[NO_DAEMON]
    }

    fn start_args(&self, _env: &AgentEnv, _dir: &str, pinned: Option<&str>) -> Result<Vec<String>> {
        let mut args = vec![NO_DAEMON.to_string()];
        if let Some(id) = pinned {
            args.extend(["resume".to_string(), id.to_string()]);
        }
        Ok(args)
    }

    /// The daemon a start without `--no-daemon` forks, `codex app-server … --managed-daemon`,
    /// and its helper `codex app-server daemon pid-update-loop`, as 0.171.0 ran them.
    fn shared_server(&self, argv: &[String]) -> bool {
        let Some(at) = argv.iter().take(3).position(|w| w == "app-server") else {
            return false;
        };
        let rest = &argv[at + 1..];
        rest.first().is_some_and(|w| w == "daemon") || rest.iter().any(|w| w == "--managed-daemon")
    }

    /// Codex picks its own id: the conversation its first start created is pinned, once.
    fn successor(&self, env: &AgentEnv, dir: &str, pinned: Option<&str>) -> Result<Option<Moved>> {
        if pinned.is_some() {
            return Ok(None);
        }
        Ok(newest_session(env, dir)?.map(|session_id| Moved {
            session_id,
            how: Found::Discovered,
            reason: "the agent's first conversation",
        }))
    }
}

/// Every codex rollout file, under `sessions/YYYY/MM/DD/`.
fn rollouts(env: &AgentEnv) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = env
        .dir("CODEX_HOME", ".codex")
        .map(|d| d.join("sessions"))
        .into_iter()
        .collect();
    for _ in 0..3 {
        dirs = dirs
            .iter()
            .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .collect();
    }
    dirs.iter()
        .flat_map(|dir| super::files_named(dir, "rollout-", ".jsonl"))
        .collect()
}

/// The newest conversation started in `dir`. Codex records the canonical directory, and a
/// product's may be written through a symlink, so both sides are compared canonical.
fn newest_session(env: &AgentEnv, dir: &str) -> Result<Option<String>> {
    let want = canonical(Path::new(dir));
    let mut best: Option<(std::time::SystemTime, String)> = None;
    for path in rollouts(env) {
        let Some(meta) = session_meta(&path)? else {
            continue;
        };
        let Some(cwd) = meta["cwd"].as_str() else {
            continue;
        };
        if canonical(Path::new(cwd)) != want || !is_main_thread(&meta) {
            continue;
        }
        let modified = super::modified(&path);
        if let Some(id) = meta["id"].as_str() {
            if best.as_ref().is_none_or(|(m, _)| modified > *m) {
                best = Some((modified, id.to_string()));
            }
        }
    }
    Ok(best.map(|(_, id)| id))
}

/// The `payload` of a rollout's first record, when it is a `session_meta`. A file that
/// vanished meanwhile (a rename by the client) is no session.
fn session_meta(path: &Path) -> Result<Option<Value>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("opening {}", path.display())),
    };
    let mut first = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut first)
        .with_context(|| format!("reading {}", path.display()))?;
    let Ok(record) = serde_json::from_str::<Value>(&first) else {
        return Ok(None);
    };
    Ok((record["type"] == "session_meta").then(|| record["payload"].clone()))
}

/// Whether a rollout is a conversation the user began, not a side thread of one: 0.171 marks
/// those `thread_source: "user"`; older files have no mark.
fn is_main_thread(meta: &Value) -> bool {
    meta["thread_source"]
        .as_str()
        .is_none_or(|source| source == "user")
}

/// `path` with its symlinks resolved, or as given when it no longer exists.
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The first line of a rollout as Codex 0.171.0 wrote it (trimmed: `base_instructions`
    /// holds the whole system prompt).
    fn meta_line(id: &str, cwd: &str, thread_source: &str) -> String {
        serde_json::json!({
            "timestamp": "2026-12-06T23:59:18.285Z", "ordinal": 0, "type": "session_meta",
            "payload": {
                "account_scoped": true, "session_id": id, "id": id,
                "timestamp": "2026-12-06T23:59:08.992Z", "cwd": cwd,
                "runtime_workspace_roots": [cwd], "originator": "codex-tui",
                "cli_version": "0.171.0", "source": "cli", "thread_source": thread_source,
                "model_provider": "fake", "base_instructions": {"text": "You are a coding agent…"},
            },
        })
        .to_string()
    }

    /// A second line as 0.171.0 wrote it.
    const TASK_STARTED: &str = r#"{"timestamp":"2026-12-06T23:59:18.286Z","ordinal":1,"type":"event_msg","payload":{"type":"task_started","turn_attribution":{"turn_id":"01a24dcc-34fa-7f02-8513-74df4218bbce","turn_trigger":"user"}}}"#;

    struct Home {
        tmp: tempfile::TempDir,
    }

    impl Home {
        fn new() -> Home {
            Home {
                tmp: tempfile::tempdir().unwrap(),
            }
        }

        fn env(&self) -> AgentEnv {
            let vars = BTreeMap::from([(
                "CODEX_HOME".to_string(),
                self.tmp.path().join("codex-home").display().to_string(),
            )]);
            AgentEnv::of(&vars, Some(&[]))
        }

        /// Writes a rollout of conversation `id` begun in `cwd`, on day `day`.
        fn rollout(&self, day: &str, id: &str, cwd: &str, source: &str) -> PathBuf {
            let dir = self
                .tmp
                .path()
                .join("codex-home/sessions/2026/12")
                .join(day);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("rollout-2026-12-{day}T23-59-08-{id}.jsonl"));
            let text = format!("{}\n{TASK_STARTED}\n", meta_line(id, cwd, source));
            std::fs::write(&path, text).unwrap();
            path
        }

        fn project(&self, name: &str) -> String {
            let dir = self.tmp.path().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            dir.canonicalize().unwrap().display().to_string()
        }
    }

    const FIRST: &str = "01a24dcc-10b9-7da0-a7b3-9cb276f6a87c";
    const SECOND: &str = "01a24dcc-aba7-7a91-b64c-ea4d85ad85cf";

    #[test]
    fn every_start_runs_without_the_shared_daemon_and_a_pinned_one_resumes() {
        let env = AgentEnv::default();
        assert_eq!(Codex.start_args(&env, "/w", None).unwrap(), ["--no-daemon"]);
        assert_eq!(
            Codex.start_args(&env, "/w", Some(FIRST)).unwrap(),
            ["--no-daemon", "resume", FIRST]
        );
    }

    #[test]
    fn the_daemon_and_its_helper_are_shared_servers_and_a_window_is_not() {
        let argv = |line: &str| -> Vec<String> { line.split(' ').map(str::to_string).collect() };
        let home = "/h/.codex/packages/app-server-daemon/releases/0.171.0-x86_64-unknown-linux-musl/bin/codex";
        for server in [
            format!(
                "{home} app-server --listen unix:// --analytics-default-enabled --managed-daemon"
            ),
            format!("{home} app-server daemon pid-update-loop"),
        ] {
            assert!(Codex.shared_server(&argv(&server)), "{server}");
        }
        for window in [
            "/usr/bin/codex --no-daemon",
            "/usr/bin/codex resume 01a24dcc-10b9-7da0-a7b3-9cb276f6a87c",
            "node /usr/lib/node_modules/.bin/codex --no-daemon resume app-server",
            // An editor's own server, on its stdio, serves that editor alone.
            "/usr/bin/codex app-server",
        ] {
            assert!(!Codex.shared_server(&argv(window)), "{window}");
        }
    }

    #[test]
    fn the_first_conversation_of_the_directory_is_discovered_under_codex_home() {
        let home = Home::new();
        let project = home.project("w1");
        let other = home.project("w2");
        assert_eq!(Codex.successor(&home.env(), &project, None).unwrap(), None);
        home.rollout("06", SECOND, &other, "user");
        let path = home.rollout("06", FIRST, &project, "user");
        let moved = Codex
            .successor(&home.env(), &project, None)
            .unwrap()
            .unwrap();
        assert_eq!(
            (moved.session_id.as_str(), moved.how),
            (FIRST, Found::Discovered)
        );
        assert_eq!(
            Codex.transcript(&home.env(), FIRST).unwrap(),
            Some(path),
            "the file of the pinned id"
        );
        assert_eq!(Codex.transcript(&home.env(), "0000").unwrap(), None);
        // Once pinned, nothing moves it.
        assert_eq!(
            Codex.successor(&home.env(), &project, Some(FIRST)).unwrap(),
            None
        );
    }

    /// Codex writes the canonical directory; the product's may name it through a symlink.
    #[test]
    fn a_directory_named_through_a_symlink_finds_its_conversation() {
        let home = Home::new();
        let project = home.project("real");
        let link = home.tmp.path().join("link");
        std::os::unix::fs::symlink(&project, &link).unwrap();
        home.rollout("07", FIRST, &project, "user");
        let moved = Codex
            .successor(&home.env(), link.to_str().unwrap(), None)
            .unwrap()
            .unwrap();
        assert_eq!(moved.session_id, FIRST);
    }

    #[test]
    fn a_side_thread_and_a_file_without_session_meta_are_not_the_conversation() {
        let home = Home::new();
        let project = home.project("w1");
        home.rollout("06", FIRST, &project, "user");
        let side = home.rollout("07", SECOND, &project, "thread_title");
        filetime_later(&side);
        let broken = home
            .tmp
            .path()
            .join("codex-home/sessions/2026/12/07/rollout-2026-12-07T00-00-00-x.jsonl");
        std::fs::write(&broken, format!("{TASK_STARTED}\n")).unwrap();
        let moved = Codex
            .successor(&home.env(), &project, None)
            .unwrap()
            .unwrap();
        assert_eq!(moved.session_id, FIRST);
    }

    #[test]
    fn without_codex_home_the_rollouts_are_under_home() {
        let tmp = tempfile::tempdir().unwrap();
        let vars = BTreeMap::from([("HOME".to_string(), tmp.path().display().to_string())]);
        let env = AgentEnv::of(&vars, Some(&[]));
        let dir = tmp.path().join(".codex/sessions/2026/12/06");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("rollout-2026-12-06T23-59-08-{FIRST}.jsonl"));
        std::fs::write(&path, meta_line(FIRST, "/w", "user")).unwrap();
        assert_eq!(Codex.transcript(&env, FIRST).unwrap(), Some(path));
    }

    /// Makes `path` newer than anything written before it.
    fn filetime_later(path: &Path) {
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(later).unwrap();
    }
}
