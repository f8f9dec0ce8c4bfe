//! The harness for `sessctl --host` on its own (issue 25): hosts in network namespaces, each
//! with its own sshd and private user manager, reached from the desk by ssh; and everything
//! they started gone after the test, also when it panics.

use std::fs;
use std::os::unix::fs::MetadataExt;

use serde_json::Value;

use crate::support::hosts::{self, Lan};
use crate::support::{alive, wait_for, Test};

/// `list --json` as printed by `test`, without the one field that changes by the second.
fn list(test: Test) -> Value {
    hosts::list_json(&test.args(["list", "--json"]).stdout_read().run().stdout)
}

fn names(list: &Value) -> Vec<&str> {
    (list.as_array().expect("an array").iter())
        .map(|p| p["product"].as_str().expect("a product name"))
        .collect()
}

#[test]
fn ssh_to_each_host_reaches_that_hosts_own_manager() {
    let Some(lan) = hosts::lan("lan", 2) else {
        return;
    };
    lan.host("h1")
        .sessctl()
        .args(["enable", "web", "--silence", "0", "--", "sleep", "100000"])
        .stdout_read()
        .run();
    let _desk = lan
        .net
        .enter()
        .expect("entering the desk's network namespace");
    // h2 listens on 2222, so its config's Port is what gets there.
    for (host, products) in [("h1", vec!["web"]), ("h2", vec![])] {
        let local = list(lan.host(host).sessctl());
        let remote = list(lan.ssh(host).arg("sessctl"));
        assert_eq!(remote, local, "sessctl list --json over ssh to {host}");
        assert_eq!(names(&local), products, "{host}'s own list");
    }
    assert_eq!(names(&list(lan.desk.sessctl())), Vec::<&str>::new());
}

/// Starts a connection master from the desk to `host`, as sessctl's will (they live on for
/// minutes), and returns its PID. The caller is in the desk's network namespace.
fn master(lan: &Lan, host: &str) -> u32 {
    let path = format!("ControlPath={}/master-{host}", lan.net.dir().display());
    lan.ssh(host)
        .args([
            "-o",
            "ControlMaster=yes",
            "-o",
            "ControlPersist=600",
            "-o",
            &path,
        ])
        .args(["-f", "-N"])
        .run();
    let check = lan
        .ssh(host)
        .args(["-o", &path, "-O", "check"])
        .stderr_read()
        .run();
    let said = String::from_utf8_lossy(&check.stderr);
    (said.split("pid=").nth(1))
        .and_then(|rest| rest.split(')').next()?.parse().ok())
        .unwrap_or_else(|| panic!("ssh -O check named no master: {said}"))
}

/// The sshd processes in `host`'s network namespace: its listener and every login it serves.
fn sshd_on(lan: &Lan, host: &str) -> Vec<u32> {
    let bed = lan.host(host).bed.as_ref().expect("a manager");
    let ns = fs::metadata(bed.netns_path()).expect("the host's netns");
    (fs::read_dir("/proc").expect("/proc").flatten())
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let net = fs::metadata(format!("/proc/{pid}/ns/net"));
            comm.trim_end() == "sshd"
                && net.is_ok_and(|net| (net.dev(), net.ino()) == (ns.dev(), ns.ino()))
        })
        .collect()
}

#[test]
fn a_hosts_sshd_killed_aside_ends_its_logins_and_refuses_new_ones_while_the_other_serves() {
    let Some(lan) = hosts::lan("lan-kill", 2) else {
        return;
    };
    let _desk = lan
        .net
        .enter()
        .expect("entering the desk's network namespace");
    let master = master(&lan, "h1");
    let bed = lan.host("h1").bed.as_ref().expect("a manager");
    bed.kill_aside().expect("killing h1's sshd");
    wait_for("the master to h1 to end with h1's sshd", || {
        (!alive(master)).then_some(())
    });
    assert_eq!(sshd_on(&lan, "h1"), Vec::<u32>::new());
    let refused = lan.ssh("h1").arg("true").status(255).stderr_read().run();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("Connection refused"), "{said}");
    lan.ssh("h2").arg("true").run();
}

const LAST_WORDS: &str = "the test fails while the hosts are up";

#[test]
fn the_lan_ends_the_desks_ssh_masters_and_the_hosts_end_every_sshd_and_login_also_on_panic() {
    let mut remote = Vec::new();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Some(lan) = hosts::lan("lan-drop", 2) else {
            return;
        };
        let desk = lan
            .net
            .enter()
            .expect("entering the desk's network namespace");
        let masters = [master(&lan, "h1"), master(&lan, "h2")];
        for host in ["h1", "h2"] {
            let sshd = sshd_on(&lan, host);
            // At least: a listener, and the master's login. Not exactly two: a connection's
            // pre-authentication child can still be exiting when `ssh -f` returns.
            assert!(sshd.len() >= 2, "sshd processes on {host}: {sshd:?}");
            remote.extend(sshd);
        }
        // A program a login left running on h1, as an agent's stray child would be.
        let stray = lan
            .ssh("h1")
            .arg("sleep 100000 </dev/null >/dev/null 2>&1 & echo $!")
            .stdout_read()
            .run();
        let stray = String::from_utf8_lossy(&stray.stdout).trim().parse();
        remote.push(stray.expect("the stray's PID"));
        drop(desk);
        let Lan { net, hosts, desk } = lan;
        // The hosts' logins still run, so only the Lan's own drop can end the masters.
        drop(net);
        let left: Vec<u32> = masters.into_iter().filter(|pid| alive(*pid)).collect();
        assert_eq!(
            left,
            Vec::<u32>::new(),
            "masters left after the Lan dropped"
        );
        let _still = (hosts, desk);
        std::panic::panic_any(LAST_WORDS);
    }));
    if remote.is_empty() {
        return; // skipped
    }
    // Only the last panic may have unwound: any assertion before it failed the test.
    let payload = unwound.expect_err("the closure panics at its end");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&LAST_WORDS),
        "the test failed before its end"
    );
    let left: Vec<u32> = remote.into_iter().filter(|pid| alive(*pid)).collect();
    assert_eq!(
        left,
        Vec::<u32>::new(),
        "sshd or a login's program left after the hosts dropped"
    );
}
