//! Gemini CLI. It chooses its own session ids and saves each session as one JSON file,
//! `~/.gemini/tmp/<sha256 of the project directory>/chats/session-<time>-<first 8 of the id>.json`,
//! whose `sessionId` is the full id; `gemini --resume <id>` continues it (geminicli.com,
//! "Session Management"). So, as for codex, sessctl pins the newest session of the product's
//! directory after the first start, and later starts pass `--resume <id>`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::{AgentEnv, Moved, Profile};

pub struct Gemini;

impl Profile for Gemini {
    fn name(&self) -> &'static str {
        "gemini"
    }

    fn programs(&self) -> &'static [&'static str] {
        &["gemini"]
    }

    fn pins(&self) -> bool {
        true
    }

    fn transcript(&self, env: &AgentEnv, id: &str) -> Result<Option<PathBuf>> {
        let short = id.get(..8).unwrap_or(id);
        for path in all_chats(env) {
            let named = path
                .file_stem()
                .and_then(|s| s.to_str())
                .is_some_and(|s| s.ends_with(short));
            if named && session_id(&path)?.as_deref() == Some(id) {
                return Ok(Some(path));
            }
        }
        Ok(None)
    }

    fn resume_args(&self, _env: &AgentEnv, _dir: &str, id: &str) -> Result<Vec<String>> {
        Ok(vec!["--resume".into(), id.to_string()])
    }

    /// Gemini picks its own id: the session its first start created is pinned, once.
    fn successor(&self, env: &AgentEnv, dir: &str, pinned: Option<&str>) -> Result<Option<Moved>> {
        if pinned.is_some() {
            return Ok(None);
        }
        let Some(chats) = chats(env, dir) else {
            return Ok(None);
        };
        let newest = super::files_named(&chats, "session-", ".json")
            .into_iter()
            .max_by_key(|p| super::modified(p));
        let Some(newest) = newest else {
            return Ok(None);
        };
        Ok(session_id(&newest)?.map(|session_id| Moved {
            session_id,
            how: "discovered",
            reason: "the agent's first conversation",
        }))
    }
}

/// The folder of `dir`'s sessions.
fn chats(env: &AgentEnv, dir: &str) -> Option<PathBuf> {
    let hash: String = Sha256::digest(dir.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(tmp(env)?.join(hash).join("chats"))
}

/// `~/.gemini/tmp`: Gemini CLI places its data under the home directory only.
fn tmp(env: &AgentEnv) -> Option<PathBuf> {
    env.home().map(|home| home.join(".gemini").join("tmp"))
}

/// Every saved session of every directory.
fn all_chats(env: &AgentEnv) -> Vec<PathBuf> {
    let projects = tmp(env)
        .map(|t| std::fs::read_dir(t).into_iter().flatten().flatten())
        .into_iter()
        .flatten();
    projects
        .flat_map(|p| super::files_named(&p.path().join("chats"), "session-", ".json"))
        .collect()
}

/// The `sessionId` a session file names; `None` for a file that is not a session.
fn session_id(path: &std::path::Path) -> Result<Option<String>> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "sessionId")]
        session_id: String,
    }
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_slice::<Head>(&text)
        .ok()
        .map(|h| h.session_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout from Gemini CLI's documentation, in a temporary home: the newest session of
    /// the directory is discovered, found again by id, and resumed with `--resume`.
    #[test]
    fn discovers_and_finds_the_sessions_of_a_directory() {
        let home = tempfile::tempdir().unwrap();
        let env = AgentEnv {
            vars: [("HOME".to_string(), home.path().display().to_string())].into(),
        };
        let id = "0a1b2c3d-1111-4222-8333-444455556666";
        let chats = chats(&env, "/work/web").unwrap();
        std::fs::create_dir_all(&chats).unwrap();
        let file = chats.join("session-2026-11-24T02-40-0a1b2c3d.json");
        std::fs::write(&file, format!(r#"{{"sessionId":"{id}","messages":[]}}"#)).unwrap();
        let other = chats.parent().unwrap().with_file_name("ffff").join("chats");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(
            other.join("session-x-99999999.json"),
            r#"{"sessionId":"9"}"#,
        )
        .unwrap();

        let moved = Gemini.successor(&env, "/work/web", None).unwrap().unwrap();
        assert_eq!((moved.session_id.as_str(), moved.how), (id, "discovered"));
        assert_eq!(Gemini.successor(&env, "/work/web", Some(id)).unwrap(), None);
        assert_eq!(Gemini.successor(&env, "/work/api", None).unwrap(), None);
        assert_eq!(Gemini.transcript(&env, id).unwrap(), Some(file));
        assert_eq!(
            Gemini.resume_args(&env, "/work/web", id).unwrap(),
            ["--resume", id]
        );
    }
}
