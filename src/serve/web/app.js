// async-inspect serve: the page. It only reads /api/events, /api/tasks, /api/snapshot,
// /api/graph, /api/flamegraph and /api/source (GET, same origin,
// the cookie carries the token) and builds the DOM with textContent: target memory never becomes
// markup.
"use strict";

const state = {
  tasks: null,        // /api/tasks
  snapshot: null,     // /api/snapshot
  receivedAt: 0,      // Date.now() when tasks arrived, for blocked-for growing between polls
  sortKey: "unchanged_ms",
  sortDesc: true,
  filter: "",
  selected: null,     // the selected task's address
  open: null,         // the address of the task in the detail pane
  order: [],          // the rows shown, as indexes into tasks.tasks
  wanted: null,       // #task=N (several processes: #task=PID:N) from the URL, until that task is seen
  view: "tasks",      // "tasks", "timeline", "graph" or "flame"
  rowHeight: 23,      // px of a table row, measured when drawn
  graph: null,        // /api/graph (DOT), fetched in the graph view
  frame: null,        // {file, line} of the frame whose source is shown
  source: null,       // {file, lines} of /api/source, for that frame
  flame: null,        // /api/flamegraph, fetched in the flamegraph view
  flameZoom: [],      // the names of the frames from the root to the zoomed one
};

const COLUMNS = ["id", "name", "state", "unchanged_ms", "await_point", "wait", "future", "history"];
// serve --profile: three more after blocked-for, measured over the last interval.
const PROFILE_COLUMNS = ["polls_per_s", "busy_percent", "scheduled_mean_us"];
function columns() {
  if (!state.tasks || !state.tasks.profiled) return COLUMNS;
  const c = COLUMNS.slice();
  c.splice(c.indexOf("unchanged_ms") + 1, 0, ...PROFILE_COLUMNS);
  return c;
}

const $ = (id) => document.getElementById(id);

// What #task= names a row by: its label, and with several processes its pid before it
// ("812:17"), as task ids repeat across processes.
function taskKey(t) {
  return t.pid === undefined || t.pid === null ? t.label : t.pid + ":" + t.label;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function duration(ms) {
  if (ms === null || ms === undefined) return "?";
  if (ms < 1000) return ms + "ms";
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + "s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m" + String(s % 60).padStart(2, "0") + "s";
  const h = Math.floor(m / 60);
  return h + "h" + String(m % 60).padStart(2, "0") + "m";
}

function bytes(n) {
  if (n === null || n === undefined) return "?";
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GiB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  return Math.round(n / 1024) + " KiB";
}

function blockedFor(t) {
  if (t.unchanged_ms === null) return null;
  // Growing live between snapshots only while the target runs and the task's tree is unchanged.
  const grow = state.tasks.state === "running" ? Date.now() - state.receivedAt : 0;
  return t.unchanged_ms + Math.max(0, grow);
}

// A countdown as the server writes one: "59m58s", "3.250s".
function countdown(ms) {
  const a = Math.abs(ms), sec = Math.floor(a / 1000);
  if (sec >= 86400) return Math.floor(sec / 86400) + "d" + Math.floor(sec % 86400 / 3600) + "h" + Math.floor(sec % 3600 / 60) + "m";
  if (sec >= 3600) return Math.floor(sec / 3600) + "h" + Math.floor(sec % 3600 / 60) + "m" + sec % 60 + "s";
  if (sec >= 60) return Math.floor(sec / 60) + "m" + sec % 60 + "s";
  return sec + "." + String(Math.floor(a % 1000)).padStart(3, "0") + "s";
}

// The wait as text. A timer's row has its deadline (wait_deadline_ms, in the clock of the
// header's monotonic_ms), not the time left, so that it changes only when the wait does: the
// page counts down, from the sample's own now plus the time since it arrived while running.
function waitText(t) {
  const now = state.tasks ? state.tasks.monotonic_ms : null;
  if (t.wait_deadline_ms === undefined || t.wait_deadline_ms === null || now === null || now === undefined)
    return t.wait;
  const grow = state.tasks.state === "running" ? Math.max(0, Date.now() - state.receivedAt) : 0;
  const left = t.wait_deadline_ms - now - grow;
  if (t.wait === "timeout") return left >= 0 ? "timeout in " + countdown(left) : "timeout overdue by " + countdown(left);
  return t.wait + (left >= 0 ? ", " + countdown(left) + " left" : ", overdue by " + countdown(left));
}

// ---- Fetching ----

async function getJSON(path) {
  const r = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

// The table's summary and a snapshot (or null) are the page's state from now on; the graph is
// fetched beside them while its view is open.
async function show(tasks, snapshot) {
  if (state.view === "graph" && tasks.pid !== null) {
    const r = await fetch("/api/graph", { credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error("/api/graph: HTTP " + r.status);
    state.graph = await r.text();
  }
  if (state.view === "flame") state.flame = await getJSON("/api/flamegraph");
  state.tasks = tasks;
  state.snapshot = snapshot;
  state.receivedAt = Date.now();
  render();
}

async function poll() {
  let delay = 1000;
  try {
    const tasks = await getJSON("/api/tasks");
    // The whole snapshot (every await tree and local: large with many tasks) only while a
    // task's pane is open or asked for.
    const snapshot = tasks.pid !== null && (state.open || state.wanted) ? await getJSON("/api/snapshot") : null;
    await show(tasks, snapshot);
    delay = Math.max(100, tasks.interval_ms || 500);
  } catch (e) {
    $("process").textContent = "connection lost: " + e.message + " (retrying)";
  }
  setTimeout(poll, delay);
}

// Live updates from /api/events: a `tasks` event is the /api/tasks document of a new sample; a
// `changes` event has only the rows that changed since the sample before (the others only aged:
// their blocked-for grows by the time between the samples, their history takes their state once
// more). The whole snapshot is fetched beside each only while a task's pane is open or asked for,
// as poll() does. Polling only when the stream is refused (too many clients) or the browser has
// no EventSource.
let updating = false, pending = null, latest = null;
async function update(tasks) {
  if (updating) { pending = { tasks }; return; }
  updating = true;
  try {
    // changes that did not follow from the table we have: the whole table again
    if (!tasks) tasks = latest = await getJSON("/api/tasks");
    const snapshot = tasks.pid !== null && (state.open || state.wanted) ? await getJSON("/api/snapshot") : null;
    await show(tasks, snapshot);
  } catch (e) {
    $("process").textContent = "connection lost: " + e.message + " (retrying)";
  }
  updating = false;
  if (pending) { const p = pending; pending = null; update(p.tasks); }
}

// The table after `changes` d, from the table of the sample before, or null if `from` is not
// that table.
function applyChanges(from, d) {
  if (!from || from.captured_at !== d.previous_captured_at || from.samples !== d.previous_samples) return null;
  const shift = d.samples - d.previous_samples, grow = d.captured_at - d.previous_captured_at;
  const changed = new Map(d.changed.map((t) => [t.address, t]));
  const before = new Map(from.tasks.map((t) => [t.address, t]));
  const order = d.order || from.tasks.map((t) => t.address);
  const tasks = [];
  for (const address of order) {
    let t = changed.get(address);
    if (!t) {
      const old = before.get(address);
      if (!old) return null;
      t = Object.assign({}, old);
      if (t.unchanged_ms !== null) t.unchanged_ms += grow;
      if (t.history !== null && shift) t.history = t.history.slice(shift) + t.history.slice(-1).repeat(shift);
    }
    t.index = tasks.length;
    tasks.push(t);
  }
  const table = Object.assign({}, d, { format: "async-inspect-serve-tasks", tasks });
  for (const k of ["previous_captured_at", "previous_samples", "changed", "removed", "order"]) delete table[k];
  return table;
}

function listen() {
  if (!window.EventSource) { poll(); return; }
  const events = new EventSource("/api/events");
  events.addEventListener("tasks", (e) => {
    document.body.dataset.live = "events";
    update(latest = JSON.parse(e.data));
  });
  events.addEventListener("changes", (e) => {
    document.body.dataset.live = "events";
    update(latest = applyChanges(latest, JSON.parse(e.data)));
  });
  events.addEventListener("error", () => {
    if (events.readyState === EventSource.CLOSED) {
      document.body.dataset.live = "polling";
      poll();
    } else {
      $("process").textContent = "connection lost (reconnecting)";
    }
  });
}

// ---- Header and banner ----

function renderHeader() {
  const t = state.tasks;
  const p = $("process");
  p.textContent = "";
  const add = (label, value) => {
    if (p.childNodes.length) p.append(" \u00b7 ");
    p.append(label ? label + " " : "");
    p.append(el("b", null, value));
  };
  if (t.processes) // several processes: each has a line under the counts
    add("processes", String(t.processes.length));
  else
    add("process", (t.pid === null ? "?" : t.pid) + (t.exe ? " " + t.exe.split("/").pop() : ""));
  add("", t.source + ", " + t.state + (t.message ? ": " + t.message : ""));
  if (t.runtimes && t.runtimes.length)
    add("runtimes", t.runtimes.map((r) => r.name + (r.version ? " " + r.version : "") +
      (r.decoded ? "" : " (not decoded)")).join(", "));
  if (t.cpu_percent !== null && t.cpu_percent !== undefined) add("CPU", t.cpu_percent + "%");
  if (t.rss_bytes !== null && t.rss_bytes !== undefined) add("RSS", bytes(t.rss_bytes));
  if (t.pause_us !== undefined) add("last pause", (t.pause_us / 1000).toFixed(1) + "ms");
  add("interval", duration(t.interval_ms));
  add("samples", t.samples);
  if (t.captured_at) add("taken", new Date(t.captured_at).toLocaleTimeString());

  const c = $("counts");
  c.textContent = "";
  const counts = t.counts || {};
  let total = 0;
  for (const k in counts) total += counts[k];
  c.append(el("b", null, total), " tasks");
  for (const k in counts) {
    if (!counts[k]) continue;
    c.append(" \u00b7 ", el("span", "state-" + k, counts[k] + " " + k));
  }
  for (const pr of t.processes || []) {
    const line = el("div", "process-counts");
    line.append("pid " + pr.pid + " " + pr.command + ": ", el("b", null, pr.tasks), " tasks");
    for (const k in pr.counts)
      if (pr.counts[k]) line.append(" \u00b7 ", el("span", "state-" + k, pr.counts[k] + " " + k));
    if (pr.ended) line.append(" \u00b7 ended (" + pr.end_reason + "): its last snapshot");
    if (pr.no_profile) line.append(" \u00b7 ", el("span", "no-profile", pr.no_profile));
    c.append(line);
  }

  const w = $("warnings");
  w.hidden = !(t.warnings && t.warnings.length);
  w.textContent = w.hidden ? "" : "warning: " + t.warnings.join(" \u00b7 warning: ");

  const b = $("banner");
  const cycles = t.cycles || [];
  b.hidden = cycles.length === 0;
  b.textContent = "";
  for (const d of cycles) {
    const ids = d.tasks.map((x) => "task " + x);
    const line = el("div", null, d.kind + ": " + ids.concat(ids.slice(0, 1)).join(" \u2192 "));
    b.append(line);
  }
}

// ---- The task table ----

// A long path cut from the left at a "/": the file name and line stay.
function shortPath(p) {
  if (!p || p.length <= 48) return p;
  const cut = p.indexOf("/", p.length - 45);
  return "\u2026" + (cut >= 0 ? p.slice(cut) : p.slice(-45));
}

function cell(t, key) {
  switch (key) {
    case "id": return t.process ? t.label + " \u00b7 " + t.process : t.label;
    case "await_point": return shortPath(t.await_point) || "?";
    case "unchanged_ms": return duration(blockedFor(t));
    case "wait": return waitText(t) || "";
    case "busy_percent": return t.busy_percent === null || t.busy_percent === undefined ? "-" : t.busy_percent.toFixed(1);
    case "polls_per_s": return t.polls_per_s === null || t.polls_per_s === undefined ? "-" : String(t.polls_per_s);
    case "scheduled_mean_us":
      if (t.scheduled_mean_us === null || t.scheduled_mean_us === undefined) return "-";
      return t.scheduled_mean_us < 1000 ? t.scheduled_mean_us + " \u00b5s" : (t.scheduled_mean_us / 1000).toFixed(1) + " ms";
    default: return t[key] === null || t[key] === undefined ? "" : t[key];
  }
}

function compare(a, b, key) {
  let x = key === "id" ? (a.id === null ? Infinity : a.id) : a[key];
  let y = key === "id" ? (b.id === null ? Infinity : b.id) : b[key];
  if (x === null || x === undefined) x = typeof y === "number" ? -Infinity : "";
  if (y === null || y === undefined) y = typeof x === "number" ? -Infinity : "";
  if (typeof x === "number" && typeof y === "number") return x - y;
  return String(x).localeCompare(String(y), undefined, { numeric: true });
}

function matches(t, f) {
  if (!f) return true;
  for (const k of ["label", "process", "name", "state", "await_point", "wait", "future"])
    if (t[k] && String(t[k]).toLowerCase().includes(f)) return true;
  return false;
}

function renderTable() {
  const all = state.tasks.tasks;
  const f = state.filter.toLowerCase();
  const order = [];
  for (let i = 0; i < all.length; i++) if (matches(all[i], f)) order.push(i);
  const key = state.sortKey;
  order.sort((i, j) => {
    const c = compare(all[i], all[j], key);
    return (state.sortDesc ? -c : c) || compare(all[i], all[j], "id");
  });
  state.order = order;
  if (state.wanted !== null) {
    // PID:N names one process's task; a bare N (a link from one process) the first such label
    const hit = all.find((t) => taskKey(t) === state.wanted) || all.find((t) => t.label === state.wanted);
    if (hit) {
      state.selected = state.open = hit.address;
      state.wanted = null;
    }
  }
  if (!order.some((i) => all[i].address === state.selected))
    state.selected = order.length ? all[order[0]].address : null;

  drawRows();
  $("shown").textContent = order.length === all.length ? all.length + " tasks" : order.length + " of " + all.length + " tasks";
  for (const th of document.querySelectorAll("#tasks th.profile")) th.hidden = !state.tasks.profiled;
  for (const th of document.querySelectorAll("#tasks th")) {
    th.classList.toggle("asc", th.dataset.key === key && !state.sortDesc);
    th.classList.toggle("desc", th.dataset.key === key && state.sortDesc);
  }
}

// A long table is drawn in part: the rows in view and a margin, between two spacers as high as
// the rows they stand for, redrawn as the page scrolls.
const VIRTUAL_FROM = 1000;
const MARGIN_ROWS = 100;

function spacer(n) {
  const tr = el("tr", "spacer");
  const td = el("td");
  td.colSpan = columns().length;
  tr.append(td);
  tr.style.height = n * state.rowHeight + "px";
  return tr;
}

function row(t) {
  const tr = el("tr");
  tr.dataset.address = t.address;
  if (t.address === state.selected) tr.className = "selected";
  for (const key of columns()) {
    if (key === "history") {
      tr.append(historyCell(t));
      continue;
    }
    const td = el("td", key, cell(t, key));
    if (key === "await_point" || key === "future") td.title = t[key] || "";
    if (key === "wait") td.title = waitText(t) || "";
    if (key === "state") td.classList.add("state-" + t.state);
    tr.append(td);
  }
  return tr;
}

// The range of state.order in view (all of it for a short table).
function visibleRange() {
  const n = state.order.length;
  if (n <= VIRTUAL_FROM) return [0, n];
  const top = $("rows").getBoundingClientRect().top + window.scrollY;
  const first = Math.floor((window.scrollY - top) / state.rowHeight);
  return [Math.max(0, Math.min(n, first - MARGIN_ROWS)),
    Math.max(0, Math.min(n, first + Math.ceil(window.innerHeight / state.rowHeight) + MARGIN_ROWS))];
}

function drawRows() {
  const all = state.tasks.tasks, order = state.order;
  const [from, to] = visibleRange();
  const rows = document.createDocumentFragment();
  if (from > 0) rows.append(spacer(from));
  for (let k = from; k < to; k++) rows.append(row(all[order[k]]));
  if (to < order.length) rows.append(spacer(order.length - to));
  const body = $("rows");
  body.replaceChildren(rows);
  // Spacers need the real height of a row (fonts differ): measured once, then redrawn with it.
  const drawn = body.querySelector("tr:not(.spacer)");
  const h = drawn ? drawn.getBoundingClientRect().height : 0;
  if (h > 0 && Math.abs(h - state.rowHeight) > 0.5) {
    state.rowHeight = h;
    if (order.length > VIRTUAL_FROM) drawRows();
  }
}

// The timeline: one letter per sample, colored by state (R running, S scheduled, B blocked,
// D deadlocked, I idle, O block_on, X done).
function historyCell(t) {
  const td = el("td", "history");
  if (state.view !== "timeline" || !t.history) return td;
  for (const c of t.history) td.append(el("span", c === " " ? null : "h-" + c, c === " " ? "\u00b7" : c));
  return td;
}

// Between polls, only the blocked-for column and the timers' countdowns move.
function tick() {
  if (!state.tasks) return;
  const byAddress = new Map(state.tasks.tasks.map((t) => [t.address, t]));
  for (const tr of $("rows").children) {
    const t = byAddress.get(tr.dataset.address);
    if (!t) continue;
    tr.children[3].textContent = duration(blockedFor(t));
    if (t.wait_deadline_ms !== undefined && t.wait_deadline_ms !== null) {
      const td = tr.querySelector("td.wait");
      if (td) td.textContent = td.title = waitText(t);
    }
  }
}

// ---- The detail pane ----

function location_(node) {
  if (!node.file) return null;
  const parts = node.file.split("/");
  return parts.slice(-2).join("/") + ":" + (node.line === null ? "?" : node.line);
}

function renderNode(node, depth) {
  const d = el("details");
  d.open = depth < 12;
  const s = el("summary");
  s.append(el("span", "fn", node.function || node.type || "?"));
  if (node.state) s.append(" ", el("span", "state", node.state));
  const loc = location_(node);
  if (loc) {
    const l = el("span", "loc", loc);
    l.title = "show the source";
    l.dataset.file = node.file;
    l.dataset.line = node.line === null ? "" : node.line;
    if (state.frame && state.frame.file === node.file && String(state.frame.line) === l.dataset.line)
      l.classList.add("selected");
    s.append(" ", l);
  }
  if (node.macro) s.append(" ", el("span", "macro", node.macro + "!"));
  if (node.wait) s.append(" \u2014 ", el("span", "wait", node.wait.description || node.wait.kind));
  if (node.error) s.append(" ", el("span", "error", node.error));
  d.append(s);
  if (node.locals && node.locals.length) {
    const ul = el("ul", "locals");
    for (const l of node.locals) {
      const li = el("li");
      li.append(el("span", l.state === "live" ? "name" : "name moved", l.name), ": ", l.type || "?", " = ");
      li.append(el("span", "value", l.value === null ? "<" + l.state + ">" : l.value));
      ul.append(li);
    }
    d.append(ul);
  }
  for (const c of node.children || []) d.append(renderNode(c, depth + 1));
  return d;
}

// The snapshot's tasks of the process a row is from: one snapshot, or (several processes) the
// "async-inspect-processes" document's.
function snapshotTasks(summary) {
  const s = state.snapshot;
  if (!s.processes) return s.tasks || [];
  const p = s.processes.find((x) => x.pid === summary.pid);
  return p ? p.tasks : [];
}

function renderDetail() {
  const pane = $("detail");
  const summary = state.open && state.tasks ? state.tasks.tasks.find((t) => t.address === state.open) : null;
  const full = summary && state.snapshot ? snapshotTasks(summary).find((t) => t.address === state.open) : null;
  if (!summary) {
    pane.hidden = true;
    return;
  }
  pane.hidden = false;
  $("detail-title").textContent = "Task " + summary.label + (summary.name ? " \u201c" + summary.name + "\u201d" : "") +
    (summary.process ? " in " + summary.process : "");
  const facts = $("detail-facts");
  facts.textContent = "";
  facts.append(el("span", "state-" + summary.state, summary.state), " \u00b7 " + summary.runtime + " " + summary.kind +
    (summary.thread ? " on thread " + summary.thread : "") + " \u00b7 as it is for " + duration(blockedFor(summary)) +
    " \u00b7 " + (summary.future || "?"));
  if (summary.history) facts.append(el("div", null, "history " + summary.history.replace(/ +$/, "")));
  $("detail-wait").textContent = (summary.wait ? "wait: " + waitText(summary) : "") +
    (summary.peer ? " \u2192 " + summary.peer : "");
  const held = $("detail-held");
  held.textContent = "";
  if (full && full.held && full.held.length)
    held.textContent = "holds: " + full.held.map((h) => (h.type || h.kind) + " (" + (h.local || "?") + ")").join(", ");
  const tree = $("tree");
  tree.replaceChildren(full ? renderNode(full.tree, 0) : el("div", null, "(not in this snapshot)"));
}

// The selected frame's source, its line marked (/api/source sends only files a frame names).
async function showSource(file, line) {
  state.frame = { file, line };
  const pre = $("source");
  $("source-title").hidden = pre.hidden = false;
  $("source-title").textContent = "source: " + file + (line ? ":" + line : "");
  for (const l of $("tree").querySelectorAll(".loc"))
    l.classList.toggle("selected", l.dataset.file === file && l.dataset.line === String(line || ""));
  try {
    if (!state.source || state.source.file !== file) {
      const r = await fetch("/api/source?file=" + encodeURIComponent(file), { credentials: "same-origin", cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      state.source = { file, lines: (await r.text()).split("\n") };
    }
  } catch (e) {
    pre.textContent = "cannot read " + file + ": " + e.message;
    return;
  }
  if (!state.frame || state.frame.file !== file) return; // another frame was chosen meanwhile
  const lines = document.createDocumentFragment();
  let mark = null;
  state.source.lines.forEach((text, i) => {
    const d = el("div", i + 1 === line ? "line mark" : "line");
    d.append(el("span", "no", i + 1), text);
    if (i + 1 === line) mark = d;
    lines.append(d);
  });
  pre.replaceChildren(lines);
  if (mark) mark.scrollIntoView({ block: "center" });
}

function hideSource() {
  state.frame = null;
  $("source-title").hidden = $("source").hidden = true;
  $("source").replaceChildren();
}

// ---- The wait-for graph: /api/graph's DOT (our own, regular), drawn in two columns: tasks on
// the left, the resources they wait for or hold on the right; edges of a deadlock in red.

function unescapeDot(s) {
  return s.replace(/\\(.)/g, "$1");
}

// Several processes: ids p<pid>_t<i> / p<pid>_r<i> (the task's index in that process's
// snapshot), p<pid>_<k>_t<i> when two dumps share a pid (the k-th of the set), each process's
// nodes in a cluster labelled "pid N command"; and x<k> for a process outside the set at the
// other end of a socket.
const DOT_ID = "(?:p\\d+_(?:\\d+_)?)?[trx]\\d+";
function parseDot(text) {
  const nodes = new Map();
  const edges = [];
  const clusters = new Map(); // "p812_" -> "pid 812 server"
  let cluster = null;
  for (const line of text.split("\n")) {
    let m = /^\s*subgraph cluster_(p\d+(?:_\d+)?) \{$/.exec(line);
    if (m) { cluster = m[1] + "_"; continue; }
    m = /^\s*label="((?:[^"\\]|\\.)*)";$/.exec(line);
    if (m && cluster) { clusters.set(cluster, unescapeDot(m[1])); continue; }
    m = /^\s*((?:p(\d+)_(?:(\d+)_)?)?([trx])(\d+)) \[shape=\w+, label="((?:[^"\\]|\\.)*)"\];$/.exec(line);
    if (m) {
      nodes.set(m[1], { id: m[1], task: m[4] === "t", pid: m[2] === undefined ? null : +m[2],
        nth: m[3] === undefined ? null : +m[3], index: +m[5], label: unescapeDot(m[6]),
        group: m[2] === undefined ? null : "p" + m[2] + "_" + (m[3] === undefined ? "" : m[3] + "_") });
      continue;
    }
    m = new RegExp("^\\s*(" + DOT_ID + ") -> (" + DOT_ID + ') \\[label="((?:[^"\\\\]|\\\\.)*)"(, color=red)?').exec(line);
    if (m) edges.push({ from: m[1], to: m[2], label: unescapeDot(m[3]), red: !!m[4] });
  }
  return { nodes, edges, clusters };
}

// The row of /api/tasks a graph node's task is: its index, after the tasks of the processes
// listed before its own.
function graphRow(n) {
  if (n.pid === null || !state.tasks.processes) return n.index;
  let offset = 0;
  for (const p of state.tasks.processes) {
    if (p.pid === n.pid) {
      const t = state.tasks.tasks[offset + n.index];
      if (t && t.pid === n.pid) return offset + n.index;
    }
    offset += p.tasks;
  }
  return -1;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderGraph() {
  const g = parseDot(state.graph || "");
  const root = $("graph-svg");
  root.replaceChildren();
  const tasks = [...g.nodes.values()].filter((n) => n.task);
  const res = [...g.nodes.values()].filter((n) => !n.task);
  $("graph-note").textContent = tasks.length
    ? tasks.length + " tasks and " + res.length + " resources in a wait; click a task to open it"
    : "no task waits on a lock, a channel or another task in this snapshot";
  const W = 380, H = 28, GAP = 22, LEFT = 90, RIGHT = LEFT + W + 260;
  const pos = new Map();
  // Several processes: the tasks of each together under a heading that names the process.
  const headings = [];
  let row = 0, group;
  for (const n of tasks) {
    if (n.group !== null && n.group !== group) {
      headings.push({ y: 10 + row * (H + GAP) + H - 6, text: g.clusters.get(n.group) || "pid " + n.pid });
      row++;
    }
    group = n.group;
    pos.set(n.id, { x: LEFT, y: 10 + row++ * (H + GAP), w: W });
  }
  res.forEach((n, i) => pos.set(n.id, { x: RIGHT, y: 10 + i * (H + GAP), w: W }));
  const rows = Math.max(row, res.length);
  root.setAttribute("width", RIGHT + W + 20);
  root.setAttribute("height", Math.max(40, 20 + rows * (H + GAP)));
  const defs = svg("defs", {});
  for (const id of ["arrow", "arrow-red"]) {
    const m = svg("marker", { id, viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "8", markerHeight: "8",
      orient: "auto-start-reverse" });
    m.append(svg("path", { d: "M0,0 L10,5 L0,10 z" }));
    defs.append(m);
  }
  root.append(defs);
  for (const h of headings) root.append(svg("text", { class: "process", x: LEFT, y: h.y }, h.text));
  for (const e of g.edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    let d, lx, ly;
    if (a.x === b.x) { // task -> task (join): a curve on the left
      const y1 = a.y + H / 2, y2 = b.y + H / 2;
      d = `M${a.x},${y1} C${a.x - 70},${y1} ${b.x - 70},${y2} ${b.x},${y2}`;
      lx = a.x - 85; ly = (y1 + y2) / 2;
    } else if (a.x < b.x) { // task -> resource: above the middle, labelled at the task
      const x1 = a.x + a.w, x2 = b.x, y1 = a.y + H / 2 - 6, y2 = b.y + H / 2 - 6, mid = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
      lx = x1 + 12; ly = y1 - 4;
    } else { // resource -> task: below the middle, labelled at the task
      const x1 = a.x, x2 = b.x + b.w, y1 = a.y + H / 2 + 6, y2 = b.y + H / 2 + 6, mid = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
      lx = x2 + 14; ly = y2 + 14;
    }
    const ge = svg("g", { class: "edge" + (e.red ? " red" : "") });
    ge.append(svg("path", { d, "marker-end": e.red ? "url(#arrow-red)" : "url(#arrow)" }));
    ge.append(svg("text", { x: lx, y: ly }, e.label));
    root.append(ge);
  }
  for (const n of g.nodes.values()) {
    const p = pos.get(n.id);
    const gn = svg("g", { class: "node" + (n.task ? " task" : "") });
    if (n.task) gn.append(svg("rect", { x: p.x, y: p.y, width: p.w, height: H, rx: 3 }));
    else gn.append(svg("ellipse", { cx: p.x + p.w / 2, cy: p.y + H / 2, rx: p.w / 2, ry: H / 2 }));
    const label = n.label.length > 52 ? n.label.slice(0, 51) + "\u2026" : n.label;
    gn.append(svg("text", { x: p.x + (n.task ? 8 : 24), y: p.y + H / 2 + 4 }, label));
    gn.append(svg("title", {}, n.label));
    if (n.task) {
      gn.addEventListener("click", () => {
        const t = state.tasks.tasks[graphRow(n)];
        if (t) openTask(t.address);
      });
    }
    root.append(gn);
  }
}

// ---- The flamegraph: /api/flamegraph's tree (serve --profile's CPU samples of the last seconds,
// each task's under its own frame, then its async fns, then the native frames) drawn as nested
// bars, root on top; a click zooms to a frame, the search box marks the frames that match. ----

function flameBase() {
  const d = state.flame;
  if (!d || !d.available || !d.root) return null;
  if (!$("flame-task").checked) return d.root;
  let tasks = d.root.children || [];
  if (d.processes) { // several processes: the tasks are under their process's frame
    const t = state.tasks && state.tasks.tasks.find((x) => x.address === state.selected);
    const p = t ? tasks.find((c) => c.pid === t.pid) : null;
    tasks = p ? p.children || [] : [];
  }
  return tasks.find((c) => c.address === state.selected) || null;
}

// Several processes: those without samples, and why ("pid 812 (server): no profile: ...").
function flameMissing(d) {
  return (d.processes || []).filter((p) => !p.available).map((p) => " \u00b7 " + p.label + ": " + p.reason).join("");
}

function renderFlame() {
  const box = $("flame-graph"), note = $("flame-note");
  box.replaceChildren();
  const d = state.flame;
  if (!d) { note.textContent = "loading the flamegraph at the next sample\u2026"; return; }
  if (!d.available) { note.textContent = d.reason + (d.processes ? flameMissing(d) : ""); return; }
  let base = flameBase();
  if (!base) {
    const t = state.tasks && state.tasks.tasks.find((x) => x.address === state.selected);
    note.textContent = "no CPU samples of task " + (t ? t.label : "?") + " in the last " + duration(d.window_ms);
    return;
  }
  // The zoomed frame: as far down the path as the tree still has it.
  const path = [base];
  for (const name of state.flameZoom) {
    const next = (path[path.length - 1].children || []).find((c) => c.name === name);
    if (!next) break;
    path.push(next);
  }
  const top = path[path.length - 1];
  const total = top.value || 1;
  const search = $("flame-search").value.toLowerCase();
  let matched = 0, drawn = 0, depth = 0;
  const draw = (node, level, left, names, inMatch) => {
    const width = node.value / total;
    if (width < 0.001) return;
    const f = el("div", "frame", node.name);
    f.style.left = (left * 100) + "%";
    f.style.width = (width * 100) + "%";
    f.style.top = (level * 18) + "px";
    let h = 0;
    for (let i = 0; i < node.name.length; i++) h = (h * 31 + node.name.charCodeAt(i)) >>> 0;
    f.style.background = "hsl(" + (10 + h % 45) + ", 85%, " + (62 + h % 13) + "%)";
    if (node.address) f.classList.add("task");
    const hit = search !== "" && node.name.toLowerCase().includes(search);
    if (hit) { f.classList.add("match"); if (!inMatch) matched += node.value; }
    f.title = node.name + " \u2014 " + node.value + " samples (" + (100 * node.value / (base.value || 1)).toFixed(1) + "%)";
    f.dataset.name = node.name;
    f.addEventListener("click", () => { state.flameZoom = names; renderFlame(); });
    box.append(f);
    drawn++;
    depth = Math.max(depth, level + 1);
    let x = left;
    for (const c of node.children || []) {
      draw(c, level + 1, x, names.concat([c.name]), inMatch || hit);
      x += c.value / total;
    }
  };
  draw(top, 0, 0, state.flameZoom.slice(0, path.length - 1), false);
  box.style.height = (depth * 18) + "px";
  note.textContent = base.value + " CPU samples at " + d.rate_hz + " Hz over the last " + duration(d.span_ms) +
    (top !== base ? " \u00b7 zoomed on " + top.name + " (" + top.value + ")" : "") +
    (search ? " \u00b7 " + (100 * matched / (base.value || 1)).toFixed(1) + "% of them in frames matching \u201c" +
      $("flame-search").value + "\u201d" : "") + (drawn ? "" : " \u00b7 nothing to draw") + flameMissing(d);
}

function setView(view) {
  if (state.view === view) return;
  state.view = view;
  for (const b of document.querySelectorAll("#views button")) b.classList.toggle("current", b.dataset.view === view);
  $("tasks").hidden = view === "graph" || view === "flame";
  $("graph").hidden = view !== "graph";
  $("flame").hidden = view !== "flame";
  if (view === "flame") {
    state.flame = null;
    renderFlame();
  }
  $("tasks").classList.toggle("timeline", view === "timeline");
  if (view === "graph") {
    $("graph-note").textContent = "loading the graph at the next sample\u2026";
    $("graph-svg").replaceChildren();
  } else if (state.tasks) {
    renderTable();
  }
}

function render() {
  renderHeader();
  if (state.view === "graph") renderGraph();
  if (state.view === "flame") renderFlame();
  renderTable();
  renderDetail();
}

// ---- Navigation ----

// The pane needs the snapshot: fetched now when the last poll did not.
async function fetchSnapshot() {
  try {
    state.snapshot = await getJSON("/api/snapshot");
    renderDetail();
  } catch (e) {
    $("tree").textContent = "cannot read the snapshot: " + e.message;
  }
}

function openTask(address) {
  if (!state.snapshot) fetchSnapshot();
  if (state.open !== address) hideSource();
  state.selected = state.open = address;
  const t = state.tasks.tasks.find((x) => x.address === address);
  if (t) history.replaceState(null, "", "#task=" + encodeURIComponent(taskKey(t)).replace(/%3A/g, ":"));
  renderTable();
  renderDetail();
}

function closeTask() {
  state.open = null;
  hideSource();
  history.replaceState(null, "", location.pathname);
  renderDetail();
}

function move(step) {
  if (!state.order.length) return;
  const all = state.tasks.tasks;
  let k = state.order.findIndex((i) => all[i].address === state.selected);
  k = Math.min(state.order.length - 1, Math.max(0, k + step));
  state.selected = all[state.order[k]].address;
  renderTable();
  let tr = document.querySelector("#rows tr.selected");
  if (!tr) { // not drawn (a long table): bring its place into view, then draw there
    const top = $("rows").getBoundingClientRect().top + window.scrollY + k * state.rowHeight;
    window.scrollTo(0, top - window.innerHeight / 2);
    drawRows();
    tr = document.querySelector("#rows tr.selected");
  }
  if (tr) tr.scrollIntoView({ block: "nearest" });
  if (state.open) openTask(state.selected);
}

function readHash() {
  const m = /^#task=([^&]+)/.exec(location.hash);
  state.wanted = m ? decodeURIComponent(m[1]) : null;
}

function init() {
  // The token came in the URL: the cookie has it now, so it leaves the address bar and history.
  if (location.search) history.replaceState(null, "", location.pathname + location.hash);
  readHash();
  window.addEventListener("hashchange", () => { readHash(); if (state.tasks) render(); });
  $("filter").addEventListener("input", (e) => { state.filter = e.target.value; renderTable(); });
  $("close").addEventListener("click", closeTask);
  $("tree").addEventListener("click", (e) => {
    const l = e.target.closest(".loc");
    if (!l) return;
    e.preventDefault(); // not a toggle of the frame's details
    showSource(l.dataset.file, l.dataset.line ? +l.dataset.line : null);
  });
  for (const b of document.querySelectorAll("#views button")) b.addEventListener("click", () => setView(b.dataset.view));
  $("flame-search").addEventListener("input", renderFlame);
  $("flame-reset").addEventListener("click", () => { state.flameZoom = []; renderFlame(); });
  $("flame-task").addEventListener("change", () => { state.flameZoom = []; renderFlame(); });
  for (const th of document.querySelectorAll("#tasks th")) {
    th.addEventListener("click", () => {
      const key = th.dataset.key;
      if (state.sortKey === key) state.sortDesc = !state.sortDesc;
      else { state.sortKey = key; state.sortDesc = key === "unchanged_ms" || PROFILE_COLUMNS.includes(key); }
      renderTable();
    });
  }
  $("rows").addEventListener("click", (e) => {
    const tr = e.target.closest("tr");
    if (tr) openTask(tr.dataset.address);
  });
  document.addEventListener("keydown", (e) => {
    if (e.target === $("filter") || e.target === $("flame-search")) {
      if (e.key === "Escape" || e.key === "Enter") e.target.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j" || e.key === "ArrowDown") move(1);
    else if (e.key === "k" || e.key === "ArrowUp") move(-1);
    else if (e.key === "Enter" && state.selected) openTask(state.selected);
    else if (e.key === "Escape") closeTask();
    else if (e.key === "/") $("filter").focus();
    else if (e.key === "t") setView("tasks");
    else if (e.key === "l") setView("timeline");
    else if (e.key === "g") setView("graph");
    else if (e.key === "f") setView("flame");
    else return;
    e.preventDefault();
  });
  window.addEventListener("scroll", () => {
    if (!state.tasks || state.order.length <= VIRTUAL_FROM || state.drawQueued) return;
    state.drawQueued = true;
    requestAnimationFrame(() => { state.drawQueued = false; drawRows(); });
  }, { passive: true });
  setInterval(tick, 1000);
  listen();
}

document.addEventListener("DOMContentLoaded", init);
