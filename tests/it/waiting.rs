//! "Waiting for you" for an agent that cannot say it waits: tmux's silence monitor marks the
//! session after `enable --silence` seconds without output, and its next output clears the
//! mark. (Claude says so itself through its hooks: `real_claude.rs`.)
//!
//! The agent is a stand-in shell: what is tested is tmux's monitor and sessctl's mark.

use serde_json::Value;

use crate::support::{manager, status_json, tmux, wait_for, Env};

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
    wait_for("the silence mark", || {
        (waiting(&env)["kind"] == "silence").then_some(())
    });

    tmux(
        &env.socket("web"),
        &["send-keys", "-t", "main", "echo typed", "Enter"],
    )
    .expect("typing");
    wait_for("the mark to clear on the next output", || {
        waiting(&env).is_null().then_some(())
    });
    wait_for("the next silence mark", || {
        (waiting(&env)["kind"] == "silence").then_some(())
    });

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
