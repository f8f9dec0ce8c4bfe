//! Whether a permission question was answered in the terminal. Claude Code lets its
//! `PermissionRequest` hook run on when the dialog is answered there: both pinned versions
//! (2.1.197, 2.1.332) send it no signal and keep its stdin and stdout open (observed with
//! tests/it/real_approve.rs). What they do write is the conversation: the call's `tool_use`
//! before the dialog, and its `tool_result` once it is settled (the refusal at once, the
//! output once the approved call has run). So the hook follows the transcript its input
//! names, and the question is settled when every `tool_use` of that tool with that exact
//! input has its result.
//!
//! May import: nothing of sessctl.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use serde_json::Value;

/// How far back from its end the transcript is first read: the call the question is about was
/// written just before the hook ran, and a long conversation's whole transcript is not read
/// for each question.
const TAIL: u64 = 1 << 20;

/// A transcript followed for the calls of one tool with one input.
pub struct Follow {
    path: PathBuf,
    /// Where the next unread line starts.
    offset: u64,
    tool_name: String,
    tool_input: Value,
    /// The ids of the matching calls seen, without a result yet.
    open: BTreeSet<String>,
    /// Whether a matching call was open when the hook began, or came later: an earlier call
    /// of the same input, settled long ago, says nothing of this one.
    seen: bool,
    began: bool,
}

impl Follow {
    pub fn new(path: PathBuf, tool_name: &str, tool_input: &Value) -> Follow {
        Follow {
            path,
            offset: 0,
            tool_name: tool_name.to_string(),
            tool_input: tool_input.clone(),
            open: BTreeSet::new(),
            seen: false,
            began: false,
        }
    }

    /// Reads what was appended since the last call; true once a matching call was seen and
    /// every one seen has its result. A transcript that cannot be read settles nothing: the
    /// question then waits for the dashboard, as it would without it.
    pub fn settled(&mut self) -> bool {
        for line in self.new_lines() {
            // Most records are neither; they are not parsed.
            if line.contains("\"tool_use\"") || line.contains("\"tool_result\"") {
                if let Ok(record) = serde_json::from_str::<Value>(&line) {
                    self.read(&record);
                }
            }
        }
        if !self.began {
            self.began = true;
            self.seen = !self.open.is_empty();
        }
        self.seen && self.open.is_empty()
    }

    fn read(&mut self, record: &Value) {
        let Some(blocks) = record["message"]["content"].as_array() else {
            return;
        };
        for block in blocks {
            match block["type"].as_str() {
                Some("tool_use")
                    if block["name"] == self.tool_name.as_str()
                        && block["input"] == self.tool_input =>
                {
                    if let Some(id) = block["id"].as_str() {
                        self.open.insert(id.to_string());
                        self.seen = true;
                    }
                }
                Some("tool_result") => {
                    if let Some(id) = block["tool_use_id"].as_str() {
                        self.open.remove(id);
                    }
                }
                _ => {}
            }
        }
    }

    /// The whole lines appended since the last call (at first, those of the last [`TAIL`]
    /// bytes); a line still being written waits.
    fn new_lines(&mut self) -> Vec<String> {
        let mut bytes = Vec::new();
        let first = !self.began;
        let read = std::fs::File::open(&self.path).and_then(|mut file| {
            if first {
                self.offset = file.metadata()?.len().saturating_sub(TAIL);
            }
            file.seek(SeekFrom::Start(self.offset))?;
            file.read_to_end(&mut bytes)
        });
        if read.is_err() {
            return Vec::new();
        }
        // A start inside the file may be inside a line: the next one is the first whole one.
        let start = match first && self.offset > 0 {
            true => bytes
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |at| at + 1),
            false => 0,
        };
        let Some(end) = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .filter(|&end| end >= start)
        else {
            return Vec::new();
        };
        self.offset += end as u64 + 1;
        String::from_utf8_lossy(&bytes[start..end])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    fn record(content: Value) -> String {
        format!(
            "{}\n",
            json!({"type": "x", "message": {"content": content}})
        )
    }

    #[test]
    fn a_call_is_settled_once_every_matching_call_has_its_result() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let input = json!({"command": "ls"});
        let mut follow = Follow::new(path.clone(), "Bash", &input);
        // An earlier call of the same input, settled before the question.
        let mut file = std::fs::File::create(&path).unwrap();
        let use_of = |id: &str| {
            record(json!([{"type": "tool_use", "id": id, "name": "Bash", "input": input}]))
        };
        let result_of = |id: &str| record(json!([{"type": "tool_result", "tool_use_id": id}]));
        write!(file, "{}{}", use_of("a"), result_of("a")).unwrap();
        assert!(!follow.settled());
        // This question's call, and another tool's: open.
        write!(file, "{}", use_of("b")).unwrap();
        let other =
            json!([{"type": "tool_use", "id": "c", "name": "Bash", "input": {"command": "pwd"}}]);
        write!(file, "{}", record(other)).unwrap();
        assert!(!follow.settled());
        // Its result, written in two parts: settled once the line is whole.
        let result = result_of("b");
        let (head, tail) = result.split_at(10);
        write!(file, "{head}").unwrap();
        assert!(!follow.settled());
        write!(file, "{tail}").unwrap();
        assert!(follow.settled());
    }

    #[test]
    fn a_long_transcript_is_first_read_from_its_last_mebibyte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let input = json!({"command": "ls"});
        let mut file = std::fs::File::create(&path).unwrap();
        // An old call never settled, out of reach; then more than the tail of other records.
        let use_of = |id: &str| {
            record(json!([{"type": "tool_use", "id": id, "name": "Bash", "input": input}]))
        };
        write!(file, "{}", use_of("old")).unwrap();
        let filler = record(json!([{"type": "text", "text": "x".repeat(1000)}]));
        for _ in 0..(TAIL as usize / filler.len() + 2) {
            write!(file, "{filler}").unwrap();
        }
        write!(file, "{}", use_of("new")).unwrap();
        let mut follow = Follow::new(path, "Bash", &input);
        assert!(!follow.settled());
        let result = record(json!([{"type": "tool_result", "tool_use_id": "new"}]));
        write!(file, "{result}").unwrap();
        assert!(follow.settled());
    }
}
