//! Bad input is refused with one line naming the value and the fix, exit status 2, and
//! nothing written. None of these reach the user manager, so none needs one.

use std::fs;

use rstest::rstest;

use crate::support::Env;

#[track_caller]
fn refused(env: &Env, args: &[&str], stderr: &str) {
    env.sessctl()
        .args(args)
        .stdout("")
        .stderr(stderr)
        .status(2)
        .run();
    for dir in ["XDG_CONFIG_HOME", "XDG_STATE_HOME"] {
        let left: Vec<_> = walk(&env.var(dir));
        assert!(
            left.is_empty(),
            "{args:?} left files behind in {dir}: {left:?}"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).expect("reading dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

#[rstest]
#[case("my app", "my-app")]
#[case(".web", "web")]
#[case("a/b", "a-b")]
#[case("", "product")]
fn bad_product_names(#[case] name: &str, #[case] suggestion: &str) {
    let env = Env::offline();
    refused(
        &env,
        &["enable", name, "--", "sleep", "1"],
        &format!(
            "sessctl: invalid product name {name:?}: use 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit, for example {suggestion:?}\n"
        ),
    );
}

#[test]
fn a_missing_directory() {
    let env = Env::offline();
    refused(
        &env,
        &["enable", "web", "--dir", "/nonexistent/dir", "--", "sleep", "1"],
        "sessctl: directory \"/nonexistent/dir\" does not exist; pass an existing directory with --dir\n",
    );
}

#[test]
fn a_file_as_directory() {
    let env = Env::offline();
    let file = env.scratch.join("file");
    fs::write(&file, "").expect("writing a file");
    refused(
        &env,
        &[
            "enable",
            "web",
            "--dir",
            file.to_str().expect("utf-8"),
            "--",
            "sleep",
            "1",
        ],
        &format!(
            "sessctl: {:?} is not a directory; pass a directory with --dir\n",
            file
        ),
    );
}

/// tmux's socket must fit in a Unix socket address: a long name under a long runtime
/// directory is refused at enable, before anything is written, naming the limit.
#[test]
fn a_name_whose_tmux_socket_would_not_fit() {
    let mut env = Env::offline();
    // 49 bytes of runtime directory: the socket of a 64-character name takes 132.
    let runtime = std::path::PathBuf::from("/run/user/0/").join("r".repeat(37));
    env.set("XDG_RUNTIME_DIR", Some(runtime.as_os_str()));
    let name = "n".repeat(64);
    refused(
        &env,
        &["enable", &name, "--no-start", "--", "sleep", "1"],
        &format!("sessctl: product name \"{}\"... (64 bytes) makes its tmux socket path 132 bytes long, and a Unix socket path holds at most 107; choose a name of at most 39 characters, or a shorter $XDG_RUNTIME_DIR\n", &name[..48]),
    );
    // At the limit it fits, and the refusal is another one: no manager here.
    let fits = "n".repeat(39);
    let out = env
        .sessctl()
        .args(["enable", &fits, "--no-start", "--", "sleep", "1"])
        .stderr_read()
        .status(3)
        .run();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach the systemd user manager"),
        "{out:?}"
    );
}

#[test]
fn a_command_line_longer_than_systemd_reads() {
    let env = Env::offline();
    // One argument holds at most 128 KiB (MAX_ARG_STRLEN); ten of them make a 1.25 MiB line,
    // and systemd fails to load a unit with a line of 1 MiB or more.
    let word = "w".repeat(128 * 1024 - 1);
    let mut args = vec!["enable", "web", "--no-start", "--", "sleep"];
    args.extend(std::iter::repeat_n(word.as_str(), 10));
    let out = env.sessctl().args(&args).stderr_read().status(2).run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The line's length depends on where the test's binaries are; the rest is pinned.
    let (head, tail) = stderr.split_once(" bytes, ").expect("the line's length");
    assert_eq!(
        tail,
        "and systemd reads no line of 1048576 bytes or more; pass a shorter command or environment (a long prompt can go in a file)\n"
    );
    let length: usize = (head
        .strip_prefix("sessctl: the unit for product web would have an ExecStart= line of "))
    .unwrap_or_else(|| panic!("{stderr}"))
    .parse()
    .expect("a length");
    assert!(length > 10 * word.len(), "{stderr}");
    for dir in ["XDG_CONFIG_HOME", "XDG_STATE_HOME"] {
        assert!(walk(&env.var(dir)).is_empty(), "{dir} was written");
    }
}

#[test]
fn a_command_not_in_path() {
    let env = Env::offline();
    refused(
        &env,
        &["enable", "web", "--", "no-such-agent-cli", "--flag"],
        "sessctl: command \"no-such-agent-cli\" was not found in PATH or is not executable; install it, or give its absolute path after --\n",
    );
}

#[test]
fn the_default_command_claude_must_exist() {
    let env = Env::offline();
    env.sessctl()
        .args(["enable", "web"])
        .env("PATH", "/usr/bin:/bin")
        .stderr("sessctl: command \"claude\" was not found in PATH or is not executable; install it, or give its absolute path after --\n")
        .status(2)
        .run();
}

#[test]
fn a_bad_env_assignment() {
    let env = Env::offline();
    refused(
        &env,
        &["enable", "web", "--env", "1X=y", "--", "sleep", "1"],
        "sessctl: invalid --env \"1X=y\": use KEY=VALUE, KEY made of A-Z a-z 0-9 _ and not starting with a digit\n",
    );
}

#[rstest]
#[case("line\nbreak", "'\\n'")]
#[case("carriage\rreturn", "'\\r'")]
#[case("escape\u{1b}[0m", "'\\u{1b}'")]
fn a_control_character_in_an_argument(#[case] arg: &str, #[case] shown: &str) {
    let env = Env::offline();
    refused(
        &env,
        &["enable", "web", "--", "sleep", arg],
        &format!(
            "sessctl: rendering the unit for product web: {arg:?} contains the control character {shown}, which a unit file cannot carry; remove it\n"
        ),
    );
}

#[test]
fn a_control_character_in_an_env_value() {
    let env = Env::offline();
    refused(
        &env,
        &["enable", "web", "--env", "K=a\nExecStartPre=/bin/evil", "--", "sleep", "1"],
        "sessctl: rendering the unit for product web: \"K=a\\nExecStartPre=/bin/evil\" contains the control character '\\n', which a unit file cannot carry; remove it\n",
    );
}

#[test]
fn a_directory_ending_in_a_backslash() {
    let env = Env::offline();
    let dir = env.scratch.join("ends-in\\");
    fs::create_dir_all(&dir).expect("creating dir");
    let shown = dir.to_str().expect("utf-8");
    refused(
        &env,
        &["enable", "web", "--dir", shown, "--", "sleep", "1"],
        &format!(
            "sessctl: rendering the unit for product web: {shown:?} ends with a backslash or whitespace, which a unit file cannot express; rename the directory\n"
        ),
    );
}

#[test]
fn no_manager_is_exit_status_3_and_writes_nothing() {
    let env = Env::offline();
    let out = env
        .sessctl()
        .args(["enable", "web", "--", "sleep", "1"])
        .env("XDG_RUNTIME_DIR", env.scratch.join("no-runtime"))
        .status(3)
        .stderr("sessctl: cannot reach the systemd user manager (the user bus unix:path=/nonexistent/bus: failed to connect to `unix:path=/nonexistent/bus`: No such file or directory (os error 2)); is `systemd --user` running with dbus-user-session installed? After su or sudo, export XDG_RUNTIME_DIR=/run/user/$(id -u)\n").run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("sessctl: cannot reach the systemd user manager ("),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!env.product_file("web").exists());
    assert!(!env.unit_file("web").exists());
}

#[test]
fn unknown_products() {
    let env = Env::offline();
    let config = env.product_file("ghost");
    for command in ["start", "stop", "restart", "render", "status", "attach"] {
        env.sessctl()
            .args([command, "ghost"])
            .stderr(&format!(
                "sessctl: unknown product \"ghost\": no {}; create it with `sessctl enable ghost`\n",
                config.display()
            ))
            .status(2)
            .run();
    }
    env.sessctl()
        .args(["disable", "ghost"])
        .stderr("sessctl: unknown product \"ghost\": it has no config and no unit; `sessctl list` shows the products\n")
        .status(2)
        .run();
}

#[test]
fn attach_without_a_terminal() {
    let env = Env::offline();
    let dir = env.scratch.to_str().expect("utf-8").to_string();
    let config = format!(
        "name = \"web\"\ndir = \"{dir}\"\ncommand = [\"/bin/sleep\", \"1\"]\ntmux = \"/usr/bin/tmux\"\n"
    );
    fs::create_dir_all(env.product_file("web").parent().expect("parent")).expect("mkdir");
    fs::write(env.product_file("web"), config).expect("writing config");
    env.sessctl()
        .args(["attach", "web"])
        .stderr("sessctl: sessctl attach needs a terminal on stdin; run it from an interactive shell, or use `sessctl start web` to start the session without attaching\n")
        .status(2)
        .run();
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::offline();
    let out = env.sessctl().args(["enable"]).status(2).stderr("error: the following required arguments were not provided:\n  <PRODUCT>\n\nUsage: sessctl enable <PRODUCT> [-- <COMMAND>...]\n\nFor more information, try '--help'.\n").run();
    assert!(String::from_utf8_lossy(&out.stderr).contains("<PRODUCT>"));
}

#[test]
fn a_directory_in_a_symlink_loop_is_not_called_missing() {
    let env = Env::offline();
    let a = env.scratch.join("a");
    std::os::unix::fs::symlink(env.scratch.join("b"), &a).expect("symlink a");
    std::os::unix::fs::symlink(&a, env.scratch.join("b")).expect("symlink b");
    let dir = a.to_str().expect("utf-8");
    refused(
        &env,
        &["enable", "web", "--dir", dir, "--", "sleep", "1"],
        &format!("sessctl: directory {dir:?} cannot be resolved (Too many levels of symbolic links (os error 40)); pass a directory you can reach with --dir\n"),
    );
}

#[test]
fn a_huge_value_is_quoted_as_a_short_prefix() {
    let env = Env::offline();
    let value = format!("K={}\n", "x".repeat(100_000));
    refused(
        &env,
        &["enable", "web", "--env", &value, "--", "sleep", "1"],
        &format!(
            "sessctl: rendering the unit for product web: {:?}... (100003 bytes) contains the control character '\\n', which a unit file cannot carry; remove it\n",
            &value[..48]
        ),
    );
}
