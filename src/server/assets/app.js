// The dashboard's one script: the buttons call the API (what ends a session asks first, on the
// page), and the page's live part is fetched again at once and then every second or few while
// the page is visible. Every request goes through session.js's sessctlFetch.
"use strict";
const flash = document.getElementById("flash");
const live = document.getElementById("live");
const updated = document.getElementById("updated");

function say(text, bad) {
  flash.textContent = text;
  flash.title = text;
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

// --- Times: the server writes UTC; the browser shows its own local time. ---

const two = (n) => String(n).padStart(2, "0");
const clock = (d) => `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
const localTime = (d) =>
  `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${clock(d)}`;

function localize(root) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    const at = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) time.textContent = localTime(at);
  }
}

// --- Secrets: a product's --env values are shown masked until asked for. ---

// An `--env` word as the server quotes it for a shell: bare, or single-quoted with '\'' inside.
const ENV_WORD = /--env\s+('(?:[^']|'\\'')*'|[^\s']+)/g;
// The names whose values were asked for on this page.
const revealed = new Set();

function unquote(word) {
  return word.startsWith("'") ? word.slice(1, -1).replaceAll("'\\''", "'") : word;
}

function maskText(node) {
  const doc = node.ownerDocument;
  const parts = [];
  let last = 0;
  for (const match of node.data.matchAll(ENV_WORD)) {
    const word = match[1];
    const name = unquote(word).split("=")[0];
    if (revealed.has(name)) continue;
    const start = match.index + match[0].length - word.length;
    const shown = doc.createElement("button");
    shown.type = "button";
    shown.className = "masked";
    shown.dataset.reveal = name;
    shown.title = `show the value of ${name}`;
    shown.textContent = `${name}=••••`;
    parts.push(doc.createTextNode(node.data.slice(last, start)), shown);
    last = start + word.length;
  }
  if (parts.length === 0) return;
  parts.push(doc.createTextNode(node.data.slice(last)));
  node.replaceWith(...parts);
}

function mask(root) {
  const walker = root.ownerDocument.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.data.includes("--env")) found.push(node);
  }
  found.forEach(maskText);
}

// --- Confirmation: what ends a session is confirmed on the page, naming what ends. ---

let dialog = null;

function confirmDialog() {
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "confirm";
  dialog.innerHTML = '<form method="dialog"><h2 id="confirm-title"></h2>'
    + '<p id="confirm-text"></p><div class="choices">'
    + '<button value="cancel" autofocus>Cancel</button>'
    + '<button value="ok" id="confirm-ok" class="danger"></button></div></form>';
  // A tap beside the dialog, on its backdrop, cancels.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close("cancel");
  });
  document.body.append(dialog);
  return dialog;
}

function ask(button) {
  const d = confirmDialog();
  const { product, action, confirm, confirmTitle } = button.dataset;
  d.querySelector("#confirm-title").textContent = confirmTitle;
  d.querySelector("#confirm-text").textContent = confirm;
  d.querySelector("#confirm-ok").textContent =
    `${action[0].toUpperCase()}${action.slice(1)} ${product}`;
  d.returnValue = "";
  d.showModal();
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
  });
}

// --- Actions ---

// The actions under way, as "product/action": their buttons stay disabled across refreshes.
const busy = new Set();

async function act(button) {
  const { product, action } = button.dataset;
  if (button.dataset.confirm && !(await ask(button))) return;
  const key = `${product}/${action}`;
  busy.add(key);
  button.disabled = true;
  say(`${button.textContent.toLowerCase()} ${product}...`, false);
  try {
    const response = await sessctlFetch(
      `/api/products/${encodeURIComponent(product)}/${action}`, { method: "POST" });
    const body = await response.json().catch(() => ({ error: response.statusText }));
    say(describe(body), !response.ok || body.verdict === "lost" || body.verdict === "needs-repair");
  } catch (err) {
    say(`${action} ${product}: ${err}`, true);
  } finally {
    busy.delete(key);
    button.disabled = false;
    document.dispatchEvent(new CustomEvent("sessctl:acted", { detail: { product, action } }));
    await refresh();
  }
}

// The questions answered from this page, or being answered: their cards stay gone, even from
// a refresh that comes before the client's hook has taken the answer and closed the question,
// so no second tap answers again. A question the server no longer shows is forgotten.
const answered = new Set();

function hideAnswered(root) {
  const open = new Set();
  for (const card of root.querySelectorAll(".permission[data-question]")) {
    open.add(card.dataset.question);
    if (answered.has(card.dataset.question)) card.remove();
  }
  for (const id of answered) if (!open.has(id)) answered.delete(id);
}

// An answer to the agent's question for permission: it goes to the client's own hook, never
// to the terminal.
async function decide(button) {
  const { product, question, decision } = button.dataset;
  answered.add(question);
  hideAnswered(live);
  try {
    const response = await sessctlFetch(
      `/api/products/${encodeURIComponent(product)}/permission`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ id: question, decision }),
      });
    const body = await response.json().catch(() => ({ error: response.statusText }));
    say(body.error || `${product}: ${body.tool_name} ${decision === "allow" ? "approved" : "denied"}`,
      !response.ok);
  } catch (err) {
    // Not sent: the card comes back with the next refresh, to answer again.
    answered.delete(question);
    say(`${decision} ${product}: ${err}`, true);
  } finally {
    await refresh();
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button) act(button);
  const answer = event.target.closest("button[data-decision]");
  if (answer) decide(answer);
  const secret = event.target.closest("button[data-reveal]");
  if (secret) {
    revealed.add(secret.dataset.reveal);
    refresh();
  }
});

// A tap is lost when its button is replaced between the press and the release, so nothing is
// replaced while a finger or a mouse button is down.
let pressed = false;
document.addEventListener("pointerdown", () => { pressed = true; });
for (const end of ["pointerup", "pointercancel"]) {
  document.addEventListener(end, () => { pressed = false; });
}

// --- Filter: the list shows the products whose name holds what is typed, in any case (a
// phone's keyboard capitalizes). The box is outside the live part, so a refresh keeps what is
// typed and the focus; the cards a refresh brings are filtered before they are compared. ---

const filter = document.getElementById("filter");
const noMatch = document.getElementById("no-match");

function filterCards(root) {
  if (!filter) return;
  const typed = filter.value.trim().toLowerCase();
  for (const card of root.querySelectorAll("section.card[data-product]")) {
    card.hidden = !card.dataset.product.toLowerCase().includes(typed);
  }
}

// Says so when products are listed but none matches.
function showMatches() {
  if (!noMatch) return;
  const cards = [...live.querySelectorAll("section.card")];
  noMatch.hidden = cards.length === 0 || cards.some((card) => !card.hidden);
}

function applyFilter() {
  filterCards(live);
  showMatches();
}

// A browser may restore what was typed when the page comes back (the back button).
if (filter) {
  filter.addEventListener("input", applyFilter);
  applyFilter();
}

// --- Refresh ---

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

// The fresh live part as this page shows it: local times, masked values, the filter, busy
// buttons, and the whole of each clipped note in its title.
function prepare(fresh) {
  localize(fresh);
  mask(fresh);
  hideAnswered(fresh);
  filterCards(fresh);
  for (const note of fresh.querySelectorAll(".line.note")) {
    if (note.textContent) note.title = note.textContent;
  }
  for (const key of busy) {
    const [product, action] = key.split("/");
    const selector = `button[data-product="${CSS.escape(product)}"][data-action="${action}"]`;
    for (const button of fresh.querySelectorAll(selector)) button.disabled = true;
  }
}

// A product page runs doctor on every load: a slow answer is not yet a failed one.
const ANSWER_WITHIN = 15000;
let lastGood = null;

// Shows whether the live part is current: when it is not, it is marked stale and the line says
// since when, and why.
function freshness(reason) {
  if (!updated) return;
  if (reason === null) {
    lastGood = new Date();
    updated.textContent = `updated ${clock(lastGood)}`;
    updated.className = "updated";
    live.classList.remove("stale");
    return;
  }
  updated.textContent = lastGood
    ? `not updated since ${clock(lastGood)}: ${reason}` : `not loaded: ${reason}`;
  updated.className = "updated bad";
  live.classList.add("stale");
}

async function failure(response) {
  const body = await response.json().catch(() => null);
  const said = body && body.error ? body.error : response.statusText;
  return `the server answered ${response.status}${said ? ` (${said})` : ""}`;
}

// Fetches the page again and applies its live part; returns why it failed, null when it
// applied, and undefined when it did not try or applied nothing (a hidden page, a finger down).
async function load() {
  if (document.hidden) return undefined;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ANSWER_WITHIN);
  try {
    // A value asked for is asked for from the server too, for a server that masks them.
    const url = revealed.size ? `${location.pathname}?reveal=env` : location.pathname;
    const response = await sessctlFetch(url, { signal: abort.signal });
    // A logged-out page is on its way to the login page.
    if (response.redirected) return undefined;
    if (!response.ok) return await failure(response);
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("live");
    if (!fresh) return "the server's answer was no dashboard page";
    prepare(fresh);
    if (pressed) return undefined;
    update(fresh);
    showMatches();
    return null;
  } catch (err) {
    return abort.signal.aborted
      ? `no answer within ${ANSWER_WITHIN / 1000} s` : "no connection to the server";
  } finally {
    clearTimeout(timer);
  }
}

// One load at a time, in order: an old answer never lands after a newer one. Resolves once the
// page shows what the server said, or that it could not.
let loading = Promise.resolve();
function refresh() {
  loading = loading.then(async () => {
    const reason = await load();
    if (reason !== undefined) freshness(reason);
  });
  return loading;
}
// The tests refresh the page between finding a button and tapping it, as a slow finger would.
window.sessctlRefresh = refresh;

// The list refreshes every second: its systemd part is read at most once a second for all
// viewers, its waiting badges anew. A product page runs doctor on every load, so it refreshes
// less often.
const period = location.pathname === "/" ? 1000 : 5000;

async function tick() {
  await refresh();
  setTimeout(tick, period);
}

if (updated) {
  tick();
  // A phone back from the background, or back online, shows the present at once.
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  window.addEventListener("online", () => refresh());
}
