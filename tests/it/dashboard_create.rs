//! A product created from the dashboard (`POST /api/products`, the list page's "New product"
//! form): allowed only under the roots `sessctl dashboard enable --root` gave, symlinks
//! resolved; it runs in its own unit with the config `sessctl enable` writes, and what
//! `enable` refuses comes back in the CLI's words. The agent is a stand-in (`sleep`).

use std::path::{Path, PathBuf};

use fantoccini::Client;
use serde_json::{json, Value};

use crate::dashboard::{link_path, serve, token, Served};
use crate::support::browser::{self, element, log_in, tap, until, Viewport, BASE};
use crate::support::{manager, session, wait_for, Env};

/// What the API says while no root is set.
const OFF: &str = "creating products from the dashboard is off: turn it on with `sessctl dashboard enable --root DIR`, DIR the directory the new products' directories are under";

/// A new directory under the test's scratch space, canonical.
fn made(env: &Env, name: &str) -> PathBuf {
    let dir = env.scratch.join(name);
    std::fs::create_dir_all(&dir).expect("creating a directory");
    dir.canonicalize().expect("canonicalising a directory")
}

fn text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// `POST /api/products` with `body`, with the token: the status and the JSON answer.
fn create(server: &Served, bearer: &str, body: Value) -> (u16, Value) {
    let headers = [
        ("authorization", bearer),
        ("content-type", "application/json"),
    ];
    let reply = server
        .client
        .post("/api/products", &headers, Some(&body.to_string()));
    (reply.status, reply.json())
}

/// The refusal `body` gets: a 400 with one line and the usage exit code.
#[track_caller]
fn refused(server: &Served, bearer: &str, body: Value, error: &str) {
    let answer = json!({"error": error, "exit_code": 2});
    assert_eq!(create(server, bearer, body), (400, answer));
}

fn enable_roots(env: &Env, roots: &[&Path]) -> String {
    let mut cmd = env.sessctl().args(["dashboard", "enable"]);
    for root in roots {
        cmd = cmd.arg("--root").arg(root);
    }
    String::from_utf8(cmd.stdout_read().run().stdout).expect("utf-8")
}

#[test]
fn products_are_created_from_the_dashboard_only_under_its_roots_as_enable_creates_them() {
    let Some(env) = manager("dashboard-create") else {
        return;
    };
    let server = serve(&env);
    let bearer = format!("Bearer {}", token(&env));
    let (root, outside) = (made(&env, "root"), made(&env, "outside"));
    let proj = made(&env, "root/proj");
    let asked = |name: &str, dir: &Path| json!({"name": name, "dir": dir, "agent": "generic", "command": ["sleep", "1000"]});

    // Without roots, creating is off, and the page is told how to turn it on.
    refused(&server, &bearer, asked("web", &proj), OFF);
    let offer = server
        .client
        .get("/api/roots", &[("authorization", &bearer)]);
    assert_eq!(offer.json()["off"], OFF);

    // A bad --root is refused, naming it; a good one turns creating on, without a restart.
    env.sessctl()
        .args(["dashboard", "enable", "--root", "/no/such/root"])
        .stderr("sessctl: --root \"/no/such/root\" cannot be resolved (No such file or directory (os error 2)); give an existing directory\n")
        .status(2)
        .run();
    let said = enable_roots(&env, &[&root]);
    let line = format!(
        "creating products from the dashboard: under {}",
        text(&root)
    );
    assert!(said.lines().any(|l| l == line), "{said}");

    the_product_runs_as_if_enabled(&env, &server, &bearer, &asked("web", &proj), &proj);

    // Outside the roots: another directory, `..` out of a root, a symlink out of a root.
    let escape = root.join("link");
    std::os::unix::fs::symlink(&outside, &escape).expect("a symlink");
    let roots = text(&root);
    let resolved = [
        (outside.clone(), outside.clone()),
        (
            proj.join("../.."),
            env.scratch.canonicalize().expect("the scratch dir"),
        ),
        (escape, outside.clone()),
        // A directory that does not exist is judged by what of it does: it is outside all
        // the same, and nothing says whether it exists.
        (outside.join("new"), outside.join("new")),
        (root.join("../elsewhere/new"), root.join("../elsewhere/new")),
    ];
    for (dir, resolved) in resolved {
        let error = format!(
            "directory \"{}\" is not under the dashboard's roots ({roots}); choose one under them, or add its root with `sessctl dashboard enable --root DIR`",
            text(&resolved)
        );
        refused(&server, &bearer, asked("out", &dir), &error);
    }
    assert!(!env.product_file("out").exists());
    // Under a root, it is `enable`'s own refusal (which clips a long path).
    let (status, answer) = create(&server, &bearer, asked("out", &root.join("new")));
    let error = answer["error"].as_str().unwrap_or_default();
    assert_eq!(status, 400, "{answer}");
    assert!(
        error.ends_with(" does not exist; pass an existing directory with --dir"),
        "{error}"
    );

    // A bad name: the CLI's own error.
    let cli = env
        .sessctl()
        .args(["enable", "bad name", "--dir", roots, "--", "sleep", "1"])
        .stderr_read()
        .status(2)
        .run();
    let cli = String::from_utf8(cli.stderr).expect("utf-8");
    let error = cli
        .strip_prefix("sessctl: ")
        .and_then(|e| e.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{cli}"));
    refused(&server, &bearer, asked("bad name", &root), error);

    // Other roots replace them.
    let other = made(&env, "other");
    enable_roots(&env, &[&other]);
    let offer = server
        .client
        .get("/api/roots", &[("authorization", &bearer)]);
    assert_eq!(offer.json()["roots"], json!([text(&other)]));
    // And none turn creating off again.
    let said = enable_roots(&env, &[]);
    let line = "creating products from the dashboard: off (no --root)";
    assert!(said.lines().any(|l| l == line), "{said}");
    refused(&server, &bearer, asked("web2", &other), OFF);
}

/// `asked` creates product `web` in `proj`: it runs in its own unit, and its config is what
/// `sessctl enable` writes for the same arguments.
fn the_product_runs_as_if_enabled(
    env: &Env,
    server: &Served,
    bearer: &str,
    asked: &Value,
    proj: &Path,
) {
    let (status, answer) = create(server, bearer, asked.clone());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["product"], "web");
    let report = wait_for("web active", || {
        let report = session::status(env, "web");
        let running = report["active_state"] == "active" && report["main_pid"] != 0;
        running.then_some(report)
    });
    assert_eq!(report["unit"], "sessctl-web.service", "{report}");
    let listed = server
        .client
        .get("/api/products", &[("authorization", bearer)]);
    assert_eq!(listed.json()[0]["product"], "web");

    env.sessctl()
        .args(["enable", "cli", "--no-start", "--agent", "generic", "--dir"])
        .arg(proj)
        .args(["--", "sleep", "1000"])
        .stdout_read()
        .run();
    let config = |name| std::fs::read_to_string(env.product_file(name)).expect("a config");
    assert_eq!(config("web"), config("cli").replace("\"cli\"", "\"web\""));
}

/// On a phone, the "New product" form says how to turn it on while no root is set; then it
/// creates a product that shows on the list.
#[test]
fn a_product_created_from_the_phone_shows_on_the_list() {
    let Some(env) = manager("dashboard-create-phone") else {
        return;
    };
    let root = made(&env, "root");
    made(&env, "root/app");
    enable_roots(&env, &[]);
    let Some(driver) = browser::driver(&env) else {
        return;
    };
    let link = link_path(&env, BASE);
    driver.run(Viewport::Phone, async |c: &Client| {
        log_in(c, &link).await;
        tap(c, "#create summary").await;
        assert_eq!(browser::text(c, "#create-off").await, OFF);
        enable_roots(&env, &[&root]);
        c.refresh().await.expect("reloading the page");
        tap(c, "#create summary").await;
        fill(c, "#create-name", "phone").await;
        fill(c, "#create-sub", "app").await;
        fill(c, "#create-command", "sleep 1000").await;
        pick(c, "#create-agent", "generic").await;
        tap(c, "#create-go").await;
        element(c, r#"section.card[data-product="phone"]"#).await;
        until(
            c,
            "the form's answer",
            "document.querySelector('#create-said.good')",
        )
        .await;
    });
    assert_eq!(session::status(&env, "phone")["active_state"], "active");
    let config = std::fs::read_to_string(env.product_file("phone")).expect("a config");
    let dir = format!("dir = \"{}\"\n", text(&root.join("app")));
    assert!(config.contains(&dir), "{config}");
}

async fn fill(c: &Client, css: &str, value: &str) {
    tap(c, css).await;
    element(c, css)
        .await
        .send_keys(value)
        .await
        .unwrap_or_else(|err| panic!("typing into {css}: {err}"));
}

async fn pick(c: &Client, css: &str, value: &str) {
    element(c, css)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|err| panic!("choosing {value} in {css}: {err}"));
}

/// The page's command runs in the user manager's environment, not the server's: a bare name is
/// looked up in the manager's PATH, and one only the server's PATH finds is refused, naming
/// the manager's PATH; its absolute path is taken.
#[test]
fn a_bare_command_is_found_in_the_managers_path_not_the_servers() {
    let Some(mut env) = manager("dashboard-create-path") else {
        return;
    };
    let bin = made(&env, "bin");
    let agent = bin.join("my-agent");
    std::fs::write(&agent, "#!/bin/sh\nexec sleep 1000\n").expect("writing the agent");
    std::fs::set_permissions(&agent, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let path = format!(
        "{}:{}",
        text(&bin),
        std::env::var("PATH").unwrap_or_default()
    );
    env.set("PATH", Some(std::ffi::OsStr::new(&path)));
    let root = made(&env, "root");
    enable_roots(&env, &[&root]);
    let server = serve(&env);
    let bearer = format!("Bearer {}", token(&env));
    let asked = |command: &[&str]| json!({"name": "web", "dir": root, "agent": "generic", "command": command});

    let environment = env
        .systemd()
        .environment()
        .expect("the manager's environment");
    let managers = environment
        .iter()
        .find_map(|v| v.strip_prefix("PATH="))
        .unwrap_or_default();
    assert!(!managers.contains(text(&bin)), "{managers}");
    let error = format!(
        "command \"my-agent\" was not found in the user manager's PATH ({managers}), which the product's unit runs with; give its absolute path (`command -v my-agent` prints it)"
    );
    refused(&server, &bearer, asked(&["my-agent"]), &error);
    let error = "command \"bin/my-agent\" is a relative path; give its absolute path, or a name the user manager's PATH finds";
    refused(&server, &bearer, asked(&["bin/my-agent"]), error);
    assert!(!env.product_file("web").exists());

    let (status, answer) = create(&server, &bearer, asked(&[text(&agent)]));
    assert_eq!(status, 200, "{answer}");
    let config = std::fs::read_to_string(env.product_file("web")).expect("a config");
    assert!(config.contains(&format!("{:?}", text(&agent))), "{config}");
}
