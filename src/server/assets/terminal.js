// The product page's live terminal: a tmux client of the session, over a WebSocket.
// Read-only until "Type" is tapped; phones get a key bar for the keys their keyboards lack.
"use strict";
(function () {
  const box = document.getElementById("terminal-box");
  const product = box.dataset.product;
  const toggle = document.getElementById("type-toggle");
  const keybar = document.getElementById("keybar");
  const state = document.getElementById("terminal-state");
  const term = new Terminal({ fontSize: 13, cursorBlink: true, disableStdin: true, scrollback: 2000 });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("terminal"));
  fit.fit();

  const KEYS = {
    esc: "\x1b", tab: "\t", "ctrl-c": "\x03", enter: "\r",
    up: "\x1b[A", down: "\x1b[B", right: "\x1b[C", left: "\x1b[D",
  };
  let ws = null;
  let write = false;
  let retry = null;

  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  function connect() {
    clearTimeout(retry);
    if (ws) { ws.onclose = null; ws.close(); }
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const query = `write=${write ? 1 : 0}&cols=${term.cols}&rows=${term.rows}`;
    ws = new WebSocket(`${proto}://${location.host}/api/products/${encodeURIComponent(product)}/terminal?${query}`);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => { state.textContent = write ? "typing" : "read-only"; };
    ws.onmessage = (event) => term.write(new Uint8Array(event.data));
    ws.onclose = () => {
      state.textContent = "disconnected; reconnecting";
      // The session restarted or ended: try again while the page is open.
      retry = setTimeout(connect, 2000);
    };
  }

  term.onData((data) => { if (write) send({ input: data }); });
  term.onResize(({ cols, rows }) => send({ resize: [cols, rows] }));
  window.addEventListener("resize", () => fit.fit());

  toggle.addEventListener("click", () => {
    write = !write;
    toggle.textContent = write ? "Stop typing" : "Tap to type";
    toggle.setAttribute("aria-pressed", String(write));
    keybar.hidden = !write;
    term.options.disableStdin = !write;
    connect();
    if (write) term.focus();
  });

  keybar.addEventListener("click", (event) => {
    const key = event.target.closest("button[data-key]");
    if (key && write) { send({ input: KEYS[key.dataset.key] }); term.focus(); }
  });

  connect();
})();
