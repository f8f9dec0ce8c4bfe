// The dashboard's one script: the buttons call the API, and the page's live part is fetched
// again every few seconds while the page is visible.
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

async function refresh() {
  if (document.hidden) return;
  try {
    const response = await fetch(location.pathname, { credentials: "same-origin" });
    if (response.redirected || !response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("live");
    if (fresh) live.innerHTML = fresh.innerHTML;
  } catch (_) {
    // Offline for a moment (a phone changing networks): the next tick tries again.
  }
}

// A product page runs doctor on every load, so it refreshes less often than the list.
const period = location.pathname === "/" ? 2000 : 5000;
if (!document.querySelector("form.login")) setInterval(refresh, period);
