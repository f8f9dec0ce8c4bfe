//! Codex. It chooses its own session ids (openai/codex discussion #3827): after a codex
//! product's first start, sessctl pins the newest rollout under `$CODEX_HOME/sessions/`
//! (default `~/.codex/sessions/YYYY/MM/DD/rollout-*-<id>.jsonl`) whose `session_meta` names the
//! product's directory, and later starts run `codex resume <id>` (S25a-c in
//! ../shared/notes/research/agent-transcripts.md).

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{AgentEnv, Moved, Profile};

pub struct Codex;

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

    fn resume_args(&self, _env: &AgentEnv, _dir: &str, id: &str) -> Result<Vec<String>> {
        Ok(vec!["resume".into(), id.to_string()])
    }

    /// Codex picks its own id: the session its first start created is pinned, once.
    fn successor(&self, env: &AgentEnv, dir: &str, pinned: Option<&str>) -> Result<Option<Moved>> {
        if pinned.is_some() {
            return Ok(None);
        }
        Ok(newest_session(env, dir)?.map(|session_id| Moved {
            session_id,
            how: "discovered",
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

/// The newest codex session started in `dir`: its `session_meta` record names the directory.
fn newest_session(env: &AgentEnv, dir: &str) -> Result<Option<String>> {
    let mut best: Option<(std::time::SystemTime, String)> = None;
    for path in rollouts(env) {
        let file =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut first = String::new();
        std::io::BufReader::new(file)
            .read_line(&mut first)
            .with_context(|| format!("reading {}", path.display()))?;
        let Ok(meta) = serde_json::from_str::<serde_json::Value>(&first) else {
            continue;
        };
        let payload = &meta["payload"];
        if meta["type"] != "session_meta" || payload["cwd"].as_str() != Some(dir) {
            continue;
        }
        let modified = super::modified(&path);
        if let Some(id) = payload["id"].as_str() {
            if best.as_ref().is_none_or(|(m, _)| modified > *m) {
                best = Some((modified, id.to_string()));
            }
        }
    }
    Ok(best.map(|(_, id)| id))
}
