// The dashboard's one script: the buttons call the API, and the page's live part is fetched
// again every second or few while the page is visible.
"use strict";
const csrf = document.querySelector('meta[name="csrf"]').content;
const flash = document.getElementById("flash");
const live = document.getElementById("live");

function say(text, bad) {
  flash.textContent = text;
  flash.className = bad ? "bad" : "good";
}

function describe(body) {
  if (body.error) return body.error;
  if (body.verdict) {
    const verdict = body.recovered ? "lost, then recovered" : body.verdict;
    const pids = body.after && body.after.main_pid
      ? ` (main PID ${body.after.main_pid}, agent PID ${body.after.agent_pid ?? "-"})` : "";
    return `${body.unit}: ${verdict}${body.reason ? ": " + body.reason : ""}${pids}`;
  }
  return body.line || JSON.stringify(body);
}

async function act(button) {
  const { product, action } = button.dataset;
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  button.disabled = true;
  say(`${action} ${product}...`, false);
  try {
    const response = await fetch(
      `/api/products/${encodeURIComponent(product)}/${action}`,
      { method: "POST", headers: { "X-Sessctl-Csrf": csrf } });
    const body = await response.json().catch(() => ({ error: response.statusText }));
    say(describe(body), !response.ok || body.verdict === "lost" || body.verdict === "needs-repair");
  } catch (err) {
    say(`${action} ${product}: ${err}`, true);
  } finally {
    button.disabled = false;
    await refresh();
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button) act(button);
});

// A tap is lost when its button is replaced between the press and the release, so nothing is
// replaced while a finger or a mouse button is down.
let pressed = false;
document.addEventListener("pointerdown", () => { pressed = true; });
for (const end of ["pointerup", "pointercancel"]) {
  document.addEventListener(end, () => { pressed = false; });
}

// Replaces the live part's children that changed (a product's card), and only those.
function update(fresh) {
  const now = [...live.children];
  const next = [...fresh.children];
  if (now.length !== next.length) {
    live.replaceChildren(...next.map((n) => document.importNode(n, true)));
    return;
  }
  next.forEach((n, i) => {
    if (now[i].outerHTML !== n.outerHTML) now[i].replaceWith(document.importNode(n, true));
  });
}

async function refresh() {
  if (document.hidden) return;
  try {
    const response = await fetch(location.pathname, { credentials: "same-origin" });
    if (response.redirected || !response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("live");
    if (fresh && !pressed) update(fresh);
  } catch (_) {
    // Offline for a moment (a phone changing networks): the next tick tries again.
  }
}

// The list polls every second: its systemd part is read at most once a second for all
// viewers, its waiting badges anew. A product page runs doctor on every load, so it
// refreshes less often.
const period = location.pathname === "/" ? 1000 : 5000;
if (!document.querySelector("form.login")) setInterval(refresh, period);
