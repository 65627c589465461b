// The operator dashboard: GET /stats (attribution per strategy and variant, the experiment's
// confidence, coverage, cold start, the ranking configuration in use) and, on the local stack,
// GET /_local/metrics (latency, cache, degraded replies, queues) — drawn as plots.

import { ApiError, apiKey, get, setApiKey } from "../lib/api.js";
import { PALETTE, barChart, fmt, groupedBars, intervalChart, lineChart, progress, ring } from "../lib/charts.js";

const $ = (sel) => document.querySelector(sel);

function panel(id, title, ...nodes) {
  const box = $(id);
  box.replaceChildren();
  if (title) {
    const h = document.createElement("h3");
    h.textContent = title;
    box.append(h);
  }
  for (const n of nodes) if (n) box.append(n);
  return box;
}

function note(text, cls = "note") {
  const p = document.createElement("p");
  p.className = cls;
  p.textContent = text;
  return p;
}

function tile(k, v, s = "") {
  const d = document.createElement("div");
  d.className = "tile";
  d.innerHTML = `<div class="k"></div><div class="v"></div><div class="s"></div>`;
  d.children[0].textContent = k;
  d.children[1].textContent = v;
  d.children[2].textContent = s;
  return d;
}

// --- attribution ---------------------------------------------------------------------------
function drawTiles(stats) {
  const t = stats.totals || {};
  const cov = stats.coverage || {};
  $("#tiles").replaceChildren(
    tile("lists served", fmt.num(t.lists), `${fmt.num(t.users)} users`),
    tile("impressions", fmt.num(t.impressions)),
    tile("CTR", fmt.pct(t.ctr, 2), `${fmt.num(t.clicks)} clicks`),
    tile("conversion", fmt.pct(t.conversion_rate, 2), `${fmt.num(t.conversions)} purchases`),
    tile("revenue", fmt.money(t.revenue), "attributed"),
    tile("coverage", fmt.pct(cov.coverage, 1), `${fmt.num(cov.shown_products)} of ${fmt.num(cov.catalog_products)} shown`),
    tile("cold start", fmt.pct(stats.cold_start?.share, 1), `${fmt.num(stats.cold_start?.lists)} lists`),
  );
}

function series(stats, group, metric) {
  const days = stats.series || [];
  const names = new Set();
  for (const d of days) for (const n of Object.keys(d[group] || {})) names.add(n);
  return {
    labels: days.map((d) => d.date.slice(5)),
    series: [...names].sort().map((name) => ({
      name,
      points: days.map((d) => [d.date, d[group]?.[name]?.[metric] ?? null]),
    })),
  };
}

function drawOverTime(stats) {
  panel("#ctr-strategy", "CTR per strategy, by day", lineChart({ ...series(stats, "strategies", "ctr"), yFormat: (v) => fmt.pct(v, 1) }));
  panel("#conv-variant", "Conversion rate per variant, by day", lineChart({ ...series(stats, "variants", "conversion_rate"), yFormat: (v) => fmt.pct(v, 1) }));
  const strategies = Object.entries(stats.strategies || {}).filter(([, s]) => s.lists || s.impressions);
  panel(
    "#by-strategy",
    "CTR and conversion per strategy (whole window)",
    groupedBars({
      groups: strategies.map(([name, s]) => ({ label: name, values: { CTR: s.ctr, conversion: s.conversion_rate } })),
      series: ["CTR", "conversion"],
      format: (v) => fmt.pct(v, 1),
    }),
  );
  panel(
    "#revenue",
    "Attributed revenue per strategy",
    barChart({
      rows: strategies.map(([name, s], i) => ({ label: name, value: s.revenue, note: `· ${fmt.num(s.conversions)}`, color: PALETTE[i % PALETTE.length] })),
      format: fmt.money,
    }),
  );
}

function drawExperiment(stats) {
  const exp = stats.experiment;
  const variants = Object.entries(stats.variants || {});
  $("#exp-name").textContent = exp ? `“${exp.name}” — control: ${exp.control}, metric: ${exp.metric}` : "(none running: every list is variant “default”)";
  const z = 1.959964;
  const rows = variants.map(([name, v], i) => {
    const p = v.conversion_rate ?? 0;
    const n = v.impressions || 0;
    const se = n ? Math.sqrt((p * (1 - p)) / n) : null;
    return {
      label: `${name} (${fmt.num(v.users)} users)`,
      value: v.conversion_rate,
      lo: se == null ? null : Math.max(0, p - z * se),
      hi: se == null ? null : p + z * se,
      note: `${fmt.pct(p, 2)} of ${fmt.num(n)}`,
      color: PALETTE[i % PALETTE.length],
    };
  });
  panel("#exp-rates", "Conversion rate per variant (95 % interval)", intervalChart({ rows, format: (v) => fmt.pct(v, 2) }));
  if (!exp || !exp.comparisons) {
    panel("#exp-diff", "Difference to control", note("Set RECSYS_EXPERIMENT to split traffic between variants."));
    panel("#exp-sample", "Sample size");
    return;
  }
  const cmp = Object.entries(exp.comparisons);
  const diffRows = [];
  for (const [name, c] of cmp) {
    for (const [metric, label] of [["conversion_rate", "conversion"], ["ctr", "CTR"]]) {
      const m = c[metric];
      if (!m) continue;
      diffRows.push({
        label: `${name} − ${exp.control}: ${label}`,
        value: m.diff,
        lo: m.ci95?.[0],
        hi: m.ci95?.[1],
        note: `p = ${m.p_value == null ? "–" : m.p_value < 0.001 ? "<0.001" : m.p_value.toFixed(3)}`,
      });
    }
  }
  const verdicts = cmp.map(([name, c]) => {
    const m = c[exp.metric] || {};
    const cls = m.significant ? (m.diff > 0 ? "win" : "lose") : "open";
    const text = m.significant
      ? `${name} ${m.diff > 0 ? "beats" : "loses to"} ${exp.control} on ${exp.metric} (${fmt.pct(m.relative, 1)} relative, p = ${m.p_value.toFixed(4)})`
      : `${name} vs ${exp.control}: no significant difference yet`;
    return note(text, `verdict ${cls}`);
  });
  panel("#exp-diff", "Difference to control (95 % interval; dashed: no difference)", intervalChart({ rows: diffRows, format: (v) => fmt.pct(v, 2), ref: 0 }), ...verdicts);
  const bars = cmp.map(([name, c]) => {
    const need = c.sample_size?.per_variant;
    const have = c.sample_size?.have;
    if (!need) return note(`${name}: ${c.sample_size?.note || "no estimate yet"}`);
    return progress({
      value: have,
      goal: need,
      width: 1100,
      label: `${name}: impressions per variant to detect ${fmt.pct(c.sample_size.effect, 2)} (${c.sample_size.basis}; α 0.05, power 0.8)`,
    });
  });
  panel("#exp-sample", "Sample size still needed", ...bars);
}

function drawRanking(stats) {
  const r = stats.ranking || {};
  const w = r.config?.weights || {};
  const rows = Object.entries(w).map(([k, v]) => ({ label: k, value: v }));
  const box = panel("#ranking", `Ranking in use (${r.source || "settings"}${r.version ? ` v${r.version}` : ""})`, barChart({ rows, format: (v) => v.toFixed(2) }));
  const table = document.createElement("table");
  table.className = "kv";
  const other = Object.entries(r.config || {}).filter(([k]) => k !== "weights");
  for (const [k, v] of other) {
    const tr = table.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = JSON.stringify(v);
  }
  for (const [name, ov] of Object.entries(r.variants || {})) {
    for (const [k, v] of Object.entries(ov)) {
      const tr = table.insertRow();
      tr.insertCell().textContent = `variant ${name}: ${k}`;
      const td = tr.insertCell();
      td.textContent = JSON.stringify(v);
      td.className = "changed";
    }
  }
  box.append(table);
}

// --- service health (local stack) -----------------------------------------------------------
function drawHealth(m) {
  const routes = Object.entries(m.routes || {})
    .sort((a, b) => b[1].count - a[1].count)
    .slice(0, 9);
  const worst = Math.max(1, ...routes.map(([, r]) => r.p99_ms || 0));
  panel(
    "#latency",
    "Latency per route: p95 (bar), with p50 and p99",
    barChart({
      rows: routes.map(([route, r]) => ({
        label: route.replace(/\{[^}]+\}/g, "…").slice(0, 24),
        value: r.p95_ms,
        note: `p50 ${fmt.ms(r.p50_ms)} · p99 ${fmt.ms(r.p99_ms)} · ${r.count} req`,
        color: r.errors ? "#dc2626" : "#2563eb",
      })),
      format: fmt.ms,
      max: worst,
      width: 760,
    }),
  );
  const tl = m.timeline || [];
  panel(
    "#timeline",
    "Requests and p95 latency per minute",
    lineChart({
      labels: tl.map((b) => new Date(b.t * 1000).toTimeString().slice(0, 5)),
      series: [
        { name: "requests", points: tl.map((b) => [b.t, b.requests]) },
        { name: "p95 ms", points: tl.map((b) => [b.t, b.p95_ms]) },
      ],
      height: 200,
    }),
  );
  const cache = m.cache || {};
  const rings = panel("#rings", null, ring({ share: cache.hit_rate, label: "cache hit rate" }));
  const lists = m.lists?.total || 0;
  const degradedTotal = Object.values(m.degraded || {}).reduce((a, b) => a + b, 0);
  rings.append(ring({ share: lists ? degradedTotal / lists : null, label: "degraded replies", color: "#dc2626" }));
  rings.append(ring({ share: m.stats_coverage, label: "catalog coverage", color: "#059669" }));
  panel(
    "#degraded",
    "Degraded replies by cause",
    barChart({ rows: Object.entries(m.degraded || {}).map(([cause, n]) => ({ label: cause, value: n, color: "#dc2626" })) }),
    note(degradedTotal ? "" : "none: every dependency answered"),
  );
  const queues = Object.entries(m.queues || {});
  panel(
    "#queues",
    "Queues and dead-letter queues (messages)",
    barChart({
      rows: queues.flatMap(([name, q]) => [
        { label: `${name} visible`, value: q.visible, color: name.endsWith("DLQ") ? "#dc2626" : "#2563eb" },
        { label: `${name} in flight`, value: q.in_flight, color: "#93c5fd" },
      ]),
      max: Math.max(10, ...queues.map(([, q]) => Math.max(q.visible, q.in_flight))),
    }),
    note(
      Object.entries(m.batches || {})
        .map(([name, b]) => `${name}: ${b.batches} batches, mean size ${fmt.num(b.mean_size)}, ${b.failures} failed records`)
        .join(" · "),
    ),
  );
}

// --- refresh loop -----------------------------------------------------------------------------
let timer = null;

async function refresh() {
  const days = $("#days").value;
  const err = $("#error");
  try {
    const stats = await get("/stats", { days });
    err.hidden = true;
    drawTiles(stats);
    drawExperiment(stats);
    drawOverTime(stats);
    drawRanking(stats);
    let metrics = {};
    try {
      metrics = await get("/_local/metrics");
    } catch {
      metrics = {};
    }
    metrics.stats_coverage = stats.coverage?.coverage;
    drawHealth(metrics);
    $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.ready = "1";
  } catch (e) {
    err.hidden = false;
    err.textContent =
      e instanceof ApiError && e.status === 401
        ? "GET /stats needs the API key (RECSYS_API_KEY): enter it above."
        : `GET /stats failed: ${e.message}`;
    document.body.dataset.ready = "error";
  }
}

function schedule() {
  clearInterval(timer);
  if ($("#auto").checked) timer = setInterval(refresh, 10_000);
}

$("#key").value = apiKey();
$("#key").addEventListener("change", (e) => {
  setApiKey(e.target.value.trim());
  refresh();
});
$("#days").addEventListener("change", refresh);
$("#auto").addEventListener("change", schedule);
schedule();
refresh();
