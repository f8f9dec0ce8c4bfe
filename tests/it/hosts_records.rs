//! Hosts by name (`sessctl host add|list|remove`, hosts.toml), and the `--json` a sessctl on
//! another host answers with: start/stop/restart's, and every report parsed back into its type.

use std::fs;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::support::{manager, Env};

fn hosts_file(env: &Env) -> std::path::PathBuf {
    env.config_home().join("sessctl/hosts.toml")
}

#[test]
fn hosts_are_added_listed_and_removed_by_name() {
    let env = Env::offline();
    env.sessctl()
        .args(["host", "list"])
        .stdout("no hosts; add one with `sessctl host add NAME [user@]host[:port]`\n")
        .run();
    env.sessctl()
        .args(["host", "list", "--json"])
        .stdout("[]\n")
        .run();
    env.sessctl()
        .args(["host", "add", "build", "alice@build.lan:2222"])
        .args(["--sessctl", "~/.cargo/bin/sessctl"])
        .stdout("host build: added (alice@build.lan:2222)\n")
        .run();
    env.sessctl()
        .args(["host", "add", "six", "[fe80::1]:22"])
        .stdout("host six: added ([fe80::1]:22)\n")
        .run();
    assert_eq!(
        fs::read_to_string(hosts_file(&env)).unwrap(),
        "[hosts.build]\ndest = \"alice@build.lan:2222\"\nsessctl = \"~/.cargo/bin/sessctl\"\n\n[hosts.six]\ndest = \"[fe80::1]:22\"\n"
    );
    env.sessctl()
        .args(["host", "add", "six", "[fe80::1]:22"])
        .stdout("host six: unchanged ([fe80::1]:22)\n")
        .run();
    env.sessctl()
        .args(["host", "list"])
        .stdout(concat!(
            "NAME   DEST                  SESSCTL\n",
            "build  alice@build.lan:2222  ~/.cargo/bin/sessctl\n",
            "six    [fe80::1]:22          sessctl\n",
        ))
        .run();
    env.sessctl()
        .args(["host", "list", "--json"])
        .stdout(concat!(
            "[\n",
            "  {\n    \"name\": \"build\",\n    \"dest\": \"alice@build.lan:2222\",\n    \"sessctl\": \"~/.cargo/bin/sessctl\"\n  },\n",
            "  {\n    \"name\": \"six\",\n    \"dest\": \"[fe80::1]:22\",\n    \"sessctl\": null\n  }\n",
            "]\n",
        ))
        .run();
    env.sessctl()
        .args(["host", "remove", "six"])
        .stdout("host six: removed ([fe80::1]:22)\n")
        .run();
    assert_eq!(
        fs::read_to_string(hosts_file(&env)).unwrap(),
        "[hosts.build]\ndest = \"alice@build.lan:2222\"\nsessctl = \"~/.cargo/bin/sessctl\"\n"
    );
}

/// Every refusal is one line naming the value and the fix, exit 2, and leaves the file as it
/// was.
#[test]
fn bad_hosts_are_refused_and_the_file_is_left_as_it_was() {
    let env = Env::offline();
    env.sessctl()
        .args(["host", "add", "build", "alice@build.lan"])
        .stdout("host build: added (alice@build.lan)\n")
        .run();
    let before = fs::read_to_string(hosts_file(&env)).unwrap();
    let refusals: [(&[&str], &str); 6] = [
        (
            &["add", "my box", "box"],
            "sessctl: invalid host name \"my box\": use 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit, for example \"my-box\"\n",
        ),
        (
            &["add", "all", "box"],
            "sessctl: host name \"all\" is reserved: --host all means every host in hosts.toml; choose another name\n",
        ),
        (
            &["add", "evil", "--", "-oProxyCommand=sh"],
            "sessctl: invalid host \"-oProxyCommand=sh\": a part starts with '-'; write [user@]host[:port], e.g. alice@build.lan:2222\n",
        ),
        (
            &["add", "box", "box", "--sessctl", "my sessctl"],
            "sessctl: invalid sessctl program \"my sessctl\": give its path on that host without spaces, e.g. ~/.cargo/bin/sessctl\n",
        ),
        (
            &["add", "build", "bob@build.lan"],
            "sessctl: host build exists already, as alice@build.lan; to change it, run `sessctl host remove build`, then add it again\n",
        ),
        (
            &["remove", "nope"],
            "sessctl: no host \"nope\" in hosts.toml; `sessctl host list` shows the hosts\n",
        ),
    ];
    for (args, said) in refusals {
        env.sessctl()
            .arg("host")
            .args(args)
            .stderr(said)
            .status(2)
            .run();
        assert_eq!(fs::read_to_string(hosts_file(&env)).unwrap(), before);
    }
}

#[test]
fn a_hosts_file_that_does_not_parse_is_named_with_its_line() {
    let env = Env::offline();
    let file = hosts_file(&env);
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, "[hosts.build]\ndest = \"box\"\n[hosts.x\n").unwrap();
    let said = format!(
        "sessctl: cannot read {}, line 3: invalid table header; expected `.`, `]`; fix that line, or move the file aside\n",
        file.display()
    );
    for args in [&["list"][..], &["add", "y", "box"], &["remove", "build"]] {
        env.sessctl()
            .arg("host")
            .args(args)
            .stderr(&said)
            .status(2)
            .run();
    }
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "[hosts.build]\ndest = \"box\"\n[hosts.x\n"
    );
}

/// A write that fails (the config folder mounted read-only) is an error naming the file, and
/// leaves neither a changed file nor a temp file behind. Root writes through a mode, so a
/// read-only bind mount in a mount namespace of the command's own.
#[test]
fn a_failed_write_leaves_the_file_whole_and_no_temp_file() {
    let env = Env::offline();
    env.sessctl()
        .args(["host", "add", "build", "box"])
        .stdout("host build: added (box)\n")
        .run();
    let dir = env.config_home().join("sessctl");
    let script = format!(
        "mount --bind -o ro {dir} {dir} && exec \"$0\" host add six six.lan",
        dir = dir.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", &script, crate::support::SESSCTL])
        .envs(env.vars().map(|(k, v)| (k.clone(), v.clone())))
        .output()
        .expect("running unshare");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.starts_with("sessctl:") {
        // No mount namespace here (not root, or no unshare): skipped, or failed under CI.
        crate::support::skip::<()>(format_args!("no read-only mount: {stderr}"));
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "sessctl: writing {}: ",
            dir.join("hosts.toml").display()
        )),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(dir.join("hosts.toml")).unwrap(),
        "[hosts.build]\ndest = \"box\"\n"
    );
    let left: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["hosts.toml"]);
}

/// `text` parsed into `T` and printed again is `text`: a field `T` drops or cannot parse
/// fails here.
fn round_trip<T: Serialize + DeserializeOwned>(what: &str, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let parsed: T = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{what} does not parse back ({err}):\n{text}"));
    let again = serde_json::to_string_pretty(&parsed).unwrap() + "\n";
    assert_eq!(again, text, "{what} changed in a round trip");
}

fn json_of(env: &Env, args: &[&str]) -> Vec<u8> {
    env.sessctl().args(args).stdout_read().run().stdout
}

#[test]
fn start_stop_restart_json_and_every_report_parse_back_into_their_types() {
    let Some(env) = manager("hostsjson") else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--", "sleep", "100000"])
        .stdout_read()
        .run();
    let done = |action: &str, step: &str, line: &str| {
        let out = json_of(&env, &[action, "web", "--json"]);
        assert_eq!(
            String::from_utf8_lossy(&out),
            format!("{{\n  \"product\": \"web\",\n  \"step\": \"{step}\",\n  \"line\": \"sessctl-web.service: {line}\"\n}}\n")
        );
        round_trip::<sessctl::json::Done>(action, &out);
    };
    done("stop", "stopped", "stopped");
    done("start", "started", "started");
    done("start", "already-active", "already active");
    done("restart", "restarted", "restarted");
    env.sessctl()
        .args(["stop", "web"])
        .stdout("sessctl-web.service: stopped\n")
        .run();
    env.sessctl()
        .args(["start", "web"])
        .stdout("sessctl-web.service: started\n")
        .run();

    let resume = json_of(&env, &["resume", "web", "--no-attach", "--json"]);
    round_trip::<sessctl::json::Resume>("resume --json", &resume);
    round_trip::<sessctl::json::Status>(
        "status web --json",
        &json_of(&env, &["status", "web", "--json"]),
    );
    round_trip::<Vec<sessctl::json::Status>>(
        "status --json",
        &json_of(&env, &["status", "--json"]),
    );
    round_trip::<Vec<sessctl::json::Status>>("list --json", &json_of(&env, &["list", "--json"]));
    round_trip::<Vec<sessctl::json::Event>>(
        "log --json",
        &json_of(&env, &["log", "web", "--json"]),
    );
    let doctor = env
        .sessctl()
        .args(["doctor", "--json"])
        .status_any()
        .stdout_read()
        .run()
        .stdout;
    round_trip::<sessctl::json::Doctor>("doctor --json", &doctor);
}
