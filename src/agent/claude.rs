//! Claude Code. It takes `--session-id <uuid>` to start a conversation with an id sessctl
//! chooses, and `--resume <uuid>` to continue it; the two cannot be combined, and `--continue`
//! picks the most recently modified conversation of the directory, which can be the wrong one
//! (observed with the real client; `tests/it/real_claude.rs` runs it). So the first start of a
//! claude product passes `--session-id`, and every later start, once the transcript exists,
//! `--resume`. Transcripts live in `$CLAUDE_CONFIG_DIR/projects/<encoded dir>/<id>.jsonl`; the
//! rest of sessctl reaches them through the [`Profile`] methods only.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::{AgentEnv, Found, Hooks, Moved, Profile, RetentionRisk};
use crate::store;

pub struct Claude;

/// The variable that turns Claude Code's Agent View and its daemon off.
pub const AGENT_VIEW_OFF: &str = "CLAUDE_CODE_DISABLE_AGENT_VIEW";

impl Profile for Claude {
    fn name(&self) -> &'static str {
        "claude"
    }

    /// `claude.exe` is the native binary npm's `claude` links to since 2.1.
    fn programs(&self) -> &'static [&'static str] {
        &["claude", "claude.exe"]
    }

    fn placing(&self) -> &'static [&'static str] {
        &["CLAUDE_CONFIG_DIR"]
    }

    fn pins(&self) -> bool {
        true
    }

    /// Claude Code 2.1.332's Agent View (the footer's "← for agents") moves the conversation
    /// into a fork run by a background daemon: the next turns go to the fork, in the daemon's
    /// cgroup (outside the unit when a terminal started the daemon), and the pinned
    /// conversation resumes without them (tests/it/real_claude.rs). Any value turns it off.
    fn unit_env(&self) -> &'static [(&'static str, &'static str)] {
        &[(AGENT_VIEW_OFF, "1")]
    }

    /// Its Agent View daemon and the hosts it runs conversations in (`claude daemon run`,
    /// `bg-pty-host`, `bg-spare`) run whatever conversation they are handed, for every
    /// product of the config directory.
    fn shared_server(&self, argv: &[String]) -> bool {
        let words = |w: &[&str]| argv.windows(w.len()).any(|pair| pair.iter().eq(w.iter()));
        words(&["daemon", "run"]) || argv.iter().any(|a| a == "bg-pty-host" || a == "bg-spare")
    }

    fn first_pin(&self) -> Result<Option<String>> {
        crate::uuid::new_v4().map(Some)
    }

    fn checks_transcripts(&self) -> bool {
        true
    }

    fn transcript(&self, env: &AgentEnv, id: &str) -> Result<Option<PathBuf>> {
        find_transcript(env, id)
    }

    fn conversations_dir(&self, env: &AgentEnv) -> Option<PathBuf> {
        projects(env)
    }

    fn project_dir(&self, env: &AgentEnv, dir: &str) -> Option<PathBuf> {
        projects(env).map(|projects| projects.join(encode_dir(dir)))
    }

    /// `--resume` of Claude Code 2.1.197 looks only in the project folder of the working
    /// directory; 2.1.332 looks there first, and else appends to the file it finds in another
    /// folder (tests/it/real_claude.rs, both versions). `--session-id` of an id whose
    /// transcript exists there fails ("already in use"). So a transcript found in another
    /// project folder (the product's directory changed) is first copied into this one, the
    /// original kept, which both versions then resume and go on in; `--session-id` is passed
    /// only for a conversation that has no transcript anywhere.
    fn start_args(&self, env: &AgentEnv, dir: &str, pinned: Option<&str>) -> Result<Vec<String>> {
        let Some(id) = pinned else {
            return Ok(Vec::new());
        };
        Ok(match find_transcript(env, id)? {
            None => vec!["--session-id".into(), id.to_string()],
            Some(found) => {
                carry(env, &found, dir)?;
                vec!["--resume".into(), id.to_string()]
            }
        })
    }

    /// A `--settings` JSON (the flag adds to the user's own settings, never replaces them)
    /// whose hooks record the wait: `Stop` when a response is done, `Notification` when the
    /// client asks for something, and `UserPromptSubmit`, before the next prompt is sent,
    /// clears it. `PermissionRequest` runs beside the permission dialog and may answer it
    /// (`{"hookSpecificOutput": {"decision": {"behavior": ...}}}` on stdout); a hook that
    /// prints nothing leaves the dialog to the terminal. Both pinned clients run these hooks
    /// (tests/it/real_claude.rs, tests/it/real_approve.rs).
    fn waiting_args(&self, hooks: &Hooks) -> Result<Vec<String>> {
        let hook = |command: String| json!([{"hooks": [{"type": "command", "command": command}]}]);
        let notify = &hooks.notify;
        let permission = json!([{"hooks": [{"type": "command", "command": hooks.permission,
                                             "timeout": hooks.permission_timeout}]}]);
        let settings = json!({"hooks": {
            "Stop": hook(format!("{notify} stop")),
            "Notification": hook(format!("{notify} notification")),
            "UserPromptSubmit": hook(format!("{notify} --clear")),
            "PermissionRequest": permission,
        }});
        Ok(vec!["--settings".to_string(), settings.to_string()])
    }

    fn successor(&self, env: &AgentEnv, _dir: &str, pinned: Option<&str>) -> Result<Option<Moved>> {
        let Some(pinned) = pinned else {
            return Ok(None);
        };
        Ok(successor(env, pinned)?.map(|session_id| Moved {
            session_id,
            how: Found::Followed,
            reason: "the agent continued the conversation in a new file",
        }))
    }

    /// Claude Code deletes transcripts `cleanupPeriodDays` after their last activity (30 by
    /// default). 0 stops them being written at all, so it is never the advice.
    fn retention_risk(&self, env: &AgentEnv) -> Result<Option<RetentionRisk>> {
        let Some(projects) = projects(env) else {
            return Ok(None);
        };
        let settings = projects.with_file_name("settings.json");
        let days = match store::read_optional(&settings)? {
            Some(text) => serde_json::from_str::<serde_json::Value>(&text)
                .with_context(|| format!("parsing {}", settings.display()))?
                .get("cleanupPeriodDays")
                .and_then(|d| d.as_u64()),
            None => None,
        };
        if days.unwrap_or(30) >= 365 {
            return Ok(None);
        }
        let detail = format!(
            "Claude Code deletes this transcript {} days after its last activity (cleanupPeriodDays {}); set \"cleanupPeriodDays\": 99999 in {} (not 0: that stops transcripts being written)",
            days.unwrap_or(30),
            days.map_or("unset, default 30".to_string(), |d| d.to_string()),
            settings.display()
        );
        Ok(Some(RetentionRisk {
            client: "Claude Code",
            setting: format!(
                "cleanupPeriodDays={}",
                days.map_or("unset (30)".into(), |d| d.to_string())
            ),
            fix: format!(
                "set \"cleanupPeriodDays\": 99999 in {} (never 0: that stops transcripts being written)",
                settings.display()
            ),
            settings,
            detail,
        }))
    }
}

/// Claude Code's project folders: `$CLAUDE_CONFIG_DIR/projects`, else `~/.claude/projects`.
fn projects(env: &AgentEnv) -> Option<PathBuf> {
    env.dir("CLAUDE_CONFIG_DIR", ".claude")
        .map(|d| d.join("projects"))
}

/// Copies transcript `found` and its folder into the project folder of `dir`, unless it is
/// there already; the original stays where it is. Through a temporary name and a rename, so
/// the client never sees half a copy.
fn carry(env: &AgentEnv, found: &Path, dir: &str) -> Result<()> {
    let Some(projects) = projects(env) else {
        return Ok(());
    };
    let folder = projects.join(encode_dir(dir));
    if found.parent() == Some(folder.as_path()) {
        return Ok(());
    }
    let name = found
        .file_name()
        .context("a transcript path without a file name")?;
    let dest = folder.join(name);
    // A copy left here by an earlier move, older than the one found: the conversation went on
    // elsewhere since (the directory changed and changed back). Replacing it loses nothing
    // only when it is a prefix of the newer one; copies that diverged are the user's to
    // choose between.
    if dest.exists() && !is_prefix(&dest, found)? {
        bail!(
            "conversation {} has two copies that differ: {} (newer) and {}; move the one you do not want out of the project folder, then start again",
            name.to_string_lossy(),
            found.display(),
            dest.display()
        );
    }
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let sidecar = found.with_extension("");
    if sidecar.is_dir() {
        store::copy_tree(&sidecar, &dest.with_extension(""))?;
    }
    let tmp = folder.join(format!(".{}.sessctl-carry", name.to_string_lossy()));
    store::clone_or_copy(found, &tmp)?;
    store::rename(&tmp, &dest)
}

/// Whether the bytes of file `short` begin file `long`.
fn is_prefix(short: &Path, long: &Path) -> Result<bool> {
    let open =
        |p: &Path| std::fs::File::open(p).with_context(|| format!("opening {}", p.display()));
    let (mut a, mut b) = (open(short)?, open(long)?);
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = a
            .read(&mut x)
            .with_context(|| format!("reading {}", short.display()))?;
        if n == 0 {
            return Ok(true);
        }
        match b.read_exact(&mut y[..n]) {
            Ok(()) if x[..n] == y[..n] => {}
            Ok(()) => return Ok(false),
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(err) => return Err(err).with_context(|| format!("reading {}", long.display())),
        }
    }
}

/// Claude Code's folder name for a working directory: every UTF-16 unit that is not an ASCII
/// letter or digit becomes `-` (observed: `Odd_dir.v2 sp@ce+ü~x` → `Odd-dir-v2-sp-ce---x`).
/// Used only to place a file; lookups glob by uuid.
fn encode_dir(dir: &str) -> String {
    dir.chars()
        .flat_map(|c| match c.is_ascii_alphanumeric() {
            true => std::iter::repeat_n(c, 1),
            false => std::iter::repeat_n('-', c.len_utf16()),
        })
        .collect()
}

/// The transcript of conversation `session_id`, found by its file name in any project folder
/// (folder names encode the working directory lossily, so they are never decoded). When more
/// than one folder holds it (a carried conversation), the one written last. A folder that
/// cannot be read is an error that names it, never "absent".
fn find_transcript(env: &AgentEnv, session_id: &str) -> Result<Option<PathBuf>> {
    let Some(projects) = projects(env) else {
        return Ok(None);
    };
    let entries = match std::fs::read_dir(&projects) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("listing {}", projects.display())),
    };
    let name = format!("{session_id}.jsonl");
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in entries {
        let folder = entry
            .with_context(|| format!("listing {}", projects.display()))?
            .path();
        let file = folder.join(&name);
        let meta = match std::fs::metadata(&file) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => continue,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) if err.kind() == std::io::ErrorKind::NotADirectory => continue,
            Err(err) => return Err(err).with_context(|| format!("reading {}", file.display())),
        };
        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        if best.as_ref().is_none_or(|(m, _)| modified > *m) {
            best = Some((modified, file));
        }
    }
    Ok(best.map(|(_, file)| file))
}

/// A newer transcript beside the pinned one that continues its conversation: some versions of
/// Claude Code go on in a new file after a resume or a compaction. It continues the
/// pinned conversation when one of its first records names it in `forkedFrom`, or links
/// (`parentUuid`, `logicalParentUuid`) to a record of the pinned transcript.
fn successor(env: &AgentEnv, pinned: &str) -> Result<Option<String>> {
    let Some(current) = find_transcript(env, pinned)? else {
        return Ok(None);
    };
    let Some(folder) = current.parent() else {
        return Ok(None);
    };
    let since = std::fs::metadata(&current).and_then(|m| m.modified()).ok();
    let mut known: Option<crate::transcript::Analysis> = None;
    let mut best: Option<(std::time::SystemTime, String)> = None;
    let entries =
        std::fs::read_dir(folder).with_context(|| format!("listing {}", folder.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(stem) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let modified = entry.metadata().and_then(|m| m.modified()).ok();
        let newer = matches!((modified, since), (Some(m), Some(s)) if m > s);
        if path.extension().is_none_or(|e| e != "jsonl")
            || stem == pinned
            || stem.starts_with("agent-")
            || !newer
        {
            continue;
        }
        let continues = match Head::read(&path, pinned)? {
            Head::Forked => true,
            Head::SelfContained => false,
            // Only a file that links outside itself makes the pinned transcript worth reading,
            // once: another conversation in the same folder never does.
            Head::LinksOut(parents) => {
                let known = match &known {
                    Some(analysis) => analysis,
                    None => known.insert(crate::transcript::analyze(&current)?),
                };
                parents.iter().any(|uuid| known.contains(uuid))
            }
        };
        if continues {
            let modified = modified.unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(m, _)| modified > *m) {
                best = Some((modified, stem));
            }
        }
    }
    Ok(best.map(|(_, id)| id))
}

/// What the first records of a transcript say about where it came from.
enum Head {
    /// A record names the pinned conversation in `forkedFrom`.
    Forked,
    /// Every parent it names is one of its own records: a conversation of its own.
    SelfContained,
    /// The parents it names that are not its own records.
    LinksOut(Vec<String>),
}

impl Head {
    /// Reads the first 64 records of `path`.
    fn read(path: &Path, pinned: &str) -> Result<Head> {
        use std::io::BufRead;
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let (mut own, mut parents) = (std::collections::HashSet::new(), Vec::new());
        for line in std::io::BufReader::new(file).lines().take(64) {
            let Ok(line) = line else { break };
            let Ok(record) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let forked = record
                .pointer("/forkedFrom/sessionId")
                .and_then(|v| v.as_str());
            if forked == Some(pinned) {
                return Ok(Head::Forked);
            }
            if let Some(uuid) = record.get("uuid").and_then(|v| v.as_str()) {
                own.insert(uuid.to_string());
            }
            parents.extend(
                ["parentUuid", "logicalParentUuid"]
                    .iter()
                    .filter_map(|k| record.get(*k).and_then(|v| v.as_str()))
                    .map(str::to_string),
            );
        }
        parents.retain(|p| !own.contains(p));
        Ok(match parents.is_empty() {
            true => Head::SelfContained,
            false => Head::LinksOut(parents),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_folders_are_named_per_utf16_unit() {
        // As observed with Claude Code 2.1: ü is one unit, an emoji two.
        assert_eq!(encode_dir("Odd_dir.v2 sp@ce+ü~x"), "Odd-dir-v2-sp-ce---x");
        assert_eq!(encode_dir("/a/😀b"), "-a---b");
    }

    /// Only a file whose first records link outside it, or name the pinned conversation, can
    /// continue it: another conversation in the same folder is passed over unread.
    #[test]
    fn a_file_continues_the_pinned_conversation_only_by_its_links() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, lines: &[&str]| {
            let path = dir.path().join(name);
            std::fs::write(&path, lines.join("\n") + "\n").unwrap();
            path
        };
        let own = write(
            "own.jsonl",
            &[
                r#"{"parentUuid":null,"uuid":"a"}"#,
                r#"{"parentUuid":"a","uuid":"b"}"#,
            ],
        );
        assert!(matches!(
            Head::read(&own, "p").unwrap(),
            Head::SelfContained
        ));
        let cont = write(
            "cont.jsonl",
            &[
                r#"{"parentUuid":null,"logicalParentUuid":"old-9","uuid":"c"}"#,
                r#"{"parentUuid":"c","uuid":"d"}"#,
            ],
        );
        assert!(matches!(Head::read(&cont, "p").unwrap(), Head::LinksOut(p) if p == ["old-9"]));
        let fork = write(
            "fork.jsonl",
            &[r#"{"parentUuid":null,"uuid":"e","forkedFrom":{"sessionId":"p"}}"#],
        );
        assert!(matches!(Head::read(&fork, "p").unwrap(), Head::Forked));
    }
}
