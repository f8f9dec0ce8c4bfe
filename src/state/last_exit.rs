//! How the agent last ended, as its tmux server saw it (`last-exit.json`): written inside the
//! unit when the agent ends, read by `status` and by the loss detection.
//!
//! May import: `paths`, `store`, and `events` of this module.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::events::{Event, EventKind};
use super::lock::Writer;
use crate::paths::StateDir;
use crate::store;

/// How the agent last ended, as its tmux server saw it: `last-exit.json` in the product's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastExit {
    /// The exit status; absent when a signal ended the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// The signal that ended it, by name (`SIGKILL`); absent when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// UTC, RFC 3339.
    pub at: String,
    /// The same instant in microseconds since the epoch, as systemd gives a start.
    #[serde(default)]
    pub at_us: u64,
    /// The unit's InvocationID the agent ran in.
    pub invocation_id: String,
    /// The end was asked for: a stop or restart job was under way (or systemd could not be
    /// asked). Only an end nobody asked for is logged, and restarted when abnormal.
    #[serde(default)]
    pub requested: bool,
}

impl LastExit {
    /// An end nobody asked for that was not a clean exit (status 0): a non-zero status or a
    /// signal. systemd restarts the session after such an end.
    pub fn abnormal(&self) -> bool {
        !self.requested && self.status != Some(0)
    }

    /// "the agent was killed by SIGKILL at T", "the agent exited with status 3 at T".
    pub fn describe(&self) -> String {
        let how = match (&self.signal, self.status) {
            (Some(signal), _) => format!("was killed by {signal}"),
            (None, Some(status)) => format!("exited with status {status}"),
            (None, None) => "ended without a status or a signal".to_string(),
        };
        format!("the agent {how} at {}", self.at)
    }

    /// The `exit` event that logs this end.
    pub fn event(&self) -> Event {
        Event {
            time: self.at.clone(),
            reason: Some(self.describe()),
            invocation_id: Some(self.invocation_id.clone()),
            status: self.status,
            signal: self.signal.clone(),
            ..Event::new(EventKind::Exit, None)
        }
    }

    /// The end recorded in the product state directory `dir`.
    pub fn load(dir: &Path) -> Result<Option<LastExit>> {
        store::read_json(&StateDir(dir).last_exit())
    }

    pub fn save(&self, writer: &impl Writer) -> Result<()> {
        store::write_json(&writer.dir().last_exit(), self, "the agent's end")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn end(status: Option<i32>, signal: Option<&str>, requested: bool) -> LastExit {
        LastExit {
            status,
            signal: signal.map(str::to_string),
            at: "T".to_string(),
            at_us: 0,
            invocation_id: "i".to_string(),
            requested,
        }
    }

    #[rstest]
    #[case(
        end(Some(0), None, false),
        false,
        "the agent exited with status 0 at T"
    )]
    #[case(end(Some(3), None, false), true, "the agent exited with status 3 at T")]
    #[case(
        end(None, Some("SIGKILL"), false),
        true,
        "the agent was killed by SIGKILL at T"
    )]
    #[case(
        end(None, Some("SIGTERM"), true),
        false,
        "the agent was killed by SIGTERM at T"
    )]
    fn an_end_nobody_asked_for_that_is_not_status_0_is_abnormal(
        #[case] end: LastExit,
        #[case] abnormal: bool,
        #[case] text: &str,
    ) {
        assert_eq!((end.abnormal(), end.describe().as_str()), (abnormal, text));
    }
}
