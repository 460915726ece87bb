// gdlab lab: the page only draws; every number comes from the server (gdlab's own rules and engine).
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = { plain: "#c62828", momentum: "#1565c0", nesterov: "#2e7d32",
                 batch: "#2e7d32", sgd: "#c62828", minibatch: "#1565c0" };
const DASHES = { plain: "solid", momentum: "dash", nesterov: "dot" };
const LABELS = { plain: "plain GD", momentum: "momentum", nesterov: "Nesterov",
                 batch: "batch GD", sgd: "SGD (1 sample)", minibatch: "mini-batch" };
const OVERLAY_COLORS = ["#8e24aa", "#ef6c00", "#00838f", "#6d4c41", "#c2185b", "#546e7a"];  // none a live curve's
const OVERLAY_DASHES = ["dot", "dash", "dashdot", "longdash"];  // the 7th run: the 1st's colour, another dash
const CONFIG = { displayModeBar: false, responsive: true };
const LIGHT = [[0, "#fdfdf6"], [0.35, "#dcebd9"], [0.7, "#a9c7e6"], [1, "#7d8fc9"]];  // low to high

function esc(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw Object.assign(new Error(data.detail || response.statusText), { errors: data.errors });
  return data;
}

function fieldError(err, labels) {  // the server's field names (422 "field: message", a 400's first word) as labelled
  // a field's name begins "name: ...", "name must ..." or "name 'value' ..." ("stop rule early_stopping reads ..."
  // read "Stop rules rule early_stopping")
  if (!err.errors) return err.message.replace(/^[a-z_]+(?=: | must | ')/, (name) => labels[name] || name);
  return err.errors.map((e) => `${labels[e.field.split(".")[0]] || e.field}: ${e.message}`).join("; ");
}

function fmt(v) {
  if (v === null || v === undefined) return "–";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(2) : (+v.toPrecision(4)).toString();
}

// ------------------------------------------------------------------ a tab's note over its charts
// Every tab's first request compiles gdlab's programs (seconds, a blank chart without a word): a note says so
// while it is out, "computing…" when a later one is slow (shown only after NOTE_DELAY_MS, so that a slider
// dragged over fast answers does not flicker), the server's error in red after a failure.
const NOTE_DELAY_MS = 300;

function showNote(id, text, kind, delay = 0) {  // kind: "busy", "error", or null to hide the note
  const box = $(id);
  clearTimeout(box.pending);  // a note asked for earlier, not shown yet, is dropped
  box.dataset.state = kind || "";  // at once, shown or not: "" once the latest request's answer is drawn
  const show = () => {
    box.textContent = text;
    box.className = `status ${kind || ""}`;
    box.hidden = !kind;
  };
  if (delay > 0) box.pending = setTimeout(show, delay);
  else show();
}

function noteRequest(id, first) {  // the note while a tab's request is out
  if (first) showNote(id, "compiling: the first run takes a few seconds…", "busy");
  else showNote(id, "computing…", "busy", NOTE_DELAY_MS);
}

// ------------------------------------------------------------------ tabs
function showTab(name) {
  document.querySelectorAll(".tab").forEach((b) => {
    const on = b.dataset.tab === name;
    b.classList.toggle("active", on);
    b.setAttribute("aria-selected", String(on));
    b.tabIndex = on ? 0 : -1;  // one tab stop for the tab list; the arrow keys move between tabs
  });
  document.querySelectorAll(".panel").forEach((p) => p.classList.toggle("active", p.id === name));
  if (name === "batches" && !R.data) runRegression();
  if (name === "train" && !$("t-loss").dataset.epochs) drawTraining();  // before any run: a sentence, not two blank boxes
  document.querySelectorAll(`#${name} .js-plotly-plot`).forEach((el) => Plotly.Plots.resize(el));
}
document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
document.querySelector("[role=tablist]").addEventListener("keydown", (ev) => {  // the ARIA tabs pattern
  const tabs = [...document.querySelectorAll(".tab")];
  const at = tabs.indexOf(document.activeElement);
  const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[ev.key];
  if (at < 0 || next === undefined) return;
  ev.preventDefault();
  const tab = tabs[(next + tabs.length) % tabs.length];
  showTab(tab.dataset.tab);
  tab.focus();
});

// A slider over log10 of a value (the learning rate, the condition number) keeps a fine step, so that any
// value can be set, but its arrow keys move DECADE_KEY_STEP of a decade (the browser's own step, 0.001 of a
// decade, took ~1000 presses per decade); Page Up/Down five times that.
const DECADE_KEY_STEP = 0.05;

function decadeKeys(id) {
  $(id).addEventListener("keydown", (ev) => {
    const by = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1, PageUp: 5, PageDown: -5 }[ev.key];
    if (by === undefined) return;
    ev.preventDefault();
    const el = $(id);
    el.value = String(Math.min(+el.max, Math.max(+el.min, +el.value + by * DECADE_KEY_STEP)));
    el.dispatchEvent(new Event("input"));
    el.dispatchEvent(new Event("change"));
  });
}

function sayValue(id, text) {  // what a screen reader says for a slider: the value shown, not its log10
  $(id).setAttribute("aria-valuetext", text);
}

// ------------------------------------------------------------------ surfaces
const DEFAULT_LR = { quadratic: 0.5, rosenbrock: 0.001, himmelblau: 0.01, beale: 0.01, saddle: 0.1, formula: 0.05 };
const DEFAULT_STEPS = { quadratic: 60, rosenbrock: 1500, himmelblau: 150, beale: 800, saddle: 60, formula: 100 };
const S = { data: null, shown: 0, timer: null, seq: 0, start: null, grid: null, gridKey: null };
const LR_MIN = -4, LR_MAX = 1;
const S_LABELS = { surface: "Surface", formula: "f(x, y)", condition: "Condition number", angle: "Rotation",
                   learning_rate: "Learning rate", momentum: "Momentum", optimizers: "Optimizers", steps: "Steps",
                   start: "Start" };

function surfaceLr() { return Math.pow(10, +$("s-lr").value); }
function setSurfaceLr(lr) { $("s-lr").value = Math.log10(lr); $("s-lr-out").textContent = fmt(lr); }

function surfaceRequest() {
  const name = $("s-surface").value;
  const optimizers = [...document.querySelectorAll(".s-opt:checked")].map((c) => c.value);
  return {
    surface: name,
    formula: name === "formula" ? $("s-formula").value : null,
    condition: Math.pow(10, +$("s-condition").value),
    angle: +$("s-angle").value,
    learning_rate: surfaceLr(),
    momentum: +$("s-momentum").value,
    optimizers,
    steps: wholeNumber("s-steps", "Steps", 1, 2000),
    start: S.start,
    grid: 90,
  };
}

function wholeNumber(id, name, lo, hi) {  // a number field's value, or an error naming it, its value and the range
  const text = $(id).value.trim();
  const v = Number(text);
  if (!Number.isInteger(v) || v < lo || v > hi || text === "") {
    throw new Error(`${name} must be a whole number in [${lo}, ${hi}]; got ${text === "" ? emptyText(id) : text}.`);
  }
  return v;
}

function emptyText(id) {  // a number field whose value is "": empty, or typed text the browser cannot read ("1e", "-", 1e400)
  return $(id).validity.badInput ? "something that is not a number" : "nothing (the field is empty)";
}

function clearSurface() {  // no chart, info or verdict of an earlier answer beside an error or a hint
  const plot = $("s-plot");
  pause();
  S.data = null;
  Plotly.purge(plot);  // its click listener goes with it
  delete plot.dataset.clicks;
  delete plot.dataset.view;
  plot.dataset.paths = "0";
  $("s-info").innerHTML = "";
  $("s-verdict").dataset.verdict = "";
  $("s-verdict").innerHTML = "";
}

async function updateSurface() {
  const seq = ++S.seq;
  let req;
  try {
    req = surfaceRequest();
  } catch (err) {  // a field the page refuses before asking
    showNote("s-status", err.message, "error");
    clearSurface();
    return;
  }
  if (!req.optimizers.length) {
    showNote("s-status", "Tick an optimizer (plain, momentum or Nesterov) to draw its path.", "hint");
    clearSurface();
    return;
  }
  $("s-lr-out").textContent = fmt(req.learning_rate);
  $("s-condition-out").textContent = fmt(req.condition);
  sayValue("s-lr", fmt(req.learning_rate));
  sayValue("s-condition", fmt(req.condition));
  $("s-angle-out").textContent = `${req.angle}°`;
  $("s-momentum-out").textContent = req.momentum;
  // the contour depends only on the surface: reuse it when only the rate, optimizers or start moved
  const gridKey = JSON.stringify([req.surface, req.formula, req.condition, req.angle]);
  if (gridKey === S.gridKey) req.grid = 0;
  noteRequest("s-status", !S.grid);
  try {
    const data = await api("/api/surface", req);
    if (seq !== S.seq) return;  // a newer request is on its way (its note stays)
    if (data.grid) { S.grid = data.grid; S.gridKey = gridKey; } else data.grid = S.grid;
    S.data = data;
    if (!S.timer) S.shown = req.steps;
    drawSurface();
    showVerdicts();
    markSlider();
    showNote("s-status", "", null);
  } catch (err) {
    if (seq !== S.seq) return;
    showNote("s-status", fieldError(err, S_LABELS), "error");
    clearSurface();
    $("s-verdict").dataset.verdict = "error";  // no chart, info or verdict of the last good answer beside it
  }
}

function contourZ(z) {
  // a log scale when the surface spans orders of magnitude (Rosenbrock), so the valley shows
  let lo = Infinity, hi = -Infinity;
  for (const row of z) for (const v of row) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!(hi - lo > 50)) return z;
  return z.map((row) => row.map((v) => (v === null ? null : Math.log10(1 + v - lo))));
}

const NOT_FINITE = "#cfcfcf";  // the contour's cells where f is not a finite number
function unfinite(grid) { return grid.z.some((row) => row.includes(null)); }

function drawSurface() {
  const d = S.data;
  const traces = [];
  if (d.grid) {
    traces.push({ type: "contour", x: d.grid.x, y: d.grid.y, z: contourZ(d.grid.z), ncontours: 28,
                  colorscale: LIGHT, showscale: false, hoverinfo: "x+y",
                  contours: { coloring: "heatmap" }, line: { width: 0.8, color: "#0004" } });
    if (unfinite(d.grid)) {  // where f is not finite the contour is blank (the y = 0 axis line ran across it): grey
      traces.push({ type: "heatmap", x: d.grid.x, y: d.grid.y, z: d.grid.z.map((row) => row.map((v) => (v === null ? 1 : null))),
                    colorscale: [[0, NOT_FINITE], [1, NOT_FINITE]], showscale: false, hoverinfo: "skip" });
    }
  }
  for (const p of d.paths) {
    const pts = p.points.slice(0, S.shown + 1);
    // plain GD wide and solid, the momentum paths thinner and dashed over it: where two paths coincide (a start on
    // a valley's axis) both still show (plain GD was hidden under momentum)
    traces.push({ type: "scatter", mode: "lines+markers", name: LABELS[p.optimizer],
                  x: pts.map((q) => q[0]), y: pts.map((q) => q[1]),
                  line: { color: COLORS[p.optimizer], width: p.optimizer === "plain" ? 3.5 : 2, dash: DASHES[p.optimizer] },
                  marker: { size: p.optimizer === "plain" ? 6 : 4 } });
  }
  traces.push({ type: "scatter", mode: "markers", name: "start", x: [d.start[0]], y: [d.start[1]],
                marker: { size: 11, color: "#fff", line: { color: "#000", width: 2 } } });
  // one unit as long on both axes (a 45 degree valley drawn at 45 degrees): the plot area shrinks to fit the view;
  // the legend below the axes (inside, it covered the start at the top left)
  const layout = {
    margin: { l: 40, r: 10, t: 30, b: 60 }, title: { text: `f = ${esc(d.text)}`, font: { size: 13 } },
    // no zero lines: under the contour they never showed, and one ran across a blank edge like a contour line
    xaxis: { range: [d.view[0], d.view[1]], constrain: "domain", zeroline: false },
    yaxis: { range: [d.view[2], d.view[3]], scaleanchor: "x", scaleratio: 1, constrain: "domain", zeroline: false },
    legend: { orientation: "h", x: 0.5, xanchor: "center", y: 0, yref: "container", yanchor: "bottom" },
    uirevision: d.surface,
  };
  const plot = $("s-plot");
  // a new view (another surface) starts a new chart: Plotly.react kept the old x range under scaleanchor and
  // constrain (Rosenbrock's [-2, 2] drawn over [-3, 3] after Himmelblau, blank bands at the sides)
  const view = d.view.join(",");
  if (plot.dataset.view !== view) {
    Plotly.purge(plot);  // its click listener goes with it
    delete plot.dataset.clicks;
    plot.dataset.view = view;
  }
  Plotly.react(plot, traces, layout, CONFIG).then(() => {
    if (!plot.dataset.clicks) {
      plot.dataset.clicks = "on";
      plot.on("plotly_click", (ev) => {
        const p = ev.points[0];
        S.start = [p.x, p.y];
        updateSurface();
      });
    }
  });
  plot.dataset.paths = String(d.paths.length);
  // while it plays (or pauses, or steps) the step shown and f there; the whole path's numbers are in the info above
  const last = maxSteps();
  $("s-now").textContent = S.shown >= last ? "" : `step ${S.shown} of ${last}: ` + d.paths.map((p) =>
    `${LABELS[p.optimizer]} ` + (S.shown < p.values.length ? `f = ${fmt(p.values[S.shown])}`
      : p.diverged_at !== null ? `diverged at step ${p.diverged_at}` : `ended at step ${p.values.length - 1}`)).join(", ");
}

function showVerdicts() {
  const d = S.data;
  const box = $("s-verdict");
  box.dataset.verdict = d.verdicts.map((v) => v.verdict).join(" ");
  box.innerHTML = d.verdicts.map((v) =>
    `<p><b>${LABELS[v.optimizer]}</b>: <span class="${v.verdict}">${v.verdict}</span> — ${esc(v.why)}.</p>`).join("");
  const q = d.quadratic;
  // f undefined at the start: no step was taken (the verdict says "undefined"), not "diverged at step 1"
  const steps = d.paths.map((p) => `${LABELS[p.optimizer]}: ` + (p.values[0] === null ? "no step (f is not defined at the start)"
    : `${p.points.length - 1} steps` +
      (p.diverged_at !== null ? ` (diverged at step ${p.diverged_at})` : `, f = ${fmt(p.values[p.values.length - 1])}`)));
  $("s-info").innerHTML = (q
    ? `L = ${fmt(q.L)}, μ = ${fmt(q.mu)} (condition ${fmt(q.condition)}); stability limit 2/L = <b>${fmt(q.two_over_L)}</b>, ` +
      `best rate 2/(μ+L) = <b>${fmt(q.optimal_learning_rate)}</b> (${q.rate_at_optimal === 0
        ? "one step lands on the minimum: the bowl is round" : `the distance to the minimum shrinks ${fmt(q.rate_at_optimal)}× per step`}).<br>`
    : d.f_at_start === null ? `f is not defined at the start (${d.start.map(fmt).join(", ")}).<br>`
    : `Hessian eigenvalues at the start: ${d.curvature_at_start.map(fmt).join(", ")}.<br>`) + steps.join("; ") +
    (d.grid && unfinite(d.grid) ? "<br>Grey: f is not a finite number there (past float32's 3.4e38, or not defined)." : "");
}

function markSlider() {
  const q = S.data.quadratic;
  const marks = $("s-lr-marks");
  if (!q) { marks.innerHTML = ""; return; }
  const pos = (v) => (100 * (Math.log10(v) - LR_MIN)) / (LR_MAX - LR_MIN);
  marks.innerHTML =
    `<span class="mark-opt" style="left:${pos(q.optimal_learning_rate)}%" title="2/(mu+L)">2/(μ+L)</span>` +
    `<span class="mark-limit" style="left:${pos(q.two_over_L)}%" title="2/L">2/L</span>`;
}

function play() {
  if (!S.data) return;
  if (S.shown >= maxSteps()) { S.shown = 0; drawSurface(); }  // from the start, shown at once (a pause before the
  clearInterval(S.timer);                                        // first tick left the whole path and no step)
  S.timer = setInterval(() => {
    S.shown += 1;
    drawSurface();
    if (S.shown >= maxSteps()) pause();
  }, 60);
}
function pause() { clearInterval(S.timer); S.timer = null; }
function maxSteps() { return Math.max(...S.data.paths.map((p) => p.points.length - 1)); }

$("s-play").addEventListener("click", play);
$("s-pause").addEventListener("click", pause);
$("s-step").addEventListener("click", () => { pause(); if (!S.data) return; S.shown = Math.min(S.shown + 1, maxSteps()); drawSurface(); });
$("s-all").addEventListener("click", () => { pause(); if (!S.data) return; S.shown = maxSteps(); drawSurface(); });
$("s-surface").addEventListener("change", () => {
  const name = $("s-surface").value;
  $("s-formula-row").hidden = name !== "formula";
  $("s-quad-rows").hidden = name !== "quadratic";
  S.start = null;
  setSurfaceLr(DEFAULT_LR[name]);
  $("s-steps").value = DEFAULT_STEPS[name];
  updateSurface();
});
for (const id of ["s-lr", "s-condition", "s-angle", "s-momentum"]) $(id).addEventListener("input", updateSurface);
for (const id of ["s-steps", "s-formula"]) $(id).addEventListener("change", updateSurface);
document.querySelectorAll(".s-opt").forEach((c) => c.addEventListener("change", updateSurface));

// ------------------------------------------------------------------ batch / SGD / mini-batch
// batch: the mini-batch size the user chose; while Points is lower, Points is sent and shown, and the choice
// comes back when Points rise again (the slider's own value, capped by its max, forgot it)
const R = { data: null, points: null, custom: false, seq: 0, batch: +$("r-batch").value };
const SEED_MAX = 99999;  // the Seed field's max
const POINT_MAX = 100;  // the server's range for a point's coordinates, [-100, 100]
const inRange = (v) => Math.min(POINT_MAX, Math.max(-POINT_MAX, v));
const R_LABELS = { n: "Points", noise: "Noise", seed: "Seed", batch_size: "Mini-batch size", learning_rate: "Learning rate",
                   epochs: "Epochs", points: "Points" };

function regressionRequest() {
  const n = +$("r-n").value;
  const batch = Math.min(R.batch, R.custom ? R.points.length : n);
  return {
    n, noise: +$("r-noise").value, seed: wholeNumber("r-seed", "Seed", 0, SEED_MAX), batch_size: batch,
    learning_rate: Math.pow(10, +$("r-lr").value), epochs: +$("r-epochs").value,
    points: R.custom ? R.points : null, grid: 60,
  };
}

function clearRegression() {  // no chart or info line of an earlier answer beside an error (as on Surfaces)
  R.data = null;
  for (const id of ["r-contour", "r-updates", "r-samples"]) Plotly.purge(id);
  $("r-contour").dataset.paths = "0";
  $("r-scatter").innerHTML = "";
  $("r-info").innerHTML = "";
  $("r-info").dataset.diverged = "";
}

async function runRegression() {
  const seq = ++R.seq;
  let req;
  try {
    req = regressionRequest();
  } catch (err) {  // a field the page refuses before asking
    showNote("r-status", err.message, "error");
    clearRegression();
    return;
  }
  $("r-batch").max = req.points ? req.points.length : req.n;
  $("r-batch").value = req.batch_size;  // the size sent: the choice, or Points while it is lower
  for (const id of ["r-n", "r-noise", "r-epochs"]) $(`${id}-out`).textContent = $(id).value;
  $("r-batch-out").textContent = req.batch_size;
  $("r-lr-out").textContent = fmt(req.learning_rate);
  sayValue("r-lr", fmt(req.learning_rate));
  noteRequest("r-status", !R.data);
  try {
    const d = await api("/api/regression", req);
    if (seq !== R.seq) return;  // a newer request is on its way (its note stays)
    R.data = d;
    R.points = d.points;
    drawScatter();
    drawRegression();
    showNote("r-status", "", null);
  } catch (err) {
    if (seq !== R.seq) return;
    showNote("r-status", fieldError(err, R_LABELS), "error");
    clearRegression();
  }
}

function regressionInfo(s, factor) {  // one variant's line: where it diverged, or its final loss (and whether it grew)
  const last = s.loss[s.loss.length - 1], first = s.loss[0];
  if (s.diverged_at !== null) {  // gd.stop.diverged()'s rule: a loss not finite, or above factor x the loss before training
    const why = s.diverged_loss === null ? "its loss is not finite"
      : `its loss ${fmt(s.diverged_loss)} is above ${factor} x the loss before training (${fmt(first)})`;
    return `${LABELS[s.name]}: <span class="error">diverged at update ${s.diverged_at} (epoch ${s.diverged_epoch})</span>: ` +
      `${why}; its path stops at the update before (loss ${fmt(last)})`;
  }
  const grew = last > first ? ` (<span class="error">grew from ${fmt(first)}</span>: the rate is too large)` : "";
  return `${LABELS[s.name]}: ${s.updates[s.updates.length - 1]} updates, final loss ${fmt(last)}${grew}`;
}

function drawRegression() {
  const d = R.data;
  // the numbers first: a chart that failed to draw must not leave the last run's line under it
  $("r-info").innerHTML = d.series.map((s) => regressionInfo(s, d.diverged_factor)).join("; ") +
    `. Least squares: w = ${fmt(d.least_squares[0])}, b = ${fmt(d.least_squares[1])}.`;
  $("r-info").dataset.diverged = d.series.filter((s) => s.diverged_at !== null).map((s) => s.name).join(" ");
  const traces = [{ type: "contour", x: d.grid.w, y: d.grid.b, z: d.grid.z.map((r) => r.map((v) => Math.log10(v + 1e-9))),
                    ncontours: 25, colorscale: LIGHT, showscale: false, hoverinfo: "x+y",
                    contours: { coloring: "heatmap" }, line: { width: 0.8, color: "#0004" } }];
  for (const s of d.series) {
    const broke = s.diverged_at !== null;
    traces.push({ type: "scatter", mode: "lines", name: `${LABELS[s.name]} (B=${s.batch_size})${broke ? ", diverged" : ""}`,
                  x: s.points.map((p) => p[0]), y: s.points.map((p) => p[1]),
                  line: { color: COLORS[s.name], width: s.name === "sgd" ? 1 : 2.5 } });
    if (broke) {  // where the path was cut: its last point, or where it left the frame on its way there
      const [w, b, left] = inFrame(s.points, [d.grid.w[0], d.grid.w.at(-1), d.grid.b[0], d.grid.b.at(-1)]);
      traces.push({ type: "scatter", mode: "markers", x: [w], y: [b], cliponaxis: false,
                    name: `${LABELS[s.name]} diverged ${left ? "(left the frame here)" : "here"}`,
                    marker: { symbol: "x", size: 11, color: COLORS[s.name] } });
    }
  }
  traces.push({ type: "scatter", mode: "markers", name: "least squares", x: [d.least_squares[0]], y: [d.least_squares[1]],
                marker: { symbol: "star", size: 13, color: "#f9a825", line: { color: "#000", width: 1 } } });
  // the legend below the axes: inside, it covered the start of the paths and curves (top left)
  const small = { margin: { l: 50, r: 10, t: 30, b: 100 },
                  legend: { orientation: "h", x: 0, xref: "container", y: 0, yref: "container", yanchor: "bottom",
                            font: { size: 10 } } };
  Plotly.react("r-contour", traces, { ...small, margin: { ...small.margin, b: 130 }, title: { text: "full-data loss over (w, b)", font: { size: 13 } },
    // the frame is the contour's (the server frames it on the finite points): a path running off does not stretch it
    xaxis: { title: { text: "w" }, range: [d.grid.w[0], d.grid.w.at(-1)] },
    yaxis: { title: { text: "b" }, range: [d.grid.b[0], d.grid.b.at(-1)] } }, CONFIG);
  $("r-contour").dataset.paths = String(d.series.length);
  const curve = (key) => d.series.map((s) => ({ type: "scatter", mode: "lines", name: LABELS[s.name],
    x: s[key], y: s.loss, line: { color: COLORS[s.name], width: s.name === "sgd" ? 1 : 2 } }));
  Plotly.react("r-updates", curve("updates"), { ...small, title: { text: "loss vs updates", font: { size: 13 } },
    xaxis: { title: { text: "updates" }, type: "log" }, yaxis: { title: { text: "full-data loss" }, type: "log" } }, CONFIG);
  Plotly.react("r-samples", curve("samples"), { ...small, title: { text: "loss vs samples seen", font: { size: 13 } },
    xaxis: { title: { text: "samples seen" } }, yaxis: { title: { text: "full-data loss" }, type: "log" } }, CONFIG);
}

function inFrame(points, [w0, w1, b0, b1]) {
  // a path's last point, or (when it lies outside the frame w0..w1, b0..b1) the point where the path last crossed
  // into the outside: on the segment from its last point inside, where it meets the frame; [w, b, left the frame]
  const inside = ([w, b]) => w >= w0 && w <= w1 && b >= b0 && b <= b1;
  const last = points[points.length - 1];
  if (inside(last)) return [...last, false];
  const k = points.findLastIndex(inside);
  if (k < 0) return [Math.min(Math.max(last[0], w0), w1), Math.min(Math.max(last[1], b0), b1), true];
  const [[wa, ba], [wb, bb]] = [points[k], points[k + 1]];
  let t = 1;  // the largest step along a -> b that stays in the frame
  if (wb > w1) t = Math.min(t, (w1 - wa) / (wb - wa)); else if (wb < w0) t = Math.min(t, (w0 - wa) / (wb - wa));
  if (bb > b1) t = Math.min(t, (b1 - ba) / (bb - ba)); else if (bb < b0) t = Math.min(t, (b0 - ba) / (bb - ba));
  return [wa + t * (wb - wa), ba + t * (bb - ba), true];
}

function drawScatter() {
  const svg = $("r-scatter");
  const pts = R.points;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const pad = (lo, hi) => [lo - 0.1 * (hi - lo || 1), hi + 0.1 * (hi - lo || 1)];
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  const sx = (x) => 30 + ((x - x0) / (x1 - x0)) * 360, sy = (y) => 285 - ((y - y0) / (y1 - y0)) * 270;
  const ux = (px) => x0 + ((px - 30) / 360) * (x1 - x0), uy = (py) => y0 + ((285 - py) / 270) * (y1 - y0);
  const lines = R.data.series.map((s) => {
    const [w, b] = s.points[s.points.length - 1];
    return `<line x1="${sx(x0)}" y1="${sy(w * x0 + b)}" x2="${sx(x1)}" y2="${sy(w * x1 + b)}" stroke="${COLORS[s.name]}" stroke-width="1.5"/>`;
  }).join("");
  svg.innerHTML = `<rect x="0" y="0" width="400" height="300" fill="#fff"/>` +
    `<text x="200" y="12" text-anchor="middle" font-size="11">data: drag a point (lines: each variant's final w, b)</text>` +
    lines +
    pts.map((p, i) => `<circle r="4" cx="${sx(p[0])}" cy="${sy(p[1])}" data-i="${i}"/>`).join("");
  svg.querySelectorAll("circle").forEach((c) => c.addEventListener("pointerdown", (ev) => {
    const i = +c.dataset.i;
    c.setPointerCapture(ev.pointerId);
    c.classList.add("dragging");
    const toSvg = (e) => {  // client pixels to viewBox units (the viewBox keeps its aspect ratio)
      const q = new DOMPoint(e.clientX, e.clientY).matrixTransform(svg.getScreenCTM().inverse());
      return [q.x, q.y];
    };
    // the point where the pointer is, held inside the server's range (past it the request was refused and the
    // scatter cleared: the point could not be dragged back)
    const at = (e) => { const [px, py] = toSvg(e); return [ux(px), uy(py)].map(inRange); };
    c.onpointermove = (e) => { const [x, y] = at(e); c.setAttribute("cx", sx(x)); c.setAttribute("cy", sy(y)); };
    c.onpointerup = (e) => {
      c.onpointermove = c.onpointerup = null;
      const moved = at(e);
      R.points = R.points.map((p, j) => (j === i ? moved : p));
      R.custom = true;
      runRegression();
    };
  }));
}

for (const id of ["r-noise", "r-n", "r-seed"]) $(id).addEventListener("change", () => { R.custom = false; runRegression(); });
for (const id of ["r-batch", "r-lr", "r-epochs"]) $(id).addEventListener("change", runRegression);
for (const id of ["r-n", "r-noise", "r-batch", "r-lr", "r-epochs"]) {
  $(id).addEventListener("input", () => {
    $(`${id}-out`).textContent = id === "r-lr" ? fmt(Math.pow(10, +$(id).value)) : $(id).value;
  });
}
$("r-batch").addEventListener("input", () => { R.batch = +$("r-batch").value; });
$("r-run").addEventListener("click", runRegression);
for (const id of ["s-lr", "s-condition", "r-lr"]) decadeKeys(id);
// the next seed, back to 0 after the field's largest (99999 + 1 was refused by the page's own check)
$("r-regen").addEventListener("click", () => { R.custom = false; $("r-seed").value = (+$("r-seed").value + 1) % (SEED_MAX + 1); runRegression(); });

// ------------------------------------------------------------------ train
const STOP_WAIT_S = 60;  // how long a run started over a live one waits for that one to end
// initial: the train loss before training (the end event's), drawn at epoch 0
// liveLabel: what the live curve is called in the legend (a lesson's run: "constant rate"; a run of one's own: none)
const T = { job: null, source: null, epochs: [], overlays: {}, ticked: new Set(), listSeq: 0, frame: 0, diverged: false,
            initial: null, lesson: null, liveLabel: "" };  // lesson: the schedule lesson's pending second run (its first run's job)

// the form's labels, for the page's own messages and the server's 422 ones ("field: message")
const T_LABELS = { dataset: "Data set", model: "Model", hidden: "Hidden sizes", batch_size: "Batch size",
                   learning_rate: "Learning rate", momentum: "Momentum", schedule: "Schedule",
                   warmup_steps: "Warmup updates", stop: "Stop rules", epochs: "Epochs" };
// the models each data set takes (gdlab refuses linear on classes and logistic on regression)
const T_MODELS = { linreg: ["linear", "mlp"], mnist1d: ["logistic", "mlp"] };
const T_ROWS = { linreg: 800, mnist1d: 4000 }; // each data set's training rows (schemas.TRAIN_ROWS): the largest batch

function said(id, text) { return text === "" ? emptyText(id) : JSON.stringify(text); }

function filled(id, name) {  // a number field's value; an empty one is an error, not 0 (the server checks ranges)
  const text = $(id).value.trim();
  if (text === "" || !Number.isFinite(Number(text))) throw new Error(`${name} must be a number; got ${said(id, text)}.`);
  return Number(text);
}

function hiddenSizes() {  // "64,64" -> [64, 64]; every entry named when it is not a size
  const text = $("t-hidden").value.trim();
  const parts = text.split(",").map((p) => p.trim());
  const bad = parts.filter((p) => !/^\d+$/.test(p) || +p < 1 || +p > 256);
  if (text === "" || parts.length > 3 || bad.length) {
    const why = text === "" ? "got nothing (the field is empty)"
      : parts.length > 3 ? `got ${parts.length} sizes`
      : `${bad.map((p) => (p === "" ? "an empty entry" : JSON.stringify(p))).join(", ")} ${bad.length > 1 ? "are" : "is"} not a whole number in [1, 256]`;
    throw new Error(`Hidden sizes must be 1 to 3 whole numbers in [1, 256], separated by commas (such as 64,64); ${why}.`);
  }
  return parts.map(Number);
}

function batchSize(variant) {
  if (variant === "full") return "full";
  if (variant === "sgd") return 1;
  const text = $("t-batch").value.trim();
  const v = Number(text);
  const rows = T_ROWS[$("t-dataset").value];
  if (text === "" || !Number.isInteger(v) || v < 1 || v > rows) {
    throw new Error(`Batch size must be a whole number in [1, ${rows}] for ${$("t-dataset").value} (or choose the variant "batch (all data)"); got ${said("t-batch", text)}.`);
  }
  return v;
}

function trainRequest() {
  const variant = $("t-variant").value;
  const stop = $("t-stop").value.trim();
  const model = $("t-model").value;
  const req = {
    dataset: $("t-dataset").value, model,
    batch_size: batchSize(variant),
    learning_rate: filled("t-lr", "Learning rate"), momentum: filled("t-momentum", "Momentum"),
    schedule: $("t-schedule").value, warmup_steps: filled("t-warmup", "Warmup updates"),
    stop: stop || null, epochs: filled("t-epochs", "Epochs"),
  };
  if (model === "mlp") req.hidden = hiddenSizes();  // the other models have no hidden layers: not sent
  return req;
}


function fitModels() {  // Hidden sizes only for the MLP; the Model list only what the data set takes
  const allowed = T_MODELS[$("t-dataset").value];
  for (const option of $("t-model").options) option.disabled = !allowed.includes(option.value);
  if (!allowed.includes($("t-model").value)) $("t-model").value = allowed[0];
  $("t-hidden").disabled = $("t-model").value !== "mlp";
}

function notFinite(row) {  // why an epoch's train loss came as null: the event's not_finite says inf or nan
  const kind = row.not_finite && row.not_finite.train_loss;
  if (kind === "inf" || kind === "-inf") return "loss overflowed float32";  // the epoch's mean (the step's was finite)
  return kind === "nan" ? "loss not a number" : "loss not finite";
}

function withStart(initial, xs, ys) {  // epoch 0, the loss before training, ahead of the epochs (when known)
  return initial === null || initial === undefined || !xs.length ? [xs, ys] : [[0, ...xs], [initial, ...ys]];
}

function accuracyRange(ys) {  // the accuracies drawn with a margin, within [0, 1]
  const v = ys.filter((y) => y !== null && Number.isFinite(y));
  if (!v.length) return [0, 1];
  const lo = Math.min(...v), hi = Math.max(...v), pad = Math.max(0.05, 0.1 * (hi - lo));
  return [Math.max(0, lo - pad), Math.min(1, hi + pad)];
}

function drawTraining() {
  const e = T.epochs;
  const x = e.map((r) => r.epoch);
  const [x0, y0] = withStart(T.initial, x, e.map((r) => r.train_loss));
  const overlays = Object.entries(T.overlays).filter(([id]) => T.ticked.has(id));
  // runs on other data (linreg's MSE beside MNIST-1D's cross-entropy) share the axis: each curve names its data set
  const sets = new Set([...(e.length ? [T.dataset] : []), ...overlays.map(([, run]) => run.dataset)]);
  const own = sets.size > 1 ? ` (${T.dataset})` : "";
  const live = T.liveLabel ? `${T.liveLabel} ` : "";
  const loss = [{ type: "scatter", mode: "lines+markers", name: `${live}train loss${own}`, x: x0, y: y0, line: { color: "#c62828" } }];
  if (e.some((r) => r.test_loss !== undefined)) {
    loss.push({ type: "scatter", mode: "lines+markers", name: `test loss${own}`, x, y: e.map((r) => r.test_loss), line: { color: "#1565c0" } });
  }
  let last = Math.max(1, ...x);  // the widest run shown sets the axis
  // the losses that set the y axis: not a diverged run's last ones (this run's too, once its end says diverged)
  const trained = loss.flatMap((t) => (T.diverged ? t.y.slice(0, -1) : t.y));
  const blowups = [];  // a diverged run's last loss (1e22, or none): marked, not allowed to set the axis
  if (T.diverged && e.length) {
    blowups.push({ name: "this run", color: "#c62828", x: e.at(-1).epoch, y: e.at(-1).train_loss, why: notFinite(e.at(-1)) });
  }
  overlays.forEach(([id, run], i) => {
    const color = OVERLAY_COLORS[i % OVERLAY_COLORS.length];
    const dash = OVERLAY_DASHES[Math.floor(i / OVERLAY_COLORS.length) % OVERLAY_DASHES.length];
    const on = sets.size > 1 ? ` (${run.dataset})` : "";
    const [xs, ys] = withStart(run.initial_loss, [...run.history.epoch], [...run.history.train_loss]);
    if (run.status === "diverged" && xs.at(-1) > 0) blowups.push({ name: `run ${id}`, color, x: xs.pop(), y: ys.pop() });
    trained.push(...ys);
    // a single point drawn as "lines" is invisible: a marker
    loss.push({ type: "scatter", mode: ys.length === 1 ? "markers" : "lines", name: `${run.label || `run ${id}`} train loss${on}`, x: xs,
                y: ys, line: { dash, width: 1.5, color }, marker: { color, size: 7 } });
    last = Math.max(last, ...run.history.epoch);
  });
  const yrange = lossRange(trained, blowups);
  for (const b of blowups) {  // at its value when the axis holds it, else on the top edge; the hover tells it
    const value = b.y === null ? (b.why || "loss not finite").replace(/^loss /, "") : fmt(b.y);
    const over = b.y === null || !yrange || Math.log10(b.y) > yrange[1];
    // the epoch's train loss (the status line's is the step's where it blew up: another number)
    loss.push({ type: "scatter", mode: "markers", name: `${b.name} diverged (epoch ${b.x} train loss ${value})`,
                x: [b.x], y: [over && yrange ? Math.pow(10, yrange[1] - 0.03 * (yrange[1] - yrange[0])) : b.y],
                cliponaxis: false, marker: { symbol: "triangle-up", size: 11, color: b.color },
                hovertext: [`${b.name} diverged in epoch ${b.x}: loss ${value}`], hoverinfo: "text" });
  }
  // whole epochs only (Plotly's own ticks put 1.5 between epochs 1 and 2), from 1 to the last; axis titles are
  // objects since plotly.js 3
  const first = loss.some((t) => t.x[0] === 0) ? 0 : 1;  // epoch 0: the loss before training
  const epochs = { title: { text: "epoch" }, tick0: first, dtick: Math.max(1, Math.ceil(last / 10)),
                   range: [first - Math.max(0.3, last / 50), last + Math.max(0.3, last / 50)] };
  // the legend above the axes, right (at the side it narrowed the loss chart: its epochs sat left of the
  // accuracy chart's below); the titles at the left, clear of it
  const small = { margin: { l: 55, r: 10, t: 30, b: 40 }, xaxis: epochs,
                  legend: { orientation: "h", x: 1, xanchor: "right", y: 1, yanchor: "bottom" } };
  const broke = e.find((r) => r.train_loss === null);  // a non-finite loss comes as null: say where, not a blank
  // the words on the side of the line with room (right of it in the left half: at epoch 1 they ran off the chart)
  const early = broke && broke.epoch <= (first + last) / 2;
  const mark = broke ? {
    shapes: [{ type: "line", x0: broke.epoch, x1: broke.epoch, yref: "paper", y0: 0, y1: 1,
               line: { color: "#c62828", dash: "dot", width: 1.5 } }],
    annotations: [{ x: broke.epoch, yref: "paper", y: 1, xanchor: early ? "left" : "right", yanchor: "top", showarrow: false,
                    text: early ? ` diverged in epoch ${broke.epoch} (${notFinite(broke)})` : `diverged in epoch ${broke.epoch} (${notFinite(broke)}) `,
                    font: { color: "#c62828" } }],
  } : { shapes: [], annotations: [] };
  // nothing to draw yet (a run starting, before its first epoch): a sentence, not Plotly's bare -1..6 axes
  const empty = !e.length && loss.length === 1;
  if (empty) {
    mark.annotations = [{ xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, font: { color: "#666" },
                          text: "the train loss appears here, one point per epoch" }];
  }
  Plotly.react("t-loss", loss, { ...small, ...mark, title: { text: "loss", x: 0.01, xanchor: "left", font: { size: 13 } },
    xaxis: { ...epochs, visible: !empty },
    yaxis: { title: { text: "loss" }, type: "log", visible: !empty, ...(yrange ? { range: yrange } : { autorange: true }) },
  }, CONFIG);
  const acc = e.some((r) => r.test_accuracy !== undefined && r.test_accuracy !== null)
    ? [{ type: "scatter", mode: "lines+markers", name: "test accuracy", x, y: e.map((r) => r.test_accuracy), line: { color: "#2e7d32" } }]
    : [];
  $("t-acc").hidden = !acc.length;  // a regression has no accuracy: no empty chart
  if (acc.length) {
    Plotly.react("t-acc", acc, { ...small, title: { text: "test accuracy", x: 0.01, xanchor: "left", font: { size: 13 } },
      // within 0..100%: one point's autorange ran from -80% to 120% (set here: plotly's own bounds need plotly.js 2.26)
      yaxis: { title: { text: "test accuracy" }, tickformat: ".0%", range: accuracyRange(acc[0].y) } }, CONFIG);
  }
  // the epochs drawn, set only when they change: a redraw of the same epochs (the end event's, a ticked run's) is
  // no new epoch to whoever watches the attribute
  if ($("t-loss").dataset.epochs !== String(e.length)) $("t-loss").dataset.epochs = String(e.length);
}

function lossRange(trained, blowups) {
  // the log axis over the finite trained losses, when a diverged run's last loss lies above them (or is not
  // finite): a 1e22 would flatten every other curve; null lets Plotly fit the axis itself
  const logs = trained.filter((v) => v !== null && Number.isFinite(v) && v > 0).map(Math.log10);
  if (!logs.length || !blowups.length) return null;
  const lo = Math.min(...logs), hi = Math.max(...logs);
  if (!blowups.some((b) => b.y === null || !(Math.log10(b.y) <= hi))) return null;
  const pad = Math.max(0.1, 0.08 * (hi - lo));
  return [lo - pad, hi + pad];
}

// Epochs come in bursts (the stream is read every 50 ms; a fast run sends dozens at once): a full redraw per
// epoch froze the page for seconds (Stop could not be clicked). The chart is redrawn at most once per
// animation frame, with every epoch that came before it.
function redrawTraining() {
  if (!T.frame) T.frame = requestAnimationFrame(() => { T.frame = 0; drawTraining(); });
}

function flushTraining() {  // a redraw asked for and not yet done, now
  if (T.frame) { cancelAnimationFrame(T.frame); T.frame = 0; drawTraining(); }
}

async function startTraining(label = "") {  // label: what the legend calls the live curve (a lesson's run)
  if (T.source && T.source.readyState !== EventSource.CLOSED) {  // a lesson started over a live run: end that one
    T.source.close();
    $("t-stop-btn").disabled = true;
    $("t-status").textContent = "stopping the running run…";
    // awaited to its end: asked for at once, the new run was refused while the old one finished its epoch
    // ("at most 2 training runs at once") and the chart stayed empty
    await api(`/api/train/${T.job}/stop?wait=${STOP_WAIT_S}`, {}).catch(() => {});
    $("t-start").disabled = false;  // live again should the new run be refused
  }
  T.epochs = [];
  T.diverged = false;
  T.initial = null;
  T.liveLabel = label;  // a lesson names its runs; a run of one's own has no name
  T.dataset = $("t-dataset").value;  // the live run's, should the form change while it trains
  drawTraining();
  $("t-status").textContent = "starting…";
  // a run of a new model, data set or batch size compiles its program: seconds before the first epoch, with an
  // empty chart (a run like an earlier one reuses it, hence "may")
  showNote("t-note", "starting: the first epoch may take a few seconds while it compiles…", "busy");
  try {
    const { job } = await api("/api/train", trainRequest());
    T.job = job;
    if (T.lesson && T.lesson.job === null) T.lesson.job = job;  // the lesson's first run
    $("t-start").disabled = true;
    $("t-stop-btn").disabled = false;
    const source = new EventSource(`/api/train/${job}/events`);
    T.source = source;
    source.addEventListener("epoch", (msg) => {
      const row = JSON.parse(msg.data);
      if ("initial_loss" in row) T.initial = row.initial_loss;  // epoch 0 on the chart, from the first epoch on
      T.epochs.push(row);
      showNote("t-note", "", null);
      $("t-status").textContent = `epoch ${row.epoch}: train loss ${fmt(row.train_loss)}` +
        (row.test_accuracy !== undefined && row.test_accuracy !== null ? `, test accuracy ${fmt(row.test_accuracy)}` : "");
      redrawTraining();
    });
    const finish = (text, cls) => {
      source.close();
      flushTraining();  // the last epochs drawn before the line under the buttons says the run ended
      $("t-start").disabled = false;
      $("t-stop-btn").disabled = true;
      if (cls === "error") {  // the error in the note, in red; the line under the buttons says where to look
        T.lesson = null;
        showNote("t-note", text, "error");
        $("t-status").innerHTML = `<span class="error">the run failed (the message is above the chart)</span>`;
      } else {
        showNote("t-note", "", null);
        $("t-status").textContent = text;
      }
      loadRuns();
    };
    source.addEventListener("end", (msg) => {
      const end = JSON.parse(msg.data);
      if ("initial_loss" in end) T.initial = end.initial_loss;  // epoch 0 on the chart: where the run started
      redrawTraining();
      if (end.status === "diverged") {  // its last loss (1e22, finite) would flatten the curve: marked, off the axis
        T.diverged = true;
        redrawTraining();
      }
      finish(`${end.reason}${end.run_id ? ` (run ${end.run_id})` : ""}`, null);
      const lesson = T.lesson;  // a lesson's second run, after its first ended (not after a stop)
      if (lesson && lesson.job === job) {
        if (end.status === "interrupted") T.lesson = null;
        else lesson.next(end);
      }
    });
    source.addEventListener("error", (msg) => {
      if (msg.data) finish(JSON.parse(msg.data).detail, "error");
      else if (source.readyState === EventSource.CLOSED) finish("the connection closed", "error");
    });
  } catch (err) {  // refused before it started
    showNote("t-note", fieldError(err, T_LABELS), "error");
    $("t-status").textContent = "";
  }
}

async function loadRuns() {
  // asked twice when a run ends with the box open (the run's end, the box's toggle): only the newest answer is
  // drawn, and a run stays ticked from the click on (T.ticked), not from when its curve came
  const seq = ++T.listSeq;
  try {
    const { runs } = await api("/api/runs");
    if (seq !== T.listSeq) return;
    $("t-runs").innerHTML = runs.length ? runs.map((r) =>
      `<label><input type="checkbox" value="${esc(r.id)}" ${T.ticked.has(r.id) ? "checked" : ""}> ${esc(r.id)} ${esc(r.model_text)} on ${esc(r.dataset)}, ` +
      `${esc(r.status)}, ${r.epochs_run} epochs, learning rate ${fmt(r.learning_rate)}${r.schedule && r.schedule !== "constant" ? ` (${esc(r.schedule)})` : ""}, ${r.batch_size === "full" ? "batch (all data)" : `batch size ${esc(r.batch_size ?? "–")}`}</label>`).join("") : "<p>No recorded runs yet.</p>";
    $("t-runs").querySelectorAll("input").forEach((box) => box.addEventListener("change", () => tickRun(box.value, box.checked)));
  } catch (err) {
    if (seq === T.listSeq) $("t-runs").innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

async function tickRun(id, ticked) {  // a past run's curve over the live one (drawn while it stays ticked)
  if (!ticked) { T.ticked.delete(id); drawTraining(); return; }
  T.ticked.add(id);
  try {
    T.overlays[id] = await api(`/api/runs/${encodeURIComponent(id)}`);
    drawTraining();
  } catch (err) {
    showNote("t-note", err.message, "error");
  }
}

$("t-start").addEventListener("click", () => { T.lesson = null; startTraining(); });  // a run of one's own
$("t-stop-btn").addEventListener("click", () => { if (T.job) api(`/api/train/${T.job}/stop`, {}); });
$("t-runs-box").addEventListener("toggle", loadRuns);
function variantBatch() {  // the batch size the variant trains with, shown (greyed) where the variant sets it
  const variant = $("t-variant").value, box = $("t-batch");
  if (variant === "minibatch") {  // the size typed before, back
    if (box.dataset.typed !== undefined) { box.value = box.dataset.typed; delete box.dataset.typed; }
    box.disabled = false;
    return;
  }
  if (box.dataset.typed === undefined) box.dataset.typed = box.value;
  box.value = variant === "sgd" ? "1" : String(T_ROWS[$("t-dataset").value]);  // SGD showed the mini-batch's 32
  box.disabled = true;
}
$("t-variant").addEventListener("change", variantBatch);
$("t-dataset").addEventListener("change", variantBatch);  // batch GD's size: the data set's training rows
for (const id of ["t-dataset", "t-model"]) $(id).addEventListener("change", fitModels);
fitModels();

// ------------------------------------------------------------------ learn: presets
function scheduleLessonForm(schedule, warmup) {  // the schedule lesson's runs: SGD on linreg, 20 epochs at 0.05
  $("t-dataset").value = "linreg"; $("t-model").value = "linear"; fitModels();
  $("t-variant").value = "sgd"; $("t-variant").dispatchEvent(new Event("change"));
  $("t-lr").value = 0.05; $("t-schedule").value = schedule; $("t-warmup").value = warmup; $("t-epochs").value = 20;
}

const PRESETS = {
  update() {
    showTab("surfaces");
    $("s-surface").value = "quadratic"; $("s-surface").dispatchEvent(new Event("change"));
    $("s-condition").value = 0; setSurfaceLr(0.2);
    document.querySelectorAll(".s-opt").forEach((c) => { c.checked = c.value === "plain"; });
    S.shown = 0; updateSurface().then(play);
  },
  rate() {
    showTab("surfaces");
    $("s-surface").value = "quadratic"; $("s-surface").dispatchEvent(new Event("change"));
    $("s-condition").value = 1; setSurfaceLr(1.9);
    document.querySelectorAll(".s-opt").forEach((c) => { c.checked = c.value === "plain"; });
    updateSurface();
  },
  batches() { showTab("batches"); R.batch = 8; runRegression(); },
  schedule() {
    // SGD at a constant rate, then the same with a cosine schedule over the constant run's dotted curve: the first
    // bounces at its noise floor, the second settles below it (one cosine run alone showed nothing to compare)
    showTab("train");
    scheduleLessonForm("constant", 0);
    const lesson = {
      job: null,  // its first run's, once started
      async next(end) {
        if (end.run_id) {
          await tickRun(end.run_id, true);  // its recorded curve, dotted, and ticked in the list of runs
          if (T.overlays[end.run_id]) T.overlays[end.run_id].label = "constant rate";  // not "run 3f2a…": which is it?
        } else {  // a lab without a database: the curve as it came
          T.overlays["constant rate"] = { label: "constant rate", dataset: T.dataset, status: end.status,
            initial_loss: T.initial, history: { epoch: T.epochs.map((r) => r.epoch), train_loss: T.epochs.map((r) => r.train_loss) } };
          T.ticked.add("constant rate");
        }
        if (T.lesson !== lesson) return;  // a run of one's own, or another lesson, since
        T.lesson = null;
        scheduleLessonForm("cosine", 50);  // the same settings again, whatever was typed meanwhile
        startTraining("cosine schedule");
      },
    };
    T.lesson = lesson;
    startTraining("constant rate");  // like the other lessons: open it running
  },
};
document.querySelectorAll("[data-preset]").forEach((b) => b.addEventListener("click", () => {
  T.lesson = null;  // another lesson ends the schedule lesson's chain
  PRESETS[b.dataset.preset]();
}));

updateSurface();
