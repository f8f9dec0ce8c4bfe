//! Agent profiles, the adapter for the agents' own files: which agent a product runs, how its
//! command line resumes a conversation, where it keeps its conversations, and what deletes
//! them. One file per agent behind the [`Profile`] trait.
//!
//! Adding an agent is one file here and one line in the `agents!` list below; `--agent`, the
//! product config, detection, doctor's process names and the tests all read that list. The
//! rest of sessctl reaches an agent through [`Agent`] and [`Profile`] only: no module outside
//! this folder names a profile's own functions.
//!
//! Adapters layer. May import: `error`, `store`, `transcript` (the model of Claude Code's
//! transcripts), `uuid`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

/// Declares each agent's module and lists its profile in [`PROFILES`], from one line each.
macro_rules! agents {
    ($($module:ident::$profile:ident),* $(,)?) => {
        $(mod $module;)*

        /// Every agent sessctl knows, in the order `--agent` lists them.
        static PROFILES: &[&dyn Profile] = &[$(&$module::$profile),*];
    };
}

// One line per agent; `generic` last, as the profile of any program none of the others claims.
agents! {
    claude::Claude,
    codex::Codex,
    aider::Aider,
    gemini::Gemini,
    generic::Generic,
}

/// The shell commands an agent's hooks run (`Profile::waiting_args`).
#[derive(Debug, Clone)]
pub struct Hooks {
    /// Records a wait: `<notify> KIND`, or `<notify> --clear`.
    pub notify: String,
    /// Asks the dashboard whether a tool call may run; prints the answer in the
    /// `PermissionRequest` hook's words, or nothing.
    pub permission: String,
    /// Seconds the agent gives the permission command before it ends it.
    pub permission_timeout: u64,
}

/// What sessctl knows of one agent. Every method but the names has the answer of an agent
/// that keeps no conversation sessctl can find.
pub trait Profile: Sync {
    /// Its name in `--agent` and in the product's config.
    fn name(&self) -> &'static str;

    /// The base names of its programs: a command that runs one of them implies this profile,
    /// and doctor looks for them among processes and launchers.
    fn programs(&self) -> &'static [&'static str];

    /// The environment variables that place its data, beside `HOME`.
    fn placing(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether sessctl pins it to one conversation across restarts.
    fn pins(&self) -> bool {
        false
    }

    /// The conversation a new product starts on, when sessctl chooses it before the first
    /// start (the agent takes an id); `None` when the agent chooses and sessctl discovers it.
    fn first_pin(&self) -> Result<Option<String>> {
        Ok(None)
    }

    /// Whether sessctl can check its transcripts (`transcript check`, the crash-loop guard).
    fn checks_transcripts(&self) -> bool {
        false
    }

    /// The file of conversation `id`, where the agent keeps it.
    fn transcript(&self, _env: &AgentEnv, _id: &str) -> Result<Option<PathBuf>> {
        Ok(None)
    }

    /// The folder under which it keeps its conversations, to name where one was looked for.
    fn conversations_dir(&self, _env: &AgentEnv) -> Option<PathBuf> {
        None
    }

    /// The folder of the conversations it begins in `dir`: the one its resume looks in, where
    /// a restored snapshot goes.
    fn project_dir(&self, _env: &AgentEnv, _dir: &str) -> Option<PathBuf> {
        None
    }

    /// The arguments put right after the program on every start in `dir`: those that continue
    /// the `pinned` conversation, and those that keep every process of the agent in the
    /// product's own unit (no daemon shared with another product).
    fn start_args(
        &self,
        _env: &AgentEnv,
        _dir: &str,
        _pinned: Option<&str>,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// The switches (flags without a value) [`Profile::start_args`] puts on every start: a
    /// copy in the product's own command is dropped.
    fn switches(&self) -> &'static [&'static str] {
        &[]
    }

    /// Arguments that make the agent say when it waits for its human, given the [`Hooks`]
    /// that record it (`<notify> stop`, `<notify> notification`, and `<notify> --clear` at the
    /// next prompt), and that ask the dashboard about a tool call where the agent can take an
    /// answer from a hook. Empty for an agent that cannot; tmux's silence monitor is left for
    /// those, and their permission prompts stay in the terminal.
    fn waiting_args(&self, _hooks: &Hooks) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// The conversation the agent went on with in `dir`, when it is not `pinned`: a new file
    /// that continues the pinned one, or, with no pin yet, the newest one it began there (the
    /// unit checks that it began after the agent's launch).
    fn successor(
        &self,
        _env: &AgentEnv,
        _dir: &str,
        _pinned: Option<&str>,
    ) -> Result<Option<Moved>> {
        Ok(None)
    }

    /// Environment the product's unit sets for the agent, before the product's own `--env`
    /// (which wins): settings that keep every process and every turn of the conversation in
    /// the product's unit.
    fn unit_env(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Whether a process running `argv` (its program one of [`Profile::programs`]) is one of
    /// the agent's servers that serve every conversation of the agent's home, whichever product
    /// or terminal started it: a process no product's unit should hold, nor live outside.
    fn shared_server(&self, _argv: &[String]) -> bool {
        false
    }

    /// The agent's own setting that will delete the conversation within a year, if any.
    fn retention_risk(&self, _env: &AgentEnv) -> Result<Option<RetentionRisk>> {
        Ok(None)
    }
}

/// How sessctl found the conversation an agent went on with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A new file continues the pinned one.
    Followed,
    /// The newest conversation begun in the product's folder, with no pin to follow.
    Discovered,
}

impl Found {
    /// The word the repin event records: `followed` or `discovered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Found::Followed => "followed",
            Found::Discovered => "discovered",
        }
    }
}

/// A conversation the agent went on with: the new id and how sessctl found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub session_id: String,
    pub how: Found,
    /// Why the pin moves, for the pin's history.
    pub reason: &'static str,
}

/// A product's agent: a handle on its profile, stored and typed by name.
#[derive(Clone, Copy)]
pub struct Agent(&'static dyn Profile);

impl Agent {
    /// The profile a command implies: by the base name of its program.
    pub fn detect(program: &str) -> Agent {
        let base = Path::new(program).file_name().and_then(|n| n.to_str());
        PROFILES
            .iter()
            .find(|p| base.is_some_and(|b| p.programs().contains(&b)))
            .map_or(Agent::default(), |p| Agent(*p))
    }

    /// The profile named `name`, as `--agent` and the product config give it.
    pub fn named(name: &str) -> Option<Agent> {
        PROFILES
            .iter()
            .find(|p| p.name() == name)
            .map(|p| Agent(*p))
    }

    /// Every profile, in `--agent`'s order.
    pub fn all() -> impl Iterator<Item = Agent> {
        PROFILES.iter().map(|p| Agent(*p))
    }

    /// Every agent program name doctor looks for.
    pub fn programs() -> impl Iterator<Item = &'static str> {
        PROFILES.iter().flat_map(|p| p.programs().iter().copied())
    }

    /// The agent whose shared server (see [`Profile::shared_server`]) a process running `argv`
    /// is, if any.
    pub fn shared_server_of(argv: &[String]) -> Option<Agent> {
        // The program, or the script an interpreter runs (`node .../gemini.js`).
        (argv.iter().take(2))
            .map(|word| Agent::detect(word))
            .find(|agent| agent.0.shared_server(argv))
    }

    pub fn profile(self) -> &'static dyn Profile {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The agent's command line for this start in `dir`, on the `pinned` conversation.
    pub fn start_argv(
        self,
        env: &AgentEnv,
        dir: &str,
        argv: &[String],
        pinned: Option<&str>,
    ) -> Result<Vec<String>> {
        let flags = self.0.start_args(env, dir, pinned)?;
        let mut out = Vec::with_capacity(argv.len() + flags.len());
        out.extend(argv.first().cloned());
        // A switch the user gave too is given once: some agents refuse a repeated one.
        let own = |arg: &String| self.0.switches().contains(&arg.as_str());
        let theirs: Vec<String> = argv.iter().skip(1).filter(|a| !own(a)).cloned().collect();
        out.extend(flags);
        out.extend(theirs);
        Ok(out)
    }
}

impl Default for Agent {
    fn default() -> Agent {
        Agent(&generic::Generic)
    }
}

impl PartialEq for Agent {
    fn eq(&self, other: &Agent) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Agent {}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Agent {
    type Err = String;

    fn from_str(name: &str) -> std::result::Result<Agent, String> {
        Agent::named(name).ok_or_else(|| {
            let names: Vec<&str> = Agent::all().map(Agent::name).collect();
            format!(
                "unknown agent {}; use one of: {}",
                crate::error::quoted(name),
                names.join(", ")
            )
        })
    }
}

impl serde::Serialize for Agent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Agent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Agent, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Where an agent keeps its data is decided by the environment it runs with: the product's
/// own `--env`, over the user manager's environment, which the unit inherits. sessctl reads it
/// so, from any shell: the caller's `CLAUDE_CONFIG_DIR` or `HOME` say nothing about the unit.
#[derive(Debug, Clone, Default)]
pub struct AgentEnv {
    vars: BTreeMap<String, String>,
}

/// Whether `key` places some agent's data.
fn placing(key: &str) -> bool {
    key == "HOME" || PROFILES.iter().any(|p| p.placing().contains(&key))
}

impl AgentEnv {
    /// A product's agent environment: its `--env` (`product_env`), then the manager's
    /// environment (`KEY=VALUE` lines). Without a manager to ask (`None`), the caller's own
    /// values stand in for it.
    pub fn of(product_env: &BTreeMap<String, String>, manager: Option<&[String]>) -> AgentEnv {
        let mut env = match manager {
            Some(lines) => AgentEnv {
                vars: lines
                    .iter()
                    .filter_map(|l| l.split_once('='))
                    .filter(|(k, _)| placing(k))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            None => AgentEnv::caller(),
        };
        for (key, value) in product_env.iter().filter(|(k, _)| placing(k)) {
            env.vars.insert(key.clone(), value.clone());
        }
        env
    }

    /// This process's own environment: inside the unit it is the agent's, and for a
    /// transcript named by its file it is all there is.
    pub fn caller() -> AgentEnv {
        AgentEnv {
            vars: std::env::vars().filter(|(k, _)| placing(k)).collect(),
        }
    }

    /// Whether `agent` keeps its data in the same place under both environments: the same
    /// `HOME` and the same variables of its own.
    pub fn same_home(&self, other: &AgentEnv, agent: Agent) -> bool {
        let keys = agent.profile().placing().iter().copied().chain(["HOME"]);
        keys.into_iter()
            .all(|key| self.vars.get(key) == other.vars.get(key))
    }

    /// `$HOME`, when set.
    fn home(&self) -> Option<PathBuf> {
        self.vars
            .get("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
    }

    /// `$var`, else `~/under_home`.
    fn dir(&self, var: &str, under_home: &str) -> Option<PathBuf> {
        match self.vars.get(var).filter(|v| !v.is_empty()) {
            Some(dir) => Some(PathBuf::from(dir)),
            None => self.home().map(|home| home.join(under_home)),
        }
    }
}

/// An agent setting that deletes conversations within a year, and the fix.
#[derive(Debug, Clone)]
pub struct RetentionRisk {
    /// The agent's own name for people: "Claude Code".
    pub client: &'static str,
    /// The settings file that holds it.
    pub settings: PathBuf,
    /// The setting as it stands: `cleanupPeriodDays=unset (30)`.
    pub setting: String,
    /// The exact change to make in `settings`.
    pub fix: String,
    /// The whole story, in one line.
    pub detail: String,
}

impl std::fmt::Display for RetentionRisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// The files directly in `dir` whose names start with `prefix` and end with `suffix`.
fn files_named(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect()
}

/// The modification time of `path`, for picking the newest of several files.
pub fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_agents_by_program_name() {
        assert_eq!(Agent::detect("/home/u/.local/bin/claude").name(), "claude");
        assert_eq!(Agent::detect("/usr/bin/codex").name(), "codex");
        assert_eq!(Agent::detect("/usr/bin/aider").name(), "aider");
        assert_eq!(Agent::detect("/usr/bin/gemini").name(), "gemini");
        assert_eq!(Agent::detect("/usr/bin/sleep").name(), "generic");
    }

    /// The repin event records how the pin moved in these words; scripts read them.
    #[test]
    fn how_a_pin_moved_keeps_its_words() {
        assert_eq!(Found::Followed.as_str(), "followed");
        assert_eq!(Found::Discovered.as_str(), "discovered");
    }

    /// The servers that run other sessions' conversations, as the real clients start them
    /// (tests/it/real_codex.rs, real_claude.rs), and the agents' own sessions, which are none.
    #[test]
    fn shared_servers_are_told_from_sessions() {
        let argv = |line: &str| line.split(' ').map(str::to_string).collect::<Vec<_>>();
        let shared = |line: &str| Agent::shared_server_of(&argv(line)).map(Agent::name);
        let codex_daemon = "/h/.codex/packages/app-server-daemon/releases/0.171.0/codex app-server --listen unix:// --managed-daemon";
        assert_eq!(shared(codex_daemon), Some("codex"));
        assert_eq!(
            shared("/opt/claude/bin/claude.exe daemon run --origin transient"),
            Some("claude")
        );
        assert_eq!(
            shared("/opt/claude/bin/claude.exe bg-pty-host"),
            Some("claude")
        );
        for session in [
            "/usr/bin/codex --no-daemon resume 019a",
            "/usr/bin/codex app-server",
            "/opt/claude/bin/claude.exe --resume 0a1b",
            "node /opt/gemini/bundle/gemini.js --resume 0a1b",
            "/usr/bin/sleep daemon run",
        ] {
            assert_eq!(shared(session), None, "{session}");
        }
    }

    /// Every profile: a unique name that parses back to it, and programs that detect it;
    /// the profiles that pin can find a conversation's file or discover one.
    #[test]
    fn every_profile_is_reachable_by_name_and_program() {
        let names: Vec<&str> = Agent::all().map(Agent::name).collect();
        assert_eq!(names, ["claude", "codex", "aider", "gemini", "generic"]);
        for agent in Agent::all() {
            assert_eq!(agent.name().parse::<Agent>().unwrap(), agent);
            let json = serde_json::to_string(&agent).unwrap();
            assert_eq!(serde_json::from_str::<Agent>(&json).unwrap(), agent);
            for program in agent.profile().programs() {
                assert_eq!(Agent::detect(&format!("/opt/bin/{program}")), agent);
            }
            let claims = !agent.profile().programs().is_empty();
            assert_eq!(claims, agent.name() != "generic", "{agent}");
        }
        let err = "cursor\n".parse::<Agent>().unwrap_err();
        assert_eq!(
            err,
            r#"unknown agent "cursor\n"; use one of: claude, codex, aider, gemini, generic"#
        );
    }

    #[test]
    fn argv_gets_the_resume_arguments_after_the_program() {
        let env = AgentEnv::default();
        let argv = vec!["/bin/codex".to_string(), "--full-auto".to_string()];
        let codex = Agent::named("codex").unwrap();
        assert_eq!(
            codex.start_argv(&env, "/w", &argv, Some("abc")).unwrap(),
            ["/bin/codex", "--no-daemon", "resume", "abc", "--full-auto"]
        );
        let aider = Agent::named("aider").unwrap();
        assert_eq!(
            aider.start_argv(&env, "/w", &argv, Some("abc")).unwrap(),
            argv
        );
    }
}
