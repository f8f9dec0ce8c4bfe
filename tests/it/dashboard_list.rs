//! The dashboard's list on a phone: the products that wait for you first (the longest wait
//! first), then those in trouble, then the rest, each group by name, in the API as on the
//! page; and a filter box whose text and focus survive the page's refreshes.
//!
//! The agents are stand-ins (`sleep`, `sh`): what is tested is the order and the page.

use std::path::PathBuf;

use fantoccini::Client;
use serde_json::Value;

use crate::browser::dashboard;
use crate::dashboard::{link_path, token};
use crate::support::browser::{element, log_in, refreshed, text, until, Viewport, BASE};
use crate::support::http::Client as Http;
use crate::support::{manager, Env};

fn state_dir(env: &Env, product: &str) -> PathBuf {
    env.var("XDG_STATE_HOME")
        .join("sessctl/products")
        .join(product)
}

/// Marks `product`'s running agent as waiting for its human since now, as its hook does.
fn notify(env: &Env, product: &str) {
    env.sessctl()
        .args(["internal", "notify", "--state"])
        .arg(state_dir(env, product))
        .arg("stop")
        .run();
}

fn names(list: &Value) -> Vec<&str> {
    let list = list.as_array().unwrap_or_else(|| panic!("a list: {list}"));
    list.iter()
        .map(|r| r["product"].as_str().expect("a product's name"))
        .collect()
}

#[test]
fn the_api_lists_waiting_products_first_then_those_in_trouble_and_the_cli_stays_alphabetical() {
    let Some(env) = manager("dashboard-list") else {
        return;
    };
    for product in ["alpha", "bravo", "charlie", "delta"] {
        env.sessctl()
            .args(["enable", product, "--silence", "0", "--", "sleep", "100000"])
            .stdout_read()
            .run();
    }
    // bravo's config can no longer be read: in trouble, so above alpha, which is fine.
    std::fs::write(env.product_file("bravo"), "name = [garbage").expect("breaking bravo's config");
    // delta has waited since long before charlie, whose wait begins now.
    std::fs::write(
        state_dir(&env, "delta").join("waiting.json"),
        r#"{"since": "2026-01-01T00:00:00Z", "kind": "notification"}"#,
    )
    .expect("delta's waiting mark");
    notify(&env, "charlie");
    env.sessctl()
        .args(["dashboard", "enable"])
        .stdout_read()
        .run();
    let netns = env.bed.as_ref().expect("a manager").netns();
    let client = Http::new(
        "http://127.0.0.1:7878",
        Some(netns.try_clone_to_owned().expect("dup netns")),
    );
    let auth = format!("Bearer {}", token(&env));
    let reply = client.get("/api/products", &[("authorization", &auth)]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let list = reply.json();
    assert_eq!(
        names(&list),
        ["delta", "charlie", "bravo", "alpha"],
        "{list:#}"
    );

    let out = env
        .sessctl()
        .args(["list", "--json"])
        .stdout_read()
        .status_any()
        .run();
    let cli: Value = serde_json::from_slice(&out.stdout).expect("the CLI's JSON");
    assert_eq!(
        names(&cli),
        ["alpha", "bravo", "charlie", "delta"],
        "{cli:#}"
    );
}

/// The names on the cards the list shows, top to bottom.
const SHOWN: &str = "[...document.querySelectorAll('#live section.card')]\
    .filter((card) => card.offsetParent !== null).map((card) => card.dataset.product).join(',')";

async fn shown(c: &Client) -> String {
    match c.execute(&format!("return {SHOWN};"), vec![]).await {
        Ok(Value::String(names)) => names,
        other => panic!("reading the cards shown: {other:?}"),
    }
}

/// The filter's text, and whether it has the focus.
async fn filter_state(c: &Client) -> Value {
    let script = "const f = document.getElementById('filter'); \
        return [f.value, document.activeElement === f];";
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|err| panic!("reading the filter: {err}"))
}

/// Waits until the page has refreshed itself on its own (its clock line changed), and then once
/// more on demand.
async fn ticked(c: &Client) {
    let before = c
        .execute(
            "return document.getElementById('updated').textContent;",
            vec![],
        )
        .await
        .expect("reading the updated line");
    let changed = format!("document.getElementById('updated').textContent !== {before}");
    until(c, "the page's own refresh", &changed).await;
    refreshed(c).await;
}

#[test]
fn the_filter_keeps_its_text_and_focus_while_the_list_refreshes_and_reorders() {
    // No silence monitor: only the test says who waits.
    let Some((env, driver)) = dashboard("dashboard-list-filter", &["--silence", "0"]) else {
        return;
    };
    for product in ["alpha", "zulu"] {
        env.sessctl()
            .args(["enable", product, "--silence", "0", "--", "sh"])
            .stdout_read()
            .run();
    }
    let link = link_path(&env, BASE);
    driver.run(Viewport::Phone, async |c: &Client| {
        log_in(c, &link).await;
        until(c, "three cards", &format!("{SHOWN} === 'alpha,web,zulu'")).await;
        let filter = element(c, "input#filter").await;
        let label = "document.querySelector('label[for=filter]')?.textContent === 'Filter'";
        until(c, "the filter's label", label).await;

        // A phone's keyboard capitalizes: the filter ignores case.
        filter.send_keys("W").await.expect("typing in the filter");
        ticked(c).await;
        filter.send_keys("e").await.expect("typing in the filter");
        ticked(c).await;
        assert_eq!(filter_state(c).await, serde_json::json!(["We", true]));
        assert_eq!(shown(c).await, "web");

        // zulu starts waiting: the cards are reordered, and the ones replaced stay hidden.
        notify(&env, "zulu");
        until(
            c,
            "zulu's card on top",
            "document.querySelector('#live section.card').dataset.product === 'zulu'",
        )
        .await;
        ticked(c).await;
        assert_eq!(shown(c).await, "web");
        assert_eq!(filter_state(c).await, serde_json::json!(["We", true]));
        let no_match = "document.getElementById('no-match').hidden";
        until(c, "no message while a card matches", no_match).await;

        filter.send_keys("x").await.expect("typing in the filter");
        ticked(c).await;
        assert_eq!(shown(c).await, "");
        assert_eq!(text(c, "#no-match").await, "No product matches.");
        assert_eq!(filter_state(c).await, serde_json::json!(["Wex", true]));

        // Three backspaces, then another name.
        filter
            .send_keys("\u{E003}\u{E003}\u{E003}al")
            .await
            .expect("typing in the filter");
        ticked(c).await;
        assert_eq!(shown(c).await, "alpha");
        until(c, "the message gone", no_match).await;
    });
}
