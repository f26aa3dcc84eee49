// callsheet dashboard: everything comes from /api; live news from /api/stream (server-sent events).
"use strict";

const PAGE = 100;          // events per page of the log
const CHILDREN = 200;      // tree children drawn at once ("show more" for the rest)
const LIVE_TREE_MAX = 3000; // above this many events the tree refreshes on request only

const state = { goal: null, version: -1, events: 0, log: { offset: 0, filter: {} },
  tree: { nodes: [], children: new Map(), open: new Set(), loadedAt: -1 }, source: null,
  selected: null };

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const kid of kids) node.append(kid);
  return node;
};

async function api(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// -- goals --------------------------------------------------------------------------------------

function drawGoals(goals) {
  const list = $("#goals");
  list.replaceChildren(...goals.map((g) => el("li",
    { "data-goal": g.goal_id, class: g.goal_id === state.goal ? "selected" : "",
      onclick: () => { location.hash = "goal=" + encodeURIComponent(g.goal_id); } },
    el("strong", { text: g.goal_id }), " ", g.title,
    el("small", { text: `${g.line} · ${g.outcome || "running"}` }))));
}

// -- a goal: header and panels -------------------------------------------------------------------

function drawGoal(goal) {
  $("#goal-id").textContent = goal.goal_id;
  $("#goal-title").textContent = goal.title;
  $("#goal-line").textContent = goal.line;
  $("#goal-outcome").textContent = goal.outcome || "running";
  $("#goal-outcome").dataset.outcome = goal.outcome || "running";
  $("#goal-events").textContent = goal.events;
  const panels = $("#panels");
  for (const panel of goal.panels) {
    let box = panels.querySelector(`[data-panel="${panel.name}"]`);
    if (!box) {
      box = el("section", { class: "panel", "data-panel": panel.name },
        el("h3", { text: panel.title }), el("p", { class: "note" }),
        el("table", {}, el("thead"), el("tbody")));
      panels.append(box);
    }
    box.querySelector(".note").textContent = panel.note;
    box.querySelector("thead").replaceChildren(
      el("tr", {}, ...panel.columns.map((c) => el("th", { text: c }))));
    const statusAt = panel.columns.indexOf("status");
    // Rows are kept by key and changed in place, so the page does not flicker.
    const body = box.querySelector("tbody");
    const old = new Map([...body.children].map((tr) => [tr.dataset.key, tr]));
    const rows = panel.rows.map((cells, i) => {
      const key = panel.keys[i];
      const tr = old.get(key) || el("tr", { "data-key": key });
      tr.dataset.mark = panel.marks[i] || "";
      tr.replaceChildren(...cells.map((c, j) =>
        el("td", { text: String(c), class: j === statusAt ? "status" : null })));
      return tr;
    });
    body.replaceChildren(...rows);
  }
  if (goal.events !== state.events) {
    state.events = goal.events;
    onNewEvents();
  }
}

// -- the causal tree -----------------------------------------------------------------------------

function label(node) {
  const mark = node.mark === "failed" ? "✗ " : node.mark === "retry" ? "↻ " : "";
  return [mark + node.type + (node.task ? " " + node.task : "") + " ",
    el("span", { class: "dim", text: `${node.producer} #${node.seq}` })];
}

function drawBranch(parentId, into) {
  const kids = state.tree.children.get(parentId) || [];
  const shown = Number(into.dataset.shown || 0);
  const upto = Math.min(kids.length, shown + CHILDREN);
  into.querySelector(":scope > li.more-row")?.remove();
  for (const node of kids.slice(shown, upto)) into.append(treeItem(node));
  into.dataset.shown = upto;
  if (upto < kids.length) {
    into.append(el("li", { class: "more-row" }, el("button", { class: "more",
      text: `show ${Math.min(CHILDREN, kids.length - upto)} more of ${kids.length - upto}`,
      onclick: (e) => { e.stopPropagation(); drawBranch(parentId, into); } })));
  }
}

function treeItem(node) {
  const kids = state.tree.children.get(node.id) || [];
  const li = el("li", { "data-id": node.id, "data-mark": node.mark || "", "data-type": node.type });
  const open = state.tree.open.has(node.id);
  const toggle = el("button", { class: "toggle", text: kids.length ? (open ? "▾" : "▸") : "·",
    title: kids.length ? `${kids.length} caused by it` : "", "aria-expanded": String(open) });
  const span = el("span", { class: "node" + (state.selected === node.id ? " selected" : "") },
    ...label(node));
  if (kids.length) span.append(el("span", { class: "dim", text: ` (${kids.length})` }));
  li.append(toggle, span);
  toggle.addEventListener("click", (e) => { e.stopPropagation(); flip(node.id, li, toggle); });
  span.addEventListener("click", () => showEvent(node.id));
  if (open && kids.length) {
    const ul = el("ul");
    li.append(ul);
    drawBranch(node.id, ul);
  }
  return li;
}

function flip(id, li, toggle) {
  const kids = state.tree.children.get(id) || [];
  if (!kids.length) return;
  const ul = li.querySelector(":scope > ul");
  if (ul) {
    ul.remove();
    state.tree.open.delete(id);
    toggle.textContent = "▸";
    toggle.setAttribute("aria-expanded", "false");
  } else {
    state.tree.open.add(id);
    const inner = el("ul");
    li.append(inner);
    drawBranch(id, inner);
    toggle.textContent = "▾";
    toggle.setAttribute("aria-expanded", "true");
  }
}

async function loadTree() {
  const goal = state.goal;
  const { nodes } = await api(`/api/goals/${encodeURIComponent(goal)}/tree`);
  if (goal !== state.goal) return;
  const ids = new Set(nodes.map((n) => n.id));
  const children = new Map();
  for (const node of nodes) {
    const parent = node.cause && ids.has(node.cause) ? node.cause : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(node);
  }
  state.tree.nodes = nodes;
  state.tree.children = children;
  state.tree.loadedAt = nodes.length;
  if (state.tree.open.size === 0) {  // at first: the roots and their children open
    for (const root of children.get(null) || []) {
      state.tree.open.add(root.id);
      for (const kid of children.get(root.id) || []) state.tree.open.add(kid.id);
    }
  }
  const tree = $("#tree");
  tree.replaceChildren();
  tree.dataset.shown = 0;
  drawBranch(null, tree);
  tree.dataset.count = nodes.length;
  $("#tree-refresh").hidden = true;
}

// -- the event log -------------------------------------------------------------------------------

async function loadLog() {
  const goal = state.goal;
  const params = new URLSearchParams({ offset: state.log.offset, limit: PAGE });
  for (const [k, v] of Object.entries(state.log.filter)) if (v) params.set(k, v);
  try {
    const page = await api(`/api/goals/${encodeURIComponent(goal)}/events?${params}`);
    if (goal !== state.goal) return;
    $("#log-error").textContent = "";
    const body = $("#log tbody");
    body.replaceChildren(...page.events.map((e) => el("tr",
      { "data-id": e.id, "data-mark": e.mark || "", onclick: () => showEvent(e.id) },
      el("td", { text: e.seq }), el("td", { text: e.at.slice(11, 23) }),
      el("td", { text: e.type }), el("td", { text: e.task || "" }),
      el("td", { text: e.producer }))));
    const last = Math.min(page.offset + page.limit, page.total);
    $("#log-range").textContent = page.total
      ? `events ${page.offset + 1}–${last} of ${page.total}` : "no events match";
    $("#log-prev").disabled = page.offset === 0;
    $("#log-next").disabled = last >= page.total;
    $("#log").dataset.total = page.total;
  } catch (error) {
    $("#log-error").textContent = error.message;
  }
}

// -- one event and its why -----------------------------------------------------------------------

async function showEvent(id) {
  state.selected = id;
  document.querySelectorAll(".tree .node.selected").forEach((n) => n.classList.remove("selected"));
  document.querySelector(`.tree li[data-id="${CSS.escape(id)}"] > .node`)?.classList.add("selected");
  try {
    const found = await api(`/api/events/${encodeURIComponent(id)}`);
    const why = el("ol", { id: "why" }, ...found.why.map((e) => el("li",
      { "data-id": e.id, onclick: () => showEvent(e.id) },
      e.type + (e.task ? " " + e.task : "") + " ", el("span", { class: "dim", text: e.producer }))));
    $("#detail").replaceChildren(
      el("p", {}, el("strong", { text: found.event.type }), ` #${found.seq} `,
        el("span", { class: "dim", text: found.event.id })),
      el("h4", { text: "Why: the chain of causes, root first" }), why,
      found.missing ? el("p", { class: "hint", text: `cause ${found.missing} is not in the log` }) : "",
      el("pre", { id: "event-json", text: JSON.stringify(found.event, null, 2) }));
  } catch (error) {
    $("#detail").replaceChildren(el("p", { class: "error", text: error.message }));
  }
}

// -- live news -----------------------------------------------------------------------------------

let treeTimer = null;
function onNewEvents() {
  if (state.tree.loadedAt < 0) {
    state.tree.loadedAt = 0;
    loadTree();  // the first time: at once, whatever its size
  } else if (state.events <= LIVE_TREE_MAX) {
    clearTimeout(treeTimer);
    treeTimer = setTimeout(loadTree, 500);
  } else if (state.tree.loadedAt !== state.events) {
    $("#tree-refresh").hidden = false;
  }
  if (state.log.offset === 0) loadLog();
}

function listen() {
  state.source?.close();
  const url = "/api/stream" + (state.goal ? "?goal=" + encodeURIComponent(state.goal) : "");
  const source = new EventSource(url);
  state.source = source;
  const connection = $("#connection");
  source.addEventListener("open", () => { connection.dataset.state = "live"; connection.textContent = "live"; });
  source.addEventListener("error", () => { connection.dataset.state = "offline"; connection.textContent = "reconnecting…"; });
  source.addEventListener("goals", (e) => drawGoals(JSON.parse(e.data)));
  source.addEventListener("goal", (e) => drawGoal(JSON.parse(e.data)));
  source.addEventListener("problem", (e) => { $("#goal-line").textContent = JSON.parse(e.data).error; });
}

async function openGoal(goal) {
  state.goal = goal;
  state.events = -1;
  state.log = { offset: 0, filter: {} };
  state.tree = { nodes: [], children: new Map(), open: new Set(), loadedAt: -1 };
  state.selected = null;
  $("#panels").replaceChildren();
  $("#log-filter").reset();
  $("#detail").replaceChildren(el("p", { class: "hint", text: "Click an event in the tree or the log." }));
  $("#goal").hidden = !goal;
  $("#empty").hidden = !!goal;
  document.querySelectorAll("#goals li").forEach((li) =>
    li.classList.toggle("selected", li.dataset.goal === goal));
  listen();
  if (!goal) return;
  try {
    drawGoal(await api(`/api/goals/${encodeURIComponent(goal)}`));
  } catch (error) {
    $("#goal-line").textContent = error.message;
  }
}

function fromHash() {
  const match = /goal=([^&]+)/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

$("#log-filter").addEventListener("submit", (e) => {
  e.preventDefault();
  state.log.filter = Object.fromEntries(new FormData(e.target));
  state.log.offset = 0;
  loadLog();
});
$("#log-prev").addEventListener("click", () => { state.log.offset = Math.max(0, state.log.offset - PAGE); loadLog(); });
$("#log-next").addEventListener("click", () => { state.log.offset += PAGE; loadLog(); });
$("#tree-refresh").addEventListener("click", loadTree);
window.addEventListener("hashchange", () => openGoal(fromHash()));
openGoal(fromHash());
