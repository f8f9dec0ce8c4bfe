//! Approve or deny a tool call from the dashboard. Claude Code runs its `PermissionRequest`
//! hook (`sessctl internal permission`) beside the permission dialog it shows in the
//! terminal. The hook writes the question into the product's state ([`ask`]), where `status`
//! shows it, and waits up to [`WAIT`] for an answer that [`decide`] writes; it hands the
//! answer to the client as the hook's output. With no answer in time it prints nothing, and
//! the dialog stays in the terminal as before. Nothing is ever typed into the pane.
//!
//! Both sides log: the question (`permission asked`), who answered what (`permission allowed`
//! / `denied`, naming the login session or the token), and a question left to the terminal
//! (`permission unanswered`), or one the client took back (`permission withdrawn`).
//!
//! May import: `state`, `context`, `poll`, `product`, `error`.

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

/// How long a question waits for an answer from the dashboard before it is left to the
/// terminal alone: five minutes, long enough to reach for a phone, short of Claude Code's
/// own 10-minute limit on a hook. The hook's `timeout` is this plus [`HOOK_MARGIN`].
pub const WAIT: Duration = Duration::from_secs(300);

/// What the client's hook timeout adds to the wait, so the client never kills the hook
/// while it answers.
pub const HOOK_MARGIN: Duration = Duration::from_secs(30);

/// The part of the `PermissionRequest` hook's input sessctl reads.
#[derive(Debug, Deserialize)]
struct HookInput {
    hook_event_name: String,
    tool_name: String,
    #[serde(default)]
    tool_input: Value,
}

/// The tool and its exact input from the hook's stdin `input`.
pub fn parse_hook_input(input: &str) -> Result<(String, Value)> {
    let hook: HookInput =
        serde_json::from_str(input).context("reading the PermissionRequest hook's input")?;
    if hook.hook_event_name != "PermissionRequest" {
        anyhow::bail!(
            "the permission hook was run for {}; it answers PermissionRequest only",
            quoted(&hook.hook_event_name)
        );
    }
    Ok((hook.tool_name, hook.tool_input))
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
/// waiting early once `ended` says the client ended the hook (the question was answered in
/// the terminal), so no stale question stays on the dashboard.
pub fn ask(
    own: &impl Writer,
    input: &str,
    wait: Duration,
    mut ended: impl FnMut() -> bool,
) -> Result<Option<String>> {
    let (tool_name, tool_input) = parse_hook_input(input)?;
    let asked = Asked::new(tool_name, tool_input)?;
    asked.save(own)?;
    log(own, "asked", describe(&asked));
    let answer = Waiting::record(own, "permission").and_then(|_| {
        poll::until(wait, || match ended() {
            true => Ok(Some(None)),
            false => Ok(Decision::load(own.dir().0, &asked.id)?.map(Some)),
        })
    });
    asked.close(own)?;
    match answer? {
        Some(Some(decision)) => {
            // The agent has its answer and works on: it no longer waits.
            Waiting::clear(own)?;
            Ok(Some(hook_output(decision.behavior)))
        }
        Some(None) => {
            log(
                own,
                "withdrawn",
                format!("{}; the client ended the hook", describe(&asked)),
            );
            Ok(None)
        }
        None => {
            let reason = format!("{}; left to the terminal", describe(&asked));
            log(own, "unanswered", reason);
            Ok(None)
        }
    }
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
        let (tool, tool_input) = parse_hook_input(input).unwrap();
        assert_eq!(tool, "Bash");
        assert_eq!(
            tool_input,
            json!({"command": "rm -rf x", "description": "d"})
        );
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
