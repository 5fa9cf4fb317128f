"use strict";
// jaxbp playground, part 2: the trainer. Settings (checked), data rows, the training loop
// (mini-batches as in jaxbp.fit), the records behind the curves and the history, the
// divergence warnings, the URL hash, and the exports. No drawing: part 3 (playground.js)
// draws and holds the controls. The numbers themselves are part 1 (playground_core.js).
const TRAIN = (function () {
const CONFIG = JSON.parse(document.getElementById("jaxbp-playground").textContent);
const DEFAULTS = CONFIG.defaults;
const HIDDEN_ACTS = ["tanh", "sigmoid", "relu", "identity"];
const OUTPUT_ACTS = ["sigmoid", "softmax", "tanh", "identity", "relu"];
const COSTS = ["cross_entropy", "quadratic", "softmax_cross_entropy"];

// ---- settings --------------------------------------------------------------------------------
// Names of version 0.2.0, read when the new name is absent, so that its links (the URL hash),
// its exported runs' settings and its lesson pages still load (jaxbp/playground.py: OLD_NAMES).
const OLD_NAMES = {learning_rate: "lr"};
function upgrade(given) {
  const s = Object.assign({}, given || {});
  for (const [old, name] of Object.entries(OLD_NAMES)) {
    if (old in s) { if (!(name in s)) s[name] = s[old]; delete s[old]; }
  }
  return s;
}
let custom = CONFIG.data ? {points: CONFIG.data.x, labels: CONFIG.data.labels} : null;

function classes(s) {
  if (s.dataset === "custom" && custom) return Math.max(2, 1 + Math.max(...custom.labels));
  return 2;
}

// Fill in defaults and make the settings consistent: sizes[0] is the number of input features,
// the last size the number of outputs (1 for two classes, unless the output is softmax).
function normalise(given) {
  const s = Object.assign({}, DEFAULTS, upgrade(given));
  if (!JBP.DATASETS.includes(s.dataset) && !(s.dataset === "custom" && custom)) {
    throw new Error(`settings: dataset must be one of ${JBP.DATASETS.join(", ")}${custom ? ", custom" : ""}, got ${s.dataset}`);
  }
  s.features = JBP.FEATURE_NAMES.filter(f => s.features.includes(f));
  if (!s.features.length) s.features = ["x1"];
  s.sizes = s.sizes.slice();
  s.activations = s.activations.slice(0, s.sizes.length - 1);
  while (s.activations.length < s.sizes.length - 1) s.activations.unshift(s.activations[0] || "tanh");
  const out = s.activations[s.activations.length - 1], k = classes(s);
  s.sizes[0] = s.features.length;
  s.sizes[s.sizes.length - 1] = k === 2 && out !== "softmax" ? 1 : k;
  if (JBP.COST_OUTPUT[s.cost] && JBP.COST_OUTPUT[s.cost] !== out) {
    throw new Error(`settings: cost ${s.cost} needs a ${JBP.COST_OUTPUT[s.cost]} output layer, got ${out}`);
  }
  if (out === "softmax" && s.cost !== "softmax_cross_entropy") {
    throw new Error(`settings: a softmax output needs cost softmax_cross_entropy, got ${s.cost}`);
  }
  for (const key of ["seed", "batch_size"]) s[key] = Math.round(+s[key]);
  for (const key of ["lr", "l1", "l2", "noise", "train_fraction", "stop_loss", "stop_step"]) s[key] = +s[key];
  const bad = (what, got) => { throw new Error(`settings: ${what}, got ${got}`); };
  if (!s.sizes.every(n => Number.isInteger(n) && n >= 1 && n <= 64)) bad("sizes must be whole numbers from 1 to 64", s.sizes.join("-"));
  s.activations.forEach((a, l) => {
    const allowed = l === s.activations.length - 1 ? OUTPUT_ACTS : HIDDEN_ACTS;
    if (!allowed.includes(a)) bad(`activations[${l}] must be one of ${allowed.join(", ")}`, a);
  });
  if (!COSTS.includes(s.cost)) bad(`cost must be one of ${COSTS.join(", ")}`, s.cost);
  if (!(s.lr > 0 && Number.isFinite(s.lr))) bad("lr must be a finite number > 0", s.lr);
  if (!(s.batch_size >= 1)) bad("batch_size must be at least 1", s.batch_size);
  for (const key of ["l1", "l2", "stop_loss", "stop_step"]) if (!(s[key] >= 0 && Number.isFinite(s[key]))) bad(`${key} must be a finite number >= 0`, s[key]);
  if (!(s.noise >= 0 && s.noise <= 0.5)) bad("noise must be in [0, 0.5]", s.noise);
  if (!(s.train_fraction > 0 && s.train_fraction <= 1)) bad("train_fraction must be in (0, 1]", s.train_fraction);
  if (!Number.isInteger(s.seed)) bad("seed must be a whole number", s.seed);
  return s;
}

// ---- the trainer --------------------------------------------------------------------------
const T = {};       // settings, data, x, y, params, step, history, ...

function reset(settings) {
  const s = normalise(settings);
  const d = JBP.dataset(s, custom), nOut = s.sizes[s.sizes.length - 1];
  const rows = idx => idx.map(i => JBP.featurize(s.features, d.points[i]));
  const targets = idx => idx.map(i => JBP.target(d.labels[i], nOut));
  Object.assign(T, {
    settings: s, data: d, x: rows(d.train), y: targets(d.train), xTest: rows(d.test),
    yTest: targets(d.test), trainLabels: d.train.map(i => d.labels[i]), testLabels: d.test.map(i => d.labels[i]), params: JBP.init(s.sizes, s.activations, s.seed), step: 0,
    epoch: 0, order: null, pos: 0, batch: [], batchRng: JBP.stream(s.seed, 4),
    history: [], snapshots: [], warning: "", stopped: "", sharp: null,
  });
  record();
}

// one update on the next mini-batch: the whole training set in order when batch_size >= n,
// else consecutive slices of a fresh permutation each epoch (the last n % batch_size rows of
// a permutation sit that epoch out, as in jaxbp.fit)
function nextBatch() {
  const n = T.x.length, bs = T.settings.batch_size;
  if (bs >= n) { T.epoch += 1; return T.x.map((_, i) => i); }
  if (!T.order || T.pos + bs > n) {
    if (T.order) T.epoch += 1;
    T.order = JBP.permutation(n, T.batchRng);
    T.pos = 0;
  }
  const batch = T.order.slice(T.pos, T.pos + bs);
  T.pos += bs;
  return batch;
}

function step1() {
  const s = T.settings, batch = nextBatch();
  const tr = JBP.backprop(T.params, s.activations, s.cost, batch.map(i => T.x[i]),
                          batch.map(i => T.y[i]), s.l1, s.l2);
  const next = JBP.update(T.params, tr.grads, s.lr);
  if (!finiteParams(next)) {
    T.stopped = `stopped before step ${T.step + 1}: the update would make a weight non-finite ` +
                `(loss on the batch ${tr.loss.toPrecision(6)}); lower the learning rate`;
    return false;
  }
  T.params = next;
  T.batch = batch;
  T.step += 1;
  return true;
}

const finiteParams = p => p.every(({W, b}) => W.every(r => r.every(Number.isFinite)) && b.every(Number.isFinite));

function steps(n) {
  for (let k = 0; k < n; k++) if (!step1()) return false;
  return true;
}

// loss (with the regularisers) and accuracy of a set, from one forward pass
function score(x, y, labels) {
  if (!x.length) return [NaN, NaN];
  const s = T.settings, L = T.params.length, C = JBP.COSTS[s.cost], out = s.activations[L - 1];
  const {zs, activations: as} = JBP.feedforward(T.params, s.activations, x);
  let loss = 0, right = 0;
  for (let k = 0; k < x.length; k++) {
    loss += C.value(zs[L - 1][k], y[k], out);
    const o = as[L][k], pred = o.length === 1 ? (o[0] > 0.5 ? 1 : 0) : o.indexOf(Math.max(...o));
    if (pred === labels[k]) right++;
  }
  return [loss / x.length + JBP.penalty(T.params, s.l1, s.l2), right / x.length];
}

function record() {
  const [loss, acc] = score(T.x, T.y, T.trainLabels), [testLoss, testAcc] = score(T.xTest, T.yTest, T.testLabels);
  const point = {step: T.step, loss, test_loss: testLoss, accuracy: acc, test_accuracy: testAcc};
  const last = T.history[T.history.length - 1];
  // one snapshot per recorded step (the scrubber's positions); a new record at the same step
  // (an edited weight, changed settings) replaces it
  const snap = {step: T.step, params: T.params, epoch: T.epoch, order: T.order, pos: T.pos};
  if (last && last.step === T.step) { T.history.pop(); T.snapshots[T.snapshots.length - 1] = snap; } else T.snapshots.push(snap);
  T.history.push(point);
  if (T.snapshots.length > 4000) {  // keep memory bounded: every other one, and the newest
    T.snapshots = T.snapshots.filter((_, i) => i % 2 === 0 || i === T.snapshots.length - 1);
  }
  if (T.history.length > 4000) T.history = T.history.filter((_, i) => i % 2 === 0 || i === T.history.length - 1);
  checkDivergence(point);
  return point;
}

// A warning *before* NaN: the training loss rose at each of the last 5 records, or the
// learning rate is above 2 / lambda_max (the Hessian's largest eigenvalue by power iteration).
function checkDivergence(point) {
  const h = T.history, k = 5;
  T.warning = "";
  if (!Number.isFinite(point.loss)) {
    T.warning = "The loss is no longer finite: the net has diverged. Lower the learning rate and reset.";
  } else if (h.length > k && h.slice(-k - 1).every((p, i, a) => i === 0 || p.loss > a[i - 1].loss * (1 + 1e-9))) {
    T.warning = `Warning: the training loss rose at each of the last ${k} records ` +
                `(${h[h.length - k - 1].loss.toPrecision(4)} → ${point.loss.toPrecision(4)}): ` +
                `the learning rate may be too high; the net may diverge.`;
  }
  if (T.sharp && T.settings.lr > 2 / T.sharp.lambda) {
    T.warning += (T.warning ? " " : "Warning: ") + `the learning rate ${T.settings.lr} is above ` +
                 `2/λmax = ${(2 / T.sharp.lambda).toPrecision(3)} (λmax ≈ ${T.sharp.lambda.toPrecision(4)} ` +
                 `at step ${T.sharp.step}, power iteration on the training loss): gradient descent is unstable here.`;
  }
}

function measureSharpness() {
  const s = T.settings, x = T.x.slice(0, 200), y = T.y.slice(0, 200);
  T.sharp = {step: T.step, lambda: JBP.sharpness(T.params, s.activations, s.cost, x, y, s.l1, s.l2, 20)};
  checkDivergence(T.history[T.history.length - 1]);
  return T.sharp.lambda;
}

function stopReached(point) {
  const s = T.settings;
  if (s.stop_loss > 0 && point.loss <= s.stop_loss) return `stopped: training loss ${point.loss.toPrecision(4)} ≤ ${s.stop_loss}`;
  if (s.stop_step > 0 && T.step >= s.stop_step) return `stopped: reached step ${s.stop_step}`;
  return "";
}

// ---- the URL hash: every setting, and hide=name,name for lesson links ----------------------
const LISTS = {sizes: "-", activations: ",", features: ","};
function toHash(s, hide) {
  const parts = Object.keys(DEFAULTS).map(k => `${k}=${Array.isArray(s[k]) ? s[k].join(LISTS[k]) : s[k]}`);
  if (hide && hide.length) parts.push("hide=" + hide.join(","));
  return "#" + parts.join("&");
}
function fromHash(hash) {
  const s = {}, out = {settings: s, hide: []}, old = {};
  for (const part of hash.replace(/^#/, "").split("&")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const k = decodeURIComponent(part.slice(0, eq)), v = decodeURIComponent(part.slice(eq + 1));
    if (k === "hide") out.hide = v ? v.split(",") : [];
    else if (k.endsWith("_hide")) { if (v !== "false" && v !== "0") out.hide.push(k.slice(0, -5)); }
    else if (k in LISTS) s[k] = v.split(LISTS[k]).map(e => (k === "sizes" ? +e : e));
    else if (k in DEFAULTS) s[k] = typeof DEFAULTS[k] === "number" ? +v : v;
    else if (k in OLD_NAMES) old[OLD_NAMES[k]] = +v;   // a 0.2.0 link (all its renamed settings are numbers)
  }
  for (const k in old) if (!(k in s)) s[k] = old[k];
  out.hide = out.hide.map(c => OLD_NAMES[c] || c);
  return out;
}

// ---- exports ---------------------------------------------------------------------------
function copyParams(p) { return p.map(({W, b}) => ({W: W.map(r => r.slice()), b: b.slice()})); }
function exportParams() { return NPZ.paramsFile(T.settings.sizes, T.settings.activations, T.params); }
function exportRun() {
  return {format: "jaxbp.playground/1", settings: T.settings, step: T.step, params: copyParams(T.params),
          history: T.history, x: T.x, y: T.y, x_test: T.xTest, y_test: T.yTest};
}
function epochSteps() { return T.settings.batch_size >= T.x.length ? 1 : Math.floor(T.x.length / T.settings.batch_size); }

// CSV drop: rows "x1,x2,label" (a header line is skipped); labels 0..k-1
function parseCSV(text) {
  const points = [], labels = [];
  for (const line of text.split(/\r?\n/)) {
    const f = line.split(/[,;\t ]+/).filter(Boolean).map(Number);
    if (f.length >= 3 && f.slice(0, 3).every(Number.isFinite)) { points.push([f[0], f[1]]); labels.push(Math.round(f[2])); }
  }
  if (points.length < 2 || labels.some(c => c < 0)) throw new Error("CSV: expected rows x1,x2,label with labels 0, 1, ...");
  return {points, labels};
}

return {CONFIG, DEFAULTS, HIDDEN_ACTS, OUTPUT_ACTS, COSTS, T, upgrade, normalise, reset, step1, steps, score,
        record, checkDivergence, measureSharpness, stopReached, toHash, fromHash, copyParams,
        exportParams, exportRun, epochSteps, parseCSV,
        custom: () => custom, setCustom: (d) => { custom = d; }};
})();
