//! Every rendering, over a matrix of options, passes `systemd-analyze --user verify` with no
//! warning at all (verify exits 0 on a skipped line, so any output is a failure), and the slice
//! from `units/` passes too.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use rstest::rstest;
use sessctl::unit::{self, ServiceSpec};

use crate::support::SESSCTL;

const PLAIN_DIR: &str = "plain";
const HOSTILE_DIR: &str = "a dir with 'single' \"double\" %n $HOME \\ ; ü -x";

fn verify(unit_dir: &Path, file: &Path) {
    let root = unit_dir
        .parent()
        .and_then(Path::parent)
        .expect("config home's parent");
    let runtime = root.join("run");
    fs::create_dir_all(&runtime).expect("creating runtime dir");
    let out = Command::new("systemd-analyze")
        .args(["--user", "verify"])
        .arg(file)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", root)
        .env(
            "XDG_CONFIG_HOME",
            unit_dir
                .parent()
                .and_then(Path::parent)
                .expect("config home"),
        )
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("running systemd-analyze (apt-get install systemd)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.is_empty(),
        "{}:\n{text}",
        file.display()
    );
}

#[rstest]
fn every_rendering_verifies(
    #[values(PLAIN_DIR, HOSTILE_DIR)] dir_name: &str,
    #[values(false, true)] hostile_program_path: bool,
    #[values(0, 1, 3)] extra_args: usize,
    #[values(0, 1, 2)] env_count: usize,
    #[values(false, true)] pinned: bool,
) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config_home = tmp.path().join("config");
    let unit_dir = config_home.join("systemd/user");
    fs::create_dir_all(&unit_dir).expect("creating unit dir");
    let dir = tmp.path().join(dir_name);
    fs::create_dir_all(&dir).expect("creating the product dir");
    let bin_dir = if hostile_program_path {
        dir.clone()
    } else {
        tmp.path().join("bin")
    };
    fs::create_dir_all(&bin_dir).expect("creating bin dir");
    let program = bin_dir.join("agent");
    fs::write(&program, "#!/bin/sh\n").expect("writing program");
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).expect("chmod");

    let mut command = vec![program.to_str().expect("utf-8").to_string()];
    let hostile = [
        "--flag=a b",
        "it's",
        "say \"hi\"",
        "100%",
        "$HOME",
        ";",
        "back\\slash",
        "-x",
        "ü",
    ];
    command.extend(
        hostile
            .iter()
            .cycle()
            .take(extra_args)
            .map(|s| s.to_string()),
    );
    let env: Vec<(String, String)> = [("PLAIN", "value"), ("HOSTILE", "a $b %c \"d\" 'e' \\f")]
        .iter()
        .take(env_count)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let name = "matrix";
    let text = unit::render_service(&ServiceSpec {
        product: name,
        dir: dir.to_str().expect("utf-8"),
        command: &command,
        env: &env,
        sessctl: SESSCTL,
        tmux: "/usr/bin/tmux",
        pin: pinned.then_some("/home/u/.local/state/sessctl/web 50%/pin.json"),
        keep_snapshots: "10",
        agent: "claude",
        state: "/home/u/.local/state/sessctl/products/web 50%",
        stagger: "2",
        silence: "30",
        on_waiting: Some("curl -d \"$SESSCTL_PRODUCT 100%\" ntfy.sh/t"),
    })
    .expect("rendering");
    fs::write(unit_dir.join(unit::SLICE_NAME), unit::SLICE_TEXT).expect("writing slice");
    let file = unit_dir.join(unit::unit_name(name));
    fs::write(&file, text).expect("writing unit");
    verify(&unit_dir, &file);
    verify(&unit_dir, &unit_dir.join(unit::SLICE_NAME));
}
