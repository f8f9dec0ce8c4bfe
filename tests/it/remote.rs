//! The ssh adapter against real sshd (`sessctl::remote`, issue 25): `internal call` on a host,
//! and `Link` from the desk: its shared connection and each way a host fails to answer, as
//! the user reads it.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use sessctl::error::{code_of, NO_MANAGER, USAGE};
use sessctl::remote::{Dest, Failure, Hello, Link};

use crate::support::hosts::{self, list_json, Lan};

const HELLO_WITHIN: Duration = Duration::from_secs(30);

/// This sessctl's hello line, as `internal call` prints it.
fn hello_line() -> String {
    serde_json::to_string(&Hello::ours()).expect("the hello as JSON") + "\n"
}

#[test]
fn internal_call_on_a_host_prints_the_hello_then_that_hosts_own_command_and_code() {
    let Some(lan) = hosts::lan("rcall", 1) else {
        return;
    };
    let h1 = lan.host("h1");
    h1.sessctl()
        .args(["enable", "web", "--silence", "0", "--", "sleep", "100000"])
        .stdout_read()
        .run();
    let _desk = lan.net.enter().expect("entering the desk's netns");
    let call = ["sessctl", "internal", "call", "--"];
    let out = lan.ssh("h1").args(call).args(["list", "--json"]);
    let out = out.stdout_read().run().stdout;
    let (hello, rest) = out.split_at(hello_line().len());
    assert_eq!(String::from_utf8_lossy(hello), hello_line());
    let local = h1.sessctl().args(["list", "--json"]).stdout_read().run();
    assert_eq!(list_json(rest), list_json(&local.stdout));
    assert_eq!(list_json(rest)[0]["product"], "web");
    // The command's own code and words, through the exec and sshd.
    let local = h1
        .sessctl()
        .args(["status", "nosuch"])
        .status(2)
        .stderr_read();
    let said = local.run().stderr;
    lan.ssh("h1")
        .args(call)
        .args(["status", "nosuch"])
        .status(2)
        .stdout(&hello_line())
        .stderr(&String::from_utf8_lossy(&said))
        .run();
}

/// A link from the desk to `host` through the Lan's ssh, its master's socket under `dir`.
fn link(lan: &Lan, dir: &Path, host: &str, program: Option<&str>) -> Link {
    let dest = Dest::parse(host).expect("a destination");
    Link::with_ssh(lan.net.ssh().into(), dir, dest, program).expect("a link")
}

/// The one line the user reads for `failure` on `host`, and its exit code.
fn shown(failure: Failure, host: &str) -> (String, u8) {
    let err = failure.error(host, &Dest::parse(host).expect("a destination"));
    (err.to_string(), code_of(&err))
}

/// An executable shell script `name` in `dir` with `body`: a stand-in for another sessctl.
fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("writing the stand-in");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod the stand-in");
    path.display().to_string()
}

#[test]
fn a_link_reuses_its_master_and_names_a_missing_or_incompatible_sessctl_and_the_fix() {
    let Some(lan) = hosts::lan("rlink", 1) else {
        return;
    };
    let _desk = lan.net.enter().expect("entering the desk's netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sessctl = link(&lan, &dir.path().join("ssh"), "h1", None);
    let answer = sessctl
        .call(&["list".into(), "--json".into()], HELLO_WITHIN)
        .expect("an answer");
    assert_eq!(answer.hello, Hello::ours());
    assert_eq!(
        (answer.code, answer.stdout, answer.stderr),
        (0, b"[]\n".to_vec(), String::new())
    );
    let master = fs::metadata(sessctl.control())
        .expect("the master's socket")
        .ino();
    let answer = sessctl
        .call(&["status".into(), "nosuch".into()], HELLO_WITHIN)
        .expect("an answer");
    assert_eq!(answer.code, 2, "{}", answer.stderr);
    let again = fs::metadata(sessctl.control())
        .expect("the master's socket")
        .ino();
    assert_eq!(
        again, master,
        "the second call went through the first one's master"
    );
    // Without a terminal ssh -t says it allocates none, and runs the command all the same.
    let code = sessctl.interactive(&["status".into(), "nosuch".into()]);
    assert_eq!(code.expect("ssh ran"), 2);
    sessctl.close();
    assert!(
        !sessctl.control().exists(),
        "the master ended with its socket"
    );

    let missing = link(&lan, dir.path(), "h1", Some("/nonexistent/sessctl"));
    let failure = missing
        .call(&[], HELLO_WITHIN)
        .expect_err("no such program");
    assert_eq!(failure, Failure::NoProgram("/nonexistent/sessctl".into()));
    assert_eq!(
        shown(failure, "h1"),
        (
            "host h1: cannot run /nonexistent/sessctl there: it is not on the PATH of ssh \
             logins, or no such file; install sessctl there, or give its path: `sessctl host \
             add h1 h1 --sessctl PATH`"
                .to_string(),
            USAGE
        )
    );

    // Stand-ins for other sessctl versions: no release without `internal call`, or with
    // another protocol, exists to install, so each says what such a one would.
    let stand_ins = tempfile::tempdir().expect("tempdir");
    let old = script(
        stand_ins.path(),
        "old",
        "echo \"error: unrecognized subcommand 'internal'\" >&2; exit 2",
    );
    let failure = link(&lan, dir.path(), "h1", Some(&old))
        .call(&[], HELLO_WITHIN)
        .expect_err("too old");
    assert_eq!(failure, Failure::TooOld(None));
    let upgrade_there = "upgrade sessctl on h1";
    let (message, code) = shown(failure, "h1");
    assert!(message.ends_with(upgrade_there), "{message}");
    assert_eq!(code, USAGE);

    for (protocol, side) in [(0, upgrade_there), (99, "upgrade sessctl here")] {
        let hello = format!(r#"{{"sessctl":"9.0.0","protocol":{protocol},"oldest":{protocol}}}"#);
        let other = script(
            stand_ins.path(),
            &format!("p{protocol}"),
            &format!("echo '{hello}'"),
        );
        let failure = link(&lan, dir.path(), "h1", Some(&other))
            .call(&[], HELLO_WITHIN)
            .expect_err("incompatible");
        let (message, code) = shown(failure, "h1");
        assert!(message.ends_with(side), "protocol {protocol}: {message}");
        assert!(message.contains("9.0.0"), "{message}");
        assert_eq!(code, USAGE);
    }

    // A login that greets on stdout, before any command: the hello is not the first line.
    let greeter = script(stand_ins.path(), "greeter", "echo 'Welcome to h1!'; exit 0");
    let failure = link(&lan, dir.path(), "h1", Some(&greeter))
        .call(&[], HELLO_WITHIN)
        .expect_err("no hello");
    assert_eq!(
        shown(failure, "h1"),
        (
            "host h1: what runs as sessctl there did not answer as sessctl does (\"Welcome to \
             h1!\"); check that it is sessctl, and that the login prints nothing for a command"
                .to_string(),
            USAGE
        )
    );
}

#[test]
fn a_host_whose_sshd_was_killed_cannot_be_reached_exit_3() {
    let Some(lan) = hosts::lan("rdown", 1) else {
        return;
    };
    let _desk = lan.net.enter().expect("entering the desk's netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sessctl = link(&lan, dir.path(), "h1", None);
    sessctl
        .call(&[], HELLO_WITHIN)
        .expect("an answer while sshd runs");
    let bed = lan.host("h1").bed.as_ref().expect("a manager");
    bed.kill_aside().expect("killing h1's sshd");
    let failure = sessctl.call(&[], HELLO_WITHIN).expect_err("no sshd");
    let addr = lan.net.hosts()[0].addr;
    let line = format!("ssh: connect to host {addr} port 22: Connection refused");
    assert_eq!(failure, Failure::Unreachable(line.clone()));
    assert_eq!(
        shown(failure, "h1"),
        (
            format!("host h1: cannot be reached ({line}); `ssh h1 true` shows why"),
            NO_MANAGER
        )
    );
}

#[test]
fn a_refused_key_and_an_unknown_host_key_are_exit_3_each_with_its_fix() {
    let Some(lan) = hosts::lan("rauth", 1) else {
        return;
    };
    let _desk = lan.net.enter().expect("entering the desk's netns");
    let dir = tempfile::tempdir().expect("tempdir");
    // The Lan's ssh with one setting of the user's changed: options given first win over
    // its config file.
    let wrapped = |name: &str, options: &str| {
        let ssh = lan.net.ssh().display().to_string();
        script(dir.path(), name, &format!("exec '{ssh}' {options} \"$@\""))
    };
    let cases = [
        (
            wrapped("nokey", "-o PubkeyAuthentication=no"),
            "the key was refused (ssh: root@10.25.1.2: Permission denied (publickey).); \
             ssh-copy-id h1, or ssh-add the key",
        ),
        (
            wrapped("stranger", "-o UserKnownHostsFile=/dev/null"),
            "its host key is unknown or changed (ssh: Host key verification failed.); run `ssh \
             h1` once to check it",
        ),
    ];
    for (i, (ssh, expected)) in cases.into_iter().enumerate() {
        // A control directory of its own: a master made before would skip the check.
        let control = dir.path().join(i.to_string());
        let dest = Dest::parse("h1").expect("a destination");
        let link = Link::with_ssh(ssh.into(), &control, dest, None).expect("a link");
        let failure = link.call(&[], HELLO_WITHIN).expect_err("refused");
        assert_eq!(
            shown(failure, "h1"),
            (format!("host h1: {expected}"), NO_MANAGER)
        );
    }
}
