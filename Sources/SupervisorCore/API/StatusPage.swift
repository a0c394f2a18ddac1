import Foundation

/// `GET /` on `supervisor.listen`: one self-contained page (no external assets, works offline)
/// that renders `/health` and refreshes it every few seconds. States show as colour and as
/// text. It shows JWT names and states only, never a credential or a fingerprint.
enum StatusPage {
    static let refreshSeconds = 3

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>jetbrains-ai fleet</title>
<style>
:root { --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e; --off:#57606a; --bg:#f6f8fa; --card:#fff; --line:#d0d7de; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:#1f2328; }
header { display:flex; flex-wrap:wrap; gap:.5rem 1rem; align-items:center; padding:.8rem 1rem; background:#24292f; color:#fff; }
header h1 { font-size:1.1rem; margin:0; font-weight:600; }
#updated { font-size:.85rem; opacity:.8; }
main { padding:1rem; display:grid; gap:1rem; grid-template-columns:repeat(auto-fill, minmax(min(100%, 26rem), 1fr)); }
.card { background:var(--card); border:1px solid var(--line); border-left:6px solid var(--off); border-radius:8px; padding:.8rem 1rem; min-width:0; }
.card h2 { margin:0 0 .4rem; font-size:1.05rem; display:flex; justify-content:space-between; gap:.5rem; align-items:center; }
.badge { display:inline-block; padding:.05rem .55rem; border-radius:1rem; color:#fff; font-size:.8rem; font-weight:600; background:var(--off); text-transform:uppercase; letter-spacing:.02em; }
.s-running,.s-ok,.s-healthy { --c:var(--ok); } .s-starting,.s-stopping,.s-degraded,.s-cooling_down,.s-pending,.s-backoff { --c:var(--warn); }
.s-fatal,.s-down,.s-invalid,.s-quota_exhausted { --c:var(--bad); } .s-stopped,.s-unknown { --c:var(--off); }
.badge[class*="s-"] { background:var(--c); } .card[class*="s-"] { border-left-color:var(--c); }
dl { display:grid; grid-template-columns:auto 1fr; gap:.1rem .8rem; margin:.3rem 0 .6rem; font-size:.9rem; }
dt { color:#57606a; } dd { margin:0; overflow-wrap:anywhere; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:.88rem; }
th, td { text-align:left; padding:.25rem .4rem; border-top:1px solid var(--line); white-space:nowrap; }
th { color:#57606a; font-weight:600; }
#events-card { grid-column:1 / -1; border-left-color:#0969da; }
#events { list-style:none; margin:0; padding:0; font-size:.88rem; }
#events li { padding:.3rem 0; border-top:1px solid var(--line); display:flex; flex-wrap:wrap; gap:.2rem .6rem; }
#events time { color:#57606a; font-variant-numeric:tabular-nums; }
.kind { font-weight:600; }
#error { color:var(--bad); font-weight:600; }
</style>
</head>
<body data-rendered="0">
<header>
  <h1>jetbrains-ai fleet</h1>
  <span id="fleet" class="badge">loading</span>
  <span id="summary"></span>
  <span id="updated"></span>
  <span id="error" role="alert"></span>
</header>
<main id="tenants"></main>
<main><section class="card" id="events-card"><h2>Recent events</h2><ol id="events"></ol></section></main>
<script>
"use strict";
const REFRESH_MS = __REFRESH__ * 1000;
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}
function badge(state, extra) { return el("span", {class: "badge s-" + state + (extra ? " " + extra : "")}, state.split("_").join(" ")); }
function dur(s) {
  if (s == null) return "–";
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m ? m + "m " + (s % 60) + "s" : s + "s";
}
function ago(iso) {
  if (!iso) return "";
  const t = new Date(iso), s = (Date.now() - t.getTime()) / 1000;
  return s < 0 ? "in " + dur(-s) : dur(s) + " ago";
}
function exitText(e) {
  if (!e) return "–";
  return (e.signal ? "killed by " + e.signal : "exit code " + e.code) + " (" + ago(e.at) + ")";
}
function pct(x) { return x == null ? "–" : (x * 100).toFixed(1) + " %"; }
function num(x) { return x == null ? "–" : String(Math.round(x * 100) / 100); }
function tenantCard(name, t) {
  const card = el("section", {class: "card tenant s-" + t.state, "data-tenant": name, "data-state": t.state});
  card.append(el("h2", {}, el("span", {class: "tenant-name"}, name), badge(t.state, "state")));
  const dl = el("dl", {});
  const rows = [
    ["worker", t.status], ["pid", t.pid == null ? "–" : t.pid], ["uptime", dur(t.uptime_s)],
    ["restarts", t.restarts], ["last exit", exitText(t.last_exit)], ["req/s", num(t.requests_per_second)],
    ["errors", pct(t.error_rate)], ["in flight", t.requests_in_flight == null ? "–" : t.requests_in_flight],
    ["JWTs", t.healthy_tokens + " / " + t.total_tokens + " healthy"], ["listen", t.listen],
  ];
  if (t.detail) rows.push(["detail", t.detail]);
  for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", {"data-field": k}, v));
  card.append(dl);
  const table = el("table", {class: "tokens"},
    el("thead", {}, el("tr", {}, el("th", {}, "JWT"), el("th", {}, "state"), el("th", {}, "until"), el("th", {}, "quota left"), el("th", {}, "in flight"))));
  const body = el("tbody", {});
  for (const k of t.tokens || []) {
    body.append(el("tr", {class: "token", "data-token": k.name},
      el("td", {class: "token-name"}, k.name),
      el("td", {}, badge(k.state, "token-state")),
      el("td", {}, k.until ? ago(k.until) : "–"),
      el("td", {}, num(k.quota_remaining)),
      el("td", {}, k.in_flight == null ? "–" : k.in_flight)));
  }
  table.append(body);
  card.append(el("div", {class: "scroll"}, table));
  return card;
}
function render(h) {
  const fleet = document.getElementById("fleet");
  fleet.className = "badge s-" + h.status;
  fleet.textContent = "fleet " + h.status;
  document.getElementById("summary").textContent = h.healthy_tenants + " / " + h.total_tenants + " tenants can serve";
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  const tenants = document.getElementById("tenants");
  tenants.replaceChildren(...Object.keys(h.tenants).sort().map(n => tenantCard(n, h.tenants[n])));
  const events = document.getElementById("events");
  events.replaceChildren(...(h.events || []).slice().reverse().map(e =>
    el("li", {class: "event", "data-kind": e.kind},
      el("time", {datetime: e.time}, new Date(e.time).toLocaleTimeString()),
      el("span", {class: "kind"}, e.kind.split("_").join(" ")),
      el("span", {}, e.tenant || "fleet"),
      el("span", {class: "message"}, e.message))));
  if (!(h.events || []).length) events.append(el("li", {}, "no events yet"));
  document.body.dataset.rendered = String(Number(document.body.dataset.rendered) + 1);
}
async function refresh() {
  try {
    const r = await fetch("health", {cache: "no-store"});
    render(await r.json());
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "cannot reach the supervisor (" + e.message + ")";
  }
  setTimeout(refresh, REFRESH_MS);
}
refresh();
</script>
</body>
</html>
"""#.replacingOccurrences(of: "__REFRESH__", with: String(refreshSeconds))
}
