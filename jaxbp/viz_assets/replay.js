"use strict";
(function () {
const DATA = JSON.parse(document.getElementById("jaxbp-data").textContent);
const POS = "#1f5fa8", NEG = "#b2182b";
const TINT0 = [253, 212, 158], TINT1 = [203, 195, 227];
const CLASS = ["#e66101", "#5e3c99", "#1b7837", "#8c510a", "#c51b7d", "#01665e", "#762a83",
               "#35978f", "#bf812d", "#4d4d4d"];

// ---- helpers (common.js) and the forward pass (playground_core.js, shared with the playground)
const {h, s, fmt, range, mix, clamp} = VIZ;

// ---- the network's names and forward pass ----------------------------------------------
function unitNames(sizes) {
  const L = sizes.length;
  return sizes.map((n, l) => range(n).map((j) =>
    l === 0 ? "i" + (j + 1) : l === L - 1 ? "o" + (j + 1) : L === 3 ? "h" + (j + 1) : "h" + l + "." + (j + 1)));
}
// w1, w2, ... numbered layer by layer, by destination unit, then source (Mazur's numbering).
function weightList(sizes, names) {
  const out = [];
  for (let l = 0; l + 1 < sizes.length; l++)
    for (let j = 0; j < sizes[l + 1]; j++)
      for (let i = 0; i < sizes[l]; i++)
        out.push({name: "w" + (out.length + 1), l, i, j, from: names[l][i], to: names[l + 1][j]});
  return out;
}
// the output of the net for one input row x
function forward(params, acts, x) {
  const as = JBP.feedforward(params, acts, [x]).activations;
  return as[as.length - 1][0];
}

// ---- player: slider + play/pause ---------------------------------------------------------
const PLAYERS = [];
// loopTo: when playing past the last frame, continue from this frame (a cycle) instead of stopping.
function Player(parent, id, label, n, describe, onChange, loopTo = null) {
  const button = h("button", {type: "button", id: id + "-play", "aria-pressed": "false", text: "Play"});
  const slider = h("input", {type: "range", id: id + "-slider", min: "0", max: String(n - 1),
                             step: "1", value: "0"});
  const out = h("output", {id: id + "-label", for: id + "-slider"});
  const box = h("div", {class: "player", role: "group", "aria-label": label + " controls"},
                button, h("label", {for: id + "-slider", text: label}), slider, out);
  parent.append(box);
  let i = 0, timer = null;
  const self = {
    n, slider, button,
    get i() { return i; },
    set(k) {
      i = clamp(Math.round(k), 0, n - 1);
      slider.value = String(i);
      const text = describe(i);
      out.textContent = text;
      slider.setAttribute("aria-valuetext", text);
      onChange(i);
    },
    play() {
      if (timer) return;
      if (i >= n - 1) self.set(0);
      const advance = () => {
        if (i < n - 1) self.set(i + 1); else if (loopTo !== null) self.set(loopTo); else self.pause();
      };
      timer = setInterval(advance, Math.max(30, Math.min(120, 12000 / n)));  // ~12 s per run
      button.textContent = "Pause"; button.setAttribute("aria-pressed", "true");
    },
    pause() {
      clearInterval(timer); timer = null;
      button.textContent = "Play"; button.setAttribute("aria-pressed", "false");
    },
    toggle() { if (timer) self.pause(); else self.play(); },
    get playing() { return timer !== null; },
  };
  slider.addEventListener("input", () => { self.pause(); self.set(+slider.value); });
  slider.addEventListener("keydown", (ev) => {
    if (ev.key === " " || ev.key === "Spacebar") { ev.preventDefault(); self.toggle(); }
  });
  button.addEventListener("click", () => self.toggle());
  PLAYERS.push(self);
  return self;
}
// Keyboard anywhere outside a form control: space plays/pauses, arrows step, Home/End jump.
document.addEventListener("keydown", (ev) => {
  const t = ev.target;
  if (t && t.closest && t.closest("input, button, select, textarea, label")) return;
  if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const moves = {ArrowRight: 1, ArrowLeft: -1, ArrowUp: 1, ArrowDown: -1};
  if (ev.key === " " || ev.key === "Spacebar") {
    ev.preventDefault();
    const any = PLAYERS.some((p) => p.playing);
    PLAYERS.forEach((p) => (any ? p.pause() : p.play()));
  } else if (ev.key in moves) {
    ev.preventDefault();
    PLAYERS.forEach((p) => { p.pause(); p.set(p.i + moves[ev.key]); });
  } else if (ev.key === "Home" || ev.key === "End") {
    ev.preventDefault();
    PLAYERS.forEach((p) => { p.pause(); p.set(ev.key === "Home" ? 0 : p.n - 1); });
  }
});

// ---- the plane of a 2-input problem --------------------------------------------------------
// continuous: the targets are not class labels (e.g. Mazur's 0.01 / 0.99), so instead of
// decision regions the plane shows the first output's value, shaded from its lowest to its
// highest value on the grid (the caption gives the range).
function Plane(parent, x, y, caption, continuous = false) {
  const size = 320, G = 40;
  const canvas = h("canvas", {class: "plane", width: String(size), height: String(size),
                              role: "img", "aria-label": caption});
  const figcaption = h("figcaption", {text: caption});
  const fig = h("figure", {}, canvas, figcaption);
  parent.append(fig);
  const lo = [0, 1].map((d) => Math.min(...x.map((r) => r[d])));
  const hi = [0, 1].map((d) => Math.max(...x.map((r) => r[d])));
  const pad = [0, 1].map((d) => Math.max(0.25 * (hi[d] - lo[d]), 0.5));
  const bounds = [0, 1].map((d) => [lo[d] - pad[d], hi[d] + pad[d]]);
  const px = (v) => (v - bounds[0][0]) / (bounds[0][1] - bounds[0][0]) * size;
  const py = (v) => size - (v - bounds[1][0]) / (bounds[1][1] - bounds[1][0]) * size;
  const ys = y.flat(), ylo = Math.min(...ys), yhi = Math.max(...ys);
  const span = yhi > ylo ? [ylo, yhi] : [0, 1];
  const k = y[0].length;
  const cls = (v) => k === 1 ? (v[0] >= (span[0] + span[1]) / 2 ? 1 : 0) : v.indexOf(Math.max(...v));
  const targets = y.map(cls);
  const small = document.createElement("canvas");
  small.width = G; small.height = G;
  const ctx = canvas.getContext("2d"), sctx = small.getContext("2d");
  return {
    canvas, targets, cls,
    // f maps an input to the output vector; lines: [{w: [w1, w2], b, label, solid}]
    draw(f, lines, ring = null) {
      const img = sctx.createImageData(G, G);
      let correct = 0;
      const values = [];
      for (let r = 0; r < G; r++) for (let c = 0; c < G; c++) {
        values.push(f([bounds[0][0] + (c + 0.5) / G * (bounds[0][1] - bounds[0][0]),
                       bounds[1][1] - (r + 0.5) / G * (bounds[1][1] - bounds[1][0])]));
      }
      const first = values.map((v) => v[0]), vlo = Math.min(...first), vhi = Math.max(...first);
      if (continuous) {
        figcaption.textContent = `${caption} Here: from ${fmt(vlo, 6)} (lightest) to ${fmt(vhi, 6)} (darkest).`;
      }
      for (let r = 0; r < G; r++) for (let c = 0; c < G; c++) {
        const v = values[r * G + c];
        let rgb;
        if (continuous) rgb = mix([255, 255, 255], TINT1.map((t) => t * 0.6), vhi > vlo ? (v[0] - vlo) / (vhi - vlo) : 0.5);
        else if (k === 1) rgb = mix(TINT0, TINT1, clamp((v[0] - span[0]) / (span[1] - span[0]), 0, 1));
        else { const hex = CLASS[cls(v) % CLASS.length];
               rgb = mix([255, 255, 255], [1, 3, 5].map((o) => parseInt(hex.substr(o, 2), 16)), 0.35); }
        img.data.set([...rgb, 255], 4 * (r * G + c));
      }
      sctx.putImageData(img, 0, 0);
      ctx.imageSmoothingEnabled = true;
      ctx.clearRect(0, 0, size, size);
      ctx.drawImage(small, 0, 0, size, size);
      ctx.lineWidth = 1; ctx.strokeStyle = "#bbb"; ctx.setLineDash([]);
      if (bounds[0][0] < 0 && bounds[0][1] > 0) { ctx.beginPath(); ctx.moveTo(px(0), 0); ctx.lineTo(px(0), size); ctx.stroke(); }
      if (bounds[1][0] < 0 && bounds[1][1] > 0) { ctx.beginPath(); ctx.moveTo(0, py(0)); ctx.lineTo(size, py(0)); ctx.stroke(); }
      for (const line of lines) {
        const [w1, w2] = line.w, b = line.b;
        if (Math.abs(w1) < 1e-12 && Math.abs(w2) < 1e-12) continue;
        let a, e;
        if (Math.abs(w2) >= Math.abs(w1)) {
          a = [bounds[0][0], -(w1 * bounds[0][0] + b) / w2]; e = [bounds[0][1], -(w1 * bounds[0][1] + b) / w2];
        } else {
          a = [-(w2 * bounds[1][0] + b) / w1, bounds[1][0]]; e = [-(w2 * bounds[1][1] + b) / w1, bounds[1][1]];
        }
        ctx.strokeStyle = line.solid ? "#111" : "#333"; ctx.lineWidth = line.solid ? 2.5 : 1.5;
        ctx.setLineDash(line.solid ? [] : [7, 5]);
        ctx.beginPath(); ctx.moveTo(px(a[0]), py(a[1])); ctx.lineTo(px(e[0]), py(e[1])); ctx.stroke();
        if (line.label) {
          const t = [0.15, 0.85].map((q) => [px(a[0] + q * (e[0] - a[0])), py(a[1] + q * (e[1] - a[1]))])
            .find(([u, v]) => u > 8 && u < size - 24 && v > 12 && v < size - 6);
          if (t) { ctx.setLineDash([]); ctx.font = "bold 13px system-ui, sans-serif";
                   ctx.lineWidth = 3; ctx.strokeStyle = "#fff"; ctx.strokeText(line.label, t[0] + 4, t[1] - 4);
                   ctx.fillStyle = "#111"; ctx.fillText(line.label, t[0] + 4, t[1] - 4); }
        }
      }
      ctx.setLineDash([]);
      x.forEach((p, n) => {
        const u = px(p[0]), v = py(p[1]), t = targets[n], ok = continuous || cls(f(p)) === t;
        correct += ok;
        ctx.fillStyle = CLASS[t % CLASS.length]; ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5;
        ctx.beginPath();
        if (t % 2 === 0) ctx.arc(u, v, 7, 0, 2 * Math.PI); else ctx.rect(u - 7, v - 7, 14, 14);
        ctx.fill(); ctx.stroke();
        if (n === ring) { ctx.strokeStyle = "#111"; ctx.lineWidth = 2.5; ctx.beginPath();
                          ctx.arc(u, v, 14, 0, 2 * Math.PI); ctx.stroke(); }
        if (!ok) { ctx.strokeStyle = "#000"; ctx.lineWidth = 2.5; ctx.beginPath();
                   ctx.moveTo(u - 11, v - 11); ctx.lineTo(u + 11, v + 11);
                   ctx.moveTo(u + 11, v - 11); ctx.lineTo(u - 11, v + 11); ctx.stroke(); }
      });
      ctx.fillStyle = "#333"; ctx.font = "12px system-ui, sans-serif";
      ctx.fillText("x1 \u2192", size - 40, size - 6);
      ctx.save(); ctx.translate(12, 40); ctx.rotate(-Math.PI / 2); ctx.fillText("x2 \u2192", 0, 0); ctx.restore();
      return correct;
    },
  };
}

// ---- the loss curve ------------------------------------------------------------------------
function Curve(parent, id, curve, steps, onSeek) {
  const W = 340, H = 230, m = {l: 64, r: 14, t: 12, b: 40};
  const box = h("figure", {class: "curve-box"});
  parent.append(box);
  const svg = s("svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
                        "aria-label": "Loss curve: the cost C against the training step"});
  box.append(svg);
  const pos = curve.loss.filter((v) => v > 0);
  const logBox = h("input", {type: "checkbox", id: id + "-log"});
  const canLog = pos.length === curve.loss.length;
  if (canLog && Math.max(...pos) / Math.min(...pos) > 100) logBox.checked = true;
  if (!canLog) logBox.disabled = true;
  box.append(h("figcaption", {}, "Loss C after each step (click to jump). ",
                h("label", {}, logBox, " log scale")));
  const g = s("g", {}, svg), marker = s("g", {}, svg);
  const vline = s("line", {stroke: "#888", "stroke-dasharray": "4 3"}, marker);
  const dot = s("circle", {r: 5, fill: NEG, stroke: "#fff", "stroke-width": 1.5}, marker);
  let ymap;
  const xmap = (k) => m.l + (steps ? k / steps : 0) * (W - m.l - m.r);
  function axes() {
    g.replaceChildren();
    const log = logBox.checked;
    const vals = log ? curve.loss.map(Math.log10) : curve.loss;
    let lo = log ? Math.min(...vals) : Math.min(0, ...vals), hi = Math.max(...vals);
    if (hi === lo) { hi += 1; lo -= log ? 1 : 0; }
    ymap = (v) => m.t + (1 - ((log ? Math.log10(v) : v) - lo) / (hi - lo)) * (H - m.t - m.b);
    s("rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, fill: "#fafafa", stroke: "#ccc"}, g);
    const pts = curve.step.map((k, n) => `${xmap(k).toFixed(1)},${ymap(curve.loss[n]).toFixed(1)}`);
    s("polyline", {points: pts.join(" "), fill: "none", stroke: POS, "stroke-width": 1.75}, g);
    const tick = (v) => log ? 10 ** v : v;
    [[lo, H - m.b], [hi, m.t + 10]].forEach(([v, yy]) =>
      s("text", {x: m.l - 6, y: yy, "text-anchor": "end", "font-size": 11, text: fmt(tick(v), 3)}, g));
    s("text", {x: m.l, y: H - m.b + 15, "font-size": 11, text: "0"}, g);
    s("text", {x: W - m.r, y: H - m.b + 15, "font-size": 11, "text-anchor": "end", text: String(steps)}, g);
    s("text", {x: (W + m.l) / 2, y: H - 6, "font-size": 12, "text-anchor": "middle", text: "training step"}, g);
    s("text", {x: 14, y: (H - m.b + m.t) / 2, "font-size": 12, "text-anchor": "middle",
               transform: `rotate(-90 14 ${(H - m.b + m.t) / 2})`, text: log ? "loss C (log)" : "loss C"}, g);
  }
  axes();
  let last = null;
  const self = {
    draw(step, loss) {
      last = [step, loss];
      vline.setAttribute("x1", xmap(step)); vline.setAttribute("x2", xmap(step));
      vline.setAttribute("y1", m.t); vline.setAttribute("y2", H - m.b);
      dot.setAttribute("cx", xmap(step)); dot.setAttribute("cy", ymap(loss));
    },
  };
  logBox.addEventListener("change", () => { axes(); if (last) self.draw(...last); });
  svg.addEventListener("click", (ev) => {
    const r = svg.getBoundingClientRect();
    const frac = clamp(((ev.clientX - r.left) * W / r.width - m.l) / (W - m.l - m.r), 0, 1);
    onSeek(frac * steps);
  });
  return self;
}

// ---- the network diagram -----------------------------------------------------------------
function Diagram(parent, D, names, weights) {
  const sizes = D.sizes, L = sizes.length, maxN = Math.max(...sizes);
  const gap = maxN > 8 ? 34 : maxN > 4 ? 72 : 112, r = maxN > 8 ? 12 : 23;
  const W = Math.max(460, 180 * (L - 1) + 120), H = Math.max(220, gap * maxN + 70);
  const X = (l) => 60 + l * (W - 120) / (L - 1);
  const Y = (l, j) => H / 2 + (j - (sizes[l] - 1) / 2) * gap + 6;
  const svg = s("svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
                        "aria-label": `Network diagram, layers ${sizes.join("-")}: circles are units, ` +
                          "lines are weights; line width shows the size of a weight, a solid line a " +
                          "positive weight and a dashed line a negative one"});
  const fig = h("figure", {}, svg);
  parent.append(fig);
  const legend = h("div", {class: "legend"});
  const key = (label, color, dash) => {
    const k = s("svg", {width: 36, height: 10, "aria-hidden": "true"});
    s("line", {x1: 2, y1: 5, x2: 34, y2: 5, stroke: color, "stroke-width": 3, "stroke-dasharray": dash}, k);
    legend.append(h("span", {}, k, " " + label));
  };
  key("positive weight (solid)", POS, "none");
  key("negative weight (dashed)", NEG, "6 4");
  legend.append(h("span", {text: "width \u221d |w|; inside a unit: a; below it: \u03b4"}));
  fig.append(h("figcaption", {}, legend));
  let wmax = 1e-12;
  for (const f of D.frames) for (const layer of f.params) for (const row of layer.W)
    for (const v of row) wmax = Math.max(wmax, Math.abs(v));
  const labels = weights.length <= 12;
  const edges = weights.map((w) => {
    const x1 = X(w.l), y1 = Y(w.l, w.i), x2 = X(w.l + 1), y2 = Y(w.l + 1, w.j);
    const d = Math.hypot(x2 - x1, y2 - y1), ux = (x2 - x1) / d, uy = (y2 - y1) / d;
    const line = s("line", {x1: x1 + ux * r, y1: y1 + uy * r, x2: x2 - ux * r, y2: y2 - uy * r,
                            "stroke-linecap": "round"}, svg);
    const title = s("title", {}, line);
    const label = labels ? s("text", {"font-size": 11, "text-anchor": "middle", class: "halo edge-label"}, svg) : null;
    return {line, title, label, at: (t) => [x1 + t * (x2 - x1), y1 + t * (y2 - y1) + 4]};
  });
  const units = sizes.map((n, l) => range(n).map((j) => {
    const cx = X(l), cy = Y(l, j);
    const g = s("g", {}, svg);
    const circle = s("circle", {cx, cy, r, stroke: "#333", "stroke-width": 1.5}, g);
    const title = s("title", {}, circle);
    const a = s("text", {x: cx, y: cy + 4, "font-size": r > 15 ? 11 : 8, "text-anchor": "middle"}, g);
    const name = s("text", {x: cx, y: cy - r - (l ? 18 : 5), "font-size": 12, "font-weight": "bold",
                            "text-anchor": "middle", text: names[l][j]}, g);
    const b = l ? s("text", {x: cx, y: cy - r - 4, "font-size": 10, "text-anchor": "middle", class: "halo"}, g) : null;
    const delta = l ? s("text", {x: cx, y: cy + r + 13, "font-size": 10, "text-anchor": "middle", class: "halo"}, g) : null;
    return {circle, title, a, b, delta, name, cx, cy};
  }));
  // No two labels overlap: each unit's a is set in smaller type until it fits its circle;
  // a unit's b and delta labels and then each edge label take the first free place (an edge
  // label slides along its edge); a label with no free place is hidden -- its numbers stay
  // in the tooltip and the tables.
  function layout() {
    const boxes = [], pad = 0.5;
    const hit = (b) => boxes.some((o) => b.x - pad < o.x + o.width && o.x < b.x + b.width + pad &&
                                         b.y - pad < o.y + o.height && o.y < b.y + b.height + pad);
    const take = (el) => {
      el.removeAttribute("visibility");
      const b = el.getBBox();
      if (b.width && hit(b)) { el.setAttribute("visibility", "hidden"); return false; }
      boxes.push(b);
      return true;
    };
    units.flat().forEach((u) => {
      let size = r > 15 ? 11 : 8;
      u.a.setAttribute("font-size", size);
      while (size > 5 && u.a.getComputedTextLength() > 2 * r - 6) { size -= 0.5; u.a.setAttribute("font-size", size); }
      boxes.push({x: u.cx - r, y: u.cy - r, width: 2 * r, height: 2 * r});
      boxes.push(u.name.getBBox());
    });
    units.flat().forEach((u) => { if (u.b) take(u.b); if (u.delta) take(u.delta); });
    for (const e of edges) {
      if (!e.label) continue;
      const placed = [0.3, 0.7, 0.5, 0.22, 0.78, 0.4, 0.6].some((t) => {
        const [x, y] = e.at(t);
        e.label.setAttribute("x", x.toFixed(1));
        e.label.setAttribute("y", y.toFixed(1));
        return take(e.label);
      });
      if (!placed) e.label.setAttribute("visibility", "hidden");
    }
  }
  return {
    draw(frame, n, showGrads) {
      weights.forEach((w, k) => {
        const v = frame.params[w.l].W[w.i][w.j], gr = frame.grads[w.l].W[w.i][w.j], e = edges[k];
        e.line.setAttribute("stroke", v >= 0 ? POS : NEG);
        e.line.setAttribute("stroke-dasharray", v >= 0 ? "none" : "7 4");
        e.line.setAttribute("stroke-width", (0.75 + 7 * Math.abs(v) / wmax).toFixed(2));
        e.line.setAttribute("stroke-opacity", (0.45 + 0.55 * Math.abs(v) / wmax).toFixed(2));
        e.title.textContent = `${w.name} (${w.from} \u2192 ${w.to}) = ${fmt(v)}; dC/d${w.name} = ${fmt(gr)}`;
        if (e.label) e.label.textContent = showGrads ? "\u2202 " + fmt(gr, 3) : w.name + " " + fmt(v, 3);
      });
      sizes.forEach((size, l) => range(size).forEach((j) => {
        const u = units[l][j], a = frame.activations[l][n][j];
        const t = shadeOf(D.activations[l - 1], a);
        u.circle.setAttribute("fill", `hsl(45, 90%, ${(97 - 40 * t).toFixed(1)}%)`);
        u.a.textContent = fmt(a, 3);
        if (l === 0) { u.title.textContent = `${names[l][j]}: input x = ${fmt(a)}`; return; }
        const z = frame.zs[l - 1][n][j], d = frame.deltas[l - 1][n][j];
        const b = frame.params[l - 1].b[j], gb = frame.grads[l - 1].b[j];
        u.b.textContent = showGrads ? "\u2202b " + fmt(gb, 3) : "b " + fmt(b, 3);
        u.delta.textContent = "\u03b4 " + fmt(d, 3);
        u.title.textContent = `${names[l][j]}: z = ${fmt(z)}, a = ${fmt(a)}, delta = ${fmt(d)}, ` +
                              `b = ${fmt(b)}, dC/db = ${fmt(gb)}`;
      }));
      layout();
    },
  };
}
function shadeOf(act, a) {   // where a lies in its activation's range, for the unit's shade
  if (act === "tanh") return clamp((a + 1) / 2, 0, 1);
  if (act === "sigmoid" || act === "softmax") return clamp(a, 0, 1);
  return clamp(Math.abs(a) / 4, 0, 1);
}

// ---- tables of numbers ---------------------------------------------------------------------
function table(parent, caption, heads) {
  const tbody = h("tbody");
  const t = h("table", {}, h("caption", {text: caption}),
              h("thead", {}, h("tr", {}, ...heads.map((x) => h("th", {scope: "col", text: x})))), tbody);
  parent.append(t);
  return tbody;
}
function Tables(parent, prefix, D, names, weights) {
  const box = h("div", {class: "tables"});
  parent.append(box);
  const exact = D.update !== "as_published";
  const r32 = D.dtype === "float32" ? Math.fround : (v) => v;
  const next = (v, g, on) => on ? fmt(r32(v - r32(r32(D.lr) * g))) : "frozen";
  const ut = table(box, "Units: z, a and \u03b4 for the selected sample; the bias gradient " +
                   "(BP3) is the batch mean of \u03b4", ["unit", "z", "a = \u03c3(z)",
                   "\u03b4 = \u2202C\u2093/\u2202z", "b", "\u2202C/\u2202b", ...(exact ? ["b \u2212 \u03b7\u00b7\u2202C/\u2202b"] : [])]);
  const cell = (row, id) => { const c = h("td", {id}); row.append(c); return c; };
  const unitCells = [];
  D.sizes.forEach((n, l) => range(n).forEach((j) => {
    const name = names[l][j], id = `${prefix}-${name}`;
    const row = h("tr", {}, h("th", {scope: "row", text: name + (l ? "" : " (input)")}));
    ut.append(row);
    const c = {l, j, z: cell(row, id + "-z"), a: cell(row, id + "-a"), delta: cell(row, id + "-delta"),
               b: cell(row, id + "-b"), gb: cell(row, id + "-gb"), next: exact ? cell(row, id + "-bnext") : null};
    if (!l) for (const k of ["z", "delta", "b", "gb", "next"]) if (c[k]) c[k].textContent = "\u2014";
    unitCells.push(c);
  }));
  const wt = table(box, "Weights: value and gradient dC/dw (BP4)" + (exact ? ", and the weight after this step's update" : ""),
                   ["weight", "connects", "w", "\u2202C/\u2202w", ...(exact ? ["w \u2212 \u03b7\u00b7\u2202C/\u2202w"] : [])]);
  const weightCells = weights.map((w) => {
    const id = `${prefix}-${w.name}`;
    const row = h("tr", {}, h("th", {scope: "row", text: w.name}), h("td", {text: `${w.from} \u2192 ${w.to}`}));
    wt.append(row);
    return {w, value: cell(row, id + "-value"), grad: cell(row, id + "-grad"),
            next: exact ? cell(row, id + "-next") : null};
  });
  return {
    draw(frame, n) {
      for (const c of unitCells) {
        const {l, j} = c;
        c.a.textContent = fmt(frame.activations[l][n][j]);
        if (!l) continue;
        const b = frame.params[l - 1].b[j], gb = frame.grads[l - 1].b[j];
        c.z.textContent = fmt(frame.zs[l - 1][n][j]);
        c.delta.textContent = fmt(frame.deltas[l - 1][n][j]);
        c.b.textContent = fmt(b); c.gb.textContent = fmt(gb);
        if (c.next) c.next.textContent = next(b, gb, D.trainable[l - 1].b);
      }
      for (const c of weightCells) {
        const {l, i, j} = c.w, v = frame.params[l].W[i][j], g = frame.grads[l].W[i][j];
        c.value.textContent = fmt(v); c.grad.textContent = fmt(g);
        if (c.next) c.next.textContent = next(v, g, D.trainable[l].W);
      }
    },
  };
}

// ---- a whole network view -----------------------------------------------------------------
// float32 runs are embedded as shortest float32 reprs; fround restores the exact values.
const F32 = (o) => Array.isArray(o) ? o.map(F32) : typeof o === "number" ? Math.fround(o) :
  o && typeof o === "object" ? Object.fromEntries(Object.entries(o).map(([k, v]) =>
    [k, k === "step" ? v : F32(v)])) : o;
function NetView(prefix, D, slots) {
  if (D.dtype === "float32") { D.frames = F32(D.frames); D.curve.loss = F32(D.curve.loss); }
  const names = unitNames(D.sizes), weights = weightList(D.sizes, names);
  const steps = D.frames.map((f) => f.step);
  const sample = h("select", {id: prefix + "-sample"});
  D.samples.forEach((n) => sample.append(h("option", {value: String(n),
    text: `#${n + 1}: x = (${D.x[n].map((v) => fmt(v, 4)).join(", ")})`})));
  const gradBox = h("input", {type: "checkbox", id: prefix + "-show-grads"});
  const options = h("div", {class: "options"},
    h("label", {for: prefix + "-sample", text: "Sample shown in the diagram and the unit table:"}), sample,
    h("label", {}, gradBox, " show gradients \u2202C/\u2202w, \u2202C/\u2202b on the diagram"));
  const status = h("p", {class: "status", id: prefix + "-status"});
  let player;
  const seek = (k) => {                       // nearest recorded frame to step k
    let best = 0;
    steps.forEach((v, f) => { if (Math.abs(v - k) < Math.abs(steps[best] - k)) best = f; });
    player.pause(); player.set(best);
  };
  const hasPlane = D.sizes[0] === 2;
  const labelled = D.y.every((row) => row.every((v) => v === 0 || v === 1));  // 0/1 targets
  let plane = null, diagram, tables, curve;
  const info = h("span", {id: prefix + "-loss"}), acc = h("span", {id: prefix + "-correct"});
  const heading = h("h3", {id: prefix + "-numbers"});
  function draw(f) {
    const frame = D.frames[f], n = +sample.value;
    info.textContent = `loss C = ${fmt(frame.loss)}`;
    heading.textContent = `The numbers at step ${frame.step} (from jaxbp.trace)`;
    if (plane) {
      const lines = D.sizes.length > 2 || D.sizes[1] === 1 ? range(D.sizes[1]).map((j) => ({
        w: [frame.params[0].W[0][j], frame.params[0].W[1][j]], b: frame.params[0].b[j],
        label: names[1][j], solid: D.sizes.length === 2})) : [];
      const correct = plane.draw((p) => forward(frame.params, D.activations, p), lines);
      if (labelled) acc.textContent = `; classified right: ${correct} of ${D.x.length}`;
    }
    diagram.draw(frame, n, gradBox.checked);
    tables.draw(frame, n);
    curve.draw(frame.step, frame.loss);
  }
  player = Player(slots.controls, prefix, slots.label || "Training step", D.frames.length,
                  (f) => `step ${steps[f]} of ${D.steps}`, draw);
  slots.controls.append(options, status);
  status.append(info, acc);
  if (hasPlane) plane = Plane(slots.plane, D.x, D.y, slots.planeCaption || (labelled ?
    "Decision regions of the network's output on a 40\u00d740 grid, with the data (circles: " +
    "class 0 or low target, squares: class 1 or high target; a cross marks a point the " +
    "network gets wrong). Dashed lines: where each first-layer unit's z is 0." :
    `The network's first output ${names[D.sizes.length - 1][0]} over the input plane ` +
    "(a 40\u00d740 grid around the data; the targets are numbers, not classes, so there are " +
    "no decision regions), with the data. Dashed lines: where each first-layer unit's z is 0."), !labelled);
  diagram = Diagram(slots.diagram, D, names, weights);
  curve = Curve(slots.curve, prefix, D.curve, D.steps, seek);
  slots.tables.append(heading);
  tables = Tables(slots.tables, prefix, D, names, weights);
  sample.addEventListener("change", () => draw(player.i));
  gradBox.addEventListener("change", () => draw(player.i));
  player.set(slots.atEnd ? D.frames.length - 1 : 0);
  return player;
}

// ---- the perceptron on the gates page ----------------------------------------------------------
function PerceptronView(parent, G) {
  const P = G.perceptron, S = P.states, n = S.length;
  const describe = (k) => S[k].sample === null ? `final weights after ${P.epochs} epochs` :
    `epoch ${S[k].epoch}, sample ${S[k].sample + 1} of ${G.x.length}`;
  // A cycle: the final state equals the state at the start of epoch cycle_start + 1, so
  // playing goes on from the state after it, forever.
  const player = Player(parent, "perceptron", "Perceptron update", n, describe, draw,
                        P.cycled ? G.x.length * P.cycle_start + 1 : null);
  const status = h("p", {class: "status", id: "perceptron-status"});
  const verdict = h("p", {class: "status", id: "perceptron-verdict", text: P.converged ?
    `Converged: epoch ${P.epochs} made no mistake.` : P.cycled ?
    `Never converges: the weights after epoch ${P.epochs} equal those at the start of epoch ` +
    `${P.cycle_start + 1}, so from there the same updates repeat forever (Play loops them).` :
    `Not converged after ${P.epochs} epochs.`});
  parent.append(status, verdict);
  const plane = Plane(parent, G.x, G.y, "The perceptron's line w\u00b7x + b = 0 (solid) and " +
    "its prediction step(w\u00b7x + b) (orange 0, purple 1) before the update; the sample about " +
    "to be presented is ringed; a cross marks a point it gets wrong.");
  function draw(k) {
    const st = S[k], w = st.w, b = st.b;
    const f = (p) => [w[0] * p[0] + w[1] * p[1] + b > 0 ? 1 : 0];
    const correct = plane.draw(f, [{w, b, solid: true, label: ""}], st.sample);
    let text = `w = (${fmt(w[0], 4)}, ${fmt(w[1], 4)}), b = ${fmt(b, 4)}; classified right: ` +
      `${correct} of ${G.x.length}.`;
    if (st.sample !== null) {
      const x = G.x[st.sample], miss = st.target !== st.predicted;
      const op = st.target > st.predicted ? "+=" : "\u2212=";
      text += ` Presenting x = (${x.join(", ")}), target ${st.target}: it says ${st.predicted}` +
        (miss ? `, so w ${op} x and b ${op} 1.` : ", no update.");
    }
    status.textContent = text;
  }
  player.set(n - 1);   // opens on the outcome: converged, or the cycle's end
  return player;
}

// ---- pages ------------------------------------------------------------------------------------------
function notes(list) {
  const box = document.getElementById("notes");
  for (const t of list || []) box.append(h("p", {class: "note", text: t}));
}
function meta(D) {
  const acts = D.activations.join(", ");
  return `Layers ${D.sizes.join("-")} (${acts}), cost ${D.cost}, learning rate ${D.lr}` +
    (D.l2 ? `, L2 ${D.l2}` : "") + `, ${D.steps} steps of gradient descent, ` +
    `${D.frames.length} recorded frames, ${D.dtype}.` + (D.update === "as_published" ?
    " Updates as published: output layer first, then the hidden layer with the new weights." : "");
}
function netPage(app, D) {
  notes(D.notes);
  app.append(h("p", {class: "meta", text: meta(D)}));
  const controls = h("div"), views = h("div", {class: "views"});
  const diagram = h("div"), plane = h("div"), curve = h("div"), tables = h("div");
  views.append(diagram, ...(D.sizes[0] === 2 ? [plane] : []), curve);
  app.append(controls, views, tables);
  NetView("net", D, {controls, diagram, plane, curve, tables});
}
function gatesPage(app, G) {
  notes(G.notes);
  const D = G.net;
  const side = h("div", {class: "side"});
  const left = h("section", {"aria-labelledby": "perceptron-h"},
                 h("h2", {id: "perceptron-h", text: "Perceptron (no hidden layer)"}));
  const right = h("section", {"aria-labelledby": "net-h"},
                  h("h2", {id: "net-h", text: `Network ${D.sizes.join("-")} with a hidden layer`}));
  side.append(left, right);
  const controls = h("div"), plane = h("div");
  right.append(controls, plane);
  const details = h("section", {"aria-labelledby": "details-h"},
                    h("h2", {id: "details-h", text: "Inside the network at the selected step"}),
                    h("p", {class: "meta", text: meta(D)}));
  const views = h("div", {class: "views"}), diagram = h("div"), curve = h("div"), tables = h("div");
  views.append(diagram, curve);
  details.append(views, tables);
  app.append(side, details);
  PerceptronView(left, G);
  NetView("net", D, {controls, diagram, plane, curve, tables,
    atEnd: true,
    planeCaption: "The network's output on a 40\u00d740 grid (orange low, purple high) with the " +
      "data; dashed lines: where each hidden unit's z is 0 -- the lines it carves the plane with."});
}
// All six gates in one page: a picker rebuilds the two panels for the chosen gate.
function gatesPicker(app, A) {
  const picker = h("select", {id: "gate-picker"});
  for (const name of Object.keys(A.pages)) picker.append(h("option", {value: name, text: name.toUpperCase()}));
  picker.value = A.gate;
  const body = h("div");
  app.append(h("div", {class: "options"}, h("label", {for: "gate-picker", text: "Logic gate:"}), picker), body);
  const show = (name) => {
    PLAYERS.forEach((p) => p.pause());
    PLAYERS.length = 0;
    body.textContent = "";
    document.getElementById("notes").textContent = "";
    document.querySelector("h1").textContent = document.title = A.pages[name].title;
    gatesPage(body, A.pages[name]);
  };
  picker.addEventListener("change", () => show(picker.value));
  show(A.gate);
}
const app = document.getElementById("app");
if (DATA.pages) gatesPicker(app, DATA); else if (DATA.perceptron) gatesPage(app, DATA); else netPage(app, DATA);
document.body.setAttribute("data-ready", "true");
})();
