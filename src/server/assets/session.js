// The browser's half of a login session. The login cookie names the session, but cookies are
// sent to every port of a host, so a server on another loopback port could collect it: the
// cookie alone therefore opens nothing but the page shells. Every request that reads or
// changes anything also carries the session's key, which this script keeps in localStorage,
// and storage, unlike cookies, belongs to one origin (scheme, host and port).
//
// Loaded before the other scripts; they make every request through sessctlFetch and open
// every WebSocket with sessctlProtocols().
"use strict";
const SESSCTL_KEY = "sessctl-key";

function sessctlKey() {
  return localStorage.getItem(SESSCTL_KEY) || "";
}

// The server no longer knows this session (it expired, was revoked, or the token changed):
// back to the login page, keeping nothing.
function sessctlLoggedOut() {
  localStorage.removeItem(SESSCTL_KEY);
  location.replace("/login");
}

// fetch() with the session's key; a refusal of the session logs the page out.
async function sessctlFetch(url, init) {
  const options = init || {};
  const headers = new Headers(options.headers || {});
  headers.set("X-Sessctl-Key", sessctlKey());
  const response = await fetch(url, { ...options, headers, credentials: "same-origin" });
  const loggedOut = response.status === 401
    || (response.redirected && new URL(response.url).pathname === "/login");
  if (loggedOut) sessctlLoggedOut();
  return response;
}

// The subprotocols a terminal's WebSocket asks for: a browser cannot add headers to a
// WebSocket, so the key travels as the second one (the server answers with "sessctl").
function sessctlProtocols() {
  return ["sessctl", `sessctl.key.${sessctlKey()}`];
}

(function () {
  // /login/done: the login handed the key over in a cookie that only this path sees and that
  // lives two minutes; keep it here, drop the cookie, and go on without the login in history.
  if (document.body.dataset.page === "login-done") {
    const pair = document.cookie.split("; ").find((c) => c.startsWith("sessctl_key="));
    document.cookie = "sessctl_key=; Path=/login/done; Max-Age=0; SameSite=Strict";
    if (pair) {
      localStorage.setItem(SESSCTL_KEY, pair.slice("sessctl_key=".length));
      location.replace("/");
    } else {
      location.replace("/login");
    }
    return;
  }
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await sessctlFetch("/logout", { method: "POST" }).catch(() => {});
      sessctlLoggedOut();
    });
  }
})();
