"use strict";
// jaxbp playground, part 3: the page (controls, the network's heatmaps and edges, the plane,
// the curves), playing, and the test hook window.jaxbp. Part 1, the numbers (data, BP1-BP4),
// is playground_core.js (JBP); part 2, the trainer, playground_train.js (TRAIN); the params
// file writer is npz.js (NPZ).
(function () {
const {CONFIG, HIDDEN_ACTS, OUTPUT_ACTS, COSTS, T, upgrade, normalise, reset, step1, steps, score, record,
       measureSharpness, stopReached, toHash, fromHash, copyParams, exportParams, exportRun,
       epochSteps, parseCSV} = TRAIN;
const MAX_LAYERS = 8, MAX_UNITS = 16, G = 16, BIG = 40, BUDGET_MS = 8;
const POS = [31, 95, 168], NEG = [230, 97, 1];

function download(name, bytes, type) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([bytes], {type}));
  a.download = name;
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 0);
}
function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

// ---- the page ------------------------------------------------------------------------------
const $ = id => document.getElementById(id);
const {h, s: svg} = VIZ;   // common.js
const full = v => (Number.isFinite(v) ? String(v) : String(v));   // shortest round-trip repr
const short = v => (Number.isFinite(v) ? (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(3)) : String(v));

let UI = {playing: false, hide: [], view: "activation", edges: "w", selected: null, redraws: 0};

function control(name, label, input) {
  return h("label", {"data-control": name, class: "control"}, h("span", {text: label}), input);
}
function select(id, options, value, onchange) {
  const el = h("select", {id, onchange});
  for (const o of options) el.append(h("option", {value: o, text: o.replace(/_/g, " ")}));
  el.value = value;
  return el;
}

function build() {
  const app = $("app"), s = T.settings;
  app.textContent = "";
  const bar = h("div", {class: "toolbar", role: "group", "aria-label": "Training"},
    h("button", {id: "reset", type: "button", title: "new net from the seed", onclick: () => { pause(); set(T.settings); }, text: "Reset"}),
    h("button", {id: "play", type: "button", "aria-pressed": "false", onclick: () => (UI.playing ? pause() : play()), text: "Play"}),
    h("button", {id: "step1", type: "button", onclick: () => { pause(); steps(1); record(); redraw(); }, text: "Step"}),
    h("button", {id: "epoch1", type: "button", onclick: () => { pause(); steps(epochSteps()); record(); redraw(); }, text: "Epoch"}),
    h("output", {id: "counter", "aria-live": "off"}),
    control("lr", "learning rate", h("input", {id: "lr", type: "number", step: "any", min: "0", value: s.lr, onchange: e => tryChange({lr: +e.target.value})})),
    control("batch_size", "batch size", h("input", {id: "batch_size", type: "number", min: "1", max: "1000", value: s.batch_size, onchange: e => tryChange({batch_size: Math.max(1, Math.round(+e.target.value))})})),
    control("l1", "L1", h("input", {id: "l1", type: "number", step: "any", min: "0", value: s.l1, onchange: e => tryChange({l1: +e.target.value})})),
    control("l2", "L2", h("input", {id: "l2", type: "number", step: "any", min: "0", value: s.l2, onchange: e => tryChange({l2: +e.target.value})})),
    control("cost", "cost", select("cost", COSTS, s.cost, e => tryChange({cost: e.target.value}))),
    control("stop_loss", "stop at loss ≤", h("input", {id: "stop_loss", type: "number", step: "any", min: "0", value: s.stop_loss, onchange: e => tryChange({stop_loss: +e.target.value})})),
    control("stop_step", "stop at step", h("input", {id: "stop_step", type: "number", min: "0", value: s.stop_step, onchange: e => tryChange({stop_step: Math.round(+e.target.value)})})));

  const data = h("section", {class: "panel", id: "data-panel"}, h("h2", {text: "Data"}),
    control("dataset", "data set", select("dataset", JBP.DATASETS.concat(TRAIN.custom() ? ["custom"] : []), s.dataset, e => tryReset({dataset: e.target.value}))),
    control("noise", "noise", h("input", {id: "noise", type: "range", min: "0", max: "0.5", step: "0.05", value: s.noise, onchange: e => tryReset({noise: +e.target.value})})),
    control("train_fraction", "training share", h("input", {id: "train_fraction", type: "range", min: "0.1", max: "0.9", step: "0.1", value: s.train_fraction, onchange: e => tryReset({train_fraction: +e.target.value})})),
    control("seed", "seed", h("input", {id: "seed", type: "number", value: s.seed, onchange: e => tryReset({seed: Math.round(+e.target.value)})})),
    h("button", {id: "regenerate", type: "button", "data-control": "seed", onclick: () => tryReset({seed: T.settings.seed + 1}), text: "Regenerate (seed + 1)"}),
    h("p", {class: "hint", "data-control": "dataset", text: "Drop a CSV file (x1,x2,label per line) on the page to train on your own data."}),
    h("div", {id: "features", "data-control": "features"}));

  const net = h("section", {class: "panel", id: "net-panel"}, h("h2", {text: "Network"}),
    h("div", {class: "row", "data-control": "sizes"},
      h("button", {id: "add-layer", type: "button", onclick: () => layers(+1), text: "+ layer"}),
      h("button", {id: "remove-layer", type: "button", onclick: () => layers(-1), text: "− layer"}),
      h("span", {id: "arch"})),
    h("div", {class: "row"},
      h("label", {}, "heatmaps: ", select("view", ["activation", "delta"], UI.view, e => { UI.view = e.target.value; redraw(); })),
      h("label", {}, " edges: ", select("edges", ["w", "dC/dw"], UI.edges, e => { UI.edges = e.target.value; redraw(); }))),
    h("div", {id: "net"}),
    h("div", {id: "info", "aria-live": "polite", text: "Hover over a unit or an edge for its exact numbers; click an edge to edit its weight."}));

  const output = h("section", {class: "panel", id: "out-panel"}, h("h2", {text: "Output"}),
    h("canvas", {id: "plane", width: "300", height: "300", class: "plane", "aria-label": "decision regions with the data"}),
    h("div", {id: "scores", class: "status"}),
    h("canvas", {id: "curves", width: "300", height: "120", "aria-label": "training and test loss"}),
    h("div", {class: "curve-legend"}, "loss (black) and ", h("span", {class: "acc", text: "accuracy (green, 0 to 1)"}),
      ": — training, - - test"),
    h("div", {id: "warning", role: "status"}),
    h("div", {class: "row", "data-control": "history"},
      h("label", {for: "scrub", text: "history "}),
      h("input", {id: "scrub", type: "range", min: "0", max: "0", value: "0", oninput: e => scrub(+e.target.value)})),
    h("div", {class: "row", "data-control": "export"},
      h("button", {id: "export-params", type: "button", onclick: () => download("playground.npz", exportParams(), "application/octet-stream"), text: "Export net (jaxbp.load)"}),
      h("button", {id: "export-run", type: "button", onclick: () => download("playground-run.json", JSON.stringify(exportRun()), "application/json"), text: "Export run (JSON)"}),
      h("button", {id: "sharpness", type: "button", onclick: () => { measureSharpness(); redraw(); }, text: "Check step size (λmax)"})));

  app.append(bar, h("div", {class: "columns"}, data, net, output));
  buildFeatures();
  buildNet();
  applyHide();
}

function applyHide() {
  document.querySelectorAll("[data-control]").forEach(el => { el.hidden = UI.hide.includes(el.dataset.control); });
}

function buildFeatures() {
  const box = $("features");
  box.textContent = "";
  box.append(h("h3", {text: "Inputs"}));
  for (const f of JBP.FEATURE_NAMES) {
    const on = T.settings.features.includes(f);
    box.append(h("label", {class: "feature"},
      h("input", {type: "checkbox", id: `feature-${f}`, ...(on ? {checked: ""} : {}), onchange: e => {
        const fs = T.settings.features.filter(g => g !== f).concat(e.target.checked ? [f] : []);
        tryReset({features: fs});
      }}), h("span", {text: JBP.FEATURE_LABELS[f]})));
  }
}

// The diagram: one column per layer; each unit a heatmap canvas; edges drawn in an SVG below.
const UNIT = 40, COLW = 120, ROWH = 54;
function buildNet() {
  const s = T.settings, box = $("net");
  box.textContent = "";
  const height = Math.max(...s.sizes) * ROWH + 40, width = s.sizes.length * COLW;
  box.style.width = width + "px";
  box.style.height = height + "px";
  const edges = svg("svg", {width, height, id: "edges"});
  box.append(edges);
  UI.pos = s.sizes.map((n, l) => Array.from({length: n}, (_, j) => [l * COLW + COLW / 2, 40 + (j + 0.5) * ROWH + (Math.max(...s.sizes) - n) * ROWH / 2]));
  UI.edgeEls = [];
  T.params.forEach(({W}, l) => {
    UI.edgeEls.push(W.map((row, i) => row.map((_, j) => {
      const [x1, y1] = UI.pos[l][i], [x2, y2] = UI.pos[l + 1][j];
      const line = svg("line", {x1: x1 + UNIT / 2, y1, x2: x2 - UNIT / 2, y2, class: "edge", id: `w-${l}-${i}-${j}`}, edges);
      line.addEventListener("mouseenter", () => { UI.selected = {l, i, j}; info(); });
      line.addEventListener("click", () => editWeight(l, i, j));
      return line;
    })));
  });
  s.sizes.forEach((n, l) => {
    const head = h("div", {class: "layer-head", style: `left:${l * COLW}px;width:${COLW}px`});
    if (l === 0) head.append(h("span", {text: `${n} input${n > 1 ? "s" : ""}`}));
    else {
      head.append(h("span", {text: `${n} `}));
      if (l < s.sizes.length - 1) {
        head.append(h("button", {type: "button", class: "mini", title: "one unit more", id: `units-plus-${l}`, onclick: () => units(l, +1), text: "+"}),
                    h("button", {type: "button", class: "mini", title: "one unit less", id: `units-minus-${l}`, onclick: () => units(l, -1), text: "−"}));
      }
      head.append(select(`act-${l}`, l < s.sizes.length - 1 ? HIDDEN_ACTS : OUTPUT_ACTS, s.activations[l - 1], e => {
        const acts = T.settings.activations.slice();
        acts[l - 1] = e.target.value;
        const patch = {activations: acts};
        if (l === s.sizes.length - 1) patch.cost = e.target.value === "softmax" ? "softmax_cross_entropy" : e.target.value === "sigmoid" ? T.settings.cost.replace("softmax_", "") : "quadratic";
        tryReset(patch);
      }));
    }
    head.setAttribute("data-control", "sizes");
    box.append(head);
    UI.pos[l].forEach(([x, y], j) => {
      const c = h("canvas", {width: String(G), height: String(G), class: "unit", id: `unit-${l}-${j}`, role: "img",
                             "aria-label": l ? `unit ${j + 1} of layer ${l}: its ${UI.view} over the input plane` : `input ${s.features[j]}`,
                             style: `left:${x - UNIT / 2}px;top:${y - UNIT / 2}px`});
      c.addEventListener("mouseenter", () => { UI.selected = {l, j}; info(); });
      box.append(c);
    });
  });
  $("arch").textContent = " sizes " + s.sizes.join("-") + ", activations " + s.activations.join(", ");
}

function editWeight(l, i, j) {
  const old = T.params[l].W[i][j], got = window.prompt(`weight w from unit ${i + 1} of layer ${l} to unit ${j + 1} of layer ${l + 1}`, String(old));
  if (got === null || !Number.isFinite(+got)) return;
  T.params = copyParams(T.params);
  T.params[l].W[i][j] = +got;
  record();
  redraw();
}

// ---- drawing ----------------------------------------------------------------------------------
function domain() {
  const s = T.settings;
  if (JBP.GATES[s.dataset]) return [-0.5, 1.5];
  if (s.dataset === "custom") {
    const v = T.data.points.flat(), lo = Math.min(...v), hi = Math.max(...v), m = 0.1 * (hi - lo || 1);
    return [lo - m, hi + m];
  }
  return [-6, 6];
}
function grid(n) {
  const [lo, hi] = domain(), pts = [];
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) pts.push([lo + (hi - lo) * (c + 0.5) / n, hi - (hi - lo) * (r + 0.5) / n]);
  return pts;
}
// v in [-1, 1]: orange (negative), white, blue (positive); written straight into the pixels
function paint(canvas, values, n, scale) {
  const ctx = canvas.getContext("2d");
  if (!canvas._img) canvas._img = ctx.createImageData(n, n);
  const d = canvas._img.data;
  for (let k = 0; k < values.length; k++) {
    const t = Math.max(-1, Math.min(1, values[k] / scale)), c = t >= 0 ? POS : NEG, a = t >= 0 ? t : -t;
    d[4 * k] = 255 + (c[0] - 255) * a;
    d[4 * k + 1] = 255 + (c[1] - 255) * a;
    d[4 * k + 2] = 255 + (c[2] - 255) * a;
    d[4 * k + 3] = 255;
  }
  ctx.putImageData(canvas._img, 0, 0);
}

function nearestLabels(pts) {   // the label of the nearest data point: the target of the delta maps
  const d = T.data;
  return pts.map(p => {
    let best = 0, bd = Infinity;
    d.points.forEach((q, i) => { const e = (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2; if (e < bd) { bd = e; best = i; } });
    return d.labels[best];
  });
}

function redraw() {
  UI.redraws += 1;
  const s = T.settings, last = T.history[T.history.length - 1];
  $("counter").textContent = `step ${T.step} · epoch ${T.epoch}`;
  if (!UI.gridKey || UI.gridKey !== T) {
    UI.gridKey = T;
    UI.pts = grid(G);
    UI.gx = UI.pts.map(p => JBP.featurize(s.features, p));
    UI.gy = nearestLabels(UI.pts).map(c => JBP.target(c, s.sizes[s.sizes.length - 1]));
    UI.bigPts = grid(BIG);
    UI.bigX = UI.bigPts.map(p => JBP.featurize(s.features, p));
    JBP.FEATURE_NAMES.forEach(f => { UI[`feat-${f}`] = UI.pts.map(p => JBP.FEATURES[f](p)); });
  }
  // the units: activation or delta over the input plane (delta for the nearest point's label)
  const t0 = performance.now();
  const tr = UI.view === "delta" ? JBP.backprop(T.params, s.activations, s.cost, UI.gx, UI.gy, 0, 0)
                                 : JBP.feedforward(T.params, s.activations, UI.gx);
  s.sizes.forEach((n, l) => {
    for (let j = 0; j < n; j++) {
      const el = $(`unit-${l}-${j}`);
      if (!el) continue;
      let vals;
      if (l === 0) vals = UI.gx.map(r => r[j]);
      else if (UI.view === "delta") vals = tr.deltas[l - 1].map(r => r[j]);
      else vals = tr.activations[l].map(r => r[j]);
      const act = l ? s.activations[l - 1] : "identity";
      const sc = l && UI.view !== "delta" && (act === "sigmoid" || act === "softmax") ? null : Math.max(1e-12, ...vals.map(Math.abs));
      paint(el, sc === null ? vals.map(v => 2 * v - 1) : vals, G, sc === null ? 1 : sc);
    }
  });
  const t1 = performance.now();
  // the edges: width |w| (or |dC/dw| relative to the largest), colour and dash by sign
  // (the gradients on the training set only when shown: they cost a backward pass)
  const g = UI.edges === "w" ? null : trainingGrads();
  const gmax = g ? Math.max(1e-300, ...g.flatMap(({W}) => W.flat().map(Math.abs))) : 1;
  T.params.forEach(({W}, l) => W.forEach((row, i) => row.forEach((w, j) => {
    const el = UI.edgeEls[l] && UI.edgeEls[l][i] && UI.edgeEls[l][i][j];
    if (!el) return;
    const v = UI.edges === "w" ? w : g[l].W[i][j], width = UI.edges === "w" ? Math.min(8, 0.4 + 1.5 * Math.abs(w)) : 0.4 + 7 * Math.abs(v) / gmax;
    const look = `${v >= 0 ? 1 : 0}${width.toFixed(1)}`;
    if (el._look === look) return;   // unchanged: no style work for the browser
    el._look = look;
    el.setAttribute("stroke", `rgb(${(v >= 0 ? POS : NEG).join(",")})`);
    el.setAttribute("stroke-width", width.toFixed(1));
    el.setAttribute("stroke-dasharray", v >= 0 ? "" : "4 3");
  })));
  const t2 = performance.now();
  drawPlane();
  const t3 = performance.now();
  drawCurves();
  UI.timing = {units: t1 - t0, edges: t2 - t1, plane: t3 - t2, curves: performance.now() - t3};
  if (last) {
    const pct = v => (Number.isFinite(v) ? (100 * v).toFixed(1) + "%" : "–");
    $("scores").textContent = `training loss ${short(last.loss)}, accuracy ${pct(last.accuracy)}` +
      (T.xTest.length ? ` · test loss ${short(last.test_loss)}, accuracy ${pct(last.test_accuracy)}` : "");
  }
  $("warning").textContent = T.stopped || T.warning;
  $("warning").className = T.stopped || T.warning ? "warn" : "";
  const scrubEl = $("scrub");
  scrubEl.max = String(Math.max(0, T.snapshots.length - 1));
  if (!UI.scrubbing) scrubEl.value = scrubEl.max;
  scrubEl.setAttribute("aria-valuetext", `step ${T.step}`);
  info();
  UI.redrawMs = performance.now() - t0;
}

function trainingGrads() {
  if (!UI.grads || UI.gradsOf !== T.params) {
    const s = T.settings;
    UI.grads = JBP.backprop(T.params, s.activations, s.cost, T.x, T.y, s.l1, s.l2).grads;
    UI.gradsOf = T.params;
  }
  return UI.grads;
}

function drawPlane() {
  const s = T.settings, c = $("plane"), ctx = c.getContext("2d");
  const {activations: as} = JBP.feedforward(T.params, s.activations, UI.bigX), out = as[as.length - 1];
  if (!UI.off) { UI.off = document.createElement("canvas"); UI.off.width = UI.off.height = BIG; }
  // the output (of the last unit) from 0 (orange) to 1 (blue), a little paler than the points
  paint(UI.off, out.map(o => 0.7 * (2 * Math.min(1, Math.max(0, o[o.length - 1])) - 1)), BIG, 1);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(UI.off, 0, 0, c.width, c.height);
  if (UI.pointsOf !== T.data) { UI.pointsOf = T.data; drawPoints(); }
  ctx.drawImage(UI.points, 0, 0);
}

// the data, drawn once per data set: training points with a white rim in a thin dark ring,
// test points with a thick black rim
function drawPoints() {
  const s = T.settings, c = $("plane");
  if (!UI.points) { UI.points = document.createElement("canvas"); UI.points.width = c.width; UI.points.height = c.height; }
  const ctx = UI.points.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  const [lo, hi] = domain(), px = v => (v - lo) / (hi - lo) * c.width, py = v => (hi - v) / (hi - lo) * c.height;
  const draw = (idx, test) => idx.forEach(i => {
    const p = T.data.points[i], lab = T.data.labels[i];
    ctx.beginPath();
    ctx.arc(px(p[0]), py(p[1]), JBP.GATES[s.dataset] ? 9 : 3.5, 0, 2 * Math.PI);
    ctx.fillStyle = `rgb(${(lab ? POS : NEG).join(",")})`;
    ctx.fill();
    if (test) {
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2;
      ctx.stroke();
    } else {
      ctx.strokeStyle = "#333";
      ctx.lineWidth = 2.6;
      ctx.stroke();
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 1.2;
      ctx.stroke();
    }
  });
  draw(T.data.train, false);
  draw(T.data.test, true);
}

function drawCurves() {
  const c = $("curves"), ctx = c.getContext("2d"), h0 = T.history;
  ctx.clearRect(0, 0, c.width, c.height);
  if (h0.length < 2) return;
  const vals = h0.flatMap(p => [p.loss, p.test_loss]).filter(v => Number.isFinite(v) && v > 0);
  if (!vals.length) return;
  const logy = Math.max(...vals) / Math.min(...vals) > 100, f = v => (logy ? Math.log10(v) : v);
  const lo = logy ? f(Math.min(...vals)) : 0, hi = f(Math.max(...vals)), last = h0[h0.length - 1].step || 1;
  const X = st => 4 + (c.width - 8) * st / last, Y = v => c.height - 4 - (c.height - 8) * (f(v) - lo) / (hi - lo || 1);
  for (const [key, dash] of [["loss", []], ["test_loss", [4, 3]]]) {
    ctx.beginPath();
    ctx.setLineDash(dash);
    ctx.strokeStyle = "#1a1a1a";
    let started = false;
    for (const p of h0) {
      if (!(Number.isFinite(p[key]) && p[key] > 0)) continue;
      if (started) ctx.lineTo(X(p.step), Y(p[key])); else { ctx.moveTo(X(p.step), Y(p[key])); started = true; }
    }
    ctx.stroke();
  }
  // accuracy on its own scale, 0 (bottom) to 1 (top), in green
  const A = v => c.height - 4 - (c.height - 8) * v;
  for (const [key, dash] of [["accuracy", []], ["test_accuracy", [4, 3]]]) {
    ctx.beginPath();
    ctx.setLineDash(dash);
    ctx.strokeStyle = "#1b7837";
    let started = false;
    for (const p of h0) {
      if (!Number.isFinite(p[key])) continue;
      if (started) ctx.lineTo(X(p.step), A(p[key])); else { ctx.moveTo(X(p.step), A(p[key])); started = true; }
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
}

// exact numbers of the hovered unit or edge: w and dC/dw (BP4); b, dC/db (BP3) and the mean
// delta over the training set (BP1 at the output, BP2 below)
function info() {
  const sel = UI.selected, el = $("info");
  if (!sel || !el) return;
  const s = T.settings;
  if (sel.i !== undefined) {
    const w = T.params[sel.l] && T.params[sel.l].W[sel.i] ? T.params[sel.l].W[sel.i][sel.j] : undefined;
    if (w === undefined) return;
    el.textContent = `weight layer ${sel.l + 1}, from unit ${sel.i + 1} to unit ${sel.j + 1}: w = ${full(w)}, ` +
                     `dC/dw = ${full(trainingGrads()[sel.l].W[sel.i][sel.j])} (BP4, training set${s.l1 || s.l2 ? ", with L1/L2" : ""})`;
  } else if (sel.l === 0) {
    el.textContent = `input ${sel.j + 1}: ${JBP.FEATURE_LABELS[s.features[sel.j]]}`;
  } else {
    const l = sel.l - 1;
    if (!T.params[l] || sel.j >= T.params[l].b.length) return;
    const tr = JBP.backprop(T.params, s.activations, s.cost, T.x, T.y, s.l1, s.l2);
    const mean = tr.deltas[l].reduce((a, r) => a + r[sel.j], 0) / T.x.length;
    el.textContent = `unit ${sel.j + 1} of layer ${sel.l} (${s.activations[l]}): b = ${full(T.params[l].b[sel.j])}, ` +
                     `dC/db = mean δ = ${full(mean)} (BP3; δ by ${l === s.activations.length - 1 ? "BP1" : "BP2"})`;
  }
}

// ---- playing: trains in slices of at most BUDGET_MS, then yields to draw --------------------
let lastSharp = 0;
function play() {
  if (UI.playing) return;
  UI.playing = true;
  T.stopped = "";
  $("play").textContent = "Pause";
  $("play").setAttribute("aria-pressed", "true");
  requestAnimationFrame(frame);
}
function pause() {
  UI.playing = false;
  if ($("play")) { $("play").textContent = "Play"; $("play").setAttribute("aria-pressed", "false"); }
}
function frame() {
  if (!UI.playing) return;
  const t0 = performance.now();
  let ok = true, n = 0;
  // train for what is left of ~14 ms after the last redraw: a frame fits in one or two
  // display refreshes (60 or 30 redraws a second), and the page keeps responding
  const budget = Math.max(2, Math.min(BUDGET_MS, 14 - (UI.redrawMs || 0)));
  while (ok && performance.now() - t0 < budget) { ok = step1(); n++; if (T.settings.stop_step > 0 && T.step >= T.settings.stop_step) break; }
  UI.stepsPlayed = (UI.stepsPlayed || 0) + n;
  const point = record();
  if (performance.now() - lastSharp > 3000 && T.x.length) { lastSharp = performance.now(); measureSharpness(); }
  const stop = stopReached(point);
  if (!ok || stop) { T.stopped = T.stopped || stop; pause(); }
  redraw();
  if (UI.playing) requestAnimationFrame(frame);
}

function scrub(k) {   // back to a recorded step; training on from there branches the run
  pause();
  const snap = T.snapshots[k];
  if (!snap) return;
  Object.assign(T, {params: snap.params, step: snap.step, epoch: snap.epoch, order: snap.order, pos: snap.pos});
  T.snapshots = T.snapshots.slice(0, k + 1);
  T.history = T.history.filter(p => p.step <= snap.step);
  T.stopped = "";
  UI.scrubbing = true;
  redraw();
  UI.scrubbing = false;
}

// ---- settings changes -----------------------------------------------------------------------
function writeHash() { history.replaceState(null, "", toHash(T.settings, UI.hide)); }
function set(settings) { reset(settings); build(); redraw(); writeHash(); return api.settings(); }
function change(patch) {         // without resetting the net
  T.settings = normalise(Object.assign({}, T.settings, upgrade(patch)));
  if ("batch_size" in patch) { T.order = null; T.pos = 0; }
  T.stopped = "";
  record();
  redraw();
  writeHash();
}
function tryChange(patch) { try { change(patch); } catch (e) { T.stopped = String(e.message); redraw(); } }
function tryReset(patch) { try { pause(); set(Object.assign({}, T.settings, upgrade(patch))); } catch (e) { T.stopped = String(e.message); redraw(); } }
function layers(d) {
  const s = T.settings, sizes = s.sizes.slice(), acts = s.activations.slice();
  // a new last hidden layer of 2 units, with the activation of the hidden layer below it
  // (or, for the first one, the output's when that is sigmoid or tanh, else tanh)
  const out = acts[acts.length - 1], first = out === "sigmoid" || out === "tanh" ? out : "tanh";
  if (d > 0 && sizes.length - 2 < MAX_LAYERS) { sizes.splice(sizes.length - 1, 0, 2); acts.splice(acts.length - 1, 0, acts.length > 1 ? acts[acts.length - 2] : first); }
  if (d < 0 && sizes.length > 2) { sizes.splice(sizes.length - 2, 1); acts.splice(acts.length - 2, 1); }
  tryReset({sizes, activations: acts});
}
function units(l, d) {
  const sizes = T.settings.sizes.slice();
  sizes[l] = Math.max(1, Math.min(MAX_UNITS, sizes[l] + d));
  tryReset({sizes});
}

// CSV drop: rows x1,x2,label become the data set (playground_train.js parses them)
document.addEventListener("dragover", e => e.preventDefault());
document.addEventListener("drop", e => {
  e.preventDefault();
  const file = e.dataTransfer.files[0];
  if (file) file.text().then(t => { TRAIN.setCustom(parseCSV(t)); tryReset({dataset: "custom"}); }).catch(err => { T.stopped = String(err.message); redraw(); });
});

// ---- the test hook ----------------------------------------------------------------------------
const api = {
  settings: () => JSON.parse(JSON.stringify(T.settings)),
  set: settings => set(settings),
  change: patch => { change(patch); return api.settings(); },
  step: n => { steps(n === undefined ? 1 : n); record(); redraw(); return api.state(); },
  epoch: () => api.step(epochSteps()),
  state: () => {
    const s = T.settings;
    return {step: T.step, epoch: T.epoch, loss: JBP.loss(T.params, s.activations, s.cost, T.x, T.y, s.l1, s.l2),
            params: copyParams(T.params), x: T.x.map(r => r.slice()), y: T.y.map(r => r.slice()),
            points: T.data.train.map(i => T.data.points[i].slice()), labels: T.data.train.map(i => T.data.labels[i]),
            x_test: T.xTest.map(r => r.slice()), y_test: T.yTest.map(r => r.slice()), batch: T.batch.slice(),
            accuracy: score(T.x, T.y, T.trainLabels)[1], test_accuracy: score(T.xTest, T.yTest, T.testLabels)[1],
            warning: T.warning, stopped: T.stopped};
  },
  hash: () => toHash(T.settings, UI.hide),
  fromHash: hash => fromHash(hash),
  exportParams: () => base64(exportParams()),
  exportRun: () => exportRun(),
  sharpness: () => measureSharpness(),
  setWeight: (l, i, j, v) => { T.params = copyParams(T.params); T.params[l].W[i][j] = v; record(); redraw(); },
  play, pause, scrub,
  playing: () => UI.playing,
  perf: () => ({redraws: UI.redraws, steps: UI.stepsPlayed || 0, redraw_ms: UI.redrawMs, timing: UI.timing}),
  bench: ms => {   // updates per second, synchronously, for ms milliseconds
    const t0 = performance.now(), s0 = T.step;
    while (performance.now() - t0 < ms) steps(10);
    return (T.step - s0) / ((performance.now() - t0) / 1000);
  },
};
window.jaxbp = api;

// ---- start: the settings of the URL hash over those from Python ----------------------------
function start() {
  const fromUrl = fromHash(location.hash || "");
  UI.hide = fromUrl.hide.length ? fromUrl.hide : (CONFIG.hide || []);
  try {
    set(Object.assign({}, CONFIG.settings, fromUrl.settings));
  } catch (e) {
    set(CONFIG.settings);
    T.stopped = "The link's settings were not valid (" + e.message + "); using the defaults.";
    redraw();
  }
  window.addEventListener("hashchange", () => {
    const got = fromHash(location.hash);
    if (toHash(T.settings, UI.hide) === location.hash) return;
    UI.hide = got.hide;
    tryReset(got.settings);
  });
  document.body.dataset.ready = "true";
}
start();
})();
