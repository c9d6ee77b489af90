// The dispatch-sim report page: reads the embedded run, draws a canvas timeline of the
// rows in view only (so 10,000 calls stay fast), and never puts trace text into HTML:
// every string from the trace goes through textContent or onto the canvas.
(function () {
  "use strict";
  var started = performance.now();
  var DATA = JSON.parse(document.getElementById("dispatch-sim-data").textContent);
  var H = DATA.header, CALLS = DATA.calls, KINDS = DATA.faultKinds, TEST = DATA.test || { notes: [] };
  var NOTE_COLOR = "#ca8a04";
  var TEST_LANE = -1;  // the row index of the test's own lane, above the calls'
  // The test lane is on the failing path when any call is, and is the culprit when no call failed.
  var testMarked = H.inTest || DATA.path.length > 0;
  var ROW = 22, AXIS = 28, GUTTER = 300, PAD = 16;
  var COLORS = { OK: "#16a34a", POLL: "#3b82f6", TAIL_CALL: "#0d9488", ERR: "#dc2626" };
  var GAP_STYLE = { waiting: "#bfdbfe", backoff: "#fdba74", sleep: "#c4b5fd", delivery: "#d1d5db" };
  var FAULT_STYLE = {
    endpoint_error: { color: "#ea580c", shape: "triangle", label: "endpoint error (before running)" },
    response_lost: { color: "#c026d3", shape: "diamond", label: "response lost (after running)" },
    crash: { color: "#111827", shape: "cross", label: "crash (in-memory state lost)" }
  };
  var OTHER_FAULT = { color: "#7c3aed", shape: "circle" };
  var onPath = new Uint8Array(CALLS.length);
  DATA.path.forEach(function (i) { onPath[i] = 1; });
  var childCount = new Int32Array(CALLS.length);
  CALLS.forEach(function (c) { if (c.p >= 0) childCount[c.p]++; });
  var collapsed = new Uint8Array(CALLS.length);
  var rows = [];  // indices of calls shown, in tree order
  var markerTotal = 0, noteTotal = TEST.notes.length;
  CALLS.forEach(function (c) { markerTotal += c.f.length; noteTotal += (c.n || []).length; });
  function marked(i) { return i === TEST_LANE ? testMarked : onPath[i]; }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmtTime(t) { return t === null || t === undefined ? "-" : t.toFixed(6) + "s"; }
  function statusColor(s) { return COLORS[s] || (s ? COLORS.ERR : "#9ca3af"); }
  function faultStyle(kind) { return FAULT_STYLE[kind] || OTHER_FAULT; }

  // -- header, toolbar and legend ------------------------------------------------
  var header = el("header");
  var h1 = el("h1", null, H.test || "simulation");
  h1.appendChild(el("span", "outcome " + (H.failed ? "bad" : H.recorded ? "ok" : "unknown"),
    H.inTest ? "failed in the test" : H.failed ? "failed" : H.recorded ? "passed" : "no call failed"));
  header.appendChild(h1);
  var facts = el("div", "facts");
  function fact(name, value) { var s = el("span", null, name + " "); s.appendChild(el("b", null, value)); facts.appendChild(s); }
  fact("seed", H.seed);
  fact("faults", H.faults || "-");
  fact("calls", CALLS.length);
  fact("attempts", H.attempts);
  fact("retries", H.retries);
  fact("events", H.events);
  fact("virtual time", fmtTime(H.duration));
  var injected = Object.keys(H.faultCounts).map(function (k) { return k + " " + H.faultCounts[k]; }).join(", ");
  fact("faults injected", injected || "none");
  fact("digest", (H.digest || "").slice(0, 16));
  fact("outcome", H.outcome);
  header.appendChild(facts);
  if (H.blame) header.appendChild(el("div", "blame", H.blame));
  if (H.replay.length) {
    var replay = el("div", "replay", "replay: ");
    H.replay.forEach(function (cmd, i) { if (i) replay.appendChild(document.createTextNode("  or  ")); replay.appendChild(el("code", null, cmd)); });
    header.appendChild(replay);
  }
  document.body.appendChild(header);

  var bar = el("div", "bar");
  function button(label, title, fn) { var b = el("button", null, label); b.title = title; b.addEventListener("click", fn); bar.appendChild(b); return b; }
  button("+", "zoom in (+)", function () { zoomAt(view.width / 2, 1.6); });
  button("\u2212", "zoom out (-)", function () { zoomAt(view.width / 2, 1 / 1.6); });
  button("fit", "whole run (0)", function () { fit(); draw(); });
  button("expand all", "show every call", function () { collapsed.fill(0); layout(); });
  button("collapse all", "show the top calls only", function () { for (var i = 0; i < CALLS.length; i++) collapsed[i] = childCount[i] ? 1 : 0; layout(); });
  var legend = el("div", "legend");
  function swatch(draw1, label) {
    var c = el("canvas"); c.width = 18; c.height = 14; draw1(c.getContext("2d"));
    var s = el("span"); s.appendChild(c); s.appendChild(document.createTextNode(label)); legend.appendChild(s);
  }
  swatch(function (g) { g.fillStyle = COLORS.OK; g.fillRect(1, 3, 16, 8); }, "attempt OK");
  swatch(function (g) { g.fillStyle = COLORS.POLL; g.fillRect(1, 3, 16, 8); }, "attempt suspended (poll)");
  swatch(function (g) { g.fillStyle = COLORS.ERR; g.fillRect(1, 3, 16, 8); }, "attempt failed");
  swatch(function (g) { g.fillStyle = GAP_STYLE.delivery; g.fillRect(1, 5, 16, 4); }, "request in transit");
  swatch(function (g) { g.fillStyle = GAP_STYLE.waiting; g.fillRect(1, 5, 16, 4); }, "waiting for calls");
  swatch(function (g) { g.fillStyle = GAP_STYLE.backoff; g.fillRect(1, 5, 16, 4); }, "retry backoff");
  swatch(function (g) { g.fillStyle = GAP_STYLE.sleep; g.fillRect(1, 5, 16, 4); }, "durable sleep");
  KINDS.forEach(function (k) { swatch(function (g) { marker(g, 9, 7, k, 5); }, faultStyle(k).label || k); });
  if (noteTotal) swatch(function (g) { noteMark(g, 9, 7); }, "note (sim.note)");
  legend.appendChild(el("span", "hint", "drag to pan \u00b7 ctrl+wheel to zoom \u00b7 click a lane for details"));
  bar.appendChild(legend);
  document.body.appendChild(bar);

  var main = el("main");
  var scroller = el("div"); scroller.id = "scroller";
  var spacer = el("div"); spacer.id = "spacer";
  var view = el("canvas"); view.id = "view";
  scroller.appendChild(spacer); scroller.appendChild(view);
  var aside = el("aside");
  aside.appendChild(el("h2", null, "Details"));
  var details = el("pre", "empty", "Hover over an attempt, a gap or a fault; click a lane to keep its details here.");
  aside.appendChild(details);
  main.appendChild(scroller); main.appendChild(aside);
  document.body.appendChild(main);
  var tip = el("div"); tip.id = "tip"; document.body.appendChild(tip);
  var g = view.getContext("2d");

  // -- geometry ----------------------------------------------------------------
  var t0 = 0, scale = 1;  // virtual seconds at the left edge of the plot; pixels per second
  var plotW = 100, dpr = window.devicePixelRatio || 1;
  function x(t) { return GUTTER + (t - t0) * scale; }
  function tAt(px) { return t0 + (px - GUTTER) / scale; }
  function fit() {
    var span = Math.max(H.duration, 1e-6);
    t0 = -span * 0.01; scale = (plotW - PAD) / (span * 1.02);
  }
  function resize() {
    var w = scroller.clientWidth, h = scroller.clientHeight;
    view.style.width = w + "px"; view.style.height = h + "px";
    view.width = Math.round(w * dpr); view.height = Math.round(h * dpr);
    var oldW = plotW; plotW = Math.max(50, w - GUTTER);
    if (oldW === 100) fit(); else scale *= plotW / oldW;
  }
  function layout() {
    rows = [TEST_LANE];
    var hideBelow = -1;  // depth under which calls are hidden (a collapsed ancestor)
    for (var i = 0; i < CALLS.length; i++) {
      var d = CALLS[i].d;
      if (hideBelow >= 0 && d > hideBelow) continue;
      hideBelow = collapsed[i] ? d : -1;
      rows.push(i);
    }
    spacer.style.height = (rows.length * ROW + AXIS) + "px";
    draw();
  }
  function zoomAt(px, factor) {
    var t = tAt(Math.max(px, GUTTER));
    scale = Math.min(Math.max(scale * factor, 1e-3), 1e12);
    t0 = t - (Math.max(px, GUTTER) - GUTTER) / scale;
    draw();
  }

  // -- drawing -------------------------------------------------------------------
  function marker(c, cx, cy, kind, r) {
    var s = faultStyle(kind);
    c.fillStyle = s.color; c.strokeStyle = s.color; c.lineWidth = 2;
    c.beginPath();
    if (s.shape === "triangle") { c.moveTo(cx, cy - r); c.lineTo(cx + r, cy + r); c.lineTo(cx - r, cy + r); c.closePath(); c.fill(); }
    else if (s.shape === "diamond") { c.moveTo(cx, cy - r); c.lineTo(cx + r, cy); c.lineTo(cx, cy + r); c.lineTo(cx - r, cy); c.closePath(); c.fill(); }
    else if (s.shape === "cross") { c.moveTo(cx - r, cy - r); c.lineTo(cx + r, cy + r); c.moveTo(cx + r, cy - r); c.lineTo(cx - r, cy + r); c.stroke(); }
    else { c.arc(cx, cy, r, 0, 6.2832); c.fill(); }
  }
  function noteMark(c, cx, cy) {
    c.fillStyle = NOTE_COLOR; c.beginPath(); c.moveTo(cx - 4, cy - 5); c.lineTo(cx + 4, cy - 5); c.lineTo(cx, cy + 1); c.closePath(); c.fill();
  }
  function drawNotes(notes, i, y) {
    (notes || []).forEach(function (n) {
      var nx = x(n[0]);
      noteMark(g, nx, y + ROW - 6); drawn.notes++;
      hits.push([nx - 5, nx + 5, y, y + ROW, "note", i, n]);
    });
  }
  function drawTestLane(y, mid, w, r) {
    g.fillStyle = testMarked ? "#fef2f2" : "#f8fafc"; g.fillRect(0, y, w, ROW);
    g.save(); g.beginPath(); g.rect(GUTTER, y, w - GUTTER, ROW); g.clip();
    g.strokeStyle = testMarked ? "#dc2626" : "#94a3b8"; g.lineWidth = testMarked ? 2 : 1;
    g.beginPath(); g.moveTo(x(0), mid + 0.5); g.lineTo(x(H.duration), mid + 0.5); g.stroke();
    drawNotes(TEST.notes, TEST_LANE, y);
    g.restore();
    g.fillStyle = testMarked ? "#fee2e2" : "#eef2f7"; g.fillRect(0, y, GUTTER, ROW);
    g.fillStyle = testMarked ? "#991b1b" : "#1d2330";
    g.fillText("test  " + (H.test || "(main)"), 8, mid, GUTTER - 90);
    g.fillStyle = H.failed ? COLORS.ERR : H.recorded ? COLORS.OK : "#6b7280"; g.textAlign = "right";
    g.fillText(H.inTest ? "failed here" : H.failed ? "failed" : H.recorded ? "passed" : "", GUTTER - 8, mid); g.textAlign = "left";
    hits.push([0, GUTTER, y, y + ROW, "call", TEST_LANE, null]);
  }
  function niceStep(px) {
    var raw = px / scale, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
    return (m < 2 ? 2 : m < 5 ? 5 : 10) * p;
  }
  var drawn = { rows: 0, markers: 0, notes: 0 };
  var hits = [];  // what is under the pointer: [x0, x1, y0, y1, kind, callIndex, item]
  function draw() {
    var w = view.width / dpr, h = view.height / dpr, top = scroller.scrollTop;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    hits = [];
    var first = Math.max(0, Math.floor(top / ROW)), last = Math.min(rows.length, Math.ceil((top + h - AXIS) / ROW) + 1);
    var rowPos = {};
    drawn.rows = 0; drawn.markers = 0; drawn.notes = 0;
    g.font = "12px system-ui, sans-serif"; g.textBaseline = "middle";
    for (var r = first; r < last; r++) {
      var i = rows[r], c = CALLS[i], y = AXIS + r * ROW - top, mid = y + ROW / 2;
      if (i === TEST_LANE) { drawTestLane(y, mid, w, r); continue; }
      rowPos[i] = mid; drawn.rows++;
      g.fillStyle = onPath[i] ? "#fef2f2" : (r % 2 ? "#f8fafc" : "#ffffff");
      g.fillRect(0, y, w, ROW);
      // the plot: lifetime, gaps, attempts, faults, outcome
      g.save(); g.beginPath(); g.rect(GUTTER, y, w - GUTTER, ROW); g.clip();
      var end = c.t1 === null ? H.duration : c.t1;
      g.strokeStyle = "#cbd5e1"; g.lineWidth = 1; g.beginPath(); g.moveTo(x(c.t0), mid + 0.5); g.lineTo(x(end), mid + 0.5); g.stroke();
      c.g.forEach(function (gap) {
        var a = x(gap[1]), b = Math.max(x(gap[2]), a + 1);
        g.fillStyle = GAP_STYLE[gap[0]] || "#e5e7eb"; g.fillRect(a, mid - 3, b - a, 6);
        hits.push([a, b, y, y + ROW, "gap", i, gap]);
      });
      c.a.forEach(function (at) {
        var a = x(at[0]), b = Math.max(x(at[1]), a + 3);
        if (b < GUTTER || a > w) return;
        g.fillStyle = statusColor(at[2]); g.fillRect(a, y + 4, b - a, ROW - 8);
        if (b - a > 40) { g.fillStyle = "#ffffff"; g.fillText("#" + at[4], a + 3, mid, b - a - 4); }
        hits.push([a - 1, b + 1, y, y + ROW, "attempt", i, at]);
      });
      c.f.forEach(function (f) {
        var fx = x(f[0]);
        marker(g, fx, y + 5, KINDS[f[1]], 4.5); drawn.markers++;
        hits.push([fx - 6, fx + 6, y, y + ROW, "fault", i, f]);
      });
      drawNotes(c.n, i, y);
      if (c.t1 !== null) {
        g.fillStyle = statusColor(c.st === "abandoned" ? "ERR" : c.st); g.beginPath(); g.arc(x(c.t1), mid, 3.5, 0, 6.2832); g.fill();
      }
      g.restore();
      // the gutter: tree, id, function, status
      g.fillStyle = onPath[i] ? "#fee2e2" : (r % 2 ? "#f1f5f9" : "#f8fafc"); g.fillRect(0, y, GUTTER, ROW);
      var ix = 8 + Math.min(c.d, 30) * 12;
      g.fillStyle = "#6b7280";
      if (childCount[i]) g.fillText(collapsed[i] ? "\u25b8" : "\u25be", ix, mid);
      g.fillStyle = onPath[i] ? "#991b1b" : "#1d2330";
      var label = c.id + "  " + c.fn + (collapsed[i] ? "  (+" + childCount[i] + ")" : "");
      g.fillText(label, ix + 12, mid, GUTTER - ix - 70);
      g.fillStyle = statusColor(c.st === "abandoned" ? "ERR" : c.st); g.textAlign = "right";
      g.fillText(c.st || "unfinished", GUTTER - 8, mid); g.textAlign = "left";
      hits.push([0, GUTTER, y, y + ROW, "call", i, null]);
    }
    // callers to callees: a thin line at the dispatch time, when both lanes are in view
    g.save(); g.beginPath(); g.rect(GUTTER, AXIS, w - GUTTER, h - AXIS); g.clip();
    g.strokeStyle = "rgba(100,116,139,0.45)"; g.lineWidth = 1;
    for (var k = first; k < last; k++) {
      var ci = rows[k];
      if (ci === TEST_LANE) continue;
      var p = CALLS[ci].p;
      if (p >= 0 && rowPos[p] !== undefined) { var lx = Math.round(x(CALLS[ci].t0)) + 0.5; g.beginPath(); g.moveTo(lx, rowPos[p]); g.lineTo(lx, rowPos[ci]); g.stroke(); }
    }
    g.restore();
    // axis
    g.fillStyle = "#ffffff"; g.fillRect(0, 0, w, AXIS);
    g.strokeStyle = "#e5e7eb"; g.beginPath(); g.moveTo(0, AXIS - 0.5); g.lineTo(w, AXIS - 0.5); g.moveTo(GUTTER - 0.5, 0); g.lineTo(GUTTER - 0.5, h); g.stroke();
    var step = niceStep(90), digits = Math.max(0, -Math.floor(Math.log10(step)));
    g.fillStyle = "#6b7280"; g.textAlign = "center";
    for (var t = Math.ceil(tAt(GUTTER) / step) * step; x(t) < w; t += step) {
      var tx = Math.round(x(t)) + 0.5;
      g.beginPath(); g.moveTo(tx, AXIS - 6); g.lineTo(tx, AXIS); g.stroke();
      g.fillText(t.toFixed(Math.min(digits, 9)) + "s", tx, AXIS / 2);
    }
    g.textAlign = "left"; g.fillStyle = "#1d2330"; g.font = "600 12px system-ui, sans-serif";
    g.fillText("call (" + (rows.length - 1) + " lanes)", 8, AXIS / 2);
  }

  // -- details -------------------------------------------------------------------
  function extrasText(obj) {
    var out = [];
    Object.keys(obj || {}).forEach(function (k) {
      var v = obj[k];
      out.push(k + ": " + (typeof v === "string" ? v : JSON.stringify(v, null, 2)));
    });
    return out;
  }
  function describe(kind, i, item) {
    var c = i === TEST_LANE ? { fn: "test", id: H.test || "" } : CALLS[i], lines = [];
    if (kind === "note") {
      lines.push("note at " + fmtTime(item[0]) + (i === TEST_LANE ? " (by the test)" : "  " + c.fn + "  " + c.id));
      lines.push(item[1]);
    } else if (kind === "attempt") {
      lines.push(c.fn + "  " + c.id + "  attempt " + item[4] + (item[5] ? " (resumed)" : ""));
      lines.push("status: " + item[2] + (item[3] ? " (" + item[3] + ")" : ""));
      lines.push("from " + fmtTime(item[0]) + " to " + fmtTime(item[1]) + (item[6] ? " (start derived)" : ""));
      lines = lines.concat(extrasText((c.ax || {})[String(item[4])]));
    } else if (kind === "gap") {
      lines.push(c.fn + "  " + c.id + "  " + item[0]);
      lines.push("from " + fmtTime(item[1]) + " to " + fmtTime(item[2]) + " (" + (item[2] - item[1]).toFixed(6) + "s)");
    } else if (kind === "fault") {
      lines.push("fault: " + KINDS[item[1]] + (item[3] ? " (" + item[3] + ")" : ""));
      lines.push(c.fn + "  " + c.id + "  attempt " + item[2] + " at " + fmtTime(item[0]));
    } else {
      lines.push(c.fn + "  " + c.id);
    }
    return lines;
  }
  function testText() {
    var lines = ["test: " + (H.test || "(main)"), "outcome: " + H.outcome];
    if (H.blame) lines.push(H.blame + "  \u2190 this lane");
    else if (DATA.path.length) lines.push("the path to the failing call starts here");
    TEST.notes.forEach(function (n) { lines.push("note at " + fmtTime(n[0]) + ": " + n[1]); });
    return lines.join("\n");
  }
  function callText(i) {
    if (i === TEST_LANE) return testText();
    var c = CALLS[i], lines = [];
    lines.push("function: " + c.fn);
    lines.push("DispatchID: " + c.id + (c.p >= 0 ? "  (called by " + CALLS[c.p].id + " " + CALLS[c.p].fn + ")" : "  (called by the test)"));
    lines.push("outcome: " + (c.st || "unfinished") + (onPath[i] ? "  \u2190 on the failing path" : ""));
    lines.push("dispatched " + fmtTime(c.t0) + ", ended " + fmtTime(c.t1));
    lines.push("attempts: " + c.a.length + ", retries: " + c.r + ", calls made: " + childCount[i]);
    lines = lines.concat(extrasText(c.x));
    lines.push("");
    c.a.forEach(function (a) {
      lines.push("#" + a[4] + " " + a[2] + (a[3] ? " (" + a[3] + ")" : "") + "  " + fmtTime(a[0]) + " \u2192 " + fmtTime(a[1]) + (a[5] ? " resumed" : ""));
      extrasText((c.ax || {})[String(a[4])]).forEach(function (l) { lines.push("    " + l); });
    });
    c.f.forEach(function (f) { lines.push("fault " + KINDS[f[1]] + " on attempt " + f[2] + (f[3] ? " (" + f[3] + ")" : "") + " at " + fmtTime(f[0])); });
    (c.n || []).forEach(function (n) { lines.push("note at " + fmtTime(n[0]) + ": " + n[1]); });
    return lines.join("\n");
  }
  function hitAt(px, py) {
    for (var k = hits.length - 1; k >= 0; k--) {
      var hh = hits[k];
      if (px >= hh[0] && px <= hh[1] && py >= hh[2] && py < hh[3]) return hh;
    }
    return null;
  }
  function local(ev) { var b = view.getBoundingClientRect(); return [ev.clientX - b.left, ev.clientY - b.top]; }

  // -- interaction -------------------------------------------------------------
  var drag = null;
  view.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX, y: ev.clientY, t0: t0, top: scroller.scrollTop, moved: false }; });
  window.addEventListener("mouseup", function (ev) {
    if (drag && !drag.moved) {
      var p = local(ev), hh = hitAt(p[0], p[1]);
      if (hh) {
        if (hh[4] === "call" && hh[5] !== TEST_LANE && childCount[hh[5]] && p[0] < 20 + CALLS[hh[5]].d * 12 + 12) { collapsed[hh[5]] ^= 1; layout(); }
        details.className = ""; details.textContent = callText(hh[5]);
      }
    }
    drag = null; view.classList.remove("dragging");
  });
  window.addEventListener("mousemove", function (ev) {
    if (drag) {
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; view.classList.add("dragging"); }
      if (drag.moved) { t0 = drag.t0 - dx / scale; scroller.scrollTop = drag.top - dy; draw(); tip.style.display = "none"; }
      return;
    }
    if (ev.target !== view) { tip.style.display = "none"; return; }
    var p = local(ev), hh = hitAt(p[0], p[1]);
    if (!hh || hh[4] === "call") { tip.style.display = "none"; return; }
    tip.textContent = describe(hh[4], hh[5], hh[6]).join("\n");
    tip.style.display = "block";
    tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + "px";
    tip.style.top = (ev.clientY + 16) + "px";
  });
  view.addEventListener("wheel", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { ev.preventDefault(); zoomAt(local(ev)[0], Math.exp(-ev.deltaY / 300)); }
    else if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) { ev.preventDefault(); t0 += (ev.deltaX || ev.deltaY) / scale; draw(); }
  }, { passive: false });
  window.addEventListener("keydown", function (ev) {
    if (ev.key === "+" || ev.key === "=") zoomAt(view.width / dpr / 2 + GUTTER / 2, 1.6);
    else if (ev.key === "-") zoomAt(view.width / dpr / 2 + GUTTER / 2, 1 / 1.6);
    else if (ev.key === "0") { fit(); draw(); }
  });
  scroller.addEventListener("scroll", function () { window.requestAnimationFrame(draw); });
  window.addEventListener("resize", function () { resize(); draw(); });

  resize();
  layout();
  if (H.inTest) {  // open on the test: no call failed
    details.className = ""; details.textContent = testText();
  } else if (DATA.path.length) {  // open on the failing call
    var deepest = DATA.path[DATA.path.length - 1];
    details.className = ""; details.textContent = callText(deepest);
    var at = rows.indexOf(deepest);
    if (at * ROW > scroller.clientHeight - AXIS - ROW) { scroller.scrollTop = at * ROW - ROW * 3; draw(); }
  }
  // Checks for the browser test, written into the page.
  var selftest = el("pre");
  selftest.id = "selftest";
  selftest.textContent = JSON.stringify({
    calls: CALLS.length, lanes: rows.length - 1, lanesDrawn: drawn.rows, markers: markerTotal,
    markersDrawn: drawn.markers, legendKinds: KINDS.length, errors: window.__errors || [],
    testLane: rows[0] === TEST_LANE, testMarked: !!testMarked, notes: noteTotal, notesDrawn: drawn.notes,
    blame: H.blame || null,
    renderMs: Math.round(performance.now() - started), sinceNavigationMs: Math.round(performance.now())
  });
  document.body.appendChild(selftest);
})();
