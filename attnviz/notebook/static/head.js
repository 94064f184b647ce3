/* attnviz head view: tokens in two columns, lines whose opacity is the attention weight
 * (a key under them reads an opacity as a weight for the chosen scale). */
(function () {
  "use strict";
  var NS = window.attnvizViews;
  if (NS.head) { return; }
  var core = NS.core;
  var ROW = 20, WIDTH = 200, LEVELS = 32;

  function render(root, payload, kinds) {
    var st = { kind: 0, layer: payload.initialLayer || 0, heads: [], mean: false, hide: false, pair: "all",
      scale: payload.scale, focus: null, vis: null };
    var ui = core.el("div", "av-ui"), bar = core.el("div", "av-bar"), headBar = core.el("div", "av-heads");
    var body = core.el("div", "av-head-body"), left = core.el("div", "av-col av-left");
    var canvas = core.el("canvas", "av-lines"), right = core.el("div", "av-col av-right");
    var note = core.el("div", "av-note"), status = core.el("div", "av-status"), pairBox = core.el("span");
    var key = core.el("div"), keyFor = null;
    body.appendChild(left); body.appendChild(canvas); body.appendChild(right);
    root.appendChild(ui);
    function kind() { return kinds[st.kind]; }

    if (kinds.length > 1) {
      bar.appendChild(core.select("Attention", kinds.map(function (k, i) { return [i, k.label]; }), 0,
        function (v) { st.kind = +v; st.layer = Math.min(st.layer, kind().layers.length - 1); pairControl(); rebuild(true); }).wrap);
    }
    var layerSel = core.select("Layer", [], 0, function (v) { st.layer = +v; draw(); });
    bar.appendChild(layerSel.wrap);
    bar.appendChild(core.select("Scale", core.SCALES, st.scale, function (v) { st.scale = v; draw(); }).wrap);
    bar.appendChild(core.checkbox("mean of selected heads", false, function (c) { st.mean = c; draw(); }).wrap);
    bar.appendChild(core.checkbox("hide special tokens", false, function (c) { st.hide = c; rebuild(false); }).wrap);
    bar.appendChild(pairBox);
    ui.appendChild(bar); ui.appendChild(headBar); ui.appendChild(note); ui.appendChild(body); ui.appendChild(key); ui.appendChild(status);
    function pairControl() {
      pairBox.textContent = "";
      var c = core.pairControl(kind(), function (v) { st.pair = v; rebuild(false); });
      if (c) { c.select.value = st.pair; pairBox.appendChild(c.wrap); } else { st.pair = "all"; }
    }

    function headButtons() {
      headBar.textContent = "";
      headBar.appendChild(core.el("span", "av-label", "Heads"));
      kind().heads.forEach(function (h, hi) {
        var b = core.el("button", "av-head-btn", "H" + h);
        b.type = "button";
        b.style.setProperty("--av-head", core.headColour(h));
        b.title = "head " + h + ": click to toggle, double-click to show it alone";
        b.setAttribute("data-head", String(h));
        b.classList.toggle("av-on", st.heads.indexOf(hi) >= 0);
        b.addEventListener("click", function () {
          var at = st.heads.indexOf(hi);
          if (at >= 0) { st.heads.splice(at, 1); } else { st.heads.push(hi); st.heads.sort(function (x, y) { return x - y; }); }
          b.classList.toggle("av-on", at < 0);
          draw();
        });
        b.addEventListener("dblclick", function () {
          st.heads = [hi];
          Array.prototype.forEach.call(headBar.querySelectorAll(".av-head-btn"), function (o) { o.classList.toggle("av-on", o === b); });
          draw();
        });
        headBar.appendChild(b);
      });
      var all = core.el("button", "av-small", "all");
      all.type = "button";
      all.addEventListener("click", function () { st.heads = kind().heads.map(function (_, i) { return i; }); headButtons(); draw(); });
      headBar.appendChild(all);
    }

    function column(el, side, indices, boundary) {
      el.textContent = "";
      indices.forEach(function (idx, p) {
        var t = core.token(kind(), side, idx);
        t.style.height = ROW + "px";
        t.style.lineHeight = ROW + "px";
        if (p === boundary) { t.classList.add("av-boundary"); }
        t.addEventListener("mouseenter", function () { st.focus = { side: side, pos: p }; draw(); });
        t.addEventListener("mouseleave", function () { st.focus = null; draw(); });
        el.appendChild(t);
      });
    }

    function rebuild(newKind) {
      var k = kind();
      if (newKind) { st.heads = k.heads.map(function (_, i) { return i; }); }
      core.setOptions(layerSel.select, k.layers.map(function (l, i) { return [i, String(l)]; }), st.layer);
      headButtons();
      st.vis = k.visible(st.hide, st.pair);
      column(left, "q", st.vis.q, k.boundary(st.vis.q, "q"));
      column(right, "k", st.vis.k, k.boundary(st.vis.k, "k"));
      note.textContent = k.label + ": rows on the left attend to tokens on the right" +
        (k.boundary(st.vis.q, "q") >= 0 ? "; tokens after the dashed line (bold green) were generated" : "");
      st.focus = null;
      draw();
    }

    function groups(k) {
      if (!st.heads.length) { return []; }
      if (st.mean) { return [{ colour: core.fg(root), map: k.meanMap(st.layer, st.heads) }]; }
      return st.heads.map(function (hi) { return { colour: core.headColour(k.heads[hi]), map: k.map(st.layer, hi) }; });
    }

    function draw() {
      var k = kind(), vq = st.vis.q, vk = st.vis.k;
      var height = Math.max(vq.length, vk.length) * ROW;
      var ctx = core.sizeCanvas(canvas, WIDTH, height);
      ctx.clearRect(0, 0, WIDTH, height);
      var gs = groups(k), count = 0, heat = new Float32Array(Math.max(vq.length, vk.length));
      var f = st.focus, qs = f && f.side === "q" ? [f.pos] : null, ks = f && f.side === "k" ? [f.pos] : null;
      var peaks = gs.map(function (g) { return core.peak(g.map, k.nk, vq, vk); });
      gs.forEach(function (g, gi) {
        var s = core.scaler(st.scale, peaks[gi]), paths = [];
        for (var l = 0; l <= LEVELS; l++) { paths.push(null); }
        (qs || vq.map(function (_, i) { return i; })).forEach(function (a) {
          (ks || vk.map(function (_, i) { return i; })).forEach(function (b) {
            var w = g.map[vq[a] * k.nk + vk[b]], level = Math.round(Math.min(1, s(w)) * LEVELS);
            if (f) { heat[f.side === "q" ? b : a] += w / gs.length; }
            if (level < 1) { return; }
            var p = paths[level] || (paths[level] = new Path2D());
            p.moveTo(0, a * ROW + ROW / 2);
            p.lineTo(WIDTH, b * ROW + ROW / 2);
            count++;
          });
        });
        ctx.strokeStyle = g.colour;
        ctx.lineWidth = 1.6;
        paths.forEach(function (p, level) { if (p) { ctx.globalAlpha = level / LEVELS; ctx.stroke(p); } });
      });
      ctx.globalAlpha = 1;
      var bq = k.boundary(vq, "q");
      if (bq >= 0) {
        ctx.setLineDash([4, 3]); ctx.strokeStyle = "#2e7d32"; ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(0, bq * ROW); ctx.lineTo(WIDTH, bq * ROW); ctx.stroke(); ctx.setLineDash([]);
      }
      shade(f, heat, gs.length);
      opacityKey(peaks);
      root.setAttribute("data-lines", String(count));
      root.setAttribute("data-layer", String(k.layers[st.layer]));
      root.setAttribute("data-kind", k.name);
      root.setAttribute("data-focus", f ? f.side + ":" + f.pos : "");
    }

    /* The key of the line opacity: rebuilt only when what it shows changes (not on every hover). */
    function opacityKey(peaks) {
      var one = peaks.length === 1 ? peaks[0] : null, what = st.scale + ":" + (st.scale === "map" ? one + ":" + st.mean : "");
      if (what === keyFor) { return; }
      keyFor = what;
      var bar = core.colourBar(root, st.scale, one, { alpha: true, what: "line opacity", each: "head",
        one: st.mean ? "the mean's" : "this head's" });
      key.parentNode.replaceChild(bar, key);
      key = bar;
    }

    /* Hovered token: its own label outlined, the other column shaded by the mean weight. */
    /* The weights under the mouse: written beside each token of the other column (the mean over
     * the heads shown) and the strongest one in the status line. */
    function shade(f, heat, groupsShown) {
      var other = f ? (f.side === "q" ? right : left) : null, best = -1;
      [left, right].forEach(function (col) {
        Array.prototype.forEach.call(col.children, function (t, p) {
          t.style.backgroundColor = "";
          t.removeAttribute("data-w");
          t.classList.toggle("av-focus", !!f && col !== other && p === f.pos);
          if (col === other && groupsShown) {
            t.style.backgroundColor = "rgba(31,119,180," + Math.min(1, heat[p]).toFixed(3) + ")";
            t.setAttribute("data-w", heat[p].toFixed(3));
            if (best < 0 || heat[p] > heat[best]) { best = p; }
          }
        });
      });
      if (!f) { status.textContent = "hover a token to read its attention weights"; return; }
      if (!groupsShown) { status.textContent = "no head selected"; return; }
      var k = kind(), own = f.side === "q" ? k.q[st.vis.q[f.pos]] : k.k[st.vis.k[f.pos]];
      var them = f.side === "q" ? k.k[st.vis.k[best]] : k.q[st.vis.q[best]];
      var what = groupsShown > 1 ? "mean over the " + groupsShown + " heads shown" : (st.mean ? "mean of the selected heads" : "one head");
      status.textContent = (f.side === "q" ? own + " \u2192 " + them : them + " \u2192 " + own) + ": " +
        heat[best].toFixed(3) + " (strongest; " + what + "); the weight of every token is written beside it";
    }

    pairControl();
    rebuild(true);
  }

  NS.head = { render: render };
})();
