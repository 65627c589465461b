// Small SVG charts for the operator dashboard: lines over time, bars with their values,
// intervals (an estimate with its confidence interval) and progress. Each function returns an
// <svg> element; nothing here knows about recsys.

const NS = "http://www.w3.org/2000/svg";
export const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(width, height, label) {
  return el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width: "100%",
    role: "img",
    "aria-label": label || "chart",
    class: "chart",
    preserveAspectRatio: "xMidYMid meet",
  });
}

/** Round numbers for axis ticks between lo and hi. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

export const fmt = {
  pct: (v, d = 1) => (v == null || !isFinite(v) ? "–" : `${(v * 100).toFixed(d)}%`),
  num: (v) => (v == null ? "–" : Number(v).toLocaleString("en-GB", { maximumFractionDigits: 2 })),
  ms: (v) => (v == null ? "–" : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`),
  money: (v) => (v == null ? "–" : `£${Number(v).toLocaleString("en-GB", { maximumFractionDigits: 2 })}`),
};

function legend(root, names, x, y, width) {
  let cx = x;
  let cy = y;
  names.forEach((name, i) => {
    const w = 22 + name.length * 7;
    if (cx + w > x + width) {
      cx = x;
      cy += 16;
    }
    root.append(el("rect", { x: cx, y: cy - 9, width: 10, height: 10, rx: 2, fill: PALETTE[i % PALETTE.length] }));
    root.append(el("text", { x: cx + 14, y: cy, class: "legend" }, name));
    cx += w;
  });
  return cy;
}

/**
 * Lines over a shared x axis. series: [{name, points: [[x, y|null], ...]}]; x are labels
 * (e.g. dates) in order. yFormat formats the axis and the point titles.
 */
export function lineChart({ labels, series, yFormat = fmt.num, height = 220, title, yMax }) {
  const W = 560;
  const H = height;
  const m = { l: 52, r: 12, t: 26, b: 40 };
  const root = svg(W, H, title);
  const values = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v != null && isFinite(v));
  const hi = yMax ?? Math.max(1e-9, ...values) * 1.1;
  const ys = ticks(0, hi, 4);
  const top = Math.max(hi, ys[ys.length - 1]);
  const X = (i) => m.l + (labels.length <= 1 ? (W - m.l - m.r) / 2 : (i * (W - m.l - m.r)) / (labels.length - 1));
  const Y = (v) => H - m.b - (v / top) * (H - m.t - m.b);
  if (title) root.append(el("text", { x: m.l, y: 14, class: "title" }, title));
  for (const v of ys) {
    root.append(el("line", { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v), class: "grid" }));
    root.append(el("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end", class: "axis" }, yFormat(v)));
  }
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((lab, i) => {
    if (i % every === 0 || i === labels.length - 1) {
      root.append(el("text", { x: X(i), y: H - m.b + 16, "text-anchor": "middle", class: "axis" }, String(lab)));
    }
  });
  series.forEach((s, k) => {
    const color = PALETTE[k % PALETTE.length];
    let d = "";
    let pen = false;
    s.points.forEach(([, v], i) => {
      if (v == null || !isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${X(i).toFixed(1)},${Y(v).toFixed(1)}`;
      pen = true;
    });
    if (d) root.append(el("path", { d, fill: "none", stroke: color, "stroke-width": 2.2, class: "line" }));
    s.points.forEach(([lab, v], i) => {
      if (v == null || !isFinite(v)) return;
      const dot = el("circle", { cx: X(i), cy: Y(v), r: 3.2, fill: color });
      dot.append(el("title", {}, `${s.name} · ${lab}: ${yFormat(v)}`));
      root.append(dot);
    });
  });
  if (!values.length) root.append(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "no data yet"));
  legend(root, series.map((s) => s.name), m.l, H - 8, W - m.l - m.r);
  return root;
}

/**
 * Horizontal bars, each with its value written at its end. rows: [{label, value, color?,
 * note?}]; a shared scale from 0 (or max given).
 */
export function barChart({ rows, format = fmt.num, title, max, barHeight = 22, width = 560 }) {
  const longest = Math.max(0, ...rows.map((r) => String(r.note || "").length));
  const m = { l: 170, r: 70 + longest * 6.2, t: title ? 26 : 8, b: 8 };
  const H = m.t + m.b + rows.length * (barHeight + 8);
  const root = svg(width, Math.max(H, 40), title);
  if (title) root.append(el("text", { x: 4, y: 14, class: "title" }, title));
  const top = max ?? Math.max(1e-9, ...rows.map((r) => r.value || 0));
  rows.forEach((r, i) => {
    const y = m.t + i * (barHeight + 8);
    const w = Math.max(0, ((r.value || 0) / top) * (width - m.l - m.r));
    root.append(el("text", { x: m.l - 8, y: y + barHeight * 0.68, "text-anchor": "end", class: "label" }, r.label));
    root.append(el("rect", { x: m.l, y, width: width - m.l - m.r, height: barHeight, class: "track", rx: 3 }));
    const bar = el("rect", { x: m.l, y, width: w, height: barHeight, rx: 3, fill: r.color || PALETTE[i % PALETTE.length] });
    bar.append(el("title", {}, `${r.label}: ${format(r.value)}${r.note ? ` (${r.note})` : ""}`));
    root.append(bar);
    root.append(el("text", { x: m.l + w + 6, y: y + barHeight * 0.68, class: "value" }, format(r.value) + (r.note ? `  ${r.note}` : "")));
  });
  if (!rows.length) root.append(el("text", { x: width / 2, y: 28, "text-anchor": "middle", class: "empty" }, "no data yet"));
  return root;
}

/**
 * Grouped vertical bars: groups [{label, values: {seriesName: number}}] with one colour per
 * series, values written above the bars.
 */
export function groupedBars({ groups, series, format = fmt.num, title, height = 230 }) {
  const W = 560;
  const m = { l: 48, r: 10, t: 26, b: 56 };
  const root = svg(W, height, title);
  if (title) root.append(el("text", { x: m.l, y: 14, class: "title" }, title));
  const all = groups.flatMap((g) => series.map((s) => g.values[s] || 0));
  const ys = ticks(0, Math.max(1e-9, ...all) * 1.15, 4);
  const top = ys[ys.length - 1] || 1;
  const Y = (v) => height - m.b - (v / top) * (height - m.t - m.b);
  for (const v of ys) {
    root.append(el("line", { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v), class: "grid" }));
    root.append(el("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end", class: "axis" }, format(v)));
  }
  const gw = (W - m.l - m.r) / Math.max(1, groups.length);
  const bw = Math.min(34, (gw * 0.8) / Math.max(1, series.length));
  groups.forEach((g, gi) => {
    const x0 = m.l + gi * gw + (gw - bw * series.length) / 2;
    series.forEach((s, si) => {
      const v = g.values[s];
      if (v == null) return;
      const x = x0 + si * bw;
      const bar = el("rect", { x: x + 1, y: Y(v), width: bw - 2, height: Y(0) - Y(v), fill: PALETTE[si % PALETTE.length], rx: 2 });
      bar.append(el("title", {}, `${g.label} · ${s}: ${format(v)}`));
      root.append(bar);
      root.append(el("text", { x: x + bw / 2, y: Y(v) - 4, "text-anchor": "middle", class: "value small" }, format(v)));
    });
    root.append(el("text", { x: m.l + gi * gw + gw / 2, y: height - m.b + 15, "text-anchor": "middle", class: "axis" }, g.label));
  });
  if (!groups.length) root.append(el("text", { x: W / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, "no data yet"));
  legend(root, series, m.l, height - 10, W - m.l - m.r);
  return root;
}

/**
 * Estimates with confidence intervals on one axis (a forest plot). rows: [{label, value, lo,
 * hi, note}]; a reference line at `ref` (0 for a difference).
 */
export function intervalChart({ rows, format = fmt.pct, title, ref = null }) {
  const W = 560;
  const m = { l: 150, r: 110, t: title ? 26 : 10, b: 26 };
  const H = m.t + m.b + rows.length * 30;
  const root = svg(W, H, title);
  if (title) root.append(el("text", { x: 4, y: 14, class: "title" }, title));
  const vals = rows.flatMap((r) => [r.lo, r.hi, r.value]).filter((v) => v != null && isFinite(v));
  if (ref != null) vals.push(ref);
  let lo = Math.min(...vals);
  let hi = Math.max(...vals);
  if (!vals.length) [lo, hi] = [0, 1];
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.12;
  lo -= pad;
  hi += pad;
  const X = (v) => m.l + ((v - lo) / (hi - lo)) * (W - m.l - m.r);
  for (const t of ticks(lo, hi, 4)) {
    root.append(el("line", { x1: X(t), x2: X(t), y1: m.t - 4, y2: H - m.b, class: "grid" }));
    root.append(el("text", { x: X(t), y: H - m.b + 14, "text-anchor": "middle", class: "axis" }, format(t)));
  }
  if (ref != null) root.append(el("line", { x1: X(ref), x2: X(ref), y1: m.t - 6, y2: H - m.b, class: "ref" }));
  rows.forEach((r, i) => {
    const y = m.t + i * 30 + 12;
    const color = r.color || PALETTE[i % PALETTE.length];
    root.append(el("text", { x: m.l - 8, y: y + 4, "text-anchor": "end", class: "label" }, r.label));
    if (r.lo != null && r.hi != null && isFinite(r.lo) && isFinite(r.hi)) {
      root.append(el("line", { x1: X(r.lo), x2: X(r.hi), y1: y, y2: y, stroke: color, "stroke-width": 3, "stroke-linecap": "round" }));
      for (const v of [r.lo, r.hi]) root.append(el("line", { x1: X(v), x2: X(v), y1: y - 6, y2: y + 6, stroke: color, "stroke-width": 2 }));
    }
    if (r.value != null && isFinite(r.value)) {
      const dot = el("circle", { cx: X(r.value), cy: y, r: 5, fill: color });
      dot.append(el("title", {}, `${r.label}: ${format(r.value)} [${format(r.lo)}, ${format(r.hi)}]`));
      root.append(dot);
    }
    root.append(el("text", { x: W - m.r + 8, y: y + 4, class: "value" }, r.note ?? `${format(r.value)}`));
  });
  return root;
}

/** A bar filling towards a goal, with the figures written on it. */
export function progress({ value, goal, label, width = 560 }) {
  const root = svg(width, 44, label);
  const share = goal > 0 ? Math.min(1, value / goal) : 1;
  root.append(el("rect", { x: 0, y: 16, width, height: 18, rx: 9, class: "track" }));
  root.append(el("rect", { x: 0, y: 16, width: Math.max(18, share * width), height: 18, rx: 9, fill: share >= 1 ? "#059669" : "#2563eb" }));
  root.append(el("text", { x: 0, y: 11, class: "label" }, label));
  root.append(el("text", { x: width - 4, y: 11, "text-anchor": "end", class: "value" }, `${fmt.num(value)} of ${fmt.num(goal)} (${fmt.pct(share, 0)})`));
  return root;
}

/** A ring showing one share (cache hit rate, coverage). */
export function ring({ share, label, color = "#2563eb", size = 130 }) {
  const root = svg(size, size + 18, label);
  const r = size / 2 - 12;
  const c = 2 * Math.PI * r;
  const cx = size / 2;
  root.append(el("circle", { cx, cy: cx, r, fill: "none", class: "ring-track", "stroke-width": 14 }));
  const s = share == null || !isFinite(share) ? 0 : Math.max(0, Math.min(1, share));
  root.append(el("circle", {
    cx, cy: cx, r, fill: "none", stroke: color, "stroke-width": 14,
    "stroke-dasharray": `${(s * c).toFixed(1)} ${c.toFixed(1)}`, transform: `rotate(-90 ${cx} ${cx})`, "stroke-linecap": "round",
  }));
  root.append(el("text", { x: cx, y: cx + 7, "text-anchor": "middle", class: "ring-value" }, share == null ? "–" : fmt.pct(share, 0)));
  root.append(el("text", { x: cx, y: size + 12, "text-anchor": "middle", class: "label" }, label));
  return root;
}
