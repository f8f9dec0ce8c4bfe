// The product page's live terminal: a tmux client of the session, over a WebSocket opened with
// session.js's sessctlProtocols(). Read-only until "Tap to type"; phones get a key bar for the
// keys their keyboards lack. The server sends the pane's history first, so scrolling back
// reaches what was printed before the page opened; a session that is not running is said so,
// and asked for again with a growing pause.
"use strict";
(function () {
  const box = document.getElementById("terminal-box");
  const product = box.dataset.product;
  const toggle = document.getElementById("type-toggle");
  const keybar = document.getElementById("keybar");
  const state = document.getElementById("terminal-state");
  const note = document.getElementById("terminal-note");
  // More than tmux keeps (history-limit, 2000 lines by default), plus what scrolls by live.
  const term = new Terminal({
    fontSize: 13, cursorBlink: true, disableStdin: true, scrollback: 10000,
  });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("terminal"));
  fit.fit();

  // tmux draws on the alternate screen when the terminal has one, and xterm.js keeps no
  // scrollback there: ignored, every line tmux scrolls off goes into the scrollback.
  const ALTERNATE_SCREEN = [47, 1047, 1049];
  const alternate = (params) =>
    params.length > 0 && params.every((p) => ALTERNATE_SCREEN.includes(p));
  term.parser.registerCsiHandler({ prefix: "?", final: "h" }, alternate);
  term.parser.registerCsiHandler({ prefix: "?", final: "l" }, alternate);

  const KEYS = {
    esc: "\x1b", tab: "\t", "ctrl-c": "\x03", enter: "\r",
    up: "\x1b[A", down: "\x1b[B", right: "\x1b[C", left: "\x1b[D",
  };
  // The close codes the server gives (src/server/terminal.rs).
  const NOT_RUNNING = 4001;
  const ENDED = 4002;
  const FIRST_PAUSE = 1000;
  const LONGEST_PAUSE = 15000;
  let ws = null;
  let write = false;
  let retry = null;
  let pause = FIRST_PAUSE;

  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  function showing() {
    state.textContent = write ? "typing" : "read-only";
    note.hidden = true;
    box.classList.remove("ended");
    pause = FIRST_PAUSE;
  }

  function connect() {
    clearTimeout(retry);
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close();
    }
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const query = `write=${write ? 1 : 0}&cols=${term.cols}&rows=${term.rows}`;
    const url = `${proto}://${location.host}/api/products/${encodeURIComponent(product)}/terminal?${query}`;
    const socket = new WebSocket(url, sessctlProtocols());
    ws = socket;
    if (note.hidden) state.textContent = "connecting";
    socket.binaryType = "arraybuffer";
    let first = true;
    socket.onmessage = (event) => {
      // The history, then the client's first screen: all of it, and only it, is this session.
      if (first) {
        first = false;
        term.reset();
        showing();
      }
      term.write(new Uint8Array(event.data));
    };
    socket.onclose = closed;
  }

  function closed(event) {
    ws = null;
    const gone = event.code === NOT_RUNNING || event.code === ENDED;
    if (gone) {
      note.textContent = event.code === NOT_RUNNING ? "Session not running" : "Session ended";
      note.hidden = false;
      box.classList.add("ended");
    }
    const what = gone ? note.textContent.toLowerCase() : "disconnected";
    state.textContent = `${what}; trying again in ${Math.round(pause / 1000)} s`;
    retry = setTimeout(connect, pause);
    pause = Math.min(pause * 2, LONGEST_PAUSE);
  }

  // A start or resume from this page is worth a look at once.
  document.addEventListener("sessctl:acted", () => {
    pause = FIRST_PAUSE;
    if (!ws) connect();
  });

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
