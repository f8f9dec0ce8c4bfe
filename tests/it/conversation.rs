//! A claude product on the real manager, with a stand-in `claude` that records how it was
//! started and writes its transcript: the pinned conversation survives restarts, kills,
//! manager re-execs, and a repair adopted in its place.
//!
//! What the real Claude Code does is tested with the real client in `real_claude.rs`. The
//! stand-in stays for what the real client cannot show here: the exact argv of every start
//! across manager restarts and re-execs, a 1.0.x transcript's 400 shape (the pinned client
//! mends it), a second writer started behind sessctl's back, a client that continues in a
//! new file, and Codex, which is not installed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use crate::support::{assert_lost_and_recovered, log_json, manager, status_json, wait_for, Env};

const UNIT: &str = "sessctl-web.service";

/// The stand-in: appends its arguments to `claude.args`, appends a record to the transcript of
/// the conversation it was given, and waits.
fn stand_in(env: &Env) -> PathBuf {
    let path = env.scratch.join("bin/claude");
    fs::create_dir_all(path.parent().expect("dir")).expect("bin dir");
    let script = format!(
        r#"#!/bin/sh
# The --settings sessctl adds (the waiting hooks) is recorded apart, to claude.settings.
skip=""; first=1
for a in "$@"; do
  if [ -n "$first" ]; then set --; first=""; fi
  if [ -n "$skip" ]; then printf '%s' "$a" > '{settings}'; skip=""; continue; fi
  if [ "$a" = "--settings" ]; then skip=1; continue; fi
  set -- "$@" "$a"
done
prev=""; id=""
for a in "$@"; do
  case "$prev" in --session-id|--resume) id="$a";; esac
  prev="$a"
done
dir="$CLAUDE_CONFIG_DIR/projects/$(pwd | sed 's/[^a-zA-Z0-9]/-/g')"
mkdir -p "$dir"
n=$(date +%s%N)
from=""
if [ -n "$CONTINUE_IN_NEW_FILE" ] && [ "$prev" != "" ] && [ -f "$dir/$id.jsonl" ]; then
  from="$id"; id=$(cat /proc/sys/kernel/random/uuid)
fi
if [ -n "$from" ]; then
  printf '{{"parentUuid":null,"type":"user","uuid":"cont-%s","sessionId":"%s","forkedFrom":{{"sessionId":"%s","messageUuid":"x"}},"message":{{"role":"user","content":"continued"}}}}\n' "$n" "$id" "$from" >> "$dir/$id.jsonl"
fi
printf '{{"parentUuid":null,"isSidechain":false,"type":"user","uuid":"start-%s","sessionId":"%s","message":{{"role":"user","content":"started"}}}}\n' "$n" "$id" >> "$dir/$id.jsonl"
# Recorded last, so a test that sees the start also sees the transcript.
echo "$*" >> '{record}'
trap 'exit 0' TERM
sleep 100000 &
wait
"#,
        record = env.scratch.join("claude.args").display(),
        settings = env.scratch.join("claude.settings").display()
    );
    fs::write(&path, script).expect("stand-in");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// A private manager with a claude product `web` running the stand-in, its transcripts under
/// the test's own CLAUDE_CONFIG_DIR; `extra` goes to `enable` before the command.
fn claude_product(label: &str, extra: &[&str]) -> Option<(Env, PathBuf, PathBuf)> {
    let mut env = manager(label)?;
    let claude_dir = env.scratch.join("claude");
    env.set("CLAUDE_CONFIG_DIR", Some(claude_dir.as_os_str()));
    let agent = stand_in(&env);
    let settings = format!("CLAUDE_CONFIG_DIR={}", claude_dir.display());
    let mut args = vec!["enable", "web", "--env", &settings];
    args.extend_from_slice(extra);
    args.push("--");
    env.sessctl()
        .args(args)
        .arg(agent.as_os_str())
        .stdout_read()
        .run();
    Some((env, claude_dir, agent))
}

/// The kinds of `product`'s events, oldest first.
fn events(env: &Env, product: &str) -> Vec<String> {
    log_json(env, product)
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Two more claude products join `web` (on its conversation `web_id`), and the manager
/// restarts as at a login: every product comes back on its own conversation, and no two
/// agents start within a second of each other (`--stagger 1`).
fn every_product_comes_back_staggered(env: &mut Env, settings: &str, agent: &Path, web_id: &str) {
    let mut ids = vec![format!("--resume {web_id} --model opus")];
    for name in ["api", "docs"] {
        env.sessctl()
            .args(["enable", name, "--env", settings, "--stagger", "1", "--"])
            .arg(agent.as_os_str())
            .stdout_read()
            .run();
        ids.push(format!("--resume {}", pinned_of(env, name)));
    }
    wait_for("the first starts of api and docs", || {
        let all = starts(env);
        ["api", "docs"]
            .iter()
            .all(|p| all.contains(&format!("--session-id {}", pinned_of(env, p))))
            .then_some(())
    });
    let before = starts(env).len();
    let restart_ms = now_ms();
    env.bed
        .as_mut()
        .expect("a manager")
        .restart()
        .expect("restarting the manager");
    wait_starts(env, before + 3);
    let mut resumed = starts(env)[before..].to_vec();
    resumed.sort();
    ids.sort();
    assert_eq!(resumed, ids);
    let slots = fs::read_to_string(env.var("XDG_RUNTIME_DIR").join("sessctl/start-slot"))
        .expect("the start slot file");
    let mut starts_ms: Vec<(u64, String)> = slots
        .lines()
        .filter_map(sessctl::stagger::parse)
        .filter(|(ms, _)| *ms >= restart_ms)
        .map(|(ms, product)| (ms, product.to_string()))
        .collect();
    starts_ms.sort();
    let mut products: Vec<&str> = starts_ms.iter().map(|(_, p)| p.as_str()).collect();
    products.sort();
    assert_eq!(products, ["api", "docs", "web"], "{slots}");
    for pair in starts_ms.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 >= 1000,
            "starts closer than 1 s: {starts_ms:?}"
        );
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_millis() as u64
}

fn starts(env: &Env) -> Vec<String> {
    fs::read_to_string(env.scratch.join("claude.args"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[track_caller]
fn wait_starts(env: &Env, n: usize) -> String {
    wait_for(&format!("start {n} of the agent"), || {
        let all = starts(env);
        (all.len() >= n).then(|| all[n - 1].clone())
    })
}

fn pinned(env: &Env) -> String {
    pinned_of(env, "web")
}

fn pinned_of(env: &Env, product: &str) -> String {
    let pin = env
        .var("XDG_STATE_HOME")
        .join(format!("sessctl/products/{product}/pin.json"));
    let pin: Value = serde_json::from_str(&fs::read_to_string(pin).expect("pin")).expect("JSON");
    pin["session_id"].as_str().expect("id").to_string()
}

fn resume(env: &Env) -> (Value, i32) {
    let out = env
        .sessctl()
        .args(["resume", "web", "--no-attach", "--json"])
        .status_any()
        .stdout_read()
        .run();
    (
        serde_json::from_slice(&out.stdout).expect("JSON"),
        out.status.code().expect("code"),
    )
}

#[test]
fn a_claude_product_keeps_its_conversation() {
    let Some(mut env) = manager("pin") else {
        return;
    };
    let claude_dir = env.scratch.join("claude");
    env.set("CLAUDE_CONFIG_DIR", Some(claude_dir.as_os_str()));
    let agent = stand_in(&env);
    let project = env.scratch.join("project");
    fs::create_dir_all(&project).expect("project");
    let settings = format!("CLAUDE_CONFIG_DIR={}", claude_dir.display());
    let out = env
        .sessctl()
        .args(["enable", "web", "--dir"])
        .arg(project.as_os_str())
        .args(["--env", &settings, "--"])
        .arg(agent.as_os_str())
        .args(["--model", "opus"])
        .stdout_redacted("sessctl-web.service: pinned to conversation [uuid]\nsessctl-web.service: written, reloaded and enabled\nsessctl-web.service: started\n").run();
    let id = pinned(&env);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("{UNIT}: pinned to conversation {id}\n")));
    assert_eq!(
        wait_starts(&env, 1),
        format!("--session-id {id} --model opus")
    );
    // Right after the program, the settings whose hooks record a wait for the human.
    let state = env.var("XDG_STATE_HOME").join("sessctl/products/web");
    let notify = format!(
        "{} internal notify --state {}",
        sessctl::product::shell_quote(crate::support::SESSCTL),
        sessctl::product::shell_quote(state.to_str().expect("utf-8"))
    );
    let hook = |args: &str| json!([{"hooks": [{"type": "command", "command": format!("{notify} {args}")}]}]);
    let hooks: Value = serde_json::from_str(
        &fs::read_to_string(env.scratch.join("claude.settings")).expect("claude.settings"),
    )
    .expect("the settings are JSON");
    // And the hook that asks the dashboard about a tool call: 5 minutes, and a margin.
    let permission = format!(
        "{} internal permission --state {} --wait 300",
        sessctl::product::shell_quote(crate::support::SESSCTL),
        sessctl::product::shell_quote(state.to_str().expect("utf-8"))
    );
    let permission =
        json!([{"hooks": [{"type": "command", "command": permission, "timeout": 330}]}]);
    assert_eq!(
        hooks,
        json!({"hooks": {"Stop": hook("stop"), "Notification": hook("notification"), "UserPromptSubmit": hook("--clear"), "PermissionRequest": permission}})
    );

    env.sessctl()
        .args(["restart", "web"])
        .stdout("sessctl-web.service: restarted\n")
        .run();
    assert_eq!(wait_starts(&env, 2), format!("--resume {id} --model opus"));

    // A killed agent: systemd restarts it on the same conversation, and the next resume
    // reports the loss once, recovered.
    let (v, _) = resume(&env);
    kill(
        Pid::from_raw(v["after"]["agent_pid"].as_i64().expect("agent") as i32),
        Signal::SIGKILL,
    )
    .expect("kill");
    assert_eq!(wait_starts(&env, 3), format!("--resume {id} --model opus"));
    let (lost, code) = resume(&env);
    assert_lost_and_recovered(&lost, code);
    assert_eq!(resume(&env).0["verdict"], "survived");

    // The manager re-executes: the agent keeps running, nothing restarts.
    let _ = env.systemd().reexecute();
    wait_for("the manager after Reexecute", || {
        env.bed.as_ref()?.connect().ok()?.status(UNIT).ok()
    });
    assert_eq!(resume(&env).0["verdict"], "survived");
    assert_eq!(starts(&env).len(), 3);

    // The manager itself restarts (a logout and login, a reboot): the enabled unit starts with
    // it, and the agent resumes the same conversation.
    env.bed
        .as_mut()
        .expect("a manager")
        .restart()
        .expect("restarting the manager");
    assert_eq!(wait_starts(&env, 4), format!("--resume {id} --model opus"));
    // A product that starts alone never waits for a start slot.
    assert!(!events(&env, "web").contains(&"agent-start".to_string()));
    every_product_comes_back_staggered(&mut env, &settings, &agent, &id);

    let status = status_json(&env);
    let transcript = PathBuf::from(
        status["conversation"]["transcript"]
            .as_str()
            .expect("a transcript"),
    );
    assert_eq!(status["conversation"]["session_id"], id.as_str());
    assert!(transcript.starts_with(claude_dir.join("projects")));
    assert!(status["conversation"]["bytes"].as_u64().expect("bytes") > 0);
    // Retention: by default Claude Code deletes transcripts after 30 days.
    let out = env
        .sessctl()
        .args(["transcript", "check", "web", "--json"])
        .status(6)
        .stdout_read()
        .run();
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["findings"][0]["id"], "retention");
    fs::write(
        claude_dir.join("settings.json"),
        "{\"cleanupPeriodDays\": 99999}",
    )
    .expect("settings");
    env.sessctl()
        .args(["transcript", "check", "web"])
        .stdout_read()
        .run();

    let started = starts(&env).len();
    // The transcript breaks: a tool call whose result never came, written by a 1.0.x client,
    // which sends such a call as it is and gets the API's 400. (The pinned 2.1 client mends it
    // itself, as the real-client tests show; only this stand-in can write the old shape.)
    let mut text = fs::read_to_string(&transcript).expect("transcript");
    text.push_str(&format!(
        "{{\"parentUuid\":null,\"type\":\"assistant\",\"version\":\"1.0.51\",\"uuid\":\"zz-call\",\"sessionId\":\"{id}\",\"message\":{{\"id\":\"m1\",\"role\":\"assistant\",\"content\":[{{\"type\":\"tool_use\",\"id\":\"toolu_cut\",\"name\":\"Bash\",\"input\":{{}}}}]}}}}\n"
    ));
    fs::write(&transcript, &text).expect("breaking it");
    let before = fs::read(&transcript).expect("bytes");
    let mtime = fs::metadata(&transcript)
        .expect("meta")
        .modified()
        .expect("mtime");
    env.sessctl()
        .args(["transcript", "check", "web"])
        .status(5)
        .stdout_read()
        .run();

    // Down, it is not started into the same failure: resume and status say what to run.
    env.sessctl()
        .args(["stop", "web"])
        .stdout("sessctl-web.service: stopped\n")
        .run();
    let (v, code) = resume(&env);
    assert_eq!(
        (v["verdict"].as_str(), code),
        (Some("needs-repair"), 5),
        "{v:#}"
    );
    let fix = "run `sessctl transcript repair web --adopt`";
    assert!(
        v["reason"].as_str().expect("reason").ends_with(fix),
        "{v:#}"
    );
    // verify says the same, whatever the rounds: exit status 5.
    for rounds in ["1", "3"] {
        let out = env
            .sessctl()
            .args(["verify", "web", "--json", "--rounds", rounds])
            .status(5)
            .stdout_read()
            .run();
        let report: Value = serde_json::from_slice(&out.stdout).expect("verify JSON");
        assert_eq!(
            (&report["rounds"], &report["changes"][0]["verdict"]),
            (&Value::from(1), &Value::from("needs-repair")),
            "{report:#}"
        );
    }
    let status = status_json(&env);
    assert!(status["needs_repair"]
        .as_str()
        .expect("needs repair")
        .contains("toolu_cut"));
    assert_eq!(
        starts(&env).len(),
        started,
        "nothing started into the broken transcript"
    );

    let out = env
        .sessctl()
        .args(["transcript", "repair", "web", "--adopt"])
        .stdout_read()
        .run();
    let fork = pinned(&env);
    assert_ne!(fork, id);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("web: pinned to {fork};")));
    assert_eq!(
        fs::read(&transcript).expect("bytes"),
        before,
        "the original changed"
    );
    assert_eq!(
        fs::metadata(&transcript)
            .expect("meta")
            .modified()
            .expect("mtime"),
        mtime
    );

    // The next start resumes the repaired conversation.
    assert_eq!(resume(&env).0["verdict"], "started");
    assert_eq!(
        wait_starts(&env, started + 1),
        format!("--resume {fork} --model opus")
    );
    env.sessctl()
        .args(["transcript", "check", "web"])
        .stdout_read()
        .run();
}

/// The stderr of a resume that one writer per conversation refuses.
fn refused(env: &Env) -> String {
    let out = env
        .sessctl()
        .args(["resume", "web", "--no-attach"])
        .status(1)
        .stderr_read()
        .run();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A process group of the test's own (the stand-in and its children), killed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(-(self.0.id() as i32)), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

#[test]
fn one_writer_per_conversation() {
    let Some((env, claude_dir, agent)) = claude_product("writer", &[]) else {
        return;
    };
    wait_starts(&env, 1);
    let id = pinned(&env);
    env.sessctl()
        .args(["stop", "web"])
        .stdout("sessctl-web.service: stopped\n")
        .run();

    // Someone resumes the same conversation in a terminal.
    let stray = Killed(
        std::process::Command::new(&agent)
            .args(["--resume", &id])
            .env("CLAUDE_CONFIG_DIR", &claude_dir)
            .current_dir(&env.scratch)
            .process_group(0)
            .spawn()
            .expect("a second agent"),
    );
    wait_starts(&env, 2);
    let stderr = refused(&env);
    assert!(
        stderr.starts_with(&format!(
            "sessctl: conversation {id} of web is already being written by PID {} (",
            stray.0.id()
        )),
        "{stderr}"
    );
    // It names where the other writer runs: outside any unit here, as a terminal would.
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("own cgroup");
    if !own.contains(".service\n") && !own.contains(".scope\n") {
        assert!(
            stderr.ends_with(") outside any unit; stop that process, then try again\n"),
            "{stderr}"
        );
    }
    env.sessctl().args(["start", "web"]).status(1).stderr_redacted("sessctl: conversation [uuid] of web is already being written by PID [pid] (/bin/sh [test]/scratch/bin/claude --resume [uuid]) outside any unit; stop that process, then try again\n").run();
    // Started behind sessctl's back, the unit's own host refuses too.
    assert!(env.systemd().start(UNIT).is_err());
    assert_eq!(starts(&env).len(), 2, "no second agent was started");

    drop(stray);
    // A writer in another unit is named by its unit.
    crate::support::write_unit(
        &env,
        "stray.service",
        &format!(
            "Environment=CLAUDE_CONFIG_DIR={}\nWorkingDirectory={}\nExecStart={} --resume {id}",
            claude_dir.display(),
            env.scratch.display(),
            agent.display()
        ),
    );
    env.systemd()
        .start("stray.service")
        .expect("the stray unit");
    wait_starts(&env, 3);
    let stderr = refused(&env);
    assert!(
        stderr.ends_with(") in unit stray.service; stop that process, then try again\n"),
        "{stderr}"
    );
    env.systemd()
        .stop("stray.service")
        .expect("stopping the stray unit");
    assert_eq!(resume(&env).0["verdict"], "started");
    assert_eq!(wait_starts(&env, 4), format!("--resume {id}"));
}

#[test]
fn a_snapshot_before_every_start_and_a_restore() {
    let Some((env, claude_dir, _)) = claude_product("snap", &["--keep-snapshots", "2"]) else {
        return;
    };
    wait_starts(&env, 1);
    let list = |env: &Env| -> Vec<Value> {
        let out = env
            .sessctl()
            .args(["transcript", "snapshots", "web", "--json"])
            .stdout_read()
            .run();
        serde_json::from_slice::<Value>(&out.stdout)
            .expect("JSON")
            .as_array()
            .expect("array")
            .clone()
    };
    assert!(
        list(&env).is_empty(),
        "no transcript before the first start"
    );
    for n in 2..=4 {
        env.sessctl()
            .args(["restart", "web"])
            .stdout("sessctl-web.service: restarted\n")
            .run();
        wait_starts(&env, n);
    }
    // Three starts after the first, each preceded by a snapshot; the newest two are kept.
    let kept = list(&env);
    assert_eq!(kept.len(), 2);
    let record = |bytes: &Value| bytes.as_u64().expect("bytes");
    assert!(
        record(&kept[0]["bytes"]) < record(&kept[1]["bytes"]),
        "{kept:?}"
    );

    let name = kept[0]["name"].as_str().expect("name");
    let id = pinned(&env);
    let out = env
        .sessctl()
        .args(["transcript", "restore", "web", name])
        .stdout_redacted("web: restored [stamp]-[uuid] as conversation [uuid] ([test]/scratch/claude/projects/[test-encoded]-scratch/[uuid].jsonl)\nweb: pinned to [uuid]; its next start resumes it (`sessctl restart web` switches a running session)\n").run();
    let restored = pinned(&env);
    assert_ne!(restored, id);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("web: pinned to {restored};")));
    let file = fs::read_dir(claude_dir.join("projects"))
        .expect("projects")
        .flatten()
        .map(|d| d.path().join(format!("{restored}.jsonl")))
        .find(|p| p.is_file())
        .expect("the restored transcript beside the original");
    let text = fs::read_to_string(&file).expect("restored");
    assert_eq!(
        text.len() as u64,
        record(&kept[0]["bytes"]),
        "same length: only the id changed"
    );
    assert!(text
        .lines()
        .all(|l| l.contains(&format!("\"sessionId\":\"{restored}\""))));
    assert!(
        PathBuf::from(kept[0]["transcript"].as_str().expect("path")).exists(),
        "the snapshot stays"
    );

    env.sessctl()
        .args(["restart", "web"])
        .stdout("sessctl-web.service: restarted\n")
        .run();
    assert_eq!(wait_starts(&env, 5), format!("--resume {restored}"));
}

#[test]
fn a_conversation_that_moves_to_a_new_file_is_followed() {
    let Some((env, _, _)) = claude_product("follow", &["--env", "CONTINUE_IN_NEW_FILE=1"]) else {
        return;
    };
    let first = pinned(&env);
    assert_eq!(wait_starts(&env, 1), format!("--session-id {first}"));
    // Resumed, this agent goes on in a new file that names the old conversation.
    env.sessctl()
        .args(["restart", "web"])
        .stdout("sessctl-web.service: restarted\n")
        .run();
    assert_eq!(wait_starts(&env, 2), format!("--resume {first}"));
    // A resume follows it there; status, which only reads, shows it.
    env.sessctl().args(["resume", "web", "--no-attach"]).stdout_redacted("sessctl-web.service: survived, up [uptime] (invocation [invocation], main PID [pid], agent PID [pid])\n").run();
    let status = status_json(&env);
    let moved = pinned(&env);
    assert_ne!(moved, first);
    assert_eq!(status["conversation"]["session_id"], moved.as_str());
    env.sessctl()
        .args(["restart", "web"])
        .stdout("sessctl-web.service: restarted\n")
        .run();
    assert_eq!(wait_starts(&env, 3), format!("--resume {moved}"));
    let out = env
        .sessctl()
        .args(["log", "web", "--json"])
        .stdout_read()
        .run();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"event\": \"repin\""));
}

#[test]
fn a_pinned_conversation_without_a_transcript() {
    let Some((env, _, _)) = claude_product("notyet", &["--no-start"]) else {
        return;
    };
    let id = pinned(&env);
    let out = env
        .sessctl()
        .args(["transcript", "check", "web"])
        .status(5)
        .stdout_redacted("conversation [uuid]: errors (no transcript)\nerror[missing-transcript]: web's pinned conversation [uuid] has no transcript under [test]/scratch/claude/projects: the next start begins a new, empty conversation\nwarning[retention]: Claude Code deletes this transcript 30 days after its last activity (cleanupPeriodDays unset, default 30); set \"cleanupPeriodDays\": 99999 in [test]/scratch/claude/settings.json (not 0: that stops transcripts being written)\n").run();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!(
            "conversation {id}: errors (no transcript)\nerror[missing-transcript]: web's pinned conversation {id} has no transcript under "
        )),
        "{text}"
    );
}

#[test]
fn the_guard_scans_a_transcript_once_per_change_and_blocks_a_vanished_one() {
    let Some((env, claude_dir, _)) = claude_product("guard", &[]) else {
        return;
    };
    wait_starts(&env, 1);
    let id = pinned(&env);
    env.sessctl()
        .args(["stop", "web"])
        .stdout("sessctl-web.service: stopped\n")
        .run();
    // The verdict on this version of the transcript is remembered (here by `stop`, which
    // judges the transcript the session leaves): a resume trusts it and scans nothing, as a
    // planted verdict shows. `status` only shows it.
    let status = status_json(&env);
    assert_eq!(status["needs_repair"], Value::Null, "{status:#}");
    let guard = env
        .var("XDG_STATE_HOME")
        .join("sessctl/products/web/guard.json");
    let mut known: Value =
        serde_json::from_str(&fs::read_to_string(&guard).expect("guard.json")).expect("guard JSON");
    assert_eq!(known["session_id"], id.as_str());
    known["verdict"] = "PLANTED".into();
    fs::write(&guard, known.to_string()).expect("planting a verdict");
    let (v, code) = resume(&env);
    assert_eq!((v["reason"].as_str(), code), (Some("PLANTED"), 5), "{v:#}");
    // Any change of the transcript is judged again.
    let transcript = fs::read_dir(claude_dir.join("projects"))
        .expect("projects")
        .flatten()
        .map(|d| d.path().join(format!("{id}.jsonl")))
        .find(|p| p.exists())
        .expect("the transcript");
    let mut text = fs::read_to_string(&transcript).expect("transcript");
    text.push('\n');
    fs::write(&transcript, text).expect("touching it");
    assert_eq!(resume(&env).0["verdict"], "started");
    env.sessctl()
        .args(["stop", "web"])
        .stdout("sessctl-web.service: stopped\n")
        .run();
    // A transcript that is gone although snapshots show it existed: a start would begin an
    // empty conversation under the old id, so the guard refuses and names the snapshot.
    fs::remove_file(&transcript).expect("losing the transcript");
    let (v, code) = resume(&env);
    assert_eq!(
        (v["verdict"].as_str(), code),
        (Some("needs-repair"), 5),
        "{v:#}"
    );
    assert!(
        v["reason"]
            .as_str()
            .expect("a reason")
            .contains("run `sessctl transcript restore web "),
        "{v:#}"
    );
}
