//! Agent profiles and conversation pinning: which agent a product runs, and the conversation
//! sessctl keeps it on across restarts.
//!
//! Claude Code takes `--session-id <uuid>` to start a conversation with an id sessctl chooses,
//! and `--resume <uuid>` to continue it; the two cannot be combined, and `--continue` picks the
//! most recently modified conversation of the directory, which can be the wrong one (S16, S18
//! in ../shared/notes/research/agent-transcripts.md). So the first start of a claude product
//! passes `--session-id`, and every later start, once the transcript exists, `--resume`.
//! Codex chooses its own session ids (openai/codex discussion #3827): after a codex product's
//! first start, sessctl pins the newest rollout under `$CODEX_HOME/sessions/` (default
//! `~/.codex/sessions/YYYY/MM/DD/rollout-*-<id>.jsonl`) whose `session_meta` names the product's
//! directory, and later starts run `codex resume <id>` (S25a-c). Aider keeps no session id,
//! so for it, as for generic agents, nothing is pinned.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::paths::Paths;
use crate::product::Product;
use crate::store;

/// What kind of agent a product runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Agent {
    Claude,
    Codex,
    Aider,
    #[default]
    Generic,
}

impl Agent {
    /// The profile a command implies: by the base name of its program.
    pub fn detect(program: &str) -> Agent {
        match Path::new(program).file_name().and_then(|n| n.to_str()) {
            Some("claude") => Agent::Claude,
            Some("codex") => Agent::Codex,
            Some("aider") => Agent::Aider,
            _ => Agent::Generic,
        }
    }

    /// The kind's name, as `--agent` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Aider => "aider",
            Agent::Generic => "generic",
        }
    }

    /// Whether sessctl pins this agent to one conversation.
    pub fn pins(self) -> bool {
        matches!(self, Agent::Claude | Agent::Codex)
    }

    /// The transcript of conversation `id`, where this agent keeps it.
    pub fn transcript(self, id: &str) -> Option<PathBuf> {
        match self {
            Agent::Claude => find_transcript(id),
            Agent::Codex => find_rollout(id),
            Agent::Aider | Agent::Generic => None,
        }
    }

    /// The agent's command line for this start of pinned conversation `pin`.
    pub fn pinned_argv(self, argv: &[String], pin: &Pin) -> Vec<String> {
        let flags: Vec<String> = match self {
            // A new conversation with the chosen id until its transcript exists.
            Agent::Claude if find_transcript(&pin.session_id).is_none() => {
                vec!["--session-id".into(), pin.session_id.clone()]
            }
            Agent::Claude => vec!["--resume".into(), pin.session_id.clone()],
            Agent::Codex => vec!["resume".into(), pin.session_id.clone()],
            Agent::Aider | Agent::Generic => Vec::new(),
        };
        let mut out = Vec::with_capacity(argv.len() + flags.len());
        out.extend(argv.first().cloned());
        out.extend(flags);
        out.extend(argv.iter().skip(1).cloned());
        out
    }
}

/// The conversation a product is pinned to, in `$XDG_STATE_HOME/sessctl/<product>/pin.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub session_id: String,
    /// Earlier pins, oldest first, each with why it was left.
    #[serde(default)]
    pub history: Vec<PastPin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastPin {
    pub session_id: String,
    pub reason: String,
    pub until: String,
}

impl Pin {
    pub fn load(path: &Path) -> Result<Option<Pin>> {
        match store::read_optional(path)? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("parsing {}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("serialising the pin")?;
        store::write_atomic(path, text.as_bytes())
    }

    /// Moves the pin to `session_id`, remembering the old one and why.
    pub fn repin(&mut self, session_id: &str, reason: &str, now: &str) {
        let old = std::mem::replace(&mut self.session_id, session_id.to_string());
        self.history.push(PastPin {
            session_id: old,
            reason: reason.into(),
            until: now.into(),
        });
    }
}

/// Claude Code's project folders: `$CLAUDE_CONFIG_DIR/projects`, else `~/.claude/projects`.
pub fn claude_projects() -> Option<PathBuf> {
    match std::env::var_os("CLAUDE_CONFIG_DIR") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir).join("projects")),
        _ => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".claude/projects")),
    }
}

/// Codex's session folders: `$CODEX_HOME/sessions`, else `~/.codex/sessions`.
fn codex_sessions() -> Option<PathBuf> {
    match std::env::var_os("CODEX_HOME") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir).join("sessions")),
        _ => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".codex/sessions")),
    }
}

/// Every codex rollout file, under `sessions/YYYY/MM/DD/`.
fn rollouts() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = codex_sessions().into_iter().collect();
    for _ in 0..3 {
        dirs = dirs
            .iter()
            .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .collect();
    }
    dirs.iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.starts_with("rollout-") && name.ends_with(".jsonl")
        })
        .collect()
}

/// The rollout of codex session `id`, found by its file name.
fn find_rollout(id: &str) -> Option<PathBuf> {
    let suffix = format!("-{id}.jsonl");
    rollouts()
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(&suffix))
}

/// The newest codex session started in `dir`: its `session_meta` record names the directory.
fn newest_codex_session(dir: &str) -> Result<Option<String>> {
    use std::io::BufRead;
    let mut best: Option<(std::time::SystemTime, String)> = None;
    for path in rollouts() {
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
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .with_context(|| format!("reading {}", path.display()))?;
        if let Some(id) = payload["id"].as_str() {
            if best.as_ref().is_none_or(|(m, _)| modified > *m) {
                best = Some((modified, id.to_string()));
            }
        }
    }
    Ok(best.map(|(_, id)| id))
}

/// Claude Code's folder name for a working directory: every character that is not an ASCII
/// letter or digit becomes `-` (S6). Used only to place a new file; lookups glob by uuid.
pub fn encode_dir(dir: &str) -> String {
    dir.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The transcript of conversation `session_id`, found by its file name in any project folder:
/// folder names encode the working directory lossily, so they are never decoded.
pub fn find_transcript(session_id: &str) -> Option<PathBuf> {
    let name = format!("{session_id}.jsonl");
    std::fs::read_dir(claude_projects()?)
        .ok()?
        .flatten()
        .map(|dir| dir.path().join(&name))
        .find(|file| file.is_file())
}

/// Claude Code deletes transcripts `cleanupPeriodDays` after their last activity (30 by
/// default; S19a). 0 stops them being written at all (S19b), so it is never the advice.
#[derive(Debug, Clone)]
pub struct RetentionRisk {
    pub days: Option<u64>,
    pub settings: PathBuf,
}

impl std::fmt::Display for RetentionRisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Claude Code deletes this transcript {} days after its last activity (cleanupPeriodDays {}); set \"cleanupPeriodDays\": 99999 in {} (not 0: that stops transcripts being written)",
            self.days.unwrap_or(30),
            self.days.map_or("unset, default 30".to_string(), |d| d.to_string()),
            self.settings.display()
        )
    }
}

/// The retention setting, when it will delete transcripts within a year.
pub fn retention_risk() -> Result<Option<RetentionRisk>> {
    let Some(projects) = claude_projects() else {
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
    Ok((days.unwrap_or(30) < 365).then_some(RetentionRisk { days, settings }))
}

/// Why a pinned product's conversation cannot be resumed: its transcript would make the next
/// request fail. `None` for a product without a pin or a transcript, or with a sound one.
pub fn needs_repair(paths: &Paths, product: &Product) -> Result<Option<String>> {
    // The checker reads Claude Code's transcripts.
    if product.agent != Agent::Claude {
        return Ok(None);
    }
    let Some(pin) = Pin::load(&paths.pin_file(&product.name))? else {
        return Ok(None);
    };
    let Some(file) = find_transcript(&pin.session_id) else {
        return Ok(None);
    };
    let report = crate::transcript::analyze(&file)?.report;
    if report.exit_code() < 2 {
        return Ok(None);
    }
    let first = report
        .findings
        .first()
        .map_or(String::new(), |f| format!(": {}", f.detail));
    Ok(Some(format!(
        "the transcript {} fails check{first}",
        file.display()
    )))
}

/// A process other than the product's own session that works on conversation `session_id`:
/// one whose command line names it (`--resume <id>`, `--session-id <id>`). Two writers on one
/// transcript interleave their records and break its chain.
#[derive(Debug, Clone)]
pub struct Writer {
    pub pid: u32,
    pub argv: Vec<String>,
    pub cgroup: Option<String>,
}

/// The processes of this user, outside the cgroup `own_cgroup` (the product's unit), that work
/// on conversation `session_id`.
pub fn other_writers(session_id: &str, own_cgroup: Option<&str>) -> Vec<Writer> {
    let me = std::process::id();
    crate::procfs::processes_of(nix::unistd::getuid())
        .into_iter()
        .filter(|p| p.pid != me && p.argv.iter().any(|a| a == session_id))
        .map(|p| Writer {
            pid: p.pid,
            cgroup: crate::procfs::cgroup(p.pid),
            argv: p.argv,
        })
        .filter(|w| own_cgroup.is_none() || w.cgroup.as_deref() != own_cgroup)
        .collect()
}

impl std::fmt::Display for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = self
            .cgroup
            .as_deref()
            .and_then(|c| c.rsplit('/').next())
            .unwrap_or("?");
        write!(f, "PID {} ({}) in {unit}", self.pid, self.argv.join(" "))
    }
}

/// A newer transcript beside the pinned one that continues its conversation: some versions of
/// Claude Code go on in a new file after a resume or a compaction (S7, S17). It continues the
/// pinned conversation when one of its first records names it in `forkedFrom`, or links
/// (`parentUuid`, `logicalParentUuid`) to a record of the pinned transcript.
pub fn successor(pin: &Pin) -> Result<Option<(String, PathBuf)>> {
    let Some(current) = find_transcript(&pin.session_id) else {
        return Ok(None);
    };
    let Some(folder) = current.parent() else {
        return Ok(None);
    };
    let since = std::fs::metadata(&current).and_then(|m| m.modified()).ok();
    let mut known: Option<std::collections::HashSet<String>> = None;
    let mut best: Option<(std::time::SystemTime, String, PathBuf)> = None;
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
            || stem == pin.session_id
            || stem.starts_with("agent-")
            || !newer
        {
            continue;
        }
        if known.is_none() {
            let analysis = crate::transcript::analyze(&current)?;
            known = Some(analysis.by_uuid.into_keys().collect());
        }
        if continues(
            &path,
            &pin.session_id,
            known.as_ref().map_or(&Default::default(), |k| k),
        )? {
            let modified = modified.unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(m, _, _)| modified > *m) {
                best = Some((modified, stem, path));
            }
        }
    }
    Ok(best.map(|(_, id, path)| (id, path)))
}

fn continues(
    path: &Path,
    session_id: &str,
    known: &std::collections::HashSet<String>,
) -> Result<bool> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    for line in std::io::BufReader::new(file).lines().take(64) {
        let Ok(line) = line else { break };
        let Ok(record) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let forked = record
            .pointer("/forkedFrom/sessionId")
            .and_then(|v| v.as_str())
            == Some(session_id);
        let linked = ["parentUuid", "logicalParentUuid"]
            .iter()
            .filter_map(|k| record.get(*k).and_then(|v| v.as_str()))
            .any(|uuid| known.contains(uuid));
        if forked || linked {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Re-pins `product` when its agent went on in a new file; returns the new id.
pub fn follow(paths: &Paths, settings: &Product) -> Result<Option<String>> {
    let product = settings.name.as_str();
    let file = paths.pin_file(product);
    let pin = Pin::load(&file)?;
    if settings.agent == Agent::Codex {
        // Codex picks its own id: pin the session its first start created, once.
        if pin.is_some() {
            return Ok(None);
        }
        let Some(id) = newest_codex_session(&settings.dir)? else {
            return Ok(None);
        };
        Pin {
            session_id: id.clone(),
            history: Vec::new(),
        }
        .save(&file)?;
        crate::state::append(
            paths,
            product,
            &crate::state::Event::new("repin", None).verdict("discovered", Some(&id)),
        )?;
        return Ok(Some(id));
    }
    let Some(mut pin) = pin.filter(|_| settings.agent == Agent::Claude) else {
        return Ok(None);
    };
    let Some((id, _)) = successor(&pin)? else {
        return Ok(None);
    };
    let now = crate::state::rfc3339(std::time::SystemTime::now());
    pin.repin(
        &id,
        "the agent continued the conversation in a new file",
        &now,
    );
    pin.save(&file)?;
    crate::state::append(
        paths,
        product,
        &crate::state::Event::new("repin", None).verdict("followed", Some(&id)),
    )?;
    Ok(Some(id))
}

/// A random (version 4) UUID, from the kernel's random source.
pub fn new_uuid() -> Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("reading /dev/urandom")?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_agents_by_program_name() {
        assert_eq!(Agent::detect("/home/u/.local/bin/claude"), Agent::Claude);
        assert_eq!(Agent::detect("/usr/bin/codex"), Agent::Codex);
        assert_eq!(Agent::detect("/usr/bin/aider"), Agent::Aider);
        assert_eq!(Agent::detect("/usr/bin/sleep"), Agent::Generic);
    }

    #[test]
    fn uuids_are_version_4() {
        let id = new_uuid().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, new_uuid().unwrap());
    }
}
