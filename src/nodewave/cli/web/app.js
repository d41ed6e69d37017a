// The nodewave dashboard: server-sent events in, the DOM out. No polling: the server pushes the
// Jobs list and, for the Job shown, its node map once whole and then only the cells that changed.
"use strict";

const token = document.querySelector('meta[name="nodewave-token"]').content;
const $ = (id) => document.getElementById(id);
const STATES = ["None", "Pending", "Starting", "Validating", "Running", "Completed", "Degraded",
                "Failed", "Lost", "Stopping", "Stopped"];
// What tests and people can read from the console: timings and the cells as drawn.
const nodewave = (window.nodewave = { firstPaintMs: null, updates: 0, cells: {}, job: null });
let stream = null;
let cellEls = {};

function listen(url, onMessage) {
  if (stream) stream.close();
  // EventSource sends no headers: the token goes in the URL, as in the page's own.
  stream = new EventSource(url + "?token=" + encodeURIComponent(token));
  stream.onopen = () => { $("connection").textContent = "live"; };
  stream.onerror = () => { $("connection").textContent = "reconnecting…"; };
  stream.onmessage = (e) => onMessage(JSON.parse(e.data));
}

function text(value) { return value === null || value === undefined ? "–" : String(value); }

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

// ---- the Jobs list ------------------------------------------------------------------------

function showJobs() {
  $("jobs-view").hidden = false;
  $("job-view").hidden = true;
  document.title = "nodewave";
  listen("/events/jobs", (msg) => {
    const rows = msg.jobs.map((j) => {
      const href = `#/${encodeURIComponent(j.namespace)}/${encodeURIComponent(j.name)}`;
      return `<tr class="job" data-href="${href}"><td><a href="${href}">${escape(j.namespace)}/${escape(j.name)}</a></td>` +
        `<td>${escape(j.type)}</td><td>${escape(j.strategy)}</td><td>${escape(text(j.phase))}</td>` +
        `<td>${text(j.currentVersion)} (stable ${text(j.stableVersion)})</td>` +
        `<td>${j.wave}/${j.totalWaves}</td><td>${j.readyNodes}/${j.targetNodes}</td></tr>`;
    });
    $("jobs").tBodies[0].innerHTML = rows.join("");
    $("no-jobs").hidden = msg.jobs.length > 0;
  });
}

$("jobs").addEventListener("click", (e) => {
  const row = e.target.closest("tr.job");
  if (row) location.hash = row.dataset.href;
});

// ---- one Job's node map ---------------------------------------------------------------------

function cellClass(cell, job) {
  const old = cell.version !== null && cell.version !== job.currentVersion ? " old" : "";
  const pull = cell.pullFailed ? " pull-failed" : "";
  return `cell s-${cell.state}${old}${cell.plannedWave ? " planned" : ""}${pull}`;
}

// The wave a cell is in (its execution of the current version), or, in a lighter type, the
// wave it is planned in.
function cellWave(cell, job) {
  if (cell.plannedWave) return String(cell.plannedWave);
  return cell.version === job.currentVersion && cell.wave ? String(cell.wave) : "";
}

function cellTitle(node, cell) {
  const lines = [node, cell.version === null ? "nothing of this Job runs here" :
    `${cell.state}, version ${cell.version}${cell.wave ? `, wave ${cell.wave}` : ""}`];
  if (cell.plannedWave) lines.push(`planned in wave ${cell.plannedWave}`);
  if (cell.pullFailed) lines.push(`image pull failed before its wave: ${cell.pullFailed}`);
  if (cell.health) lines.push(`health: ${cell.health[0]}/${cell.health[1]} healthy windows`);
  if (cell.message) lines.push(cell.message);
  return lines.join("\n");
}

function cellHtml(node, cell, job) {
  const bar = cell.health ? `<span class="bar" style="width:${(100 * cell.health[0]) / cell.health[1]}%"></span>` : "";
  return `<div class="${cellClass(cell, job)}" data-node="${escape(node)}" title="${escape(cellTitle(node, cell))}">` +
    `${cellWave(cell, job)}${bar}</div>`;
}

function drawCell(node, cell) {
  nodewave.cells[node] = cell;
  const el = cellEls[node];
  if (!el) return;
  el.className = cellClass(cell, nodewave.job);
  el.title = cellTitle(node, cell);
  el.innerHTML = cellWave(cell, nodewave.job) +
    (cell.health ? `<span class="bar" style="width:${(100 * cell.health[0]) / cell.health[1]}%"></span>` : "");
}

function drawHeader(job) {
  nodewave.job = job;
  $("job-title").textContent = `${job.namespace}/${job.name} · ${job.type}, ${job.strategy}`;
  $("phase").textContent = text(job.phase) + (job.paused ? " (paused)" : "");
  $("versions").textContent = `${text(job.currentVersion)} (stable ${text(job.stableVersion)})`;
  $("wave").textContent = `${job.wave}/${job.totalWaves}`;
  $("ready").textContent = `${job.readyNodes}/${job.targetNodes}`;
  $("budget").textContent = `${job.budgetLeft} nodes (${job.failedNodes} failed)`;
  $("message").textContent = job.message || "";
  $("message").hidden = !job.message;
  $("webhooks").innerHTML = job.webhooks.map((w) =>
    `<li>${escape(w.name)} (${escape(w.type)}${w.wave ? ` wave ${w.wave}` : ""}): ${escape(w.phase || "Waiting")}` +
    `${w.attempts ? `, attempt ${w.attempts}: ${escape(w.message || "")}` : ""}</li>`).join("");
}

function drawMap(map) {
  const started = performance.now();
  drawHeader(map.job);
  const html = map.domains.map((d) =>
    `<div class="domain"><h2>${escape(d.name || "(no " + map.job.topologyKey + ")")} · ${d.nodes.length} nodes</h2>` +
    `<div class="cells">${d.nodes.map((n) => cellHtml(n, map.cells[n], map.job)).join("")}</div></div>`);
  $("map").innerHTML = html.join("");
  cellEls = {};
  for (const el of $("map").querySelectorAll(".cell")) cellEls[el.dataset.node] = el;
  nodewave.cells = { ...map.cells };
  requestAnimationFrame(() => requestAnimationFrame(() => {
    if (nodewave.firstPaintMs === null) nodewave.firstPaintMs = performance.now() - started;
  }));
}

function showJob(ns, name) {
  $("jobs-view").hidden = true;
  $("job-view").hidden = false;
  $("map").innerHTML = "";
  $("action-result").textContent = "";
  document.title = `${name} · nodewave`;
  nodewave.firstPaintMs = null;
  listen(`/events/jobs/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`, (msg) => {
    nodewave.updates += 1;
    if (msg.gone) { $("job-title").textContent = msg.gone; $("map").innerHTML = ""; return; }
    if (msg.full) { drawMap(msg.full); return; }
    if (msg.job) drawHeader(msg.job);
    if (msg.cells) for (const [node, cell] of Object.entries(msg.cells)) drawCell(node, cell);
    if (msg.job) for (const node of Object.keys(cellEls)) drawCell(node, nodewave.cells[node]);
  });
}

$("actions").addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-action]");
  const job = nodewave.job;
  if (!button || !job) return;
  const action = button.dataset.action;
  if (action === "abort" && !confirm(`Abort the rollout of ${job.name}? Every node returns to the stable version.`)) return;
  const result = $("action-result");
  result.className = "";
  result.textContent = `${action}…`;
  const resp = await fetch(`/api/jobs/${encodeURIComponent(job.namespace)}/${encodeURIComponent(job.name)}/${action}`,
    { method: "POST", headers: { "X-Nodewave-Token": token } });
  const body = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
  result.className = resp.ok ? "" : "error";
  result.textContent = resp.ok ? body.message : `error: ${body.error}`;
});

$("legend").innerHTML = STATES.map((s) => `<span><i class="s-${s}"></i>${s}</span>`).join("") +
  `<span><i class="s-Running old"></i>an older version</span>`;

function route() {
  const m = location.hash.match(/^#\/([^/]+)\/([^/]+)$/);
  if (m) showJob(decodeURIComponent(m[1]), decodeURIComponent(m[2]));
  else showJobs();
}
window.addEventListener("hashchange", route);
route();
