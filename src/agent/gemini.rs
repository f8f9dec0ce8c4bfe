//! Gemini CLI, as version 0.61 does it (observed with the real client; `tests/it/real_gemini.rs`
//! runs it).
//!
//! Its data root is `$GEMINI_CLI_HOME/.gemini`, else `~/.gemini`. Each working directory gets a
//! project folder `tmp/<slug>/`, named in `projects.json` (`{"projects":{"/abs/dir":"slug"}}`)
//! and owned through `tmp/<slug>/.project_root`; older versions used `tmp/<sha256 of the
//! dir>/`. A session is `chats/session-<time>-<first 8 of the id>.jsonl`: line 1 is its
//! metadata (`sessionId`, `kind`), then message records and `{"$set": …}` updates; older
//! versions wrote one whole `.json`.
//!
//! Gemini CLI picks its own ids, and writes a session's file at the start, before any prompt;
//! `--resume <id>` refuses a session with no prompt in it, so sessctl pins only a session that
//! holds one, and later starts pass `--resume <id>`. Every resume also writes a stray file
//! with the same id that holds only the metadata and the session context: the conversation
//! goes on in the first file, which is the one with prompts in it.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{AgentEnv, Found, Moved, Profile, RetentionRisk};
use crate::store;

pub struct Gemini;

impl Profile for Gemini {
    fn name(&self) -> &'static str {
        "gemini"
    }

    fn programs(&self) -> &'static [&'static str] {
        &["gemini"]
    }

    fn placing(&self) -> &'static [&'static str] {
        &["GEMINI_CLI_HOME", "GEMINI_CLI_SYSTEM_SETTINGS_PATH"]
    }

    fn pins(&self) -> bool {
        true
    }

    fn transcript(&self, env: &AgentEnv, id: &str) -> Result<Option<PathBuf>> {
        let mut found = Vec::new();
        for folder in all_folders(env) {
            found.extend(sessions_named(&folder.join("chats"), id)?);
        }
        Ok(conversation_file(found))
    }

    /// `--resume` continues a session that has a prompt in it. A pinned session with no file
    /// at all (deleted, or never written) starts anew under the same id with `--session-id`,
    /// which Gemini CLI refuses for an id whose file exists.
    fn start_args(&self, env: &AgentEnv, _dir: &str, pinned: Option<&str>) -> Result<Vec<String>> {
        let Some(id) = pinned else {
            return Ok(Vec::new());
        };
        let flag = match self.transcript(env, id)? {
            Some(_) => "--resume",
            None => "--session-id",
        };
        Ok(vec![flag.into(), id.to_string()])
    }

    /// Gemini CLI picks its own id: the newest main session of the directory that holds a
    /// prompt is pinned, once. One without (a start nobody typed into, or the stray file of a
    /// resume) could not be resumed.
    fn successor(&self, env: &AgentEnv, dir: &str, pinned: Option<&str>) -> Result<Option<Moved>> {
        if pinned.is_some() {
            return Ok(None);
        }
        let mut best: Option<(std::time::SystemTime, String)> = None;
        for folder in folders(env, dir)? {
            for path in session_files(&folder.join("chats")) {
                let Some(session) = Session::read(&path)? else {
                    continue;
                };
                if !session.resumable || session.kind.as_deref().is_some_and(|k| k != "main") {
                    continue;
                }
                let modified = super::modified(&path);
                if best.as_ref().is_none_or(|(m, _)| modified > *m) {
                    best = Some((modified, session.id));
                }
            }
        }
        Ok(best.map(|(_, session_id)| Moved {
            session_id,
            how: Found::Discovered,
            reason: "the agent's first conversation",
        }))
    }

    /// Gemini CLI's session cleanup, `general.sessionRetention`, is on unless `enabled` is
    /// false (default: on, `maxAge` "30d"). It deletes sessions idle past `maxAge`, and, at a
    /// start in the directory that does not resume the pinned session, deletes it with the
    /// stray file a resume leaves (that file counts as a broken session, and its whole id goes
    /// with it, whatever `maxAge` says; observed with 0.61 and `maxAge` "9999d"). So the only
    /// fix is `enabled: false`.
    fn retention_risk(&self, env: &AgentEnv) -> Result<Option<RetentionRisk>> {
        let Some(root) = root(env) else {
            return Ok(None);
        };
        let user = root.join("settings.json");
        let system = env
            .vars
            .get("GEMINI_CLI_SYSTEM_SETTINGS_PATH")
            .filter(|p| !p.is_empty())
            .map_or_else(
                || PathBuf::from("/etc/gemini-cli/settings.json"),
                PathBuf::from,
            );
        // System settings override the user's.
        let mut retention = Retention::default();
        for file in [&user, &system] {
            retention.merge(&read_settings(file)?);
        }
        if retention.enabled == Some(false) {
            return Ok(None);
        }
        let setting = format!(
            "general.sessionRetention.enabled={}, maxAge={}",
            retention
                .enabled
                .map_or("unset (true)".to_string(), |e| e.to_string()),
            retention.max_age.as_deref().unwrap_or("unset (30d)")
        );
        let fix = format!(
            "set \"general\": {{\"sessionRetention\": {{\"enabled\": false}}}} in {} (a longer maxAge is not enough: any start in the directory that does not resume the conversation deletes it with the file each --resume leaves)",
            user.display()
        );
        let detail = format!(
            "Gemini CLI deletes this conversation once it is idle past {} or when a start in its directory does not resume it ({setting}); {fix}",
            retention.max_age.as_deref().unwrap_or("30d")
        );
        Ok(Some(RetentionRisk {
            client: "Gemini CLI",
            settings: user,
            setting,
            fix,
            detail,
        }))
    }
}

/// `$GEMINI_CLI_HOME/.gemini`, else `~/.gemini`.
fn root(env: &AgentEnv) -> Option<PathBuf> {
    let home = env
        .vars
        .get("GEMINI_CLI_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| env.home())?;
    Some(home.join(".gemini"))
}

/// The project folders that may hold `dir`'s sessions: the one `projects.json` names, else
/// the one whose `.project_root` names `dir`, and the legacy `tmp/<sha256 of dir>/` that Gemini
/// CLI migrates at its next start there.
fn folders(env: &AgentEnv, dir: &str) -> Result<Vec<PathBuf>> {
    let Some(root) = root(env) else {
        return Ok(Vec::new());
    };
    let tmp = root.join("tmp");
    let registry = root.join("projects.json");
    let slug = match store::read_optional(&registry)? {
        Some(text) => serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["projects"][dir].as_str().map(str::to_string)),
        None => None,
    };
    let slug = slug.or_else(|| owner_of(&tmp, dir));
    let legacy: String = Sha256::digest(dir.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(slug
        .into_iter()
        .chain([legacy])
        .map(|name| tmp.join(name))
        .collect())
}

/// The project folder under `tmp` whose `.project_root` marker names `dir`.
fn owner_of(tmp: &Path, dir: &str) -> Option<String> {
    std::fs::read_dir(tmp)
        .ok()?
        .flatten()
        .find(|entry| {
            std::fs::read_to_string(entry.path().join(".project_root"))
                .is_ok_and(|owner| owner.trim() == dir)
        })
        .and_then(|entry| entry.file_name().to_str().map(str::to_string))
}

/// Every project folder, of every directory.
fn all_folders(env: &AgentEnv) -> Vec<PathBuf> {
    root(env)
        .map(|root| root.join("tmp"))
        .into_iter()
        .flat_map(|tmp| std::fs::read_dir(tmp).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .collect()
}

/// The session files directly in `chats` (a subagent's live in a folder of their own).
fn session_files(chats: &Path) -> Vec<PathBuf> {
    let mut files = super::files_named(chats, "session-", ".jsonl");
    files.extend(super::files_named(chats, "session-", ".json"));
    files
}

/// The files in `chats` of session `id`: named by its first 8 characters, and naming it.
fn sessions_named(chats: &Path, id: &str) -> Result<Vec<(PathBuf, Session)>> {
    let short = id.get(..8).unwrap_or(id);
    let mut found = Vec::new();
    for path in session_files(chats) {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if !stem.ends_with(&format!("-{short}")) {
            continue;
        }
        if let Some(session) = Session::read(&path)?.filter(|s| s.id == id) {
            found.push((path, session));
        }
    }
    Ok(found)
}

/// Of the files of one session, the one the conversation goes on in: the newest that holds a
/// prompt (not a resume's stray file); with none, the oldest, where the session began.
fn conversation_file(files: Vec<(PathBuf, Session)>) -> Option<PathBuf> {
    let (with, without): (Vec<_>, Vec<_>) = files.into_iter().partition(|(_, s)| s.resumable);
    match with.is_empty() {
        false => with.into_iter().max_by_key(|(p, _)| super::modified(p)),
        true => without.into_iter().min_by_key(|(p, _)| super::modified(p)),
    }
    .map(|(path, _)| path)
}

/// What sessctl reads of a session file.
#[derive(Debug)]
struct Session {
    id: String,
    /// `main`, or `subagent`; absent in old files.
    kind: Option<String>,
    /// Whether it holds a message `--resume` counts: a prompt that is not a command or the
    /// session context, or an answer.
    resumable: bool,
}

impl Session {
    /// `None` for a file that is not a session.
    fn read(path: &Path) -> Result<Option<Session>> {
        if path.extension().is_some_and(|e| e == "json") {
            return Session::read_legacy(path);
        }
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut lines = std::io::BufReader::new(file).lines();
        let first = match lines.next() {
            Some(line) => line.with_context(|| format!("reading {}", path.display()))?,
            None => return Ok(None),
        };
        let Ok(head) = serde_json::from_str::<Value>(&first) else {
            return Ok(None);
        };
        let Some(id) = head["sessionId"].as_str() else {
            return Ok(None);
        };
        let mut session = Session {
            id: id.to_string(),
            kind: head["kind"].as_str().map(str::to_string),
            resumable: false,
        };
        // The first resumable message settles it: a conversation's is near the top.
        for line in lines {
            let Ok(line) = line else { break };
            let Ok(record) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let messages = match record["$set"]["messages"].as_array() {
                Some(set) => set.iter().collect(),
                None => vec![&record],
            };
            if messages.into_iter().any(resumable) {
                session.resumable = true;
                break;
            }
        }
        Ok(Some(session))
    }

    /// A whole-file `.json` session of older versions.
    fn read_legacy(path: &Path) -> Result<Option<Session>> {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let Ok(whole) = serde_json::from_slice::<Value>(&text) else {
            return Ok(None);
        };
        Ok(whole["sessionId"].as_str().map(|id| Session {
            id: id.to_string(),
            kind: whole["kind"].as_str().map(str::to_string),
            resumable: whole["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(resumable)),
        }))
    }
}

/// Gemini CLI's test (`isResumableMessageRecord`): a user message whose text is not empty, a
/// command (`/`, `?`) or injected context; or a model message with text, tool calls or
/// thoughts.
fn resumable(message: &Value) -> bool {
    match message["type"].as_str() {
        Some("user") => {
            let text = text_of(&message["content"]);
            let text = text.trim();
            !(text.is_empty()
                || text.starts_with('/')
                || text.starts_with('?')
                || text.starts_with("<session_context>")
                || text.starts_with("<hook_context>"))
        }
        Some("gemini") => {
            let some = |key: &str| message[key].as_array().is_some_and(|a| !a.is_empty());
            !text_of(&message["content"]).trim().is_empty() || some("toolCalls") || some("thoughts")
        }
        _ => false,
    }
}

/// The text of a message's content: a string, or parts (a part that is not text, such as a
/// tool's response, counts as some text).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p {
                Value::String(text) => text.clone(),
                _ => p["text"]
                    .as_str()
                    .map_or_else(|| "[part]".to_string(), str::to_string),
            })
            .collect(),
        Value::Object(_) => text_of(&Value::Array(vec![content.clone()])),
        _ => String::new(),
    }
}

/// `general.sessionRetention`, as far as the settings files set it.
#[derive(Debug, Default)]
struct Retention {
    enabled: Option<bool>,
    max_age: Option<String>,
}

impl Retention {
    fn merge(&mut self, settings: &Value) {
        let set = &settings["general"]["sessionRetention"];
        if let Some(enabled) = set["enabled"].as_bool() {
            self.enabled = Some(enabled);
        }
        if let Some(age) = set["maxAge"].as_str() {
            self.max_age = Some(age.to_string());
        }
    }
}

/// A settings file, which may hold comments; null when it does not exist.
fn read_settings(path: &Path) -> Result<Value> {
    let Some(text) = store::read_optional(path)? else {
        return Ok(Value::Null);
    };
    serde_json::from_str(&strip_comments(&text))
        .with_context(|| format!("parsing {}", path.display()))
}

/// `text` without its `//` and `/* */` comments (Gemini CLI reads its settings so), strings
/// left alone.
fn strip_comments(text: &str) -> String {
    let (mut out, mut chars) = (String::with_capacity(text.len()), text.chars().peekable());
    let (mut in_string, mut escaped) = (false, false);
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            (in_string, escaped) = match (escaped, c) {
                (false, '"') => (false, false),
                (false, '\\') => (true, true),
                _ => (true, false),
            };
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metadata line and session context Gemini CLI 0.61 writes at a start (observed),
    /// shortened.
    fn head(id: &str, at: &str) -> String {
        format!(
            concat!(
                r#"{{"sessionId":"{id}","projectHash":"701b443b","startTime":"{at}","lastUpdated":"{at}","kind":"main"}}"#,
                "\n",
                r#"{{"$set":{{"messages":[{{"id":"d049","timestamp":"{at}","type":"user","content":[{{"text":"<session_context>\nThis is the Gemini CLI.\n</session_context>"}}]}}],"lastUpdated":"{at}"}}}}"#,
                "\n"
            ),
            id = id,
            at = at
        )
    }

    /// A prompt and its answer, as 0.61 appends them.
    const TURN: &str = concat!(
        r#"{"id":"8a01","timestamp":"2026-12-07T00:00:39.105Z","type":"user","content":[{"text":"alpha one"}]}"#,
        "\n",
        r#"{"$set":{"lastUpdated":"2026-12-07T00:00:39.119Z"}}"#,
        "\n",
        r#"{"id":"7611","timestamp":"2026-12-07T00:00:39.514Z","type":"gemini","content":"Understood","thoughts":[],"model":"gemini-3.1-pro-preview"}"#,
        "\n"
    );

    struct Home {
        _dir: tempfile::TempDir,
        env: AgentEnv,
        root: PathBuf,
    }

    /// A `GEMINI_CLI_HOME` beside an unrelated `HOME`, as a product's `--env` sets it.
    fn home() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("gemini-home/.gemini");
        let env = AgentEnv {
            vars: [
                (
                    "HOME".to_string(),
                    dir.path().join("home").display().to_string(),
                ),
                (
                    "GEMINI_CLI_HOME".to_string(),
                    dir.path().join("gemini-home").display().to_string(),
                ),
            ]
            .into(),
        };
        Home {
            _dir: dir,
            env,
            root,
        }
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Sets a file's modification time `secs` after the epoch, for ordering.
    fn touch(path: &Path, secs: u64) {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(at)
            .unwrap();
    }

    /// As observed: `projects.json` maps the directory to its slug; a start writes a session
    /// at once, which is pinned only once it holds a prompt; a resume's stray file, newer and
    /// with the same id, is neither discovered nor taken for the conversation.
    #[test]
    fn pins_the_prompted_session_and_passes_over_the_stray_resume_file() {
        let h = home();
        let id = "5d04bc62-1d1e-4a73-919e-120fa773222e";
        write(
            &h.root.join("projects.json"),
            r#"{"projects":{"/work/web":"web","/work/api":"api"}}"#,
        );
        let chats = h.root.join("tmp/web/chats");
        let first = chats.join("session-2026-12-07T00-00-5d04bc62.jsonl");
        write(&first, &head(id, "2026-12-07T00:00:27.090Z"));
        assert_eq!(Gemini.successor(&h.env, "/work/web", None).unwrap(), None);

        write(&first, &(head(id, "2026-12-07T00:00:27.090Z") + TURN));
        let stray = chats.join("session-2026-12-07T00-01-5d04bc62.jsonl");
        write(&stray, &head(id, "2026-12-07T00:01:22.201Z"));
        touch(&first, 1000);
        touch(&stray, 2000);
        // Another directory's conversation, newer still.
        let other = h
            .root
            .join("tmp/api/chats/session-2026-12-07T00-05-99999999.jsonl");
        write(
            &other,
            &(head(
                "99999999-0000-4000-8000-000000000000",
                "2026-12-07T00:05:00Z",
            ) + TURN),
        );

        let moved = Gemini
            .successor(&h.env, "/work/web", None)
            .unwrap()
            .unwrap();
        assert_eq!(
            (moved.session_id.as_str(), moved.how),
            (id, Found::Discovered)
        );
        assert_eq!(
            Gemini.successor(&h.env, "/work/web", Some(id)).unwrap(),
            None
        );
        assert_eq!(Gemini.successor(&h.env, "/work/none", None).unwrap(), None);
        assert_eq!(Gemini.transcript(&h.env, id).unwrap(), Some(first));
        assert_eq!(
            Gemini.start_args(&h.env, "/work/web", Some(id)).unwrap(),
            ["--resume", id]
        );
        // HOME alone does not place it.
        let home_only = AgentEnv {
            vars: [("HOME".into(), h.env.vars["HOME"].clone())].into(),
        };
        assert_eq!(Gemini.transcript(&home_only, id).unwrap(), None);
    }

    /// Without `projects.json`, a slug folder is found by its `.project_root` marker, and a
    /// legacy `tmp/<sha256>/` folder and whole-file `.json` session still count.
    #[test]
    fn finds_sessions_by_marker_and_in_legacy_folders() {
        let h = home();
        write(&h.root.join("tmp/web-1/.project_root"), "/work/web\n");
        let id = "0a1b2c3d-1111-4222-8333-444455556666";
        let slugged = h
            .root
            .join("tmp/web-1/chats/session-2026-11-24T02-40-0a1b2c3d.jsonl");
        write(&slugged, &(head(id, "2026-11-24T02:40:00Z") + TURN));
        let moved = Gemini
            .successor(&h.env, "/work/web", None)
            .unwrap()
            .unwrap();
        assert_eq!(moved.session_id, id);

        let legacy_id = "7e57e57e-2222-4333-8444-555566667777";
        let digest: String = Sha256::digest(b"/work/old")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let legacy = h
            .root
            .join("tmp")
            .join(digest)
            .join("chats/session-2025-06-01T10-00-7e57e57e.json");
        write(
            &legacy,
            &format!(
                r#"{{"sessionId":"{legacy_id}","messages":[{{"type":"user","content":[{{"text":"hello"}}]}}]}}"#
            ),
        );
        let moved = Gemini
            .successor(&h.env, "/work/old", None)
            .unwrap()
            .unwrap();
        assert_eq!(moved.session_id, legacy_id);
        assert_eq!(Gemini.transcript(&h.env, legacy_id).unwrap(), Some(legacy));
        // A pinned session with no file anywhere starts anew under its id.
        let gone = "feedface-0000-4000-8000-000000000000";
        assert_eq!(
            Gemini.start_args(&h.env, "/work/web", Some(gone)).unwrap(),
            ["--session-id", gone]
        );
    }

    /// On by default and with any maxAge; off only with `enabled: false`, comments allowed.
    #[test]
    fn retention_is_a_risk_until_disabled() {
        let h = home();
        let system = h.root.with_file_name("system-settings.json");
        let mut env = h.env.clone();
        env.vars.insert(
            "GEMINI_CLI_SYSTEM_SETTINGS_PATH".into(),
            system.display().to_string(),
        );
        let risk = Gemini.retention_risk(&env).unwrap().unwrap();
        assert_eq!(
            risk.setting,
            "general.sessionRetention.enabled=unset (true), maxAge=unset (30d)"
        );
        assert_eq!(risk.settings, h.root.join("settings.json"));
        assert!(risk.fix.contains(r#""enabled": false"#), "{}", risk.fix);

        let settings = h.root.join("settings.json");
        write(
            &settings,
            r#"{"general": {"sessionRetention": {"maxAge": "9999d"}}}"#,
        );
        let risk = Gemini.retention_risk(&env).unwrap().unwrap();
        assert_eq!(
            risk.setting,
            "general.sessionRetention.enabled=unset (true), maxAge=9999d"
        );

        write(
            &settings,
            "{\n  // keep sessions: sessctl resumes them\n  \"general\": {\"sessionRetention\": {\"enabled\": false /* \"//\" */}},\n  \"ui\": {\"theme\": \"a // b\"}\n}",
        );
        assert!(Gemini.retention_risk(&env).unwrap().is_none());

        write(
            &system,
            r#"{"general": {"sessionRetention": {"enabled": true}}}"#,
        );
        assert!(Gemini.retention_risk(&env).unwrap().is_some());
    }
}
