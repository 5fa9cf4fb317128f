"use strict";
// Shared by the jaxbp pages (the replay page of jaxbp.viz and the live playground): building
// DOM and SVG elements, and printing numbers. The pages contain no URL: the SVG namespace is
// read from the page's inline <svg id="svg-ns">.
const VIZ = (function () {
// h("div", {class: "x", text: "...", onclick: f}, child, ...): an HTML element
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") el.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const k of kids) el.append(k);
  return el;
}
// s("line", {x1: ...}, parent): an SVG element, appended to parent if given
function s(tag, attrs, parent) {
  const el = document.createElementNS(document.getElementById("svg-ns").namespaceURI, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") el.textContent = v; else el.setAttribute(k, v);
  }
  if (parent) parent.append(el);
  return el;
}
// Like Python's format(v, "#.{p}g"): p significant digits, trailing zeros kept.
function fmt(v, p = 9) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return (0).toFixed(p - 1);
  const [m, ex] = v.toExponential(p - 1).split("e");
  const e = parseInt(ex, 10);
  if (e < -4 || e >= p) return m + "e" + (e < 0 ? "-" : "+") + String(Math.abs(e)).padStart(2, "0");
  return v.toFixed(p - 1 - e);
}
const range = (n) => Array.from({length: n}, (_, i) => i);
const mix = (c0, c1, t) => c0.map((c, i) => Math.round(c + (c1[i] - c) * t));
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
return {h, s, fmt, range, mix, clamp};
})();
