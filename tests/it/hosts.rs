//! `sessctl --host` and `product@host` against real hosts: each a network namespace with its
//! own sshd and private user manager ([`crate::support::hosts`]), reached over real ssh from
//! the desk. What a remote command prints and how it exits is compared with the same command
//! run on that host itself.

use regex::Regex;
use serde_json::Value;

use crate::support::hosts::{self, Lan};
use crate::support::{
    alive, assert_lost_and_recovered, resume_any, terminal, tmux, wait_for, Env, Test, SESSCTL,
};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Enables `product` on `env`'s host: a stand-in agent that says it is ready and sleeps.
pub fn enable(env: &Env, product: &str) {
    env.sessctl()
        .args(["enable", product, "--silence", "0", "--"])
        .args(["sh", "-c", "echo agent-ready; exec sleep 100000"])
        .stdout_read()
        .run();
}

/// What `test` printed and its exit code, with uptimes (which move by the second, as text or
/// as JSON's `uptime_seconds`) replaced.
fn printed(test: Test) -> (String, String, i32) {
    let out = test.status_any().stdout_read().stderr_read().run();
    let uptime =
        Regex::new(r#"\b\d+[smhd]( \d+[smhd])*\b|"uptime_seconds": \d+"#).expect("a regex");
    let text = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        uptime.replace_all(&text, "[up]").into_owned()
    };
    (
        text(&out.stdout),
        text(&out.stderr),
        out.status.code().expect("an exit code"),
    )
}

/// `args` run on `host` through the desk's `sessctl --host`, and on the host itself: both
/// print the same and exit the same.
#[track_caller]
fn same_as_local(lan: &Lan, host: &str, args: &[&str]) -> (String, String, i32) {
    let remote = printed(lan.desk.sessctl().args(["--host", host]).args(args));
    let local = printed(lan.host(host).sessctl().args(args));
    assert_eq!(remote, local, "sessctl --host {host} {args:?}");
    remote
}

#[test]
fn list_and_status_on_a_host_print_and_exit_as_they_do_there() {
    let Some(lan) = hosts::lan("hl", 2) else {
        return;
    };
    enable(lan.host("h1"), "web");
    enable(lan.host("h2"), "api");
    let _desk = lan.net.enter().expect("entering the desk's network");

    let (list, _, code) = same_as_local(&lan, "h1", &["list"]);
    assert!(list.contains("\nweb "), "{list}");
    assert_eq!(code, 0);
    same_as_local(&lan, "h1", &["list", "--json"]);
    // h2 listens on 2222: the port comes from the user's ssh config for its name.
    same_as_local(&lan, "h2", &["status", "api"]);
    same_as_local(&lan, "h2", &["status", "api", "--json"]);
    let (_, err, code) = same_as_local(&lan, "h1", &["status", "nosuch"]);
    assert_eq!(code, 2, "{err}");
    // The desk has no products of its own: nothing went through shared files.
    lan.desk
        .sessctl()
        .args(["list", "--json"])
        .stdout("[]\n")
        .run();

    // Several hosts: one section each, headed by the host and its sessctl.
    let (both, _, code) = printed(lan.desk.sessctl().args(["--host", "h1,h2", "list"]));
    let one = |host: &str| printed(lan.host(host).sessctl().arg("list")).0;
    assert_eq!(
        (both, code),
        (
            format!(
                "host h1 (sessctl {VERSION})\n{}\nhost h2 (sessctl {VERSION})\n{}",
                one("h1"),
                one("h2")
            ),
            0
        )
    );
    let out = lan
        .desk
        .sessctl()
        // A host named twice is asked once.
        .args(["--host", "h1,h2", "--host", "h1", "list", "--json"])
        .stdout_read()
        .run();
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let hosts: Vec<(&str, &str, usize)> = (json.as_array().expect("an array").iter())
        .map(|h| {
            (
                h["host"].as_str().expect("host"),
                h["sessctl"].as_str().expect("sessctl"),
                h["products"].as_array().expect("products").len(),
            )
        })
        .collect();
    assert_eq!(hosts, [("h1", VERSION, 1), ("h2", VERSION, 1)]);
}

#[test]
fn resume_on_a_host_proves_survival_recovers_a_killed_session_and_stop_stops_it_there() {
    let Some(lan) = hosts::lan("hr", 1) else {
        return;
    };
    enable(lan.host("h1"), "web");
    let _desk = lan.net.enter().expect("entering the desk's network");

    let (first, code) = resume_any(&lan.desk, "web@h1");
    assert_eq!(
        (first["verdict"].as_str(), code),
        (Some("survived"), 0),
        "{first:#}"
    );
    // The same PID namespace: the remote agent is a local PID to kill, as a crash would.
    let agent = first["after"]["agent_pid"].as_u64().expect("an agent PID") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("killing the agent");
    wait_for("the agent gone", || (!alive(agent as u32)).then_some(()));
    let (lost, code) = resume_any(&lan.desk, "web@h1");
    assert_lost_and_recovered(&lost, code);

    lan.desk
        .sessctl()
        .args(["stop", "web@h1"])
        .stdout_read()
        .run();
    let state = lan.host("h1").systemd().status("sessctl-web.service");
    assert_eq!(
        state.expect("the unit's state").active_state.as_str(),
        "inactive"
    );
    // A product named with a host and another --host is a contradiction, not a guess.
    lan.desk
        .sessctl()
        .args(["--host", "h2", "stop", "web@h1"])
        .stderr("sessctl: web@h1 names host h1 but --host says h2; give one of them\n")
        .status(2)
        .run();
}

#[test]
fn attach_on_a_host_shows_its_pane_in_the_desks_terminal_and_detaching_leaves_it_running() {
    let Some(lan) = hosts::lan("ha", 1) else {
        return;
    };
    let h1 = lan.host("h1");
    enable(h1, "web");
    let _desk = lan.net.enter().expect("entering the desk's network");
    let outer = lan.desk.scratch.join("terminal.sock");
    let script = lan.desk.scratch.join("attach.sh");
    // The terminal keeps the command's exit code on screen after it ends.
    std::fs::write(
        &script,
        format!("{SESSCTL} --host h1 attach web; echo \"attach exited $?\"; exec sleep 100000\n"),
    )
    .expect("writing the terminal's script");
    let script = script.to_string_lossy().into_owned();
    let desk: Vec<_> = (lan.desk.vars())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let _terminal = terminal(&outer, &desk, &["sh", &script]);

    wait_for("the agent's pane in the desk's terminal", || {
        tmux(&outer, &["capture-pane", "-p"]).filter(|s| s.contains("agent-ready"))
    });
    let socket = h1.socket("web");
    wait_for("a client attached on h1", || {
        tmux(&socket, &["list-clients", "-F", "#{client_pid}"]).filter(|c| !c.trim().is_empty())
    });
    // Detach as a user does (tmux's default prefix, then d).
    tmux(&outer, &["send-keys", "C-b", "d"]).expect("pressing prefix d");
    wait_for("attach to end with 0", || {
        tmux(&outer, &["capture-pane", "-p"]).filter(|s| s.contains("attach exited 0"))
    });
    let state = h1.systemd().status("sessctl-web.service").expect("state");
    assert_eq!(state.active_state.as_str(), "active");
}

#[test]
fn a_host_that_cannot_be_reached_or_named_is_a_one_line_error_with_its_fix() {
    let Some(mut lan) = hosts::lan("he", 1) else {
        return;
    };
    let _desk = lan.net.enter().expect("entering the desk's network");
    lan.desk
        .sessctl()
        .args(["--host=-oProxyCommand=x", "list"])
        .stderr("sessctl: \"-oProxyCommand=x\" is no host in hosts.toml (`sessctl host list`): invalid host \"-oProxyCommand=x\": a part starts with '-'; write [user@]host[:port], e.g. alice@build.lan:2222\n")
        .status(2)
        .run();
    let bed = lan.hosts[0].bed.as_mut().expect("h1's testbed");
    bed.kill_aside().expect("stopping h1's sshd");
    let (_, err, code) = printed(lan.desk.sessctl().args(["--host", "h1", "list"]));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.starts_with("sessctl: host h1: cannot be reached (ssh: ")
            && err.ends_with("; `ssh h1 true` shows why\n"),
        "{err}"
    );
}

#[test]
fn a_named_host_shares_one_connection_and_removing_it_ends_that_connection() {
    let Some(lan) = hosts::lan("hn", 1) else {
        return;
    };
    enable(lan.host("h1"), "web");
    let _desk = lan.net.enter().expect("entering the desk's network");
    lan.desk
        .sessctl()
        .args(["host", "add", "build", "h1"])
        .stdout("host build: added (h1)\n")
        .run();
    let local = printed(lan.host("h1").sessctl().arg("list"));
    for _ in 0..2 {
        assert_eq!(
            printed(lan.desk.sessctl().args(["--host", "build", "list"])),
            local
        );
    }
    assert_eq!(
        printed(lan.desk.sessctl().args(["status", "web@build", "--json"])),
        printed(lan.host("h1").sessctl().args(["status", "web", "--json"]))
    );
    let sockets = lan.control_sockets();
    assert_eq!(sockets.len(), 1, "one shared connection: {sockets:?}");
    // `all` is every host added.
    let (all, _, code) = printed(lan.desk.sessctl().args(["--host", "all", "list"]));
    assert_eq!((all, code), (local.0.clone(), 0));

    lan.desk
        .sessctl()
        .args(["host", "remove", "build"])
        .stdout("host build: removed (h1)\n")
        .run();
    assert_eq!(lan.control_sockets(), Vec::<std::path::PathBuf>::new());
    // Now `build` is only a name ssh cannot resolve (its words for that vary by resolver).
    let (_, err, code) = printed(lan.desk.sessctl().args(["stop", "web@build"]));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.starts_with(
            "sessctl: host build: cannot be reached (ssh: Could not resolve hostname build: "
        ) && err.ends_with("; `ssh build true` shows why\n"),
        "{err}"
    );
}
