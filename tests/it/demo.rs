//! `sessctl demo` on a machine with no reachable user manager: it starts its own, shows both
//! launches, and leaves nothing behind.

use std::process::{Command, Stdio};

use crate::support::SESSCTL;

/// Runs the demo `cmd` execs into with no user manager in reach: its PID (the demo's own) and
/// what it printed; `None`, with the reason, where a test cannot run it (not root, outside CI).
fn demo(cmd: &mut Command) -> Option<(u32, std::process::Output)> {
    if !nix::unistd::geteuid().is_root() {
        return crate::support::skip(format_args!(
            "the demo needs root to start a private manager here"
        ));
    }
    let child = cmd
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running sessctl demo");
    let pid = child.id();
    Some((pid, crate::support::finish_within(child, "sessctl demo")))
}

#[test]
fn demo_runs_without_a_user_manager_and_cleans_up() {
    let Some((pid, out)) = demo(Command::new(SESSCTL).arg("demo")) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let product = format!("demo-{pid}");
    for expected in [
        format!("- started a private systemd --user in cgroup /sessctl-demo-{pid}-0\n"),
        format!("$ sessctl enable {product} --dir /tmp/sessctl-{product} -- /tmp/sessctl-{product}/agent\n  sessctl-{product}.service: written, reloaded and enabled\n  sessctl-{product}.service: started\n"),
        format!("$ sessctl resume {product} --no-attach\n  sessctl-{product}.service: survived, up "),
        format!("- lost: sessctl-{product}-naive.service is inactive and systemd killed its tmux session with it\n"),
        format!("$ sessctl disable {product} --purge\n"),
        "\ndemo done: the sessctl session survived; the naive one was lost\n".to_string(),
    ] {
        assert!(stdout.contains(&expected), "missing {expected:?} in:\n{stdout}");
    }
    for hierarchy in [
        "/sys/fs/cgroup/systemd",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup",
    ] {
        let left = std::path::Path::new(hierarchy).join(format!("sessctl-demo-{pid}-0"));
        assert!(!left.exists(), "{} was left behind", left.display());
    }
    assert!(!std::path::Path::new(&format!("/tmp/sessctl-{product}")).exists());
}

/// On a host booted with systemd (here: a private mount namespace where `/run/systemd/system`
/// exists, as sd_booted(3) tests) without a reachable user manager, the demo refuses rather
/// than make cgroups in PID 1's tree.
#[test]
fn demo_never_starts_a_private_manager_on_a_systemd_host() {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "sh",
        "-c",
        r#"mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && exec "$0" demo"#,
        SESSCTL,
    ]);
    let Some((pid, out)) = demo(&mut cmd) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.ends_with("; the demo needs your user manager (on a host booted with systemd), or root on a host without systemd to start a private one\n"),
        "{stderr}"
    );
    for hierarchy in [
        "/sys/fs/cgroup/systemd",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup",
    ] {
        let made = std::path::Path::new(hierarchy).join(format!("sessctl-demo-{pid}-0"));
        assert!(!made.exists(), "{} was made", made.display());
    }
}
