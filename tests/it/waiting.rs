//! "Waiting for you" for an agent that cannot say it waits: tmux's silence monitor marks the
//! session after `enable --silence` seconds without output, and its next output clears the
//! mark. (Claude says so itself through its hooks: `real_claude.rs`.)
//!
//! The agent is a stand-in shell: what is tested is tmux's monitor and sessctl's mark.

use serde_json::Value;

use crate::support::{log_json, manager, status_json, tmux, wait_for, Env};

fn waiting(env: &Env) -> Value {
    status_json(env)["waiting"].clone()
}

fn shown(env: &Env, option: &str) -> String {
    tmux(&env.socket("web"), &["show-options", "-gwv", option])
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn a_quiet_session_is_marked_waiting_until_its_next_output() {
    let Some(env) = manager("silence") else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--silence", "1", "--", "sh"])
        .stdout_read()
        .run();
    assert_eq!(shown(&env, "monitor-silence"), "1");
    let first = wait_for("the silence mark", || {
        let w = waiting(&env);
        (w["kind"] == "silence").then_some(w)
    });

    tmux(
        &env.socket("web"),
        &["send-keys", "-t", "main", "echo typed", "Enter"],
    )
    .expect("typing");
    // The output clears the mark, and a second later the next quiet marks it again: a wait
    // keeps its start while it lasts, so a later start proves the clear between them, however
    // short the unmarked moment was.
    let next = wait_for(
        "the mark of the next quiet, after the output cleared it",
        || {
            let w = waiting(&env);
            (w["kind"] == "silence" && w["since"] != first["since"]).then_some(w)
        },
    );
    assert!(
        next["since"].as_str() > first["since"].as_str(),
        "{first} then {next}"
    );

    // A stopped session waits for nothing.
    env.sessctl()
        .args(["stop", "web"])
        .stdout("sessctl-web.service: stopped\n")
        .run();
    assert_eq!(waiting(&env), Value::Null);
}

#[test]
fn silence_0_turns_the_monitor_off() {
    let Some(env) = manager("silence-off") else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--silence", "0", "--", "sh"])
        .stdout_read()
        .run();
    assert_eq!(shown(&env, "monitor-silence"), "0");
    assert_eq!(
        tmux(&env.socket("web"), &["show-hooks", "-g", "alert-silence"])
            .unwrap_or_default()
            .trim(),
        "alert-silence"
    );
}

#[test]
fn the_on_waiting_command_runs_outside_the_session_and_its_failure_is_logged() {
    let Some(env) = manager("on-waiting") else {
        return;
    };
    let record = env.scratch.join("on-waiting.record");
    let command = format!(
        "echo \"$SESSCTL_PRODUCT $SESSCTL_WAITING_KIND\" >> '{r}'; cat /proc/self/cgroup >> '{r}'; exit 3",
        r = record.display()
    );
    env.sessctl()
        .args([
            "enable",
            "web",
            "--silence",
            "1",
            "--on-waiting",
            &command,
            "--",
            "sh",
        ])
        .stdout_read()
        .run();
    let before = status_json(&env);
    let text = wait_for("the --on-waiting command's record", || {
        std::fs::read_to_string(&record)
            .ok()
            .filter(|t| t.contains("web silence\n") && t.matches('\n').count() >= 2)
    });
    // It ran in a unit of its own, not in the session's.
    assert!(text.contains("/sessctl-on-waiting@web-"), "{text}");
    assert!(!text.contains("sessctl-web.service"), "{text}");
    // Its failure is logged, and the session is untouched.
    let failure = wait_for("the command's failure in the event log", || {
        log_json(&env, "web")
            .into_iter()
            .find(|e| e["event"] == "on-waiting")
    });
    assert_eq!(
        failure["reason"],
        "the --on-waiting command failed: exit-code (exited 3)"
    );
    let after = status_json(&env);
    for key in ["invocation_id", "main_pid", "agent_pid"] {
        assert_eq!(after[key], before[key], "{key}");
    }
}
