//! Web Push end to end: a product starts waiting, the server pushes a notice to the devices
//! subscribed, and the dashboard's service worker (`/sw.js`, the installable app's) shows it and
//! opens the product's page when it is tapped; and the list's "Notify me on this device"
//! switch says truthfully what this browser can do.
//!
//! In a real browser (Debian's chromium at a phone's viewport) on a real, socket-activated
//! `sessctl serve` in a private manager. The browser's own login session subscribes through the
//! server's real `POST /api/push`, with an endpoint and keys of the tests' fake push service
//! (`support/push_service.rs`, on loopback in the manager's network namespace), which checks
//! the VAPID token of what the server sends and decrypts it with its own RFC 8291 code. What
//! stands in for what cannot run here:
//! - The browser's push service. Chromium cannot subscribe offline (`subscribe()` waits for
//!   Google's push service and never settles, which the switch's test relies on), so the
//!   subscription is the fake service's, and the message it received, decrypted, is handed to
//!   the service worker byte for byte through Chrome's DevTools protocol
//!   (`ServiceWorker.deliverPushMessage`, which needs no push service).
//! - The tap: no DevTools command taps an OS notification; the worker's own
//!   `notificationclick` handler is dispatched in the worker on the real notification it
//!   showed (see [`tap_the_notification`]).
//! - The browser's subscription, for the switch's off path: `PushManager.getSubscription` is
//!   made to answer the one the server holds (see
//!   [`switching_off_ends_the_servers_subscription`]).
//!
//! The switch's paths to the server are real: `GET /api/push` gives the server's key, and
//! `DELETE /api/push` ends this session's subscription.

use fantoccini::Client;
use serde_json::{json, Value};

use crate::browser::dashboard;
use crate::dashboard::{link_path, serve};
use crate::push::{assert_notice, notify, nth_notice, DONE};
use crate::support::browser::{log_in, tap, text, until, Cdp, Viewport, BASE};
use crate::support::push_service::PushService;
use crate::support::Env;

#[test]
fn the_service_worker_and_the_manifest_make_an_installable_app() {
    let env = Env::offline();
    let served = serve(&env);
    let c = &served.client;
    let worker = c.get("/sw.js", &[]);
    assert_eq!(
        (
            worker.status,
            worker.header("content-type"),
            worker.header("cache-control")
        ),
        (200, Some("text/javascript"), Some("no-cache")),
        "{worker:?}"
    );
    let manifest = c.get("/manifest.webmanifest", &[]);
    let manifest: Value = serde_json::from_str(&manifest.body).expect("the manifest's JSON");
    for (field, value) in [
        ("name", "sessctl"),
        ("start_url", "/"),
        ("scope", "/"),
        ("display", "standalone"),
    ] {
        assert_eq!(manifest[field], value, "{field} in {manifest:#}");
    }
    for size in ["192x192", "512x512"] {
        let icon = manifest["icons"]
            .as_array()
            .and_then(|icons| icons.iter().find(|icon| icon["sizes"] == size))
            .unwrap_or_else(|| panic!("no {size} icon in {manifest:#}"));
        let src = icon["src"].as_str().expect("an icon's URL");
        let served = c.get(src, &[]);
        assert_eq!(
            (served.status, served.header("content-type")),
            (200, Some("image/png")),
            "{src}"
        );
    }
}

#[test]
fn a_wait_is_pushed_to_the_phone_which_shows_it_and_a_tap_opens_the_products_page() {
    let Some((env, driver)) = dashboard("push-browser", &["--silence", "0"]) else {
        return;
    };
    let service = PushService::serve(Some(env.bed.as_ref().expect("a manager").netns()));
    let link = link_path(&env, BASE);
    driver.run(Viewport::Phone, async |c: &Client| {
        log_in(c, &link).await;
        until(
            c,
            "the page under the service worker",
            &format!("navigator.serviceWorker.controller && navigator.serviceWorker.controller.scriptURL === '{BASE}/sw.js'"),
        )
        .await;
        let mut page = Cdp::connect(c, "page", BASE);
        let registration = worker_registration(&mut page);
        the_switch_says_what_this_browser_can_do(c, &mut page).await;
        let subscription = service.subscribe("phone");
        subscribe_this_login(c, &subscription).await;
        assert_eq!(notifications(c, 0).await, json!([]));
        // Read by the page only once DevTools' log says it was displayed: here, a notice read
        // while the worker was still showing it was seen lost (1 run in 8).
        for call in ["BackgroundService.startObserving", "BackgroundService.setRecording"] {
            page.call(call, json!({"service": "notifications", "shouldRecord": true}));
        }

        notify(&env, "web", Some("stop"));
        let sent = nth_notice(&service, "phone", "web", 1);
        assert_notice(&sent, "web", "waiting", "web waits for you", DONE);
        let plaintext = sent.plaintext.clone().expect("the decrypted message");
        let data = String::from_utf8(plaintext).expect("a UTF-8 message");
        page.call(
            "ServiceWorker.deliverPushMessage",
            json!({"origin": BASE, "registrationId": registration, "data": data}),
        );
        page.event("BackgroundService.backgroundServiceEventReceived", |p| {
            let event = &p["backgroundServiceEvent"];
            event["eventName"] == "Notification displayed" && event["instanceId"] == "sessctl-web"
        });
        let shown = notifications(c, 1).await;
        assert_eq!(
            shown,
            json!([{
                "title": "web waits for you",
                "body": DONE,
                "tag": "sessctl-web",
                "renotify": true,
                "url": format!("{BASE}/p/web"),
                "icon": format!("{BASE}/static/icon-192.png"),
            }])
        );
        assert_eq!(service.received().len(), 1, "{:#?}", service.received());
        tap_the_notification(c).await;
        assert_eq!(notifications(c, 0).await, json!([]));
        let endpoint = subscription["endpoint"].as_str().expect("an endpoint");
        switching_off_ends_the_servers_subscription(c, &mut page, endpoint).await;
    });
}

/// Subscribes this browser's login session as its page does, through the real
/// `POST /api/push`, with `subscription` (a `PushSubscription.toJSON()`); the server's
/// `GET /api/push` then names its endpoint as this session's.
async fn subscribe_this_login(c: &Client, subscription: &Value) {
    let script = "const post = {method: 'POST', headers: {'Content-Type': 'application/json'}, \
            body: arguments[0]}; \
        return sessctlFetch('/api/push', post).then((posted) => sessctlFetch('/api/push') \
            .then((got) => got.json()).then((shown) => [posted.status, shown.endpoint]));";
    let answered = c
        .execute(script, vec![json!(subscription.to_string())])
        .await
        .expect("subscribing from the page");
    assert_eq!(answered, json!([204, subscription["endpoint"]]));
}

/// Switched off, the page ends this browser's subscription and the server's, through the
/// real `DELETE /api/push`. The browser holds none here (see the header), so its
/// `PushManager.getSubscription` is made to answer the one the server holds (`endpoint`)
/// until the page ends it: the switch then says On, as in a subscribed browser.
async fn switching_off_ends_the_servers_subscription(c: &Client, page: &mut Cdp, endpoint: &str) {
    let endpoint = Value::String(endpoint.to_string());
    let held = page.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": format!("const held = {{endpoint: {endpoint}, options: {{}}, \
            unsubscribe: () => {{ held.ended = true; return Promise.resolve(true); }}}}; \
            PushManager.prototype.getSubscription = () => Promise.resolve(held.ended ? null : held);")}),
    );
    c.goto(&format!("{BASE}/")).await.expect("opening the list");
    let on = "On: this device is told when a product waits for you or is in trouble.";
    switch_state(c, "on", on).await;
    tap(c, "#notify-switch").await;
    switch_state(c, "off", "Off: this device is not notified.").await;
    page.call("Page.removeScriptToEvaluateOnNewDocument", held);
    assert_eq!(
        text(c, "#flash.good").await,
        "Notifications are off for this device."
    );
    let shown = c
        .execute(
            "return sessctlFetch('/api/push').then((got) => got.json());",
            vec![],
        )
        .await
        .expect("asking the server for this session's subscription");
    assert_eq!(shown["endpoint"], Value::Null, "{shown}");
}

/// The id of the service worker's registration at the dashboard's root, once its worker is
/// active, as DevTools reports them.
fn worker_registration(page: &mut Cdp) -> String {
    page.call("ServiceWorker.enable", json!({}));
    let scope = format!("{BASE}/");
    let registered = page.event("ServiceWorker.workerRegistrationUpdated", |p| {
        p["registrations"]
            .as_array()
            .is_some_and(|all| all.iter().any(|r| r["scopeURL"] == scope.as_str()))
    });
    let id = registered["registrations"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["scopeURL"] == scope.as_str()))
        .map(|r| r["registrationId"].clone())
        .expect("the root's registration");
    let script = format!("{BASE}/sw.js");
    page.event("ServiceWorker.workerVersionUpdated", |p| {
        p["versions"].as_array().is_some_and(|all| {
            all.iter().any(|v| {
                v["registrationId"] == id
                    && v["scriptURL"] == script.as_str()
                    && v["status"] == "activated"
            })
        })
    });
    id.as_str().expect("a registration id").to_string()
}

/// Off while this browser holds no subscription, blocked once notifications are denied, and
/// impossible without the Push API (Safari on an iPhone, outside the installed app).
async fn the_switch_says_what_this_browser_can_do(c: &Client, page: &mut Cdp) {
    switch_state(c, "off", "Off: this device is not notified.").await;
    let permission = |setting: &str| json!({"permission": {"name": "notifications"}, "setting": setting, "origin": BASE});
    page.call("Browser.setPermission", permission("denied"));
    c.refresh().await.expect("reloading the list");
    switch_state(
        c,
        "denied",
        "Blocked: notifications are off for this site in the browser's settings.",
    )
    .await;
    // Safari on iOS in a tab, as a page sees it: no PushManager, and not standalone.
    page.call("Page.enable", json!({}));
    let ios = page.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "delete window.PushManager; \
            Object.defineProperty(Navigator.prototype, 'standalone', {get: () => false});"}),
    );
    c.refresh().await.expect("reloading the list");
    switch_state(
        c,
        "unsupported",
        "Not in this tab: on an iPhone or iPad, tap Share, then Add to Home Screen, and open sessctl from the Home Screen.",
    )
    .await;
    page.call("Page.removeScriptToEvaluateOnNewDocument", ios);
    page.call("Browser.setPermission", permission("granted"));
    c.refresh().await.expect("reloading the list");
    switch_state(c, "off", "Off: this device is not notified.").await;
    a_push_service_that_never_answers_is_said(c).await;
}

/// Switched on, the page asks the server for its key (the real `GET /api/push`) and the
/// browser's push service for a subscription; Chromium's (Google's) is out of reach here, and
/// never answers: the switch says so after its bound and is off again.
async fn a_push_service_that_never_answers_is_said(c: &Client) {
    tap(c, "#notify-switch").await;
    assert_eq!(text(c, "#notify-state").await, "Turning on…");
    switch_state(c, "off", "Off: this device is not notified.").await;
    assert_eq!(
        text(c, "#flash.bad").await,
        "turning notifications on: this browser's push service did not answer within 20 s"
    );
}

/// Waits until the switch's state is `state`, then checks what it says and whether it can be
/// tapped.
async fn switch_state(c: &Client, state: &str, says: &str) {
    until(
        c,
        &format!("the switch's state {state}"),
        &format!("document.querySelector('#notify-state').dataset.state === '{state}'"),
    )
    .await;
    assert_eq!(text(c, "#notify-state").await, says);
    let switch = c
        .execute(
            "const s = document.getElementById('notify-switch'); return [s.checked, s.disabled];",
            vec![],
        )
        .await
        .expect("reading the switch");
    let tappable = state == "off" || state == "on";
    assert_eq!(
        switch,
        json!([state == "on", !tappable]),
        "the switch in state {state}"
    );
}

/// The notifications the service worker shows, once there are `count` of them.
async fn notifications(c: &Client, count: usize) -> Value {
    let script = "return navigator.serviceWorker.ready\
        .then((r) => r.getNotifications())\
        .then((all) => all.map((n) => ({title: n.title, body: n.body, tag: n.tag, \
            renotify: n.renotify, url: n.data && n.data.url, icon: n.icon})));";
    for _ in 0..600 {
        let shown = c
            .execute(script, vec![])
            .await
            .unwrap_or_else(|err| panic!("reading the notifications: {err}"));
        if shown.as_array().is_some_and(|all| all.len() == count) {
            return shown;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the service worker never showed {count} notifications");
}

/// Taps the notification, as nearly as DevTools can: no command clicks an OS notification, so
/// the worker's own `notificationclick` listener is dispatched, in the worker, on the real
/// notification it showed. That event is the stand-in: being untrusted, it may not do what only
/// a real tap may (bring a window to the front, open one), so what is checked is the rest of
/// the tap's path: the notice closes and the open dashboard window shows the product's page.
async fn tap_the_notification(c: &Client) {
    let mut worker = Cdp::connect(c, "service_worker", &format!("{BASE}/sw.js"));
    let tapped = worker.call(
        "Runtime.evaluate",
        json!({
            "expression": "self.registration.getNotifications({tag: 'sessctl-web'}).then(([shown]) => { \
                self.dispatchEvent(new NotificationEvent('notificationclick', {notification: shown})); \
                return shown.data.url; })",
            "awaitPromise": true,
            "returnByValue": true,
        }),
    );
    assert_eq!(
        tapped["result"]["value"],
        format!("{BASE}/p/web"),
        "{tapped}"
    );
    for _ in 0..600 {
        let at = c.current_url().await.expect("the page's URL");
        if at.path() == "/p/web" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the tap never opened /p/web");
}
