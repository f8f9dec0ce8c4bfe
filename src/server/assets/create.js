// The list page's "New product" form: it offers the roots `sessctl dashboard enable --root`
// allowed and the agents sessctl knows (GET /api/roots), or says how to turn creating on, and
// creates the product with POST /api/products, which runs `sessctl enable`'s own checks: what
// they refuse is shown as the CLI words it.
"use strict";
(function () {
  const form = document.getElementById("create-form");
  if (!form) return;
  const field = (name) => document.getElementById(`create-${name}`);
  const said = field("said");

  function option(select, value) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = value;
    select.append(o);
  }

  async function offer() {
    const off = field("off");
    const response = await sessctlFetch("/api/roots");
    const body = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok || body.off) {
      off.textContent = body.off || body.error;
      off.hidden = false;
      return;
    }
    body.roots.forEach((root) => option(field("root"), root));
    body.agents.forEach((agent) => option(field("agent"), agent));
    form.hidden = false;
  }

  // The directory: a root, or a path under it.
  function dir() {
    const sub = field("sub").value.trim().replace(/^\/+/, "");
    return sub ? `${field("root").value}/${sub}` : field("root").value;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const asked = {
      name: field("name").value.trim(),
      dir: dir(),
      // Words split on spaces, as a shell would without quotes.
      command: field("command").value.trim().split(/\s+/).filter(Boolean),
    };
    if (field("agent").value) asked.agent = field("agent").value;
    field("go").disabled = true;
    said.textContent = `creating ${asked.name}...`;
    said.className = "";
    try {
      const response = await sessctlFetch("/api/products", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(asked),
      });
      const body = await response.json().catch(() => ({ error: response.statusText }));
      said.textContent = response.ok ? body.lines.join("; ") : body.error;
      said.className = response.ok ? "good" : "bad";
      if (response.ok) {
        form.reset();
        refresh();
      }
    } catch (err) {
      said.textContent = `creating ${asked.name}: ${err}`;
      said.className = "bad";
    } finally {
      field("go").disabled = false;
    }
  });

  offer();
})();
