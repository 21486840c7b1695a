// DecentralML dashboard: tasks, rounds, verdicts, payouts, committee, lineage, council, chain health.
// Reads the coordinator's REST routes and polls them; every value is set as text, never as HTML.
"use strict";

const POLL_MS = Number(new URLSearchParams(location.search).get("poll") || 3) * 1000;
const UNIT = 1e12; // DML has 12 decimals

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const svgNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(svgNS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

async function read(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

const short = (text, n = 10) => (text && text.length > n + 3 ? `${text.slice(0, n)}…` : text || "");
const dml = (planck) => `${(Number(planck) / UNIT).toFixed(4)} DML`;
const pct = (ppm) => `${(Number(ppm) / 10000).toFixed(1)}%`;

function table(id, headings, rows) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", cells.attrs || {}, cells.map((c) => el("td", {}, c))))));
}

async function health() {
  const target = document.getElementById("health");
  try {
    const h = await read("/health");
    const ok = h.chain === "ok" && h.database === "ok";
    target.className = `health ${ok ? "ok" : "bad"}`;
    target.textContent = `chain ${h.chain} · block #${h.finalized_block ?? "?"} · indexed #${h.indexed_block ?? "?"}` +
      ` · lag ${h.indexer_lag ?? "?"}`;
  } catch (failed) {
    target.className = "health bad";
    target.textContent = `coordinator unreachable (${failed.message})`;
  }
}

async function taskList() {
  const page = await read("/tasks?limit=100");
  const rows = page.items.map((t) => {
    const cells = [
      el("a", { href: `#/tasks/${t.id}`, "data-task-id": t.id }, `task ${t.id}`),
      el("span", { class: `status ${t.status}` }, t.status),
      `${t.committed_rounds} / ${t.rounds}`,
      `${t.assigned} / ${t.max_assignments}`,
      t.validation + (t.validation_threshold ? ` (t=${t.validation_threshold})` : ""),
      dml(t.reward_per_result),
      el("code", { title: t.creator }, short(t.creator)),
    ];
    cells.attrs = { "data-task": t.id };
    return cells;
  });
  return [
    el("h1", {}, "Tasks"),
    page.items.length ? table("tasks", ["task", "status", "rounds", "workers", "validation", "reward / result", "creator"], rows)
      : el("p", { class: "muted", id: "no-tasks" }, "No task on chain yet."),
    await motions(),
  ];
}

function chart(points, metric) {
  // A line of the task's primary metric per committed round, as inline SVG.
  const width = 520, height = 200, pad = 34;
  const box = svg("svg", { id: "metric-chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "data-points": points.length, "aria-label": `${metric} per round` });
  if (!points.length) return el("p", { class: "muted", id: "metric-chart" }, "No round refereed by this coordinator yet.");
  const xs = points.map((p) => p.round), ys = points.map((p) => p.value);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const X = (x) => pad + ((x - x0) / (x1 - x0)) * (width - 2 * pad);
  const Y = (y) => height - pad - ((y - y0) / (y1 - y0)) * (height - 2 * pad);
  box.append(svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis" }));
  box.append(svg("line", { x1: pad, y1: pad, x2: pad, y2: height - pad, class: "axis" }));
  box.append(svg("text", { x: 4, y: pad - 8, class: "label" }, `${metric} ${y1.toFixed(3)}`));
  box.append(svg("text", { x: 4, y: height - 6, class: "label" }, `${y0.toFixed(3)}`));
  box.append(svg("polyline", { points: points.map((p) => `${X(p.round)},${Y(p.value)}`).join(" "), class: "line" }));
  for (const p of points) {
    box.append(svg("circle", { cx: X(p.round), cy: Y(p.value), r: 4, class: "dot" },
      svg("title", {}, `round ${p.round}: ${p.value.toFixed(4)}`)));
    box.append(svg("text", { x: X(p.round) - 4, y: height - pad + 16, class: "label" }, p.round));
  }
  return box;
}

function lineageTree(tree) {
  if (!tree) return el("p", { class: "muted" }, "No committed model yet.");
  const children = new Map();
  for (const node of tree.nodes) {
    const list = children.get(node.parent) || [];
    list.push(node);
    children.set(node.parent, list);
  }
  const branch = (node) => el("li", { "data-model": node.id, class: node.id === tree.model ? "current" : "" },
    el("span", { class: `status ${node.status}` }, node.status), ` model ${node.id} · task ${node.task_id} round ${node.round}`,
    node.accuracy !== null && node.accuracy !== undefined ? ` · accuracy ${node.accuracy.toFixed(3)}` : "",
    " ", el("code", { title: node.hash }, short(node.hash, 12)),
    (children.get(node.id) || []).length ? el("ul", {}, children.get(node.id).map(branch)) : null);
  const root = tree.nodes.find((n) => n.id === tree.root);
  return el("ul", { id: "lineage", class: "tree" }, root ? branch(root) : null);
}

async function motions() {
  const all = (await read("/council/motions")) || [];
  const rows = all.map((m) => [
    `#${m.index}`, m.call ? `${m.call.call_module || ""}.${m.call.call_function || ""}` : short(m.proposal_hash, 12),
    el("span", { class: `status ${m.status}` }, m.status), `${m.ayes} aye / ${m.nays} nay (needs ${m.threshold})`,
    `#${m.proposed_at}`,
  ]);
  return el("section", {}, el("h2", {}, "Council motions"),
    rows.length ? table("motions", ["motion", "call", "status", "votes", "proposed"], rows)
      : el("p", { class: "muted", id: "motions" }, "No motion yet."));
}

async function taskPage(id) {
  const task = await read(`/tasks/${id}`);
  if (!task) return [el("h1", {}, `Task ${id}`), el("p", { class: "muted" }, "No such task in the mirror.")];
  const log = (await read(`/tasks/${id}/rounds`)) || [];
  const latest = new Map();
  for (const line of log) if (line.status !== "failed") latest.set(line.round, line);
  const metric = log.length ? log[log.length - 1].metric || "loss" : "loss";
  const points = [...latest.values()].sort((a, b) => a.round - b.round)
    .filter((line) => line.test_metrics && typeof line.test_metrics[metric] === "number")
    .map((line) => ({ round: line.round, value: line.test_metrics[metric] }));
  const byRound = new Map();
  for (const result of task.results) {
    const list = byRound.get(result.round) || [];
    list.push(result);
    byRound.set(result.round, list);
  }
  const models = new Map(task.models.map((m) => [m.round, m]));
  const rounds = [...byRound.keys()].sort((a, b) => a - b).map((round) => {
    const model = models.get(round);
    const attested = task.attestations.filter((a) => a.round === round);
    const results = table(`results-round-${round}`, ["worker", "status", "reason", "score", "paid", "verdicts"],
      byRound.get(round).map((r) => {
        const scores = r.verdicts.filter((v) => v.approved).map((v) => v.score);
        const cells = [
          el("code", { title: r.worker }, short(r.worker)),
          el("span", { class: `status ${r.status}` }, r.status),
          r.rejection || (r.verdicts.find((v) => v.reason) || {}).reason || "",
          scores.length ? pct(scores.reduce((a, b) => a + b, 0) / scores.length) : "",
          Number(r.reward_paid) ? dml(r.reward_paid) : "",
          `${r.approvals} ✓ ${r.disapprovals} ✗`,
        ];
        cells.attrs = { "data-result": r.id, "data-worker": r.worker };
        return cells;
      }));
    const committee = attested.length ? el("ul", { class: "attestations" }, attested.map((a) =>
      el("li", { class: a.agrees === false ? "disagrees" : "" }, el("code", { title: a.validator }, short(a.validator)),
        ` attested ${short(a.hash, 12)} (${a.accepted.length} accepted)`,
        a.agrees === null ? " · pending" : a.agrees ? " · agrees" : " · DISAGREES"))) : null;
    const dispute = task.disputes.find((d) => d.round === round);
    return el("section", { class: "round", "data-round": round },
      el("h3", {}, `Round ${round} `, model ? el("span", { class: "status Committed", "data-committed": round },
        `committed: model ${model.id}`) : el("span", { class: "status InProgress" }, "open")),
      results, committee,
      dispute ? el("p", { class: "dispute" }, `Disputed by ${short(dispute.raised_by)}: ` +
        (dispute.resolved ? `resolved (${dispute.chosen ? "chose " + short(dispute.chosen) : "void"})` : "awaiting the council")) : null);
  });
  const last = task.models.length ? task.models[task.models.length - 1] : null;
  const tree = last ? await read(`/models/${last.id}/lineage`) : null;
  const run = task.run;
  return [
    el("p", {}, el("a", { href: "#/" }, "← all tasks")),
    el("h1", { "data-task-id": task.id }, `Task ${task.id} `, el("span", { class: `status ${task.status}`, id: "task-status" }, task.status)),
    el("dl", { class: "facts" },
      el("dt", {}, "rounds"), el("dd", { id: "committed-rounds" }, `${task.committed_rounds} / ${task.rounds} committed`),
      el("dt", {}, "workers"), el("dd", {}, `${task.assigned} / ${task.max_assignments}`),
      el("dt", {}, "validation"), el("dd", {}, task.validation + (task.validation_threshold ? ` t=${task.validation_threshold}` : "")),
      el("dt", {}, "manifest"), el("dd", { id: "manifest" }, el("code", {}, task.manifest_cid)),
      el("dt", {}, "committee"), el("dd", {}, task.validators.map((v) => el("code", { title: v }, short(v), " "))),
      el("dt", {}, "escrow"), el("dd", {}, `${dml(task.deposited)} deposited · ${dml(task.paid)} paid · ${dml(task.refunded)} refunded`),
      el("dt", {}, "this coordinator"), el("dd", { id: "run" }, run ? `${run.state}${run.reason ? ": " + run.reason : ""}` +
        (run.last_failure ? ` · ${run.last_failure}` : "") : "does not referee this task")),
    run && run.warnings && run.warnings.length ? el("ul", { id: "warnings", class: "warnings" }, run.warnings.map((w) => el("li", {}, w))) : null,
    el("h2", {}, `${metric} per round (test set)`), chart(points, metric),
    el("h2", {}, "Rounds"), rounds.length ? rounds : el("p", { class: "muted" }, "No result sent yet."),
    el("h2", {}, "Model lineage"), lineageTree(tree),
  ];
}

let rendering = false;
async function render() {
  if (rendering) return;
  rendering = true;
  const main = document.getElementById("main");
  try {
    const match = location.hash.match(/^#\/tasks\/(\d+)$/);
    const content = match ? await taskPage(Number(match[1])) : await taskList();
    main.replaceChildren(...content.flat());
    document.getElementById("updated").textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1);
  } catch (failed) {
    main.replaceChildren(el("p", { class: "error", id: "error" }, `Could not read the coordinator: ${failed.message}`));
  } finally {
    rendering = false;
  }
  await health();
}

window.addEventListener("hashchange", render);
render();
setInterval(render, POLL_MS);
