/**
 * The console's only assets, embedded (the binary and the machine may be offline; no CDN):
 * one stylesheet and one small script (confirmations before actions, and a page reload at
 * the refresh interval). The Content-Security-Policy allows nothing else.
 *
 * @module
 */

/** `assets/app.css`. */
export const CSS = `
:root { --fg:#1d2330; --muted:#5b6477; --line:#dde1ea; --bg:#f6f7fa; --card:#fff;
  --accent:#2f5bd3; --ok:#1f8a4c; --warn:#b7791f; --bad:#c53030; --info:#2b6cb0; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:var(--fg); background:var(--bg); }
header { display:flex; align-items:center; gap:20px; padding:10px 24px; background:#1d2330; color:#fff; }
header .brand { font-weight:700; font-size:16px; }
header nav a { color:#cfd6e6; text-decoration:none; margin-right:14px; }
header nav a.on, header nav a:hover { color:#fff; }
header .where { margin-left:auto; color:#aab3c5; font-size:12px; }
header form { margin:0; }
main { padding:18px 24px 40px; max-width:1280px; }
h1 { font-size:20px; margin:4px 0 14px; }
h2 { font-size:15px; margin:26px 0 8px; }
a { color:var(--accent); }
.muted { color:var(--muted); }
.banner { padding:10px 14px; border-radius:6px; margin:0 0 14px; border:1px solid; }
.banner.error { background:#fff5f5; border-color:#feb2b2; color:#742a2a; }
.banner.note { background:#fffaf0; border-color:#fbd38d; color:#744210; }
.banner.done { background:#f0fff4; border-color:#9ae6b4; color:#22543d; }
.cards { display:flex; flex-wrap:wrap; gap:10px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 14px;
  min-width:128px; text-decoration:none; color:inherit; }
.card .n { font-size:24px; font-weight:650; display:block; }
.card .l { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card.failed .n { color:var(--bad); }
.card.running .n { color:var(--info); }
table { border-collapse:collapse; background:var(--card); border:1px solid var(--line); width:100%; }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#eef1f6; font-weight:600; font-size:12px; color:#394154; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
td.err { color:var(--bad); max-width:420px; overflow-wrap:anywhere; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600;
  background:#edf2f7; color:#2d3748; }
.badge.ready, .badge.pending { background:#ebf4ff; color:#2c5282; }
.badge.scheduled { background:#faf5ff; color:#553c9a; }
.badge.running { background:#e6fffa; color:#234e52; }
.badge.completed, .badge.alive { background:#f0fff4; color:#22543d; }
.badge.failed, .badge.stale { background:#fff5f5; color:#9b2c2c; }
.badge.cancelled, .badge.expired, .badge.archived, .badge.disabled { background:#edf2f7; color:#4a5568; }
pre { background:#111827; color:#e5e7eb; padding:10px 12px; border-radius:6px; overflow:auto;
  max-height:360px; white-space:pre-wrap; overflow-wrap:anywhere; }
dl.kv { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; background:var(--card);
  border:1px solid var(--line); border-radius:8px; padding:12px 16px; margin:0; }
dl.kv dt { color:var(--muted); }
dl.kv dd { margin:0; overflow-wrap:anywhere; }
form.inline { display:inline; margin:0; }
button { font:inherit; padding:4px 12px; border-radius:5px; border:1px solid #b8c0d0; background:#fff;
  cursor:pointer; }
button.primary { background:var(--accent); border-color:var(--accent); color:#fff; }
button.danger { border-color:#e0a5a5; color:var(--bad); }
.filters { display:flex; flex-wrap:wrap; gap:8px; align-items:end; margin-bottom:12px; }
.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:2px; }
input, select { font:inherit; padding:4px 6px; border:1px solid #b8c0d0; border-radius:5px; }
.actions { display:flex; gap:8px; flex-wrap:wrap; align-items:center; margin:6px 0 14px; }
.chart { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:8px; }
.chart svg { width:100%; height:180px; display:block; }
.chart .grid { stroke:#e2e8f0; stroke-width:1; }
.chart .axis { fill:#718096; font-size:10px; }
.line { fill:none; stroke-width:2; }
.line.ready { stroke:#3182ce; } .line.scheduled { stroke:#805ad5; }
.line.running { stroke:#319795; } .line.failed { stroke:#e53e3e; }
.legend span { margin-right:14px; font-size:12px; }
.legend i { display:inline-block; width:10px; height:3px; margin-right:4px; vertical-align:middle; }
.legend i.ready { background:#3182ce; } .legend i.scheduled { background:#805ad5; }
.legend i.running { background:#319795; } .legend i.failed { background:#e53e3e; }
.grid2 { display:grid; grid-template-columns:1fr 1fr; gap:18px; }
@media (max-width: 900px) { .grid2 { grid-template-columns:1fr; } }
.login { max-width:360px; margin:60px auto; background:var(--card); border:1px solid var(--line);
  border-radius:8px; padding:22px; }
.login input { width:100%; margin:8px 0 12px; }
progress { width:320px; height:14px; }
`;

/**
 * `assets/app.js`: asks before an action whose form has `data-confirm`, and reloads a page
 * that declares `data-reload-seconds` on its body (the overview, a running bulk job).
 */
export const JS = `"use strict";
document.addEventListener("submit", function (e) {
  var f = e.target;
  var m = f && f.getAttribute && f.getAttribute("data-confirm");
  if (m && !window.confirm(m)) e.preventDefault();
});
(function () {
  var s = Number(document.body.getAttribute("data-reload-seconds"));
  if (s > 0) setTimeout(function () { location.reload(); }, s * 1000);
})();
`;
