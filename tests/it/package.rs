//! The Debian package as a user gets it: `dpkg -i` of the .deb that `./test` builds with
//! cargo-deb, in a throwaway root (an overlay of `/` whose writes go to a tmpfs, in the private
//! manager's mount namespace, where the manager itself runs chrooted), then the installed
//! binary's `--version`, `man sessctl`, the bash completions and `sessctl demo`. The host's
//! own `/usr` is never written.

use std::path::Path;

use crate::support::{manager_with, package, Env, Options};

/// Runs `program ARGS` in the throwaway root; it must succeed. Its stdout.
fn inside(env: &Env, program: &str, args: &[&str]) -> String {
    let out = env
        .sessctl()
        .inside(env, program)
        .args(args)
        .env("MAN_DISABLE_SECCOMP", "1")
        .stdout_read()
        .stderr_read()
        .run();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What bash completes for `words` with the installed completion script, one per line.
fn complete(env: &Env, words: &str) -> Vec<String> {
    let script = format!(
        "source /usr/share/bash-completion/completions/sessctl\n\
         COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMP_TYPE=9\n\
         _clap_complete_sessctl sessctl \"${{COMP_WORDS[COMP_CWORD]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    inside(env, "bash", &["-c", &script])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_package_installs_into_a_throwaway_root_and_its_binary_runs_the_demo() {
    let Some(deb) = package() else { return };
    let options = Options {
        root: true,
        ..Options::default()
    };
    let Some(env) = manager_with("package", options) else {
        return;
    };
    let host_had = Path::new("/usr/bin/sessctl").exists();
    // The root sees the host's /tmp, where the scratch space is.
    let copy = env.scratch.join("sessctl.deb");
    std::fs::copy(&deb, &copy).expect("copying the package");
    inside(&env, "dpkg", &["-i", copy.to_str().expect("UTF-8")]);

    let version = inside(&env, "/usr/bin/sessctl", &["--version"]);
    assert_eq!(version, format!("sessctl {}\n", env!("CARGO_PKG_VERSION")));
    for file in [
        "/usr/lib/systemd/user/app-sessctl.slice",
        "/usr/lib/systemd/user/sessctl-dashboard.socket",
        "/usr/lib/systemd/user/sessctl-dashboard.service",
        "/usr/share/zsh/vendor-completions/_sessctl",
        "/usr/share/fish/vendor_completions.d/sessctl.fish",
    ] {
        inside(&env, "test", &["-s", file]);
    }
    let page = inside(&env, "man", &["-P", "cat", "sessctl"]);
    assert!(page.contains("sessctl-enable(1)"), "{page}");
    let enable = inside(&env, "man", &["-P", "cat", "sessctl-enable"]);
    assert!(enable.contains("--no-start"), "{enable}");

    let dir = env.scratch.to_str().expect("UTF-8");
    inside(
        &env,
        "/usr/bin/sessctl",
        &[
            "enable",
            "web",
            "--no-start",
            "--dir",
            dir,
            "--",
            "sleep",
            "100000",
        ],
    );
    assert!(
        !env.config_home()
            .join("systemd/user/app-sessctl.slice")
            .exists(),
        "enable wrote its own slice beside the package's"
    );
    assert_eq!(complete(&env, "sessctl resume w"), ["web"]);
    let subcommands = complete(&env, "sessctl re");
    assert_eq!(subcommands, ["render", "restart", "resume"]);
    inside(&env, "/usr/bin/sessctl", &["disable", "web", "--purge"]);

    let demo = inside(&env, "/usr/bin/sessctl", &["demo"]);
    assert!(
        demo.contains("demo done: the sessctl session survived; the naive one was lost"),
        "{demo}"
    );
    assert_eq!(
        Path::new("/usr/bin/sessctl").exists(),
        host_had,
        "the host's /usr changed"
    );
}
