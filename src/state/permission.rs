//! The agent's questions for permission to run a tool (`permissions/<id>.json`), and the
//! answers to them (`permissions/<id>.decision.json`). The unit's permission hook writes a
//! question and waits for its answer; the dashboard writes the answer, under the product's
//! lock; `status` shows the questions open. Each question has its own file, so questions
//! asked together never overwrite each other.
//!
//! May import: `paths`, `procfs`, `store`, `uuid`, and `lock` and `time` of this module.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::lock::Writer;
use super::time::rfc3339;
use crate::paths::StateDir;
use crate::procfs;
use crate::store;

/// A question the agent asks: may it run `tool_name` with exactly `tool_input`?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asked {
    /// Random; what an answer names, so an answer never reaches a later question.
    pub id: String,
    pub tool_name: String,
    /// The tool's input as the agent gave it: the command, the file and its new text, ...
    pub tool_input: serde_json::Value,
    /// UTC, RFC 3339.
    pub since: String,
    /// The hook process that waits for the answer, and its start time (`procfs::start_ticks`):
    /// a question whose hook is gone (killed with the unit, say) is not open, whatever its
    /// file says, so no answer is taken, and logged, that nobody will read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_start: Option<u64>,
}

/// What the human answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Behavior {
    Allow,
    Deny,
}

impl Behavior {
    /// The word the agent's hook answers with (`allow`, `deny`).
    pub fn as_str(self) -> &'static str {
        match self {
            Behavior::Allow => "allow",
            Behavior::Deny => "deny",
        }
    }
}

/// An answer to question `id`, and who gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub behavior: Behavior,
    /// `login session <id>`, or `token`.
    pub by: String,
}

impl Asked {
    /// A new question, now, with a random id, asked by this process.
    pub fn new(tool_name: String, tool_input: serde_json::Value) -> Result<Asked> {
        let pid = std::process::id();
        Ok(Asked {
            id: crate::uuid::new_v4()?,
            tool_name,
            tool_input,
            since: rfc3339(SystemTime::now()),
            hook_pid: Some(pid),
            hook_start: procfs::start_ticks(pid),
        })
    }

    /// Whether the hook that asked still waits. A question written without its hook's start
    /// time cannot tell, and counts as open until its hook closes it.
    fn waited_for(&self) -> bool {
        match (self.hook_pid, self.hook_start) {
            (Some(pid), Some(start)) => procfs::start_ticks(pid) == Some(start),
            _ => true,
        }
    }

    /// The questions open in state directory `dir`, oldest first.
    pub fn pending(dir: &Path) -> Result<Vec<Asked>> {
        let folder = StateDir(dir).permissions();
        let entries = match std::fs::read_dir(&folder) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            entries => entries.with_context(|| format!("reading {}", folder.display()))?,
        };
        let mut asked = Vec::new();
        for entry in entries {
            let path = entry
                .with_context(|| format!("reading {}", folder.display()))?
                .path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".json") && !name.ends_with(".decision.json") {
                asked.extend(store::read_json::<Asked>(&path)?.filter(Asked::waited_for));
            }
        }
        asked.sort_by(|a, b| (&a.since, &a.id).cmp(&(&b.since, &b.id)));
        Ok(asked)
    }

    /// The open question `id` of state directory `dir`, if it is open.
    pub fn load(dir: &Path, id: &str) -> Result<Option<Asked>> {
        Ok(store::read_json::<Asked>(&question(dir, id))?.filter(Asked::waited_for))
    }

    pub fn save(&self, writer: &impl Writer) -> Result<()> {
        store::write_json(
            &question(writer.dir().0, &self.id),
            self,
            "the permission question",
        )
    }

    /// The question is settled (answered, or left to the terminal): it and its answer go.
    pub fn close(&self, writer: &impl Writer) -> Result<()> {
        store::remove_file(&question(writer.dir().0, &self.id))?;
        store::remove_file(&answer(writer.dir().0, &self.id))
    }
}

impl Decision {
    /// The answer to question `id` of state directory `dir`, once there is one.
    pub fn load(dir: &Path, id: &str) -> Result<Option<Decision>> {
        store::read_json(&answer(dir, id))
    }

    pub fn save(&self, writer: &impl Writer) -> Result<()> {
        store::write_json(
            &answer(writer.dir().0, &self.id),
            self,
            "the permission answer",
        )
    }

    /// Takes back an answer whose question closed before it came.
    pub fn withdraw(&self, writer: &impl Writer) -> Result<()> {
        store::remove_file(&answer(writer.dir().0, &self.id))
    }
}

/// The file of question `id`. The id is one this module made (a UUID) or one checked against
/// an open question's file, so it never names a path outside the folder.
fn question(dir: &Path, id: &str) -> PathBuf {
    StateDir(dir).permissions().join(format!("{id}.json"))
}

fn answer(dir: &Path, id: &str) -> PathBuf {
    StateDir(dir)
        .permissions()
        .join(format!("{id}.decision.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::UnitClaim;

    #[test]
    fn a_question_is_open_until_closed_and_its_answer_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let own = UnitClaim::new(dir.path());
        assert_eq!(Asked::pending(dir.path()).unwrap(), Vec::new());
        let asked = Asked::new("Bash".into(), serde_json::json!({"command": "ls"})).unwrap();
        asked.save(&own).unwrap();
        assert_eq!(Asked::pending(dir.path()).unwrap(), vec![asked.clone()]);
        let decision = Decision {
            id: asked.id.clone(),
            behavior: Behavior::Deny,
            by: "token".into(),
        };
        decision.save(&own).unwrap();
        assert_eq!(Asked::pending(dir.path()).unwrap(), vec![asked.clone()]);
        assert_eq!(
            Decision::load(dir.path(), &asked.id).unwrap(),
            Some(decision)
        );
        asked.close(&own).unwrap();
        assert_eq!(Asked::pending(dir.path()).unwrap(), Vec::new());
        assert_eq!(Decision::load(dir.path(), &asked.id).unwrap(), None);
    }

    #[test]
    fn a_question_whose_hook_is_gone_is_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let own = UnitClaim::new(dir.path());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = procfs::start_ticks(pid);
        child.wait().unwrap();
        let mut asked = Asked::new("Bash".into(), serde_json::json!({"command": "ls"})).unwrap();
        (asked.hook_pid, asked.hook_start) = (Some(pid), start.or(Some(1)));
        asked.save(&own).unwrap();
        assert_eq!(Asked::pending(dir.path()).unwrap(), Vec::new());
        assert_eq!(Asked::load(dir.path(), &asked.id).unwrap(), None);
    }
}
