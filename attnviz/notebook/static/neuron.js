/* attnviz neuron view: q, k, q*k, score and weight of one head, for the query token under the mouse. */
(function () {
  "use strict";
  var NS = window.attnvizViews;
  if (NS.neuron) { return; }
  var core = NS.core;
  var ROW = 18;

  /* Blue (negative) - background - red (positive), by |v| / peak. */
  function diverging(v, peak, dark) {
    var t = Math.max(-1, Math.min(1, peak > 0 ? v / peak : 0)), a = Math.abs(t);
    var bg = dark ? [30, 30, 30] : [255, 255, 255], end = t >= 0 ? [214, 39, 40] : [31, 119, 180];
    return "rgb(" + [0, 1, 2].map(function (c) { return Math.round(bg[c] * (1 - a) + end[c] * a); }).join(",") + ")";
  }

  /* A colour bar of the diverging colours: -peak (blue), 0, +peak (red). */
  function divergingBar(root, what, peak, dark) {
    var width = 160, box = core.el("div", "av-cbar"), strip = core.el("canvas", "av-cbar-strip"), axis = core.el("div", "av-cbar-axis");
    var ctx = core.sizeCanvas(strip, width, 10);
    for (var x = 0; x < width; x++) { ctx.fillStyle = diverging((x / (width - 1) * 2 - 1) * peak, peak, dark); ctx.fillRect(x, 0, 1, 10); }
    axis.style.width = width + "px";
    [[-peak, 0], [0, 0.5], [peak, 1]].forEach(function (t, i) {
      var e = core.el("div", "av-cbar-tick", t[0] === 0 ? "0" : String(+t[0].toPrecision(2)));
      e.style.left = (t[1] * 100) + "%";
      e.setAttribute("data-pos", String(t[1]));
      if (i === 0) { e.classList.add("av-first"); }
      if (i === 2) { e.classList.add("av-last"); }
      axis.appendChild(e);
    });
    box.setAttribute("data-what", what);
    box.setAttribute("data-max", String(peak));
    box.appendChild(strip); box.appendChild(axis);
    box.appendChild(core.el("div", "av-cbar-caption", "colour: " + what + " (blue negative, red positive)"));
    return box;
  }

  function render(root, payload) {
    var n = payload.tokens.length, d = payload.d, st = { query: payload.query };
    var li = payload.layers ? payload.layers.indexOf(payload.layer) : 0, hi = payload.heads ? payload.heads.indexOf(payload.head) : 0;
    var ui = core.el("div", "av-ui"), body = core.el("div", "av-head-body"), left = core.el("div", "av-col av-left");
    var canvas = core.el("canvas", "av-neuron"), status = core.el("div", "av-status"), bars = core.el("div", "av-neuron-bars");
    var title = core.el("div", "av-title");
    if (payload.vectors) {
      var bar = core.el("div", "av-bar");
      bar.appendChild(core.select("Layer", payload.layers.map(function (l, i) { return [i, String(l)]; }), li,
        function (v) { li = +v; pick(); draw(); }).wrap);
      bar.appendChild(core.select("Head", payload.heads.map(function (h, i) { return [i, "H" + h]; }), hi,
        function (v) { hi = +v; pick(); draw(); }).wrap);
      ui.appendChild(bar);
    }
    ui.appendChild(title);
    function pick() {
      if (payload.vectors) {
        var v = payload.vectors[li][hi];
        payload.q = v.q; payload.k = v.k; payload.scale = v.scale;
        payload.layer = payload.layers[li]; payload.head = payload.heads[hi];
      }
      title.textContent = "Neuron view: layer " + payload.layer + ", head " + payload.head +
        " (d = " + d + ", score = " + payload.scale.toFixed(4) + " \u00d7 sum of q \u00d7 k)";
      root.setAttribute("data-layer", String(payload.layer));
      root.setAttribute("data-head", String(payload.head));
    }
    pick();
    ui.appendChild(core.el("div", "av-note", "hover or click a query token on the left; columns: key vector k, " +
      "elementwise product q \u00d7 k (red positive, blue negative), score, softmax weight"));
    left.style.paddingTop = 2 * ROW + "px";  /* query i beside key i */
    body.appendChild(left); body.appendChild(canvas); ui.appendChild(body); ui.appendChild(bars); ui.appendChild(status);
    root.appendChild(ui);
    payload.tokens.forEach(function (t, i) {
      var e = core.el("div", "av-tok", t);
      if (payload.special[i]) { e.classList.add("av-special"); }
      e.style.height = ROW + "px"; e.style.lineHeight = ROW + "px";
      e.addEventListener("mouseenter", function () { st.query = i; draw(); });
      e.addEventListener("click", function () { st.query = i; draw(); });
      left.appendChild(e);
    });
    var cw = Math.max(2, Math.min(10, Math.floor(260 / d))), label = 90, strip = d * cw, gap = 14;
    var x0 = label, x1 = x0 + strip + gap, x2 = x1 + strip + gap, x3 = x2 + 70, width = x3 + 130;

    function draw() {
      var dark = root.classList.contains("av-dark"), fg = core.fg(root), i = st.query, q = payload.q[i];
      var keys = [], prod = [], score = [], peakK = 0, peakP = 0;
      for (var j = 0; j < n; j++) {
        if (payload.causal && j > i) { break; }
        var p = [], s = 0;
        for (var c = 0; c < d; c++) {
          var v = q[c] * payload.k[j][c];
          p.push(v); s += v;
          peakK = Math.max(peakK, Math.abs(payload.k[j][c]));
          peakP = Math.max(peakP, Math.abs(v));
        }
        keys.push(j); prod.push(p); score.push(s * payload.scale);
      }
      var top = Math.max.apply(null, score), ws = score.map(function (s) { return Math.exp(s - top); });
      var total = ws.reduce(function (a, b) { return a + b; }, 0);
      ws = ws.map(function (w) { return w / total; });
      var peakQ = Math.max.apply(null, q.map(Math.abs));
      var height = (keys.length + 2) * ROW + 4, ctx = core.sizeCanvas(canvas, width, height);
      ctx.clearRect(0, 0, width, height);
      ctx.font = "11px sans-serif"; ctx.textBaseline = "middle"; ctx.fillStyle = fg;
      ctx.fillText("query q: " + payload.tokens[i], 2, ROW / 2);
      for (var c2 = 0; c2 < d; c2++) { ctx.fillStyle = diverging(q[c2], peakQ, dark); ctx.fillRect(x0 + c2 * cw, 2, cw, ROW - 4); }
      ctx.fillStyle = fg;
      ctx.fillText("key k", x0, ROW * 1.5); ctx.fillText("q \u00d7 k", x1, ROW * 1.5);
      ctx.fillText("score", x2, ROW * 1.5); ctx.fillText("weight", x3, ROW * 1.5);
      keys.forEach(function (j, r) {
        var y = (r + 2) * ROW;
        ctx.fillStyle = fg;
        ctx.fillText(payload.tokens[j].slice(0, 12), 2, y + ROW / 2);
        for (var c = 0; c < d; c++) {
          ctx.fillStyle = diverging(payload.k[j][c], peakK, dark); ctx.fillRect(x0 + c * cw, y + 2, cw, ROW - 4);
          ctx.fillStyle = diverging(prod[r][c], peakP, dark); ctx.fillRect(x1 + c * cw, y + 2, cw, ROW - 4);
        }
        ctx.fillStyle = fg;
        ctx.fillText(score[r].toFixed(3), x2, y + ROW / 2);
        ctx.fillStyle = "#1f77b4"; ctx.fillRect(x3, y + 3, 80 * ws[r] / Math.max.apply(null, ws), ROW - 6);
        ctx.fillStyle = fg; ctx.fillText(ws[r].toFixed(3), x3 + 84, y + ROW / 2);
      });
      Array.prototype.forEach.call(left.children, function (t, p) { t.classList.toggle("av-focus", p === i); });
      bars.textContent = "";
      bars.style.paddingLeft = (left.offsetWidth + x0) + "px";
      bars.appendChild(divergingBar(root, "query q", peakQ, dark));
      bars.appendChild(divergingBar(root, "key k", peakK, dark));
      bars.appendChild(divergingBar(root, "q \u00d7 k", peakP, dark));
      var best = ws.indexOf(Math.max.apply(null, ws));
      status.textContent = payload.tokens[i] + " \u2192 " + payload.tokens[keys[best]] + ": weight " + ws[best].toFixed(3) +
        " (score " + score[best].toFixed(3) + ")";
      root.setAttribute("data-query", String(i));
      root.setAttribute("data-weights", ws.map(function (w) { return w.toFixed(5); }).join(","));
    }
    draw();
  }

  NS.neuron = { render: render };
})();
