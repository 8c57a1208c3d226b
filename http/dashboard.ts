/**
 * The dashboard page served at `GET /`: one self-contained HTML document (inline CSS and JS,
 * no CDN, no build step). It polls `GET /stats` every second and shows the members with their
 * state, the named actors per node, and live message rates. With a token, open it as
 * `http://host:port/#token=<token>`: the script sends it as `Authorization: Bearer`.
 *
 * Everything user-controlled (actor names, metadata) is inserted with `textContent`, never as
 * HTML.
 *
 * @module
 */

/** The dashboard HTML. */
export const DASHBOARD_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pulsing dashboard</title>
<style>
  :root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#6b7385; --line:#e3e6ec;
          --accent:#3b5bdb; --ok:#2b8a3e; --warn:#e67700; --bad:#c92a2a; --left:#868e96; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
         background:var(--bg); color:var(--ink); }
  header { display:flex; align-items:center; gap:16px; padding:14px 24px; background:var(--ink); color:#fff; }
  header h1 { font-size:18px; margin:0; letter-spacing:.3px; }
  header .node { color:#aab2c5; font-family:ui-monospace,Menlo,monospace; font-size:12px; }
  header .live { margin-left:auto; display:flex; align-items:center; gap:8px; font-size:12px; color:#aab2c5; }
  .dot { width:9px; height:9px; border-radius:50%; background:var(--left); display:inline-block; }
  .dot.on { background:#40c057; box-shadow:0 0 0 3px rgba(64,192,87,.25); }
  .dot.off { background:var(--bad); }
  main { padding:20px 24px; max-width:1200px; margin:0 auto; }
  .banner { display:none; padding:10px 14px; border-radius:8px; background:#fff4e6; color:#9c4a00;
            border:1px solid #ffd8a8; margin-bottom:16px; }
  .cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(170px,1fr)); gap:12px; margin-bottom:18px; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px; }
  .card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.5px; }
  .card .v { font-size:24px; font-weight:600; margin-top:2px; font-variant-numeric:tabular-nums; }
  .card canvas { width:100%; height:36px; display:block; margin-top:4px; }
  section { background:var(--card); border:1px solid var(--line); border-radius:10px; margin-bottom:18px; overflow:hidden; }
  section h2 { font-size:14px; margin:0; padding:10px 14px; border-bottom:1px solid var(--line);
               display:flex; align-items:center; gap:10px; }
  section h2 .sub { color:var(--muted); font-weight:400; font-family:ui-monospace,Menlo,monospace; font-size:12px; }
  section h2 input { margin-left:auto; font:inherit; padding:4px 8px; border:1px solid var(--line); border-radius:6px; width:220px; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:7px 14px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { font-size:12px; color:var(--muted); font-weight:500; background:#fafbfc; }
  tr:last-child td { border-bottom:none; }
  td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
  td.mono { font-family:ui-monospace,Menlo,monospace; font-size:12px; }
  .pill { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:500; color:#fff; }
  .pill.alive { background:var(--ok); } .pill.suspect { background:var(--warn); }
  .pill.dead { background:var(--bad); } .pill.left { background:var(--left); }
  .me { color:var(--accent); font-size:11px; margin-left:6px; }
  .empty { color:var(--muted); padding:12px 14px; }
  .nodegroup table { table-layout:fixed; }
  .nodegroup td, .nodegroup th { overflow:hidden; text-overflow:ellipsis; }
  .nodegroup th:nth-child(1) { width:32%; } .nodegroup th:nth-child(2) { width:16%; }
  .nodegroup h3 { margin:0; padding:8px 14px; font-size:12px; color:var(--muted); background:#fafbfc;
                  border-bottom:1px solid var(--line); font-weight:500; }
  footer { color:var(--muted); font-size:12px; text-align:center; padding:8px 0 24px; }
</style>
</head>
<body>
<header>
  <h1>Pulsing</h1>
  <span class="node" id="node">connecting…</span>
  <span class="live"><span class="dot" id="dot"></span><span id="live">waiting</span></span>
</header>
<main>
  <div class="banner" id="banner"></div>
  <div class="cards">
    <div class="card"><div class="k">Members alive</div><div class="v" id="c-members">–</div></div>
    <div class="card"><div class="k">Named actors</div><div class="v" id="c-named">–</div></div>
    <div class="card"><div class="k">Actors on this node</div><div class="v" id="c-local">–</div></div>
    <div class="card"><div class="k">Messages / s</div><div class="v" id="c-rate">–</div><canvas id="spark" width="300" height="36"></canvas></div>
  </div>
  <section>
    <h2>Members <span class="sub" id="members-sub"></span></h2>
    <table><thead><tr><th>Node</th><th>Address</th><th>State</th><th class="num">Named actors</th></tr></thead>
    <tbody id="members"></tbody></table>
  </section>
  <section id="actors-section">
    <h2>Named actors <span class="sub" id="actors-sub"></span><input id="filter" placeholder="filter by name…" aria-label="filter actors"></h2>
    <div id="actors"></div>
  </section>
  <footer>Refreshes every second from <code>/stats</code> · Prometheus metrics at <code>/metrics</code></footer>
</main>
<script>
(() => {
  "use strict";
  let headers = {};
  function readToken() {
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    headers = token ? { authorization: "Bearer " + token } : {};
  }
  readToken();
  addEventListener("hashchange", readToken);
  const prev = new Map();
  const history = [];
  let prevT = 0;
  const $ = (id) => document.getElementById(id);
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "text") e.textContent = v; else if (k === "cls") e.className = v; else e.setAttribute(k, v);
    }
    for (const c of kids) if (c != null) e.append(c);
    return e;
  }
  const short = (id) => (id || "").slice(0, 8);
  const fmtRate = (r) => r == null ? "–" : r >= 100 ? Math.round(r).toLocaleString() : r.toFixed(1);
  function banner(msg) { const b = $("banner"); b.textContent = msg || ""; b.style.display = msg ? "block" : "none"; }
  function spark() {
    const c = $("spark"), g = c.getContext("2d"); const w = c.width, h = c.height;
    g.clearRect(0, 0, w, h);
    if (history.length < 2) return;
    const max = Math.max(1, ...history);
    const x0 = w - ((history.length - 1) / (60 - 1)) * w;
    const pts = history.map((v, i) => [x0 + (i / (60 - 1)) * w, h - 2 - (v / max) * (h - 4)]);
    g.beginPath(); g.moveTo(pts[0][0], h);
    for (const [x, y] of pts) g.lineTo(x, y);
    g.lineTo(pts[pts.length - 1][0], h); g.closePath();
    g.fillStyle = "rgba(59,91,219,.12)"; g.fill();
    g.beginPath();
    pts.forEach(([x, y], i) => (i === 0 ? g.moveTo(x, y) : g.lineTo(x, y)));
    g.strokeStyle = "#3b5bdb"; g.lineWidth = 2; g.stroke();
  }
  function render(s) {
    const dt = prevT ? (s.now - prevT) / 1000 : 0;
    $("node").textContent = "node " + short(s.nodeId) + (s.addr ? " · " + s.addr : " · in-process") +
      " · up " + Math.round(s.uptimeMs / 1000) + "s";
    const alive = s.members.filter((m) => m.status === "alive").length;
    $("c-members").textContent = alive + " / " + s.members.length;
    $("c-named").textContent = String(s.actors.length);
    $("c-local").textContent = String(s.actorCount);
    const perNode = new Map();
    for (const a of s.actors) for (const i of a.instances) perNode.set(i.nodeId, (perNode.get(i.nodeId) || 0) + 1);
    const mb = $("members"); mb.replaceChildren();
    const members = [...s.members].sort((a, b) => (a.nodeId === s.nodeId ? -1 : b.nodeId === s.nodeId ? 1 : a.nodeId < b.nodeId ? -1 : 1));
    for (const m of members) {
      mb.append(el("tr", { "data-node": m.nodeId },
        el("td", { cls: "mono", title: m.nodeId }, short(m.nodeId), m.nodeId === s.nodeId ? el("span", { cls: "me", text: "this gateway" }) : null),
        el("td", { cls: "mono", text: m.addr || "in-process" }),
        el("td", {}, el("span", { cls: "pill " + m.status, text: m.status })),
        el("td", { cls: "num", text: String(perNode.get(m.nodeId) || 0) })));
    }
    $("members-sub").textContent = s.members.length + " total";
    let total = 0, any = false;
    const rows = new Map();
    const f = $("filter").value.trim().toLowerCase();
    for (const a of s.actors) {
      const key = a.path;
      const cur = { handled: a.local ? a.local.handled : null, calls: a.gateway ? a.gateway.ok + a.gateway.errors : 0 };
      const p = prev.get(key);
      const rate = p && dt > 0 && cur.handled != null && p.handled != null ? Math.max(0, (cur.handled - p.handled) / dt) : null;
      const grate = p && dt > 0 ? Math.max(0, (cur.calls - p.calls) / dt) : null;
      if (rate != null) { total += rate; any = true; } else if (grate != null) { total += grate; any = true; }
      prev.set(key, cur);
      if (f && !a.path.toLowerCase().includes(f)) continue;
      for (const inst of a.instances) {
        const list = rows.get(inst.nodeId) || []; rows.set(inst.nodeId, list);
        const local = inst.nodeId === s.nodeId ? a.local : null;
        list.push(el("tr", { "data-actor": a.path },
          el("td", { cls: "mono", text: a.path, title: a.path }),
          el("td", { text: (inst.metadata && inst.metadata.class) || "–" }),
          el("td", { cls: "num", text: local ? fmtRate(rate) : "–" }),
          el("td", { cls: "num", text: fmtRate(grate) }),
          el("td", { cls: "num", text: a.gateway ? String(a.gateway.errors) : "0" }),
          el("td", { cls: "num", text: local ? String(local.mailboxDepth) : "–" }),
          el("td", { cls: "num", text: local ? String(local.handled) : "–" })));
      }
    }
    const box = $("actors"); box.replaceChildren();
    if (rows.size === 0) box.append(el("div", { cls: "empty", text: f ? "No actor matches the filter." : "No named actors yet." }));
    const addrOf = new Map(s.members.map((m) => [m.nodeId, m.addr]));
    for (const [nodeId, list] of [...rows].sort((a, b) => (a[0] === s.nodeId ? -1 : b[0] === s.nodeId ? 1 : 0))) {
      box.append(el("div", { cls: "nodegroup", "data-group": nodeId },
        el("h3", { text: "node " + short(nodeId) + " · " + (addrOf.get(nodeId) || "in-process") + (nodeId === s.nodeId ? " (this gateway)" : "") }),
        el("table", {}, el("thead", {}, el("tr", {},
          el("th", { text: "Name" }), el("th", { text: "Class" }), el("th", { cls: "num", text: "Msg/s", title: "messages handled per second (actors on this node)" }),
          el("th", { cls: "num", text: "Calls/s", title: "calls per second through this gateway" }),
          el("th", { cls: "num", text: "Errors", title: "failed calls through this gateway" }),
          el("th", { cls: "num", text: "Mailbox" }), el("th", { cls: "num", text: "Handled" }))),
          el("tbody", {}, ...list.sort((x, y) => x.dataset.actor < y.dataset.actor ? -1 : 1)))));
    }
    $("actors-sub").textContent = s.actors.length + " names";
    for (const k of [...prev.keys()]) if (!s.actors.some((a) => a.path === k)) prev.delete(k);
    if (prevT) { history.push(any ? total : 0); if (history.length > 60) history.shift(); }
    $("c-rate").textContent = prevT ? fmtRate(total) : "–";
    prevT = s.now;
    spark();
  }
  async function tick() {
    try {
      const r = await fetch("stats", { headers, cache: "no-store" });
      if (r.status === 401) throw new Error("This gateway needs a token: open it as " + location.origin + location.pathname + "#token=<token>");
      if (!r.ok) throw new Error("GET /stats answered " + r.status);
      render(await r.json());
      banner("");
      $("dot").className = "dot on"; $("live").textContent = "live · " + new Date().toLocaleTimeString();
    } catch (e) {
      banner(e.message || String(e));
      $("dot").className = "dot off"; $("live").textContent = "disconnected";
    } finally {
      setTimeout(tick, 1000);
    }
  }
  tick();
})();
</script>
</body>
</html>
`;
