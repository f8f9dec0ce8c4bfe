// Push notifications on this device: every logged-in page registers the service worker
// (/sw.js, which shows what sessctl pushes), and the list page's "Notify me on this device"
// switch subscribes this browser with the server's key (GET /api/push) and hands the
// subscription to the server (POST /api/push), or ends it (DELETE /api/push). The switch says
// the state as it is: on, off, blocked in the browser's settings, or impossible here.
"use strict";
const sessctlWorker = "serviceWorker" in navigator
  ? navigator.serviceWorker.register("/sw.js", { scope: "/", updateViaCache: "none" })
  : Promise.resolve(null);

(function () {
  const toggle = document.getElementById("notify-switch");
  const state = document.getElementById("notify-state");
  if (!toggle) return;
  const SUBSCRIBE_WITHIN = 20000;

  function show(name, text) {
    state.dataset.state = name;
    state.textContent = text;
    state.title = text;
    // While busy, the switch stays where the finger put it.
    if (name !== "busy") toggle.checked = name === "on";
    toggle.disabled = name === "unsupported" || name === "denied" || name === "busy";
  }

  // Why this page cannot receive push, or null.
  function unsupported() {
    if (!window.isSecureContext) {
      return "Not here: notifications need the dashboard over HTTPS (or on localhost).";
    }
    if ("serviceWorker" in navigator && "PushManager" in window && "Notification" in window) {
      return null;
    }
    // Only Safari on iOS has navigator.standalone: there, push is for the installed app.
    return navigator.standalone === false
      ? "Not in this tab: on an iPhone or iPad, tap Share, then Add to Home Screen, and open sessctl from the Home Screen."
      : "Not here: this browser cannot receive push notifications.";
  }

  async function api(method, body) {
    const init = { method };
    if (body) {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify(body);
    }
    const response = await sessctlFetch("/api/push", init);
    if (response.ok) return response.status === 204 ? null : response.json();
    const said = await response.json().catch(() => ({ error: response.statusText }));
    throw new Error(`${method} /api/push: the server answered ${response.status} (${said.error})`);
  }

  async function subscription() {
    const registration = await navigator.serviceWorker.ready;
    return registration.pushManager.getSubscription();
  }

  // The state as this browser and the server know it: on only when this browser holds a
  // subscription and the server sends to it.
  async function check() {
    const why = unsupported();
    if (why) return show("unsupported", why);
    if (Notification.permission === "denied") {
      return show("denied", "Blocked: notifications are off for this site in the browser's settings.");
    }
    const held = await subscription();
    if (held && (await api("GET")).endpoint === held.endpoint) {
      return show("on", "On: this device is told when a product waits for you or is in trouble.");
    }
    return show("off", "Off: this device is not notified.");
  }

  function key(base64url) {
    const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)),
      (c) => c.charCodeAt(0));
  }

  // A subscription of this browser under another key (the server's state was reset) cannot
  // take the new one: it is ended first.
  async function subscribe(serverKey) {
    const registration = await navigator.serviceWorker.ready;
    const held = await registration.pushManager.getSubscription();
    const heldKey = held && held.options.applicationServerKey;
    if (held && !(heldKey && new Uint8Array(heldKey).join() === serverKey.join())) {
      await held.unsubscribe();
    }
    // A browser whose push service cannot be reached never answers (Chromium offline, or
    // without Google's services): after a while the switch says so instead of spinning.
    let timer;
    const silence = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(
        `this browser's push service did not answer within ${SUBSCRIBE_WITHIN / 1000} s`)),
      SUBSCRIBE_WITHIN);
    });
    const asked = registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: serverKey });
    try {
      return await Promise.race([asked, silence]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function turnOn() {
    if ((await Notification.requestPermission()) !== "granted") return;
    const { key: serverKey } = await api("GET");
    const made = await subscribe(key(serverKey));
    await api("POST", made.toJSON());
    say("Notifications are on for this device.", false);
  }

  async function turnOff() {
    const held = await subscription();
    if (held) await held.unsubscribe();
    await api("DELETE");
    say("Notifications are off for this device.", false);
  }

  toggle.addEventListener("change", async () => {
    const on = toggle.checked;
    show("busy", on ? "Turning on…" : "Turning off…");
    try {
      await (on ? turnOn() : turnOff());
    } catch (err) {
      say(`${on ? "turning notifications on" : "turning notifications off"}: ${err.message || err}`, true);
    }
    await check().catch(failed);
  });

  function failed(err) {
    show("error", `Unknown: ${err.message || err}`);
  }

  sessctlWorker.catch((err) => show("error", `Unknown: the service worker did not register: ${err.message || err}`));
  check().catch(failed);
  // Permission may change in the browser's settings while the page is in the background.
  document.addEventListener("visibilitychange", () => { if (!document.hidden) check().catch(failed); });
})();
