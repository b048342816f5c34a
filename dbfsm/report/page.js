(() => {
"use strict";
const svg = document.getElementById("tl-svg");
const box = svg.parentNode;
const D = JSON.parse(document.getElementById("tl-data").textContent);
const NS = "http://www.w3.org/2000/svg";
const END = D.end, ML = D.ml, MR = D.mr, H = D.height;
const MIN = Math.max(END / (D.buckets ? D.buckets / 4 : 1e5), 1e-3);
const zoomG = svg.querySelector(".zoom");
const axis = svg.querySelector(".axis");
const rows = Array.from(svg.querySelectorAll(".row"));
const clip = document.getElementById("r-clip-rect");
const tip = document.getElementById("tip");
let t0 = 0, t1 = END, W = 0, k = 1, pinned = null;

const STEPS = [];
for (let e = -3; e < 2; e++) for (const m of [1, 2, 5]) STEPS.push(m * Math.pow(10, e));
STEPS.push(60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
           172800, 604800, 1209600, 2419200);

function pad(n, w) { return String(n).padStart(w, "0"); }
function tick(t, step) {
  if (step >= 60) {
    const s = Math.round(t), h = Math.floor(s / 3600);
    return h + ":" + pad(Math.floor(s % 3600 / 60), 2) + ":" + pad(s % 60, 2);
  }
  const d = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return t.toFixed(d) + " s";
}
function clock(t, step) {
  let s = (D.wall + t) % 86400;
  const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
  const frac = step < 1 ? (sec.toFixed(3).padStart(6, "0")) : pad(Math.floor(sec), 2);
  return pad(h, 2) + ":" + pad(m, 2) + ":" + frac;
}
function el(name, attrs, text) {
  const n = document.createElementNS(NS, name);
  for (const a in attrs) n.setAttribute(a, attrs[a]);
  if (text !== undefined) n.textContent = text;
  return n;
}
function drawAxis() {
  const span = t1 - t0, pw = W - ML - MR;
  const step = STEPS.find((s) => s * pw / span >= 90) || STEPS[STEPS.length - 1];
  const top = +axis.dataset.top, y = +axis.dataset.y, wall = axis.dataset.wall === "1";
  axis.replaceChildren();
  for (let i = Math.ceil(t0 / step - 1e-9); i * step <= t1 + 1e-9; i++) {
    const t = i * step, px = ML + (t - t0) * k, x = px.toFixed(1);
    const cls = "tick" + (px - ML < 30 ? " first" : W - MR - px < 30 ? " last" : "");
    axis.append(el("line", {class: "grid", x1: x, x2: x, y1: top, y2: y + 4}));
    axis.append(el("text", {class: cls, x: x, y: y + 16}, tick(t, step)));
    if (wall && D.wall !== null) {
      axis.append(el("text", {class: cls, x: x, y: y + 29}, clock(t, step)));
    }
  }
}
function layout() {
  W = Math.max(260, Math.floor(box.clientWidth));
  svg.setAttribute("width", W);
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  clip.setAttribute("width", W - ML - MR + 16);
  k = (W - ML - MR) / (t1 - t0);
  zoomG.setAttribute("transform", "matrix(" + k + " 0 0 1 " + (ML - t0 * k) + " 0)");
  for (const row of rows) {
    let last = -Infinity, prev = -Infinity, closest = Infinity;
    for (const m of row.children) {
      const x = ML + (+m.dataset.t - t0) * k;
      m.setAttribute("transform", "translate(" + x.toFixed(2) + " 0)");
      if (x >= ML - 8 && x <= W - MR + 8) {
        if (x - prev > 0.01) closest = Math.min(closest, x - prev);
        prev = x;
      }
      const lb = m.querySelector(".lb");
      if (!lb) continue;
      const command = lb.classList.contains("cl");
      const gap = command ? 6.5 * lb.textContent.length + 14 : 30;
      const show = x >= ML - 4 && x <= W - MR + 4 && x - last >= gap;
      lb.style.display = show ? "" : "none";
      if (show) last = x;
      if (command) {
        const left = x + gap > W - MR;
        lb.classList.toggle("left", left);
        lb.setAttribute("x", left ? -9 : 9);
      }
    }
    // Marks closer than their size are drawn smaller, down to half (zoom in to part them).
    const scale = Math.max(0.5, Math.min(1, closest / 14));
    for (const u of row.querySelectorAll("use")) {
      u.setAttribute("transform", scale < 1 ? "scale(" + scale.toFixed(2) + ")" : "");
    }
  }
  const ex = svg.querySelector("[data-exit]");
  if (ex) {
    const x = ML + (+ex.dataset.t - t0) * k, left = x > W - 90;
    ex.setAttribute("transform", "translate(" + x.toFixed(2) + " 0)");
    const inside = x >= ML - 4 && x <= W - MR + 4;
    for (const part of ex.querySelectorAll("rect, text")) {
      part.style.display = inside ? "" : "none";  // out of the window shown: clipped anyway
    }
    ex.querySelector("rect").setAttribute("x", left ? -58 : 4);
    ex.querySelector("text").setAttribute("x", left ? -31 : 31);
  }
  drawAxis();
  for (const hd of svg.querySelectorAll("text.hd")) {
    const opt = Array.from(hd.querySelectorAll(".opt"));
    for (const o of opt) o.style.display = "";
    const room = W - ML - MR;
    for (let i = opt.length - 1; i >= 0 && hd.getComputedTextLength() > room; i--) {
      opt[i].style.display = "none";
    }
    const name = hd.querySelector(".name");
    if (!name) continue;
    if (name.dataset.full === undefined) name.dataset.full = name.textContent;
    const full = name.dataset.full;
    name.textContent = full;
    for (let n = full.length - 1; n > 1 && hd.getComputedTextLength() > room; n--) {
      name.textContent = full.slice(0, n) + "\u2026";  // the whole name: in data-lane
    }
  }
}
function clampWindow() {
  let span = Math.min(Math.max(t1 - t0, MIN), END);
  if (t0 < 0) t0 = 0;
  if (t0 + span > END) t0 = END - span;
  t1 = t0 + span;
}
function tAt(clientX) {
  const r = svg.getBoundingClientRect();
  return t0 + (clientX - r.left - ML) / k;
}
function zoomBy(f, tc) {
  if (tc === undefined) tc = (t0 + t1) / 2;
  const span = Math.min(Math.max((t1 - t0) * f, MIN), END);
  t0 = tc - (tc - t0) * span / (t1 - t0);
  t1 = t0 + span;
  clampWindow();
  layout();
}
svg.addEventListener("wheel", (e) => {
  e.preventDefault();
  zoomBy(Math.exp(e.deltaY * 0.0015), tAt(e.clientX));
}, {passive: false});
let drag = null;  // a press: a drag on the timeline pans it; a press that does not move clicks
document.addEventListener("pointerdown", (e) => {
  drag = {x: e.clientX, t0: t0, moved: false, pan: svg.contains(e.target)};
});
window.addEventListener("pointermove", (e) => {
  if (!drag || !drag.pan) return;
  const dx = e.clientX - drag.x;
  if (Math.abs(dx) > 3) { drag.moved = true; svg.classList.add("drag"); }
  if (drag.moved) {
    const span = t1 - t0;
    t0 = drag.t0 - dx / k;
    t1 = t0 + span;
    clampWindow();
    layout();
  }
});
window.addEventListener("pointerup", (e) => {
  const d = drag;
  drag = null;
  svg.classList.remove("drag");
  if (d && !d.moved) click(e);
});
document.getElementById("zin").onclick = () => zoomBy(0.5);
document.getElementById("zout").onclick = () => zoomBy(2);
document.getElementById("zfit").onclick = () => { t0 = 0; t1 = END; layout(); };
svg.addEventListener("dblclick", (e) => zoomBy(0.5, tAt(e.clientX)));

function when(t) {
  let s = t.toFixed(3) + " s";
  if (D.wall !== null) s += " (" + clock(t, 0.001) + ")";
  return s;
}
function show(target, e) {
  const m = D.marks[+target.dataset.i];
  if (!m) return;
  tip.replaceChildren();
  const h = document.createElement("b");
  h.textContent = m[0];
  const sub = document.createElement("div");
  sub.className = "when";
  sub.textContent = m[1];
  tip.append(h, sub);
  for (const [t, i] of m[2]) {
    const [id, sev, text] = D.texts[i];
    const rec = document.createElement("div");
    rec.className = "rec";
    const head = document.createElement("div");
    head.className = "head";
    const at = document.createElement("span");
    at.textContent = when(t) + " ";
    const what = document.createElement("span");
    what.className = "sev-" + sev;
    what.textContent = sev + " " + id;
    head.append(at, what);
    const body = document.createElement("div");
    body.className = "text";
    body.textContent = text;
    rec.append(head, body);
    tip.append(rec);
  }
  if (m[3]) {
    const more = document.createElement("div");
    more.textContent = "and " + m[3] + " more";
    tip.append(more);
  }
  tip.style.display = "block";
  // Fixed to the window, beside the pointer and inside the window (a phone: at its foot).
  const vw = document.documentElement.clientWidth, vh = window.innerHeight;
  const w = tip.offsetWidth, hh = tip.offsetHeight, x = e.clientX, y = e.clientY;
  let left = x + 12, top = y + 16;
  if (top + hh > vh) top = y - hh - 12;  // above the pointer
  if (top < 4) {  // neither: beside it
    top = Math.max(4, vh - hh - 4);
    left = x + 16 + w < vw ? x + 16 : x - w - 16;
  }
  tip.style.left = Math.max(4, Math.min(left, vw - w - 4)) + "px";
  tip.style.top = top + "px";
}
function hide() { tip.style.display = "none"; }
function mark(e) {
  const t = e.target;
  return t && t.closest ? t.closest("[data-i]") : null;
}
svg.addEventListener("pointerover", (e) => { const m = mark(e); if (m && !pinned && !drag) show(m, e); });
svg.addEventListener("pointerout", (e) => { if (!pinned && mark(e)) hide(); });
function click(e) {
  if (tip.contains(e.target)) return;  // reading (or selecting) the records shown
  const m = mark(e);
  if (pinned) pinned.classList.remove("on");
  if (m && m !== pinned) { pinned = m; m.classList.add("on"); show(m, e); }
  else { pinned = null; hide(); }
}
document.addEventListener("keydown", (e) => { if (e.key === "Escape") { pinned = null; hide(); } });
window.addEventListener("resize", layout);
layout();
document.documentElement.dataset.ready = "true";
})();
