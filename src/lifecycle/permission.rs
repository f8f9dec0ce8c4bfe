//! Approve or deny a tool call from the dashboard. Claude Code runs its `PermissionRequest`
//! hook (`sessctl internal permission`) beside the permission dialog it shows in the
//! terminal. The hook writes the question into the product's state ([`ask`]), where `status`
//! shows it, and waits up to [`WAIT`] for an answer that [`decide`] writes; it hands the
//! answer to the client as the hook's output. With no answer in time it prints nothing, and
//! the dialog stays in the terminal as before. Nothing is ever typed into the pane.
//!
//! Both sides log: the question (`permission asked`), who answered what (`permission allowed`
//! / `denied`, naming the login session or the token), a question left to the terminal
//! (`permission unanswered`), one answered there (`permission answered-in-terminal`), or one
//! the client took back (`permission withdrawn`).
//!
//! May import: `state`, `context`, `poll`, `product`, `error`.

mod follow;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::context::Ctx;
use crate::error::quoted;
use crate::poll;
use crate::product::ProductName;
use crate::state::{self, Asked, Behavior, Decision, Event, EventKind, EventVerdict, Locked};
use crate::state::{Waiting, Writer};
use follow::Follow;

/// How long a question waits for an answer from the dashboard before it is left to the
/// terminal alone: five minutes, long enough to reach for a phone, short of Claude Code's
/// own 10-minute limit on a hook. The hook's `timeout` is this plus [`HOOK_MARGIN`].
pub const WAIT: Duration = Duration::from_secs(300);

/// What the client's hook timeout adds to the wait, so the client never kills the hook
/// while it answers.
pub const HOOK_MARGIN: Duration = Duration::from_secs(30);

/// The part of the `PermissionRequest` hook's input sessctl reads.
#[derive(Debug, Deserialize)]
pub struct HookInput {
    hook_event_name: String,
    pub tool_name: String,
    #[serde(default)]
    pub tool_input: Value,
    /// The conversation's transcript, where an answer given in the terminal shows.
    #[serde(default)]
    pub transcript_path: Option<PathBuf>,
}

/// The tool, its exact input and the transcript from the hook's stdin `input`.
pub fn parse_hook_input(input: &str) -> Result<HookInput> {
    let hook: HookInput =
        serde_json::from_str(input).context("reading the PermissionRequest hook's input")?;
    if hook.hook_event_name != "PermissionRequest" {
        anyhow::bail!(
            "the permission hook was run for {}; it answers PermissionRequest only",
            quoted(&hook.hook_event_name)
        );
    }
    Ok(hook)
}

/// How a question's wait ended, short of the time running out.
enum Settled {
    /// The dashboard answered.
    Answered(Decision),
    /// The client ended the hook.
    Ended,
    /// The call was answered in the terminal: its result is in the transcript.
    InTerminal,
}

/// The hook's stdout that gives the client `behavior`.
pub fn hook_output(behavior: Behavior) -> String {
    let mut decision = json!({"behavior": behavior.as_str()});
    if behavior == Behavior::Deny {
        decision["message"] = "Denied from the sessctl dashboard".into();
    }
    json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}})
        .to_string()
}

/// Asks the dashboard the question the hook's stdin `input` holds, and waits up to `wait`
/// for its answer: the hook's output, or `None` to leave the dialog in the terminal. It stops
/// waiting early once the question was answered in the terminal (its transcript shows the
/// call settled; see `follow`), or `ended` says the client ended the hook, so no stale
/// question stays on the dashboard.
pub fn ask(
    own: &impl Writer,
    input: &str,
    wait: Duration,
    mut ended: impl FnMut() -> bool,
) -> Result<Option<String>> {
    let hook = parse_hook_input(input)?;
    let mut follow = (hook.transcript_path.clone())
        .map(|path| Follow::new(path, &hook.tool_name, &hook.tool_input));
    let asked = Asked::new(hook.tool_name, hook.tool_input)?;
    asked.save(own)?;
    log(own, "asked", describe(&asked));
    let answer = Waiting::record(own, "permission").and_then(|_| {
        poll::until(wait, || {
            if ended() {
                return Ok(Some(Settled::Ended));
            }
            if let Some(decision) = Decision::load(own.dir().0, &asked.id)? {
                return Ok(Some(Settled::Answered(decision)));
            }
            let in_terminal = follow.as_mut().is_some_and(Follow::settled);
            Ok(in_terminal.then_some(Settled::InTerminal))
        })
    });
    let (verdict, why) = match answer {
        Ok(Some(Settled::Answered(decision))) => {
            asked.close(own)?;
            // The agent has its answer and works on: it no longer waits.
            Waiting::clear(own)?;
            return Ok(Some(hook_output(decision.behavior)));
        }
        Ok(Some(Settled::Ended)) => ("withdrawn", "the client ended the hook"),
        Ok(Some(Settled::InTerminal)) => ("answered-in-terminal", "answered in the terminal"),
        Ok(None) => ("unanswered", "left to the terminal"),
        Err(err) => {
            asked.close(own)?;
            return Err(err);
        }
    };
    // Logged before the question closes: whoever sees it gone finds why in the log (the
    // real_approve tests read the log as soon as status shows no question).
    log(own, verdict, format!("{}; {why}", describe(&asked)));
    asked.close(own)?;
    Ok(None)
}

/// Answers question `id` of product `name` with `behavior`, given `by` (a login session, or
/// the token); the question answered, or `None` when it is not open (answered, or left to
/// the terminal): an answer never reaches a question it was not meant for.
pub fn decide(
    ctx: &Ctx,
    name: &ProductName,
    id: &str,
    behavior: Behavior,
    by: &str,
) -> Result<Option<Asked>> {
    if !valid_id(id) {
        return Ok(None);
    }
    let locked = Locked::acquire(&ctx.paths, name)?;
    let dir = locked.dir();
    let Some(asked) = Asked::load(dir.0, id)? else {
        return Ok(None);
    };
    let decision = Decision {
        id: id.to_string(),
        behavior,
        by: by.to_string(),
    };
    decision.save(&locked)?;
    // The hook may have given up between the reading and the write.
    if Asked::load(dir.0, id)?.is_none() {
        decision.withdraw(&locked)?;
        return Ok(None);
    }
    let verdict = match behavior {
        Behavior::Allow => "allowed",
        Behavior::Deny => "denied",
    };
    log(&locked, verdict, format!("{} by {by}", describe(&asked)));
    Ok(Some(asked))
}

/// A question's id as [`Asked::new`] makes them (a UUID), so it names no other path.
fn valid_id(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The tool and its input, on one line.
fn describe(asked: &Asked) -> String {
    format!("{} {}", asked.tool_name, asked.tool_input)
}

fn log(writer: &impl Writer, verdict: &str, reason: String) {
    let mut event = Event::new(EventKind::Permission, None);
    event.verdict = Some(EventVerdict::Change(verdict.to_string()));
    event.reason = Some(reason);
    state::append(writer, &event);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_reads_the_tool_and_its_input_and_answers_in_the_clients_words() {
        let input = r#"{"session_id":"s","transcript_path":"/t","cwd":"/w","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{"command":"rm -rf x","description":"d"},"permission_suggestions":[]}"#;
        let hook = parse_hook_input(input).unwrap();
        assert_eq!(hook.tool_name, "Bash");
        assert_eq!(
            hook.tool_input,
            json!({"command": "rm -rf x", "description": "d"})
        );
        assert_eq!(hook.transcript_path, Some(PathBuf::from("/t")));
        assert!(parse_hook_input(&input.replace("PermissionRequest", "Stop")).is_err());
        assert_eq!(
            hook_output(Behavior::Allow),
            r#"{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}}"#
        );
        let deny: Value = serde_json::from_str(&hook_output(Behavior::Deny)).unwrap();
        assert_eq!(deny["hookSpecificOutput"]["decision"]["behavior"], "deny");
        assert!(deny["hookSpecificOutput"]["decision"]["message"].is_string());
    }

    #[test]
    fn a_hook_the_client_ends_closes_its_question_and_says_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("web");
        let own = crate::state::UnitClaim::new(&state);
        let input = r#"{"hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{"command":"ls"}}"#;
        let answer = ask(&own, input, Duration::from_secs(60), || true).unwrap();
        assert_eq!(answer, None);
        assert_eq!(Asked::pending(&state).unwrap(), Vec::new());
        let log = std::fs::read_to_string(state.join("events.jsonl")).unwrap();
        assert!(log.contains("\"withdrawn\""), "{log}");
    }

    #[test]
    fn an_answer_reaches_only_its_own_open_question() {
        assert!(valid_id("0b6f2c1e-6a3d-4c1e-9f0a-1b2c3d4e5f60"));
        assert!(!valid_id("../../../../etc/passwd"));
        assert!(!valid_id(""));
    }
}
