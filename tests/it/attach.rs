//! `sessctl attach` from a real terminal: an outer tmux server plays the user's terminal.

use crate::support::{manager, terminal, tmux, wait_for, SESSCTL};

#[test]
fn attach_starts_a_stopped_session_and_attaches_with_a_terminal() {
    let Some(env) = manager("attach") else {
        return;
    };
    env.sessctl()
        .args([
            "enable",
            "web",
            "--no-start",
            "--",
            "sh",
            "-c",
            "echo agent-ready; exec sleep 100000",
        ])
        .stdout("sessctl-web.service: written, reloaded and enabled\nsessctl-web.service: not started (--no-start)\n").run();
    let bed = env.bed.as_ref().expect("a manager");
    let outer = env.scratch.join("terminal.sock");
    let _terminal = terminal(&outer, &bed.env(), &[SESSCTL, "attach", "web"]);

    let socket = env.socket("web");
    let clients = wait_for("a client attached to the product's session", || {
        tmux(&socket, &["list-clients", "-F", "#{client_pid}"]).filter(|out| !out.trim().is_empty())
    });
    let client: u32 = clients.trim().parse().expect("one client pid");
    let status = env.systemd().status("sessctl-web.service").expect("status");
    let cgroup_of_unit = env
        .systemd()
        .details("sessctl-web.service")
        .expect("details")
        .control_group;
    assert_eq!(
        status.active_state.as_str(),
        "active",
        "attach started the unit"
    );
    // The attached client lives with the terminal; the server and agent stay in the unit.
    let cgroup = std::fs::read_to_string(format!("/proc/{client}/cgroup")).expect("cgroup");
    assert!(!cgroup.contains(&cgroup_of_unit), "{cgroup}");
    let server =
        std::fs::read_to_string(format!("/proc/{}/cgroup", status.main_pid)).expect("cgroup");
    assert!(server.contains(&cgroup_of_unit), "{server}");
    // The user's terminal shows the agent's pane, and the agent too runs in the unit.
    wait_for("the agent's output in the user's terminal", || {
        tmux(&outer, &["capture-pane", "-p"]).filter(|s| s.contains("agent-ready"))
    });
    let agent = tmux(
        &socket,
        &["display-message", "-p", "-t", "main", "#{pane_pid}"],
    )
    .expect("the agent's PID");
    let agent = std::fs::read_to_string(format!("/proc/{}/cgroup", agent.trim())).expect("cgroup");
    assert!(agent.contains(&cgroup_of_unit), "{agent}");
}

#[test]
fn resume_attaches_from_a_terminal_and_gives_the_verdict_again_when_it_returns() {
    let Some(env) = manager("resattach") else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--", "sleep", "100000"])
        .stdout(
            "sessctl-web.service: written, reloaded and enabled\nsessctl-web.service: started\n",
        )
        .run();
    let bed = env.bed.as_ref().expect("a manager");
    let outer = env.scratch.join("terminal.sock");
    let _terminal = terminal(&outer, &bed.env(), &[SESSCTL, "resume", "web"]);
    let socket = env.socket("web");
    wait_for("resume to attach", || {
        tmux(&socket, &["list-clients", "-F", "#{client_pid}"]).filter(|out| !out.trim().is_empty())
    });
    // The user detaches; resume proves the session survived the attach and logs the verdict.
    // (Its terminal closes as soon as resume exits, so the log, not the screen, is the witness.)
    tmux(&socket, &["detach-client", "-s", "main"]).expect("detaching");
    let last = wait_for("the verdict after the attach", || {
        let out = env
            .sessctl()
            .args(["log", "web", "--json"])
            .stdout_read()
            .run();
        let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let last = log.as_array()?.last()?.clone();
        (last["event"] == "attach").then_some(last)
    });
    assert_eq!(last["verdict"], "survived", "{last:#}");
}

#[test]
fn attach_recovers_a_lost_session_says_so_and_exits_4() {
    let Some(env) = manager("attachlost") else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--", "sleep", "100000"])
        .stdout(
            "sessctl-web.service: written, reloaded and enabled\nsessctl-web.service: started\n",
        )
        .run();
    // The session ends behind sessctl's back: sessctl saw it running, so it is lost.
    let systemd = env.systemd();
    systemd.stop("sessctl-web.service").expect("StopUnit");
    let bed = env.bed.as_ref().expect("a manager");
    let code = env.scratch.join("attach.status");
    let script = r#""$0" attach web; echo $? > "$1""#;
    let code_file = code.to_str().expect("a UTF-8 path");
    let _terminal = terminal(
        &env.scratch.join("terminal.sock"),
        &bed.env(),
        &["sh", "-c", script, SESSCTL, code_file],
    );
    let socket = env.socket("web");
    wait_for("attach to attach to the recovered session", || {
        tmux(&socket, &["list-clients", "-F", "#{client_pid}"]).filter(|out| !out.trim().is_empty())
    });
    tmux(&socket, &["detach-client", "-s", "main"]).expect("detaching");
    let status = wait_for("attach's exit status", || {
        std::fs::read_to_string(&code)
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    assert_eq!(status.trim(), "4");
    let out = env
        .sessctl()
        .args(["log", "web", "--json"])
        .stdout_read()
        .run();
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let kinds: Vec<(&str, &str)> = log
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or(""),
                e["verdict"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds[kinds.len() - 3..],
        [("lost", "lost"), ("recovered", ""), ("attach", "lost")],
        "{log:#}"
    );
}
