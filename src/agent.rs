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

use anyhow::{bail, Context, Result};
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
    pub fn transcript(self, env: &AgentEnv, id: &str) -> Result<Option<PathBuf>> {
        match self {
            Agent::Claude => find_transcript(env, id),
            Agent::Codex => Ok(find_rollout(env, id)),
            Agent::Aider | Agent::Generic => Ok(None),
        }
    }

    /// The agent's command line for this start, in `dir`, of pinned conversation `pin`.
    ///
    /// Claude Code's `--resume` looks only in the project folder of its working directory,
    /// and `--session-id` of an id whose transcript exists there fails ("already in use"):
    /// so a transcript found in another project folder (the product's directory changed) is
    /// first copied into this one, the original kept, and `--session-id` is passed only for
    /// a conversation that has no transcript anywhere.
    pub fn pinned_argv(
        self,
        env: &AgentEnv,
        dir: &str,
        argv: &[String],
        pin: &Pin,
    ) -> Result<Vec<String>> {
        let flags: Vec<String> = match self {
            Agent::Claude => match find_transcript(env, &pin.session_id)? {
                None => vec!["--session-id".into(), pin.session_id.clone()],
                Some(found) => {
                    carry(env, &found, dir)?;
                    vec!["--resume".into(), pin.session_id.clone()]
                }
            },
            Agent::Codex => vec!["resume".into(), pin.session_id.clone()],
            Agent::Aider | Agent::Generic => Vec::new(),
        };
        let mut out = Vec::with_capacity(argv.len() + flags.len());
        out.extend(argv.first().cloned());
        out.extend(flags);
        out.extend(argv.iter().skip(1).cloned());
        Ok(out)
    }
}

/// Where an agent keeps its data is decided by the environment it runs with: the product's
/// own `--env`, over the user manager's environment, which the unit inherits. sessctl reads it
/// so, from any shell: the caller's `CLAUDE_CONFIG_DIR` or `HOME` say nothing about the unit.
#[derive(Debug, Clone, Default)]
pub struct AgentEnv {
    vars: std::collections::BTreeMap<String, String>,
}

/// The variables that place an agent's data.
const PLACING: [&str; 3] = ["CLAUDE_CONFIG_DIR", "CODEX_HOME", "HOME"];

impl AgentEnv {
    /// A product's agent environment: its `--env`, then the manager's environment (`KEY=VALUE`
    /// lines). Without a manager to ask (`None`), the caller's own values stand in for it.
    pub fn of(product: &Product, manager: Option<&[String]>) -> AgentEnv {
        let mut env = match manager {
            Some(lines) => AgentEnv {
                vars: lines
                    .iter()
                    .filter_map(|l| l.split_once('='))
                    .filter(|(k, _)| PLACING.contains(k))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            None => AgentEnv::caller(),
        };
        for key in PLACING {
            if let Some(value) = product.env.get(key) {
                env.vars.insert(key.to_string(), value.clone());
            }
        }
        env
    }

    /// This process's own environment: inside the unit it is the agent's, and for a
    /// transcript named by its file it is all there is.
    pub fn caller() -> AgentEnv {
        AgentEnv {
            vars: PLACING
                .iter()
                .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
                .collect(),
        }
    }

    fn dir(&self, var: &str, under_home: &str) -> Option<PathBuf> {
        match self.vars.get(var).filter(|v| !v.is_empty()) {
            Some(dir) => Some(PathBuf::from(dir)),
            None => self
                .vars
                .get("HOME")
                .filter(|h| !h.is_empty())
                .map(|home| PathBuf::from(home).join(under_home)),
        }
    }

    /// Claude Code's project folders: `$CLAUDE_CONFIG_DIR/projects`, else `~/.claude/projects`.
    pub fn claude_projects(&self) -> Option<PathBuf> {
        self.dir("CLAUDE_CONFIG_DIR", ".claude")
            .map(|d| d.join("projects"))
    }

    /// Codex's session folders: `$CODEX_HOME/sessions`, else `~/.codex/sessions`.
    fn codex_sessions(&self) -> Option<PathBuf> {
        self.dir("CODEX_HOME", ".codex").map(|d| d.join("sessions"))
    }
}

/// Copies transcript `found` and its folder into the project folder of `dir`, unless it is
/// there already; the original stays where it is. Through a temporary name and a rename, so
/// the client never sees half a copy.
fn carry(env: &AgentEnv, found: &Path, dir: &str) -> Result<()> {
    let Some(projects) = env.claude_projects() else {
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
        crate::snapshot::copy_tree(&sidecar, &dest.with_extension(""))?;
    }
    let tmp = folder.join(format!(".{}.sessctl-carry", name.to_string_lossy()));
    crate::snapshot::clone_or_copy(found, &tmp)?;
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
        store::read_json(path)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        store::write_json(path, self, "the pin")
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

/// Every codex rollout file, under `sessions/YYYY/MM/DD/`.
fn rollouts(env: &AgentEnv) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = env.codex_sessions().into_iter().collect();
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
fn find_rollout(env: &AgentEnv, id: &str) -> Option<PathBuf> {
    let suffix = format!("-{id}.jsonl");
    rollouts(env)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(&suffix))
}

/// The newest codex session started in `dir`: its `session_meta` record names the directory.
fn newest_codex_session(env: &AgentEnv, dir: &str) -> Result<Option<String>> {
    use std::io::BufRead;
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

/// Claude Code's folder name for a working directory: every UTF-16 unit that is not an ASCII
/// letter or digit becomes `-` (observed: `Odd_dir.v2 sp@ce+ü~x` → `Odd-dir-v2-sp-ce---x`).
/// Used only to place a file; lookups glob by uuid.
pub fn encode_dir(dir: &str) -> String {
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
pub fn find_transcript(env: &AgentEnv, session_id: &str) -> Result<Option<PathBuf>> {
    let Some(projects) = env.claude_projects() else {
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
pub fn retention_risk(env: &AgentEnv) -> Result<Option<RetentionRisk>> {
    let Some(projects) = env.claude_projects() else {
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

/// Why a pinned product's conversation cannot be resumed, if it cannot: the crash-loop
/// guard. It blocks only what the client would fail to resume: a transcript that is gone
/// though snapshots show it existed (a start would begin an empty conversation under the old
/// id), a file that cannot be read, or a shape proven to get the API's 400. A conversation the
/// client resumes, mending it as it loads, is never blocked.
///
/// The verdict is kept in `guard.json` keyed on the transcript's size and mtime, so a resume
/// scans a transcript once per change, not once per click.
pub fn needs_repair(paths: &Paths, product: &Product, env: &AgentEnv) -> Result<Option<String>> {
    if product.agent != Agent::Claude {
        return Ok(None);
    }
    let Some(pin) = Pin::load(&paths.pin_file(&product.name))? else {
        return Ok(None);
    };
    let id = &pin.session_id;
    let Some(file) = find_transcript(env, id)? else {
        return vanished(paths, &product.name, id);
    };
    let meta = std::fs::metadata(&file).with_context(|| format!("reading {}", file.display()))?;
    let key = Guard {
        session_id: id.clone(),
        bytes: meta.len(),
        modified_ns: meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos()),
        verdict: None,
    };
    let cache = paths.state_dir(&product.name).join("guard.json");
    if let Some(known) = store::read_optional(&cache)?
        .and_then(|text| serde_json::from_str::<Guard>(&text).ok())
        .filter(|g| g.same_file(&key))
    {
        return Ok(known.verdict);
    }
    let verdict = match crate::transcript::analyze(&file) {
        Err(err) => Some(format!("the transcript cannot be read: {err:#}")),
        Ok(analysis) => analysis
            .report
            .findings
            .iter()
            .find(|f| f.blocks_resume())
            .map(|f| {
                format!(
                    "the transcript {} fails to resume: {}; run `sessctl transcript repair {} --adopt`",
                    file.display(),
                    f.detail,
                    product.name
                )
            }),
    };
    let remembered = Guard { verdict, ..key };
    // Only a cache: a verdict that cannot be remembered is computed again next time.
    if let Ok(text) = serde_json::to_string(&remembered) {
        let _ = store::write_atomic(&cache, text.as_bytes());
    }
    Ok(remembered.verdict)
}

/// Why conversation `id`, which has no transcript, cannot be started: its newest snapshot shows
/// the transcript existed, so a start would begin an empty conversation under the old id.
/// Without a snapshot, it is a conversation not yet begun.
fn vanished(paths: &Paths, product: &str, id: &str) -> Result<Option<String>> {
    let taken = crate::snapshot::list(&paths.snapshots_dir(product))?
        .into_iter()
        .rev()
        .find(|s| s.name.ends_with(&format!("-{id}")));
    Ok(taken.map(|s| {
        format!(
            "the transcript of conversation {id} is gone, though snapshot {} shows it existed: a start would begin an empty conversation; run `sessctl transcript restore {product} {}`",
            s.name, s.name
        )
    }))
}

/// The guard's remembered verdict on one version of a transcript.
#[derive(Debug, Serialize, Deserialize)]
struct Guard {
    session_id: String,
    bytes: u64,
    modified_ns: u128,
    verdict: Option<String>,
}

impl Guard {
    fn same_file(&self, other: &Guard) -> bool {
        (&self.session_id, self.bytes, self.modified_ns)
            == (&other.session_id, other.bytes, other.modified_ns)
    }
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
        // A process in a unit sits in a cgroup named after it; anywhere else it runs outside
        // any unit (a login shell's cgroup, or one systemd does not manage).
        let unit = self
            .cgroup
            .as_deref()
            .and_then(|c| c.rsplit('/').next())
            .filter(|leaf| leaf.ends_with(".service") || leaf.ends_with(".scope"));
        let place = match unit {
            Some(unit) => format!("in unit {unit}"),
            None => "outside any unit".to_string(),
        };
        write!(f, "PID {} ({}) {place}", self.pid, self.argv.join(" "))
    }
}

/// A newer transcript beside the pinned one that continues its conversation: some versions of
/// Claude Code go on in a new file after a resume or a compaction (S7, S17). It continues the
/// pinned conversation when one of its first records names it in `forkedFrom`, or links
/// (`parentUuid`, `logicalParentUuid`) to a record of the pinned transcript.
pub fn successor(env: &AgentEnv, pin: &Pin) -> Result<Option<(String, PathBuf)>> {
    let Some(current) = find_transcript(env, &pin.session_id)? else {
        return Ok(None);
    };
    let Some(folder) = current.parent() else {
        return Ok(None);
    };
    let since = std::fs::metadata(&current).and_then(|m| m.modified()).ok();
    let mut known: Option<crate::transcript::Analysis> = None;
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
        let known = match &known {
            Some(analysis) => analysis,
            None => known.insert(crate::transcript::analyze(&current)?),
        };
        if continues(&path, &pin.session_id, known)? {
            let modified = modified.unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(m, _, _)| modified > *m) {
                best = Some((modified, stem, path));
            }
        }
    }
    Ok(best.map(|(_, id, path)| (id, path)))
}

fn continues(path: &Path, session_id: &str, known: &crate::transcript::Analysis) -> Result<bool> {
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
pub fn follow(paths: &Paths, settings: &Product, env: &AgentEnv) -> Result<Option<String>> {
    let product = settings.name.as_str();
    let file = paths.pin_file(product);
    let pin = Pin::load(&file)?;
    if settings.agent == Agent::Codex {
        // Codex picks its own id: pin the session its first start created, once.
        if pin.is_some() {
            return Ok(None);
        }
        let Some(id) = newest_codex_session(env, &settings.dir)? else {
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
        );
        return Ok(Some(id));
    }
    let Some(mut pin) = pin.filter(|_| settings.agent == Agent::Claude) else {
        return Ok(None);
    };
    let Some((id, _)) = successor(env, &pin)? else {
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
    );
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
    fn project_folders_are_named_per_utf16_unit() {
        // As observed with Claude Code 2.1: ü is one unit, an emoji two.
        assert_eq!(encode_dir("Odd_dir.v2 sp@ce+ü~x"), "Odd-dir-v2-sp-ce---x");
        assert_eq!(encode_dir("/a/😀b"), "-a---b");
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
