/* attnviz model view: a thumbnail per layer x head; click one to enlarge it with token labels. */
(function () {
  "use strict";
  var NS = window.attnvizViews;
  if (NS.model) { return; }
  var core = NS.core;

  /* Paint map[vq x vk] into a canvas of one pixel per weight (peak: the map's maximum, if known). */
  function paint(off, k, map, vq, vk, scale, lut, peak) {
    off.width = vk.length;
    off.height = vq.length;
    var ctx = off.getContext("2d"), img = ctx.createImageData(vk.length, vq.length), px = img.data;
    var s = core.scaler(scale, peak === undefined ? core.peak(map, k.nk, vq, vk) : peak), o = 0;
    for (var a = 0; a < vq.length; a++) {
      var row = vq[a] * k.nk;
      for (var b = 0; b < vk.length; b++) {
        var c = Math.max(0, Math.min(255, Math.round(s(map[row + vk[b]]) * 255))) * 3;
        px[o] = lut[c]; px[o + 1] = lut[c + 1]; px[o + 2] = lut[c + 2]; px[o + 3] = 255; o += 4;
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  function boundaryLines(ctx, k, vis, cw, ch, w, h) {
    var bq = k.boundary(vis.q, "q"), bk = k.boundary(vis.k, "k");
    ctx.save(); ctx.setLineDash([3, 2]); ctx.strokeStyle = "#2e7d32"; ctx.lineWidth = 1; ctx.beginPath();
    if (bq >= 0) { ctx.moveTo(0, bq * ch); ctx.lineTo(w, bq * ch); }
    if (bk >= 0) { ctx.moveTo(bk * cw, 0); ctx.lineTo(bk * cw, h); }
    ctx.stroke(); ctx.restore();
  }

  function labels(cls, k, side, indices, cell, step) {
    var box = core.el("div", cls), b = k.boundary(indices, side), longest = 0;
    indices.forEach(function (idx, p) {
      if (p % step) { return; }
      var t = core.token(k, side, idx);
      var font = Math.min(12, Math.max(8, cell - 2)), box2 = Math.max(cell, font + 2), at = p * cell + cell / 2 - box2 / 2;
      t.style.fontSize = font + "px";
      t.style.lineHeight = box2 + "px";
      if (side === "q") { t.style.top = at + "px"; t.style.height = box2 + "px"; }
      else { t.style.left = at + "px"; t.style.width = box2 + "px"; }
      if (p === b) { t.classList.add("av-boundary"); }
      box.appendChild(t);
      if (side === "k") { longest = Math.max(longest, textWidth(t.textContent, font)); }
    });
    /* The column labels' strip is as tall as its longest label (no empty band above the map). */
    if (side === "k") { box.style.height = Math.min(90, Math.ceil(longest) + 8) + "px"; }
    return box;
  }

  var measure = null;
  function textWidth(text, font) {
    measure = measure || document.createElement("canvas").getContext("2d");
    measure.font = font + "px Helvetica, Arial, sans-serif";
    return measure.measureText(text).width;
  }

  /* The enlarged map of one head (or a mean / max of heads) with token labels, a colour bar
   * under it and a hover read-out. */
  function drawDetail(root, detail, off, k, map, vis, scale, title, size, opts) {
    opts = opts || {};
    var W = opts.long ? opts.long.window || 128 : 0;
    if (opts.long && (vis.q.length > 2 * W || vis.k.length > 2 * W)) {
      return drawLong(root, detail, off, k, map, vis, scale, title, opts);
    }
    var vq = vis.q, vk = vis.k, n = Math.max(vq.length, vk.length);
    var cell = Math.max(2, Math.min(22, Math.floor((size || 560) / n))), step = Math.max(1, Math.ceil(9 / cell));
    /* A few rows (a last-row or query-profile capture) get readable rows whatever the key count. */
    var ch = vq.length <= 8 ? Math.max(cell, 16) : cell, w = vk.length * cell, h = vq.length * ch;
    detail.textContent = "";
    detail.appendChild(core.el("div", "av-title", title));
    var frame = core.el("div", "av-frame"), top = labels("av-top", k, "k", vk, cell, step);
    var side = labels("av-side", k, "q", vq, ch, ch === cell ? step : 1), canvas = core.el("canvas", "av-big");
    top.style.width = w + "px"; side.style.height = h + "px";
    frame.appendChild(core.el("div", "av-corner", "query \\ key"));
    frame.appendChild(top); frame.appendChild(side); frame.appendChild(canvas);
    var peak = core.peak(map, k.nk, vq, opts.sinks === false ? vk.filter(function (i) { return i !== 0; }) : vk);
    frame.appendChild(core.el("div"));
    frame.appendChild(core.colourBar(root, scale, peak));
    detail.appendChild(frame);
    var status = core.el("div", "av-status", "move the mouse over the map to read a weight");
    detail.appendChild(status);
    var ctx = core.sizeCanvas(canvas, w, h);
    paint(off, k, map, vq, vk, scale, core.lut(root), peak);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, 0, 0, w, h);
    boundaryLines(ctx, k, vis, cell, ch, w, h);
    var row = opts.query === null || opts.query === undefined ? -1 : vq.indexOf(opts.query);
    if (row >= 0) {
      /* The selected query token: its row outlined, its label marked. */
      ctx.save(); ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2;
      ctx.strokeRect(1, row * ch + 1, w - 2, Math.max(ch - 2, 1)); ctx.restore();
      var lab = side.querySelector('.av-tok[data-i="' + opts.query + '"]');
      if (lab) { lab.classList.add("av-query"); }
      var best = 0;
      for (var j = 0; j < vk.length; j++) { if (map[opts.query * k.nk + vk[j]] > map[opts.query * k.nk + vk[best]]) { best = j; } }
      status.textContent = "selected query #" + opts.query + " " + k.q[opts.query] + ": strongest key #" + vk[best] +
        " " + k.k[vk[best]] + " (" + map[opts.query * k.nk + vk[best]].toFixed(4) + ")";
    }
    function pick(a) { if (opts.onQuery && a >= 0 && a < vq.length) { opts.onQuery(vq[a] === opts.query ? null : vq[a]); } }
    canvas.addEventListener("mousemove", function (ev) {
      var r = canvas.getBoundingClientRect(), a = Math.floor((ev.clientY - r.top) / ch), b = Math.floor((ev.clientX - r.left) / cell);
      if (a < 0 || b < 0 || a >= vq.length || b >= vk.length) { return; }
      var wgt = map[vq[a] * k.nk + vk[b]];
      status.textContent = "query #" + vq[a] + " " + k.q[vq[a]] + "  \u2192  key #" + vk[b] + " " + k.k[vk[b]] + ": " + wgt.toFixed(4);
    });
    if (opts.onQuery) {
      canvas.style.cursor = "pointer";
      canvas.title = "click a row to select its query token";
      canvas.addEventListener("click", function (ev) {
        pick(Math.floor((ev.clientY - canvas.getBoundingClientRect().top) / ch));
      });
      side.addEventListener("click", function (ev) {
        var t = ev.target.closest && ev.target.closest(".av-tok");
        if (t) { pick(vq.indexOf(+t.getAttribute("data-i"))); }
      });
    }
  }

  function overviewOf(k, map, vis, sinks, pool, key) {
    var vq = vis.q, vk = vis.k, ow = Math.min(vk.length, 512), oh = Math.min(vq.length, 512);
    var acc = new Float32Array(ow * oh), cnt = pool === "max" ? null : new Float32Array(ow * oh), cb = new Int32Array(vk.length);
    var peak = 0, best = -1, bq = 0, bk = vk.length > 1 ? 1 : 0, a, b;
    for (b = 0; b < vk.length; b++) { cb[b] = Math.floor(b * ow / vk.length); }
    for (a = 0; a < vq.length; a++) {
      var row = vq[a] * k.nk, o = Math.floor(a * oh / vq.length) * ow;
      for (b = 0; b < vk.length; b++) {
        var w = map[row + vk[b]], at = o + cb[b];
        if (cnt) { acc[at] += w; cnt[at] += 1; } else if (w > acc[at]) { acc[at] = w; }
        if (vk[b] !== 0) {
          if (w > best) { best = w; bq = a; bk = b; }
        }
        if (w > peak && (sinks !== false || vk[b] !== 0)) { peak = w; }
      }
    }
    if (cnt) { for (var i = 0; i < acc.length; i++) { acc[i] = cnt[i] ? acc[i] / cnt[i] : 0; } }
    return { key: key, acc: acc, peak: peak, bq: bq, bk: bk };
  }

  /* Long inputs: an overview of the whole map, pooled (max or mean) to at most 512 x 512 pixels,
   * and under it a window of the map at full resolution, moved by a click on the overview. */
  function drawLong(root, detail, off, k, map, vis, scale, title, opts) {
    var vq = vis.q, vk = vis.k, W = opts.long.window || 128, pool = opts.long.pool || "max";
    var ow = Math.min(vk.length, 512), oh = Math.min(vq.length, 512);
    /* Pooled overview, its peak and the strongest weight: computed once per map, visibility, first-key
     * choice and pooling; a scale change only recolours them. */
    var key = [vq.length, vq[0], vk.length, vk[0], opts.sinks, pool].join(":"), pre = map.attnvizLong;
    if (!pre || pre.key !== key) { pre = map.attnvizLong = overviewOf(k, map, vis, opts.sinks, pool, key); }
    var peak = pre.peak;
    detail.textContent = "";
    detail.appendChild(core.el("div", "av-title", title));
    var dropped = "";
    if (k.sparse && k.dropped) {
      var worst = Math.max.apply(null, k.dropped);
      dropped = "; only the " + k.sparse + " strongest keys of each row are in the page (at most " +
        (100 * worst).toFixed(1) + "% of a row's weight left out)";
    }
    detail.appendChild(core.el("div", "av-note av-long-note", "overview of all " + vq.length + " x " + vk.length +
      " weights, " + pool + " pooling to " + oh + " x " + ow + " pixels" +
      (opts.sinks === false ? ", the first key left out of the colour scale" : "") + dropped +
      ". Click it to see a window at full resolution."));
    var over = core.el("canvas", "av-overview"), dispW = Math.max(ow, Math.min(512, vk.length * 2));
    var dispH = Math.max(24, Math.round(dispW * oh / ow * (vq.length >= vk.length ? 1 : Math.max(vq.length / vk.length, oh / ow))));
    dispH = Math.min(dispH, 512);
    var octx = core.sizeCanvas(over, dispW, dispH), src = document.createElement("canvas");
    src.width = ow; src.height = oh;
    var sctx = src.getContext("2d"), img = sctx.createImageData(ow, oh), px = img.data, lut = core.lut(root);
    var acc = pre.acc, s = core.scaler(scale, peak);
    for (var i = 0; i < acc.length; i++) {
      var c = Math.max(0, Math.min(255, Math.round(s(acc[i]) * 255))) * 3;
      px[i * 4] = lut[c]; px[i * 4 + 1] = lut[c + 1]; px[i * 4 + 2] = lut[c + 2]; px[i * 4 + 3] = 255;
    }
    sctx.putImageData(img, 0, 0);
    var frame = core.el("div", "av-frame");
    frame.appendChild(core.el("div", "av-corner", "query \\ key"));
    frame.appendChild(core.el("div", "av-note", "keys 0 \u2192 " + (vk.length - 1)));
    frame.appendChild(core.el("div", "av-note", vq.length > 1 ? "rows 0 \u2192 " + (vq.length - 1) : k.q[vq[0]]));
    frame.appendChild(over);
    frame.appendChild(core.el("div"));
    frame.appendChild(core.colourBar(root, scale, peak));
    detail.appendChild(frame);
    var zoom = core.el("div", "av-zoom");
    detail.appendChild(zoom);
    var bq = pre.bq, bk = pre.bk;
    function window_(ca, cb2) {
      var hq = Math.min(vq.length, 2 * W), hk = Math.min(vk.length, 2 * W);
      var r0 = Math.max(0, Math.min(vq.length - hq, ca - (hq >> 1))), c0 = Math.max(0, Math.min(vk.length - hk, cb2 - (hk >> 1)));
      octx.setTransform(window.devicePixelRatio || 1, 0, 0, window.devicePixelRatio || 1, 0, 0);
      octx.imageSmoothingEnabled = false;
      octx.drawImage(src, 0, 0, dispW, dispH);
      octx.save(); octx.strokeStyle = "#d62728"; octx.lineWidth = 2;
      octx.strokeRect(c0 / vk.length * dispW, r0 / vq.length * dispH, Math.max(3, hk / vk.length * dispW), Math.max(3, hq / vq.length * dispH));
      octx.restore();
      drawDetail(root, zoom, off, k, map, { q: vq.slice(r0, r0 + hq), k: vk.slice(c0, c0 + hk) }, scale,
        "window at full resolution: rows " + r0 + "\u2013" + (r0 + hq - 1) + ", keys " + c0 + "\u2013" + (c0 + hk - 1), 560,
        { sinks: opts.sinks, query: opts.query, onQuery: opts.onQuery });
      root.setAttribute("data-window", r0 + "," + c0);
    }
    over.addEventListener("click", function (ev) {
      var r = over.getBoundingClientRect();
      window_(Math.floor((ev.clientY - r.top) / dispH * vq.length), Math.floor((ev.clientX - r.left) / dispW * vk.length));
    });
    window_(bq, bk);
    root.setAttribute("data-long", pool);
  }

  /* Thumbnails: every map pooled once (mean of the visible weights in each thumbnail pixel, as
   * uint8 steps) per visibility (hidden tokens, sentence filter); a scale change only recolours
   * these small images through a 256-entry table, so it stays fast on long inputs. */
  function pooled(k, li, hi, vis, size, useMax) {
    var vq = vis.q, vk = vis.k, tw = Math.min(size, vk.length), th = Math.min(size, vq.length);
    var sum = new Float32Array(tw * th), cnt = new Float32Array(tw * th), cb = new Int32Array(vk.length);
    var bytes = k.bytes, off = (li * k.heads.length + hi) * k.size, top = 0, rest = 0, a, b;
    for (b = 0; b < vk.length; b++) { cb[b] = Math.floor(b * tw / vk.length); }
    var all = vk.length === k.nk;  /* every key shown: no index look-up per weight */
    for (a = 0; a < vq.length; a++) {
      var row = off + vq[a] * k.nk, o = Math.floor(a * th / vq.length) * tw;
      for (b = 0; b < vk.length; b++) {
        var v = bytes[row + (all ? b : vk[b])];
        if (useMax) { if (v > sum[o + cb[b]]) { sum[o + cb[b]] = v; } cnt[o + cb[b]] = 1; } else { sum[o + cb[b]] += v; cnt[o + cb[b]] += 1; }
        if (v > top) { top = v; }
        if (v > rest && vk[b] !== 0) { rest = v; }
      }
    }
    var out = new Uint8Array(tw * th);
    for (var i = 0; i < out.length; i++) { out[i] = cnt[i] ? Math.round(sum[i] / cnt[i]) : 0; }
    return { w: tw, h: th, px: out, top: top, rest: rest, steps: k.steps(li, hi) };
  }

  /* Colour table index of each uint8 step of one map under a scale. */
  function stepTable(p, scale, sinks) {
    var s = core.scaler(scale, p.steps[sinks === false ? p.rest : p.top]), t = new Uint8Array(256);
    for (var v = 0; v < 256; v++) { t[v] = Math.max(0, Math.min(255, Math.round(s(p.steps[v]) * 255))); }
    return t;
  }

  function paintPooled(c, p, scale, lut, size, sinks) {
    var ctx = c.getContext("2d"), src = document.createElement("canvas");
    src.width = p.w; src.height = p.h;
    var sctx = src.getContext("2d"), img = sctx.createImageData(p.w, p.h), px = img.data, t = stepTable(p, scale, sinks);
    for (var i = 0, o = 0; i < p.px.length; i++, o += 4) {
      var ci = t[p.px[i]] * 3;
      px[o] = lut[ci]; px[o + 1] = lut[ci + 1]; px[o + 2] = lut[ci + 2]; px[o + 3] = 255;
    }
    sctx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, size, size);
    ctx.drawImage(src, 0, 0, size, size);
  }

  /* payload.selected: [layer position, head position] enlarged first; payload.onSelect(li, hi):
   * called when a thumbnail is clicked (the explorer follows it). */
  function render(root, payload, kinds) {
    var st = { kind: 0, scale: payload.scale, hide: false, pair: "all", sel: (payload.selected || [0, 0]).slice(),
      vis: null, closeup: "map", pools: null, sinks: payload.long ? payload.long.sinks !== false : true };
    var ui = core.el("div", "av-ui"), bar = core.el("div", "av-bar"), body = core.el("div", "av-model-body");
    var grid = core.el("div", "av-grid"), detail = core.el("div", "av-detail"), off = document.createElement("canvas");
    var thumbs = core.el("div", "av-thumbs"), gridBar = core.el("div"), cells = [];
    root.appendChild(ui); ui.appendChild(bar); ui.appendChild(body); body.appendChild(thumbs); body.appendChild(detail);
    thumbs.appendChild(grid); thumbs.appendChild(gridBar);
    function kind() { return kinds[st.kind]; }

    if (kinds.length > 1) {
      bar.appendChild(core.select("Attention", kinds.map(function (k, i) { return [i, k.label]; }), 0,
        function (v) { st.kind = +v; st.sel = [0, 0]; pairControl(); rebuild(); }).wrap);
    }
    bar.appendChild(core.select("Scale", core.SCALES, st.scale, function (v) { st.scale = v; recolour(); }).wrap);
    bar.appendChild(core.checkbox("hide special tokens", false, function (c) { st.hide = c; rebuild(); }).wrap);
    if (payload.long && !payload.embedded) {
      bar.appendChild(core.checkbox("first key in the colour scale", st.sinks, function (c) { st.sinks = c; recolour(); }).wrap);
    }
    var pairBox = core.el("span");
    bar.appendChild(pairBox);
    bar.appendChild(core.select("Close-up", [["map", "map"], ["lines", "lines (hover a token)"]], "map",
      function (v) { st.closeup = v; select(); }).wrap);
    bar.appendChild(core.el("span", "av-note", "click a thumbnail to enlarge it"));

    /* The close-up as a head view of the one selected head: lines, weights under the mouse. */
    function lines(k, li, hi) {
      var one = Object.create(k);
      one.layers = [k.layers[li]]; one.heads = [k.heads[hi]];
      one.map = function () { return k.map(li, hi); };
      one.meanMap = function () { return k.map(li, hi); };
      detail.textContent = "";
      detail.appendChild(core.el("div", "av-title", k.label + ": layer " + k.layers[li] + ", head " + k.heads[hi]));
      var sub = core.el("div", "av-closeup-lines");
      sub.classList.toggle("av-dark", root.classList.contains("av-dark"));
      detail.appendChild(sub);
      NS.head.render(sub, { scale: st.scale, initialLayer: 0 }, [one]);
    }
    function pairControl() {
      pairBox.textContent = "";
      var c = core.pairControl(kind(), function (v) { st.pair = v; rebuild(); });
      if (c) { c.select.value = st.pair; pairBox.appendChild(c.wrap); } else { st.pair = "all"; }
    }

    function thumbSize() { return Math.max(32, Math.min(72, Math.floor(840 / kind().heads.length))); }

    function rebuild() {
      var k = kind(), nh = k.heads.length, size = thumbSize();
      st.vis = k.visible(st.hide, st.pair);
      st.pools = [];
      cells = [];
      grid.textContent = "";
      grid.style.gridTemplateColumns = "auto repeat(" + nh + ", " + (size + 4) + "px)";
      grid.appendChild(core.el("div", "av-corner", k.label));
      k.heads.forEach(function (h) { grid.appendChild(core.el("div", "av-hlabel", "H" + h)); });
      k.layers.forEach(function (l, li) {
        grid.appendChild(core.el("div", "av-llabel", "L" + l));
        k.heads.forEach(function (h, hi) {
          var c = core.el("canvas", "av-thumb");
          c.title = "layer " + l + ", head " + h;
          c.setAttribute("data-layer", String(l));
          c.setAttribute("data-head", String(h));
          core.sizeCanvas(c, size, size);
          /* kept on the kind: the explorer draws this grid again on every switch to it */
          var useMax = !!payload.long && payload.long.pool === "max", key = [li, hi, size, useMax, st.hide, st.pair].join(":");
          k.pools = k.pools || {};
          st.pools.push(k.pools[key] || (k.pools[key] = pooled(k, li, hi, st.vis, size, useMax)));
          c.addEventListener("click", function () {
            st.sel = [li, hi]; select();
            if (payload.onSelect) { payload.onSelect(li, hi); }
          });
          cells.push(c);
          grid.appendChild(c);
        });
      });
      recolour();
    }

    /* Colour the pooled thumbnails, the colour bar and the close-up for the current scale. */
    function recolour() {
      var k = kind(), size = thumbSize(), lut = core.lut(root);
      cells.forEach(function (c, i) {
        paintPooled(c, st.pools[i], st.scale, lut, size, st.sinks);
        var ctx = c.getContext("2d");
        boundaryLines(ctx, k, st.vis, size / st.vis.k.length, size / st.vis.q.length, size, size);
      });
      /* One bar for the thumbnails: under "map" each has its own maximum. */
      var cbar = core.colourBar(root, st.scale, null);
      thumbs.replaceChild(cbar, gridBar);
      gridBar = cbar;
      root.setAttribute("data-scale", st.scale);
      select();
    }

    function select() {
      var k = kind(), li = st.sel[0], hi = st.sel[1];
      cells.forEach(function (c) {
        c.classList.toggle("av-selected", +c.getAttribute("data-layer") === k.layers[li] &&
          +c.getAttribute("data-head") === k.heads[hi]);
      });
      if (st.closeup === "lines") {
        lines(k, li, hi);
      } else {
        drawDetail(root, detail, off, k, k.map(li, hi), st.vis, st.scale,
          k.label + ": layer " + k.layers[li] + ", head " + k.heads[hi], undefined, { long: payload.long, sinks: st.sinks });
      }
      root.setAttribute("data-selected", k.layers[li] + "," + k.heads[hi]);
      root.setAttribute("data-kind", k.name);
    }

    pairControl();
    rebuild();
  }

  NS.model = { render: render, paint: paint, drawDetail: drawDetail };
})();
