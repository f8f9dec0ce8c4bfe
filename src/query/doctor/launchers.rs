//! Doctor's sweep of every other user unit, loaded or only on disk, transient ones included:
//! which of them launch a tmux or screen session or an agent CLI in a way that gets it killed,
//! or restart a session on "resume". Their command lines are read as systemd parsed them, and
//! so are the scripts those command lines run.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;

use super::{locate, Finding, FindingId, Severity};
use crate::agent::Agent;
use crate::paths::Paths;
use crate::product::Product;
use crate::store;
use crate::systemd::{Systemd, UnitConfig};
use crate::unit;

const INTERPRETERS: [&str; 7] = ["sh", "bash", "dash", "zsh", "python3", "python", "perl"];

/// A line of a command line or script, and where it was found.
struct Line {
    text: String,
    /// `file:line: text`, or how systemd reported it.
    place: String,
    /// For a command line: the first word, to find it in the unit file.
    program: Option<String>,
}

pub fn check(systemd: &Systemd, paths: &Paths) -> Result<Vec<Finding>> {
    let own: BTreeSet<String> = Product::names(paths)?
        .iter()
        .map(|p| unit::unit_name(p))
        .collect();
    let mut names: BTreeSet<String> = systemd.loaded_units()?.into_iter().collect();
    for dir in systemd.unit_path()? {
        names.extend(
            (store::entries(Path::new(&dir))?.into_iter())
                .filter_map(|entry| entry.file_name().to_str().map(str::to_string)),
        );
    }
    // Templates cannot be loaded; their instances are listed as loaded units.
    let others: Vec<String> = (names.into_iter())
        .filter(|n| n.ends_with(".service") && !n.contains("@.") && !own.contains(n))
        .collect();
    Ok(systemd
        .unit_configs(&others)?
        .iter()
        .flat_map(judge)
        .collect())
}

/// Every check of one launcher unit.
fn judge(config: &UnitConfig) -> Vec<Finding> {
    let launcher = Launcher {
        config,
        lines: lines_of(config),
        files: std::iter::once(config.fragment_path.as_str())
            .chain(config.drop_in_paths.iter().map(String::as_str))
            .filter(|f| !f.is_empty())
            .collect(),
    };
    [
        launcher.forks_session(),
        launcher.remain_after_exit(),
        launcher.kill_mode(),
        launcher.default_socket(),
        launcher.restarts_session(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The fix common to every launcher finding.
const RESUME_INSTEAD: &str = "launch the session with sessctl (`sessctl enable PRODUCT --dir DIR -- AGENT ...`) and have this unit run `sessctl resume PRODUCT --no-attach --json` instead";

/// One unit as the launcher checks read it: its command lines and the files they came from.
struct Launcher<'a> {
    config: &'a UnitConfig,
    lines: Vec<Line>,
    files: Vec<&'a str>,
}

impl Launcher<'_> {
    /// `finding`, about this unit.
    fn of_unit(&self, finding: Finding) -> Finding {
        finding.on(None, Some(&self.config.id))
    }

    /// Where in the unit's files a line came from, when it came from a command line.
    fn place(&self, line: &Line, token: &str) -> String {
        if line.program.is_some() {
            for needle in [token, line.program.as_deref().unwrap_or(token)] {
                if let Some(at) = self.files.iter().find_map(|f| locate(f, "Exec", needle)) {
                    return at;
                }
            }
        }
        line.place.clone()
    }

    /// The file and line that sets `key`, else the value systemd reports.
    fn setting(&self, key: &str, value: &str) -> String {
        self.files
            .iter()
            .find_map(|f| locate(f, &format!("{key}="), ""))
            .unwrap_or_else(|| format!("{key}={value} (as systemd reports it)"))
    }

    /// The place of the first line that `test` flags.
    fn find(&self, test: fn(&[&str]) -> Option<&'static str>) -> Option<String> {
        self.lines.iter().find_map(|line| {
            let words: Vec<&str> = line
                .text
                .split_whitespace()
                .map(|w| w.trim_matches(['\'', '"', ';']))
                .collect();
            test(&words).map(|token| self.place(line, token))
        })
    }

    /// Where to edit the unit.
    fn where_(&self) -> &str {
        if self.config.transient {
            "the command that creates this transient unit (systemd-run or a StartTransientUnit call)"
        } else {
            self.config.fragment_path.as_str()
        }
    }

    fn oneshot_remains(&self) -> bool {
        self.config.service_type == "oneshot" && self.config.remain_after_exit
    }

    /// Any line that launches a session, a detached one first.
    fn launches(&self) -> Option<String> {
        self.find(detached_session)
            .or_else(|| self.find(mentions_session))
    }

    fn forks_session(&self) -> Option<Finding> {
        let (unit, kind) = (&self.config.id, &self.config.service_type);
        if self.oneshot_remains() || kind == "forking" {
            return None;
        }
        let at = self.find(detached_session)?;
        Some(self.of_unit(Finding::new(
            FindingId::LauncherForksSession,
            Severity::Error,
            format!("{unit} (Type={kind}) forks a detached session itself: the session lives in {unit}'s cgroup and dies when {unit} stops or restarts"),
            vec![at, self.setting("Type", kind)],
            format!("{RESUME_INSTEAD}; edit {}", self.where_()),
        )))
    }

    fn remain_after_exit(&self) -> Option<Finding> {
        if !self.oneshot_remains() {
            return None;
        }
        let at = self.launches()?;
        let unit = &self.config.id;
        Some(self.of_unit(Finding::new(
            FindingId::LauncherRemainAfterExit,
            Severity::Error,
            format!("{unit} is Type=oneshot with RemainAfterExit=yes: it reports active with no main process, so nothing notices when its session dies, and a stop kills it"),
            vec![at, self.setting("Type", "oneshot"), self.setting("RemainAfterExit", "yes")],
            format!("{RESUME_INSTEAD}; edit {}", self.where_()),
        )))
    }

    fn kill_mode(&self) -> Option<Finding> {
        let (unit, mode) = (&self.config.id, &self.config.kill_mode);
        if !matches!(mode.as_str(), "none" | "process") {
            return None;
        }
        let at = self.launches()?;
        Some(self.of_unit(Finding::new(
            FindingId::LauncherKillmode,
            Severity::Error,
            format!("{unit} launches a session with KillMode={mode}: its processes escape systemd, survive a stop as orphans, and a start then fights them for the socket"),
            vec![at, self.setting("KillMode", mode)],
            format!("set KillMode=control-group in {}, then `systemctl --user daemon-reload`; better: {RESUME_INSTEAD}", self.where_()),
        )))
    }

    fn default_socket(&self) -> Option<Finding> {
        let at = self.find(default_socket)?;
        let unit = &self.config.id;
        Some(self.of_unit(Finding::new(
            FindingId::LauncherDefaultSocket,
            Severity::Warning,
            format!("{unit} runs tmux on the shared default socket: every launcher and attach lands on one server, and one stop or kill-server takes all its sessions"),
            vec![at],
            format!("give tmux a socket of its own (`-S PATH`) in {}; better: {RESUME_INSTEAD}", self.where_()),
        )))
    }

    fn restarts_session(&self) -> Option<Finding> {
        let at = self.find(restarts_session)?;
        let unit = &self.config.id;
        Some(self.of_unit(Finding::new(
            FindingId::LauncherRestartsSession,
            Severity::Error,
            format!("{unit} restarts a session unit: a restart stops the live agent and starts a new one, so this \"resume\" kills the session it resumes"),
            vec![at],
            format!("replace the restart with `sessctl resume PRODUCT --no-attach --json` in {}", self.where_()),
        )))
    }
}

/// The unit's command lines, and the lines of the scripts they run.
fn lines_of(config: &UnitConfig) -> Vec<Line> {
    let mut lines = Vec::new();
    for exec in &config.exec {
        lines.push(Line {
            text: exec.argv.join(" "),
            place: format!(
                "{} command line as systemd parsed it: {}",
                config.id,
                exec.argv.join(" ")
            ),
            program: exec.argv.first().cloned(),
        });
        let first = exec.argv.first().map(|a| base(a)).unwrap_or_default();
        let script = if INTERPRETERS.contains(&first) {
            exec.argv.get(1)
        } else {
            Some(&exec.path)
        };
        if let Some(text) = script.and_then(|s| read_script(s)) {
            for (n, line) in text.lines().enumerate() {
                lines.push(Line {
                    text: line.to_string(),
                    place: format!(
                        "{}:{}: {}",
                        script.map_or("", |s| s.as_str()),
                        n + 1,
                        line.trim()
                    ),
                    program: None,
                });
            }
        }
    }
    lines
}

/// A script's text: a readable file under 1 MiB that is not a binary.
fn read_script(path: &str) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    if bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

fn base(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn has_tmux(words: &[&str]) -> bool {
    words.iter().any(|w| base(w) == "tmux")
}

fn is_detach_flag(word: &str) -> bool {
    word.strip_prefix('-').is_some_and(|flags| {
        !flags.starts_with('-')
            && flags.contains('d')
            && flags.chars().all(|c| c.is_ascii_alphabetic())
    })
}

/// `tmux new-session -d` or `screen -dm`: a session forked into the background.
fn detached_session(words: &[&str]) -> Option<&'static str> {
    if has_tmux(words)
        && words.iter().any(|w| matches!(*w, "new-session" | "new"))
        && words.iter().any(|w| is_detach_flag(w))
    {
        return Some("new-session");
    }
    let screen = words.iter().any(|w| base(w) == "screen");
    let dm = words
        .iter()
        .any(|w| w.starts_with('-') && w.contains('d') && w.contains('m'))
        || (words.contains(&"-d") && words.contains(&"-m"));
    (screen && dm).then_some("screen")
}

/// Any tmux, screen or agent CLI.
fn mentions_session(words: &[&str]) -> Option<&'static str> {
    if has_tmux(words) {
        return Some("tmux");
    }
    if words.iter().any(|w| base(w) == "screen") {
        return Some("screen");
    }
    words
        .iter()
        .find_map(|w| Agent::programs().find(|a| base(w) == *a))
}

/// tmux with neither `-S` nor `-L` (nor sessctl's own `--socket`): the shared default socket.
fn default_socket(words: &[&str]) -> Option<&'static str> {
    let own = words
        .iter()
        .any(|w| w.starts_with("-S") || w.starts_with("-L") || *w == "--socket");
    (has_tmux(words) && !own).then_some("tmux")
}

/// `systemctl restart` (any flavour) or a RestartUnit call.
fn restarts_session(words: &[&str]) -> Option<&'static str> {
    let systemctl = words.iter().any(|w| base(w) == "systemctl");
    let restart = words.iter().any(|w| w.ends_with("restart"));
    if systemctl && restart {
        return Some("restart");
    }
    words
        .iter()
        .any(|w| w.contains("RestartUnit"))
        .then_some("RestartUnit")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<&str> {
        line.split_whitespace().collect()
    }

    #[test]
    fn recognises_detached_sessions() {
        assert!(detached_session(&words("/usr/bin/tmux new-session -d -s main claude")).is_some());
        assert!(detached_session(&words("tmux -S /x new -ds main")).is_some());
        assert!(detached_session(&words("screen -dmS work claude")).is_some());
        assert!(detached_session(&words("tmux -S /x attach -t main")).is_none());
        assert!(detached_session(&words("tmux -D -S /x -f conf")).is_none());
    }

    #[test]
    fn recognises_the_default_socket() {
        assert!(default_socket(&words("tmux new-session -d")).is_some());
        assert!(default_socket(&words("tmux -S /run/x new-session -d")).is_none());
        assert!(default_socket(&words("tmux -Lwork new-session -d")).is_none());
    }

    #[test]
    fn recognises_restarts() {
        assert!(restarts_session(&words("systemctl --user restart sessctl-web.service")).is_some());
        assert!(restarts_session(&words("busctl call ... RestartUnit ss x replace")).is_some());
        assert!(restarts_session(&words("systemctl --user start sessctl-web.service")).is_none());
    }
}
