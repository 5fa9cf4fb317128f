"use strict";
// jaxbp playground, part 1: the numbers. Data sets, input features, and backpropagation
// written out as Nielsen's four equations (BP1-BP4), in float64 (every JavaScript number is
// an IEEE double, so this is the float64 arithmetic of jaxbp with x64 on).
// Layout as in jaxbp: params = [{W, b}, ...], W[i][j] is the weight from input unit i to
// output unit j (shape (n_in, n_out)), z = a @ W + b, batch-first rows.
// No DOM here: part 2 (playground.js) draws; window.jaxbp is the test hook.
const JBP = (function () {

// ---- seeded random numbers (mulberry32) -------------------------------------------------
function rng(seed) {
  let t = (seed >>> 0) ^ 0x6d2b79f5;
  const uniform = function () {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
  uniform.normal = function () {            // Box-Muller
    const u = 1 - uniform(), v = uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  uniform.between = (a, b) => a + (b - a) * uniform();
  return uniform;
}
// independent streams from one seed: data, init, batch order
const stream = (seed, which) => rng(Math.imul((seed >>> 0) + 1, 0x9e3779b1) ^ which * 0x85ebca6b);

// ---- data sets ----------------------------------------------------------------------------
const GATES = {and: [0, 0, 0, 1], or: [0, 1, 1, 1], nand: [1, 1, 1, 0], nor: [1, 0, 0, 0],
               xor: [0, 1, 1, 0], xnor: [1, 0, 0, 1]};
const PLAYGROUND = ["circle", "xor_quadrants", "gauss", "spiral"];
const DATASETS = Object.keys(GATES).concat(PLAYGROUND);
const SAMPLES = 400;   // points of the four generated sets (half per class)

// Each returns {points: [[x1, x2], ...], labels: [0|1, ...]} on the plane [-6, 6]^2;
// noise in [0, 0.5] is a fraction of that range.
function generate(name, noise, r) {
  const points = [], labels = [], n = SAMPLES, half = n / 2;
  const push = (p, c) => { points.push(p); labels.push(c); };
  if (name === "circle") {                 // class 1 inside radius 2.5, class 0 in a ring 3.5..5
    for (let i = 0; i < n; i++) {
      const inside = i < half, rad = inside ? r.between(0, 2.5) : r.between(3.5, 5);
      const ang = r.between(0, 2 * Math.PI);
      const p = [rad * Math.sin(ang) + r.between(-5, 5) * noise, rad * Math.cos(ang) + r.between(-5, 5) * noise];
      push(p, inside ? 1 : 0);
    }
  } else if (name === "xor_quadrants") {   // class 1 where x1 * x2 > 0 (before the noise)
    for (let i = 0; i < n; i++) {
      let a = r.between(-5, 5), b = r.between(-5, 5);
      a += a > 0 ? 0.3 : -0.3; b += b > 0 ? 0.3 : -0.3;   // a gap along the axes
      push([a + r.between(-5, 5) * noise, b + r.between(-5, 5) * noise], a * b > 0 ? 1 : 0);
    }
  } else if (name === "gauss") {           // two Gaussian blobs at (2, 2) and (-2, -2)
    const sd = 0.5 + 3 * noise;
    for (let i = 0; i < n; i++) {
      const c = i < half ? 1 : 0, m = c ? 2 : -2;
      push([m + sd * r.normal(), m + sd * r.normal()], c);
    }
  } else if (name === "spiral") {          // two interleaved arms
    for (let i = 0; i < n; i++) {
      const c = i < half ? 1 : 0, k = i % half, rad = 5 * k / half;
      const t = 1.75 * k / half * 2 * Math.PI + (c ? 0 : Math.PI);
      push([rad * Math.sin(t) + r.between(-1, 1) * 5 * noise,
            rad * Math.cos(t) + r.between(-1, 1) * 5 * noise], c);
    }
  } else {
    throw new Error("unknown dataset " + name);
  }
  return {points, labels};
}

// The rows of a data set for the given settings: points, labels, and which are test rows.
function dataset(settings, custom) {
  const name = settings.dataset;
  if (name === "custom") {
    if (!custom) throw new Error("dataset 'custom' needs data (x, y) from Python or a CSV file");
    return split(custom.points, custom.labels, settings);
  }
  if (GATES[name]) {                       // the 4-row truth table: trains and tests on it
    const points = [[0, 0], [0, 1], [1, 0], [1, 1]];
    return {points, labels: GATES[name].slice(), train: [0, 1, 2, 3], test: []};
  }
  const d = generate(name, settings.noise, stream(settings.seed, 1));
  return split(d.points, d.labels, settings);
}

function split(points, labels, settings) {
  const order = permutation(points.length, stream(settings.seed, 2));
  const nTrain = Math.max(1, Math.round(settings.train_fraction * points.length));
  return {points, labels, train: order.slice(0, nTrain).sort((a, b) => a - b),
          test: order.slice(nTrain).sort((a, b) => a - b)};
}

function permutation(n, r) {               // Fisher-Yates
  const p = Array.from({length: n}, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

// ---- input features (the Playground's seven) ----------------------------------------------
const FEATURES = {
  x1: p => p[0], x2: p => p[1], x1sq: p => p[0] * p[0], x2sq: p => p[1] * p[1],
  x1x2: p => p[0] * p[1], sinx1: p => Math.sin(p[0]), sinx2: p => Math.sin(p[1]),
};
const FEATURE_NAMES = Object.keys(FEATURES);
const FEATURE_LABELS = {x1: "x₁", x2: "x₂", x1sq: "x₁²", x2sq: "x₂²", x1x2: "x₁x₂",
                        sinx1: "sin x₁", sinx2: "sin x₂"};
const featurize = (features, p) => features.map(f => FEATURES[f](p));

// targets: one column 0/1 for a single output unit, else one-hot over the output units
function target(label, nOut) {
  if (nOut === 1) return [label];
  const t = new Array(nOut).fill(0);
  t[label] = 1;
  return t;
}

// ---- activations: sigma and sigma' (as jaxbp.activations) --------------------------------
function sigmoid(z) { return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)); }
const ACTIVATIONS = {
  sigmoid: {fn: sigmoid, prime: z => { const s = sigmoid(z); return s * (1 - s); }},
  tanh: {fn: Math.tanh, prime: z => { const t = Math.tanh(z); return 1 - t * t; }},
  relu: {fn: z => (z > 0 ? z : 0), prime: z => (z > 0 ? 1 : 0)},
  identity: {fn: z => z, prime: () => 1},
  softmax: {fn: null, prime: null},        // a whole layer at once: softmaxRow
};
function softmaxRow(z) {
  const m = Math.max(...z), e = z.map(v => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
  return e.map(v => v / s);
}

// ---- costs: per-sample C_x from the output's z, and BP1's output error delta^L ------------
const logSigmoid = z => -(Math.max(-z, 0) + Math.log1p(Math.exp(-Math.abs(z))));
const COSTS = {
  quadratic: {       // C_x = 0.5 * sum_j (a_j - y_j)^2 ;  delta^L = (a - y) * sigma'(z)   (BP1)
    value: (z, y, act) => 0.5 * activate(act, z).reduce((s, a, j) => s + (a - y[j]) ** 2, 0),
    delta: (z, y, act) => activate(act, z).map((a, j) => (a - y[j]) * ACTIVATIONS[act].prime(z[j])),
  },
  cross_entropy: {   // C_x = -sum_j [y ln a + (1 - y) ln(1 - a)], from z ; delta^L = a - y (BP1)
    value: (z, y) => -z.reduce((s, v, j) => s + y[j] * logSigmoid(v) + (1 - y[j]) * logSigmoid(-v), 0),
    delta: (z, y) => z.map((v, j) => sigmoid(v) - y[j]),
  },
  softmax_cross_entropy: {  // C_x = -sum_j y_j ln softmax(z)_j ; delta^L = softmax(z) - y (BP1)
    value: (z, y) => {
      const m = Math.max(...z), lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
      return -z.reduce((s, v, j) => s + y[j] * (v - lse), 0);
    },
    delta: (z, y) => softmaxRow(z).map((a, j) => a - y[j]),
  },
};
const COST_OUTPUT = {cross_entropy: "sigmoid", softmax_cross_entropy: "softmax"};

// ---- initial parameters (as jaxbp's MLP.init: W ~ N(0, gain^2 / n_in), b ~ N(0, 1)) -------
const GAIN = {sigmoid: 1, tanh: 1, identity: 1, softmax: 1, relu: Math.SQRT2};
function init(sizes, activations, seed) {
  const r = stream(seed, 3), params = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const sd = GAIN[activations[l]] / Math.sqrt(sizes[l]);
    const W = [];
    for (let i = 0; i < sizes[l]; i++) W.push(Array.from({length: sizes[l + 1]}, () => sd * r.normal()));
    params.push({W, b: Array.from({length: sizes[l + 1]}, () => r.normal())});
  }
  return params;
}

// ---- the forward pass: z^l = a^(l-1) W^l + b^l,  a^l = sigma(z^l) -------------------------
// (plain loops rather than map: the page redraws dozens of times a second)
function layerForward(a, W, b) {          // one row: z_j = sum_i a_i W_ij + b_j
  const z = new Array(b.length);
  for (let j = 0; j < b.length; j++) {
    let s = b[j];
    for (let i = 0; i < a.length; i++) s += a[i] * W[i][j];
    z[j] = s;
  }
  return z;
}
function activate(name, z) {
  if (name === "softmax") return softmaxRow(z);
  const f = ACTIVATIONS[name].fn, a = new Array(z.length);
  for (let j = 0; j < z.length; j++) a[j] = f(z[j]);
  return a;
}
function feedforward(params, activations, x) {
  const zs = [], as = [x];
  params.forEach(({W, b}, l) => {
    const prev = as[l], z = new Array(prev.length), a = new Array(prev.length);
    for (let k = 0; k < prev.length; k++) {
      z[k] = layerForward(prev[k], W, b);
      a[k] = activate(activations[l], z[k]);
    }
    zs.push(z);
    as.push(a);
  });
  return {zs, activations: as};
}

// ---- the backward pass: Nielsen's four equations --------------------------------------------
// Returns {loss, zs, activations, deltas, grads}, every quantity averaged over the batch as in
// jaxbp: C = mean_x C_x + l1 * sum |W| + 0.5 * l2 * sum W^2 (biases are not regularised).
function backprop(params, activations, cost, x, y, l1, l2) {
  const L = params.length, n = x.length;
  const {zs, activations: as} = feedforward(params, activations, x);
  const out = activations[L - 1], C = COSTS[cost];
  const deltas = new Array(L);
  // BP1: the output error delta^L = dC_x/dz^L
  deltas[L - 1] = zs[L - 1].map((z, k) => C.delta(z, y[k], out));
  // BP2: delta^l = (delta^(l+1) W^(l+1)^T) * sigma'(z^l), from the top down
  for (let l = L - 2; l >= 0; l--) {
    const W = params[l + 1].W, prime = ACTIVATIONS[activations[l]].prime;
    deltas[l] = zs[l].map((z, k) => {
      const d = new Array(z.length), up = deltas[l + 1][k];
      for (let j = 0; j < z.length; j++) {
        let s = 0;
        for (let m = 0; m < up.length; m++) s += up[m] * W[j][m];
        d[j] = s * prime(z[j]);
      }
      return d;
    });
  }
  const grads = params.map(({W, b}, l) => ({
    // BP4: dC/dW^l_ij = mean_x a^(l-1)_i delta^l_j   (+ the regularisers' l1 sign(W) + l2 W)
    W: W.map((row, i) => row.map((w, j) => {
      let s = 0;
      for (let k = 0; k < n; k++) s += as[l][k][i] * deltas[l][k][j];
      return s / n + l1 * Math.sign(w) + l2 * w;
    })),
    // BP3: dC/db^l_j = mean_x delta^l_j
    b: b.map((_, j) => {
      let s = 0;
      for (let k = 0; k < n; k++) s += deltas[l][k][j];
      return s / n;
    }),
  }));
  let loss = 0;
  for (let k = 0; k < n; k++) loss += C.value(zs[L - 1][k], y[k], out);
  loss = loss / n + penalty(params, l1, l2);
  return {loss, zs, activations: as, deltas, grads};
}

function penalty(params, l1, l2) {
  let s1 = 0, s2 = 0;
  for (const {W} of params) for (const row of W) for (const w of row) { s1 += Math.abs(w); s2 += w * w; }
  return l1 * s1 + 0.5 * l2 * s2;
}

function loss(params, activations, cost, x, y, l1, l2) {
  if (!x.length) return NaN;
  const {zs} = feedforward(params, activations, x), L = params.length, C = COSTS[cost];
  let s = 0;
  for (let k = 0; k < x.length; k++) s += C.value(zs[L - 1][k], y[k], activations[L - 1]);
  return s / x.length + penalty(params, l1, l2);
}

// the predicted class of each row: argmax of the outputs, or output > 0.5 for one unit
// (> 0 for a tanh or identity output, whose targets 0/1 are split at 0.5 too)
function predict(params, activations, x) {
  const {activations: as} = feedforward(params, activations, x), out = as[as.length - 1];
  return out.map(o => (o.length === 1 ? (o[0] > 0.5 ? 1 : 0) : o.indexOf(Math.max(...o))));
}

// gradient descent: p <- p - lr * dC/dp
function update(params, grads, lr) {
  return params.map(({W, b}, l) => ({
    W: W.map((row, i) => row.map((w, j) => w - lr * grads[l].W[i][j])),
    b: b.map((v, j) => v - lr * grads[l].b[j]),
  }));
}

// ---- the sharpness: the Hessian's largest eigenvalue by power iteration ------------------
// Gradient descent on a quadratic diverges when lr > 2 / lambda_max. H v is the
// central difference of two gradients (no second derivatives needed).
function sharpness(params, activations, cost, x, y, l1, l2, iterations) {
  const flat = p => p.flatMap(({W, b}) => W.flat().concat(b));
  const unflat = (v) => {
    let k = 0;
    return params.map(({W, b}) => ({W: W.map(row => row.map(() => v[k++])), b: b.map(() => v[k++])}));
  };
  const p0 = flat(params), grad = v => flat(backprop(unflat(v), activations, cost, x, y, l1, l2).grads);
  let v = p0.map((_, i) => Math.sin(i + 1)), lambda = 0;
  for (let it = 0; it < (iterations || 20); it++) {
    const norm = Math.hypot(...v);
    v = v.map(e => e / norm);
    const eps = 1e-5;
    const gp = grad(p0.map((p, i) => p + eps * v[i])), gm = grad(p0.map((p, i) => p - eps * v[i]));
    const hv = gp.map((g, i) => (g - gm[i]) / (2 * eps));
    lambda = hv.reduce((s, h, i) => s + h * v[i], 0);
    v = hv;
    if (!(Math.hypot(...v) > 0)) break;
  }
  return lambda;
}

return {rng, stream, permutation, GATES, PLAYGROUND, DATASETS, dataset, FEATURES, FEATURE_NAMES,
        FEATURE_LABELS, featurize, target, ACTIVATIONS, COSTS, COST_OUTPUT, activate, init,
        feedforward, backprop, loss, predict, update, penalty, sharpness, softmaxRow};
})();
