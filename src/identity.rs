//! A session's identity: what proves that the session after a resume is the one from before,
//! and the unit state it is read with ([`ActiveState`]). Plain data; `lifecycle` reads it.
//!
//! systemd gives the unit's ActiveState, InvocationID (new on every start), MainPID (the tmux
//! server), ExecMainStartTimestamp and NRestarts; `/proc` gives the agent (the one child of the
//! pane's process, which waits for it to record its end) and, for both PIDs, the start time
//! from `/proc/<pid>/stat`, so a PID the kernel reused for another process is never taken for a
//! survivor.
//!
//! Model layer. May import: `error`.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::error::quoted;

/// A unit's `ActiveState` (systemd.unit(5) "ActiveState"): one word of a closed set, compared
/// as a value, never as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActiveState {
    Active,
    Reloading,
    Inactive,
    Failed,
    Activating,
    Deactivating,
    Maintenance,
    Refreshing,
}

impl ActiveState {
    /// Whether the unit is up or on its way up.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            ActiveState::Active | ActiveState::Activating | ActiveState::Reloading
        )
    }

    /// Whether the unit has ended: nothing runs in it and nothing is on its way.
    pub fn is_down(self) -> bool {
        matches!(self, ActiveState::Inactive | ActiveState::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ActiveState::Active => "active",
            ActiveState::Reloading => "reloading",
            ActiveState::Inactive => "inactive",
            ActiveState::Failed => "failed",
            ActiveState::Activating => "activating",
            ActiveState::Deactivating => "deactivating",
            ActiveState::Maintenance => "maintenance",
            ActiveState::Refreshing => "refreshing",
        }
    }
}

spelled_as_str!(ActiveState);

impl std::str::FromStr for ActiveState {
    type Err = anyhow::Error;

    /// By the enum's own serde names, so the words are written once.
    fn from_str(word: &str) -> Result<ActiveState> {
        use serde::de::IntoDeserializer;
        let de: serde::de::value::StrDeserializer<serde::de::value::Error> =
            word.into_deserializer();
        Deserialize::deserialize(de)
            .with_context(|| format!("systemd reported an unknown ActiveState {}", quoted(word)))
    }
}

/// One reading of a session's identity; its JSON form is part of `resume --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub active_state: ActiveState,
    pub invocation_id: String,
    /// The tmux server; 0 when the unit is not running.
    pub main_pid: u32,
    /// Start time of `main_pid` in clock ticks after boot (`/proc/<pid>/stat` field 22).
    pub main_start_ticks: Option<u64>,
    /// The agent: the one child of the process in the tmux pane.
    pub agent_pid: Option<u32>,
    pub agent_start_ticks: Option<u64>,
    /// CLOCK_REALTIME microseconds, from systemd.
    pub exec_main_start_timestamp: u64,
    pub n_restarts: u32,
}

impl Identity {
    /// An active unit with a live tmux server hosting a live agent.
    pub fn is_live(&self) -> bool {
        self.active_state == ActiveState::Active
            && self.main_start_ticks.is_some()
            && self.agent_start_ticks.is_some()
    }

    /// `None` when `later` is this same session, else what changed.
    pub fn change_to(&self, later: &Identity) -> Option<String> {
        if !later.is_live() {
            return Some(format!(
                "the session is gone (the unit is {})",
                later.active_state
            ));
        }
        if self.invocation_id != later.invocation_id {
            return Some(format!(
                "the unit was started again (invocation {} -> {}, restarts {} -> {})",
                self.invocation_id, later.invocation_id, self.n_restarts, later.n_restarts
            ));
        }
        if (self.main_pid, self.main_start_ticks) != (later.main_pid, later.main_start_ticks) {
            return Some(format!(
                "the tmux server changed (PID {} -> {})",
                self.main_pid, later.main_pid
            ));
        }
        if (self.agent_pid, self.agent_start_ticks) != (later.agent_pid, later.agent_start_ticks) {
            return Some(format!(
                "the agent changed (PID {} -> {})",
                show(self.agent_pid),
                show(later.agent_pid)
            ));
        }
        None
    }

    /// Seconds since the main process started, for a live session.
    pub fn uptime_seconds(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_micros() as u64;
        (self.is_live() && self.exec_main_start_timestamp > 0)
            .then(|| now.saturating_sub(self.exec_main_start_timestamp) / 1_000_000)
    }

    /// One line for people: invocation, main PID and agent PID.
    pub fn summary(&self) -> String {
        format!(
            "invocation {}, main PID {}, agent PID {}",
            self.invocation_id,
            self.main_pid,
            show(self.agent_pid)
        )
    }
}

fn show(pid: Option<u32>) -> String {
    pid.map_or("none".to_string(), |p| p.to_string())
}

/// Human uptime: "42s", "3m 12s", "5h 2m", "2d 3h".
pub fn human_duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Identity {
        Identity {
            active_state: ActiveState::Active,
            invocation_id: "aa".into(),
            main_pid: 10,
            main_start_ticks: Some(100),
            agent_pid: Some(11),
            agent_start_ticks: Some(101),
            exec_main_start_timestamp: 1,
            n_restarts: 0,
        }
    }

    #[test]
    fn the_same_session_has_no_change() {
        assert_eq!(live().change_to(&live()), None);
    }

    #[test]
    fn a_reused_pid_is_a_change() {
        let mut later = live();
        later.agent_start_ticks = Some(999);
        assert_eq!(
            live().change_to(&later),
            Some("the agent changed (PID 11 -> 11)".into())
        );
    }

    #[test]
    fn a_new_invocation_is_a_change() {
        let mut later = live();
        later.invocation_id = "bb".into();
        later.n_restarts = 1;
        assert!(live()
            .change_to(&later)
            .expect("a change")
            .contains("aa -> bb"));
    }

    #[test]
    fn a_dead_unit_is_a_change() {
        let mut later = live();
        later.active_state = ActiveState::Inactive;
        assert_eq!(
            live().change_to(&later),
            Some("the session is gone (the unit is inactive)".into())
        );
    }

    #[test]
    fn active_states_parse_as_systemd_writes_them() {
        for state in [
            "active",
            "reloading",
            "inactive",
            "failed",
            "activating",
            "deactivating",
        ] {
            assert_eq!(state.parse::<ActiveState>().unwrap().as_str(), state);
        }
        assert!("maintenance".parse::<ActiveState>().unwrap() == ActiveState::Maintenance);
        let err = "bogus\n".parse::<ActiveState>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"systemd reported an unknown ActiveState "bogus\n""#
        );
    }
}
