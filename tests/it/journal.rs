//! Events in the journal: a real systemd-journald, started as a unit of the test's private
//! manager in that manager's mount namespace (its journal directories are tmpfs there, so the
//! host's journal is never written), receives every event of a product's log with sessctl's
//! fields; without a journal, sessctl says nothing and the log has every event.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{log_json, manager, manager_with, Env, Options, SESSCTL};

/// `journalctl ARGS -o json` inside the manager's namespace, one object per entry.
fn journal(env: &Env, args: &[&str]) -> Vec<Value> {
    let out = env
        .sessctl()
        .inside(env, "journalctl")
        .args(args)
        .args(["--output", "json", "--no-pager", "--quiet"])
        .stdout_read()
        .run();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("journalctl -o json prints JSON lines"))
        .collect()
}

/// The kinds of `product`'s events, as `sessctl log` reads them from its JSONL log.
fn logged_kinds(env: &Env, product: &str) -> Vec<String> {
    log_json(env, product)
        .iter()
        .map(|e| e["event"].as_str().expect("an event kind").to_string())
        .collect()
}

/// `product`'s entries once their kinds are exactly `logged`, in order. journald takes a
/// datagram after its sender has moved on, so the last events may still be on their way: the
/// wait ends on the whole list, and a list that never matches fails with what was there.
fn journal_of(env: &Env, product: &str, logged: &[String]) -> Vec<Value> {
    let filter = format!("SESSCTL_PRODUCT={product}");
    let mut seen = Vec::new();
    let found = sessctl::poll::until(Duration::from_secs(60), || {
        let entries = journal(env, &["-t", "sessctl", &filter]);
        seen = entries
            .iter()
            .map(|e| field(e, "SESSCTL_EVENT").to_string())
            .collect();
        Ok((seen == logged).then_some(entries))
    })
    .expect("reading the journal");
    found.unwrap_or_else(|| panic!("{product}'s journal {seen:?} never became its log {logged:?}"))
}

fn field<'a>(entry: &'a Value, name: &str) -> &'a str {
    entry[name].as_str().unwrap_or("")
}

#[test]
fn every_event_of_a_product_reaches_journald_with_its_fields() {
    let options = Options {
        journal: true,
        ..Options::default()
    };
    let Some(env) = manager_with("journal", options) else {
        return;
    };
    let dir = env.scratch.display().to_string();
    let run = |args: &[&str]| {
        env.sessctl()
            .inside(&env, SESSCTL)
            .args(args)
            .stdout_read()
            .run();
    };
    run(&["enable", "web", "--dir", &dir, "--", "sleep", "100000"]);
    run(&["enable", "api", "--dir", &dir, "--", "sleep", "100000"]);
    run(&["resume", "web", "--no-attach"]);
    run(&["stop", "web"]);

    let logged = logged_kinds(&env, "web");
    assert!(
        logged.len() >= 4,
        "enable, start, resume, stop at least: {logged:?}"
    );
    let entries = journal_of(&env, "web", &logged);
    for entry in &entries {
        let kind = field(entry, "SESSCTL_EVENT");
        assert_eq!(field(entry, "SYSLOG_IDENTIFIER"), "sessctl");
        assert_eq!(field(entry, "SESSCTL_PRODUCT"), "web");
        assert_eq!(
            Some(field(entry, "MESSAGE_ID")),
            serde_json::from_value::<sessctl::journal::EventKind>(kind.into())
                .ok()
                .map(|kind| kind.message_id()),
            "{entry}"
        );
        assert!(
            field(entry, "MESSAGE").starts_with(&format!("web: {kind}")),
            "{entry}"
        );
    }
    let resume = entries
        .iter()
        .find(|e| field(e, "SESSCTL_EVENT") == "resume")
        .expect("a resume entry");
    assert_eq!(field(resume, "SESSCTL_VERDICT"), "survived", "{resume}");
    assert!(!field(resume, "SESSCTL_MAIN_PID").is_empty(), "{resume}");
    // Another product's entries are its own.
    journal_of(&env, "api", &logged_kinds(&env, "api"));

    // The unit asks for SESSCTL_PRODUCT on its own output and systemd's messages about it;
    // systemd read it. (systemd 252 applies LogExtraFields= to system units only: the README
    // says what was seen here.)
    let out = Command::new("busctl")
        .envs(env.vars())
        .args([
            "--user",
            "--json=short",
            "get-property",
            "org.freedesktop.systemd1",
        ])
        .arg("/org/freedesktop/systemd1/unit/sessctl_2dweb_2eservice")
        .args(["org.freedesktop.systemd1.Service", "LogExtraFields"])
        .output()
        .expect("running busctl");
    let value: Value = serde_json::from_slice(&out.stdout).expect("busctl --json prints JSON");
    let fields: Vec<String> = value["data"]
        .as_array()
        .expect("an array of byte arrays")
        .iter()
        .map(|bytes| {
            let bytes: Vec<u8> = serde_json::from_value(bytes.clone()).expect("bytes");
            String::from_utf8(bytes).expect("UTF-8")
        })
        .collect();
    assert_eq!(fields, ["SESSCTL_PRODUCT=web"]);
}

#[test]
fn without_a_journal_sessctl_says_nothing_and_logs_every_event() {
    let Some(env) = manager("nojournal") else {
        return;
    };
    // The manager's namespace has an empty /run/systemd: no journal socket at all.
    let dir = env.scratch.display().to_string();
    let entry = env.bed.as_ref().expect("a manager").entry().expect("entry");
    let mut probe = Command::new("test");
    entry.apply(&mut probe);
    let has_socket = probe
        .args(["-e", "/run/systemd/journal/socket"])
        .status()
        .expect("running test");
    assert!(!has_socket.success(), "the namespace has no journal");
    env.sessctl()
        .inside(&env, SESSCTL)
        .args(["enable", "web", "--dir", &dir, "--", "sleep", "100000"])
        .stdout_read()
        .run();
    env.sessctl()
        .inside(&env, SESSCTL)
        .args(["resume", "web", "--no-attach"])
        .stdout_read()
        .run();
    assert_eq!(logged_kinds(&env, "web"), ["enable", "start", "resume"]);
}
