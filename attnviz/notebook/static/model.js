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
    var box = core.el("div", cls), b = k.boundary(indices, side);
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
    });
    return box;
  }

  /* The enlarged map of one head (or a mean / max of heads) with token labels, a colour bar
   * under it and a hover read-out. */
  function drawDetail(root, detail, off, k, map, vis, scale, title, size) {
    var vq = vis.q, vk = vis.k, n = Math.max(vq.length, vk.length);
    var cell = Math.max(2, Math.min(22, Math.floor((size || 560) / n))), step = Math.max(1, Math.ceil(9 / cell));
    var w = vk.length * cell, h = vq.length * cell;
    detail.textContent = "";
    detail.appendChild(core.el("div", "av-title", title));
    var frame = core.el("div", "av-frame"), top = labels("av-top", k, "k", vk, cell, step);
    var side = labels("av-side", k, "q", vq, cell, step), canvas = core.el("canvas", "av-big");
    top.style.width = w + "px"; side.style.height = h + "px";
    frame.appendChild(core.el("div", "av-corner", "query \\ key"));
    frame.appendChild(top); frame.appendChild(side); frame.appendChild(canvas);
    var peak = core.peak(map, k.nk, vq, vk);
    frame.appendChild(core.el("div"));
    frame.appendChild(core.colourBar(root, scale, peak));
    detail.appendChild(frame);
    var status = core.el("div", "av-status", "move the mouse over the map to read a weight");
    detail.appendChild(status);
    var ctx = core.sizeCanvas(canvas, w, h);
    paint(off, k, map, vq, vk, scale, core.lut(root), peak);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, 0, 0, w, h);
    boundaryLines(ctx, k, vis, cell, cell, w, h);
    canvas.addEventListener("mousemove", function (ev) {
      var r = canvas.getBoundingClientRect(), a = Math.floor((ev.clientY - r.top) / cell), b = Math.floor((ev.clientX - r.left) / cell);
      if (a < 0 || b < 0 || a >= vq.length || b >= vk.length) { return; }
      var wgt = map[vq[a] * k.nk + vk[b]];
      status.textContent = "query #" + vq[a] + " " + k.q[vq[a]] + "  \u2192  key #" + vk[b] + " " + k.k[vk[b]] + ": " + wgt.toFixed(4);
    });
  }

  function render(root, payload, kinds) {
    var st = { kind: 0, scale: payload.scale, hide: false, pair: "all", sel: [0, 0], vis: null, closeup: "map" };
    var ui = core.el("div", "av-ui"), bar = core.el("div", "av-bar"), body = core.el("div", "av-model-body");
    var grid = core.el("div", "av-grid"), detail = core.el("div", "av-detail"), off = document.createElement("canvas");
    var thumbs = core.el("div", "av-thumbs"), gridBar = core.el("div");
    root.appendChild(ui); ui.appendChild(bar); ui.appendChild(body); body.appendChild(thumbs); body.appendChild(detail);
    thumbs.appendChild(grid); thumbs.appendChild(gridBar);
    function kind() { return kinds[st.kind]; }

    if (kinds.length > 1) {
      bar.appendChild(core.select("Attention", kinds.map(function (k, i) { return [i, k.label]; }), 0,
        function (v) { st.kind = +v; st.sel = [0, 0]; pairControl(); rebuild(); }).wrap);
    }
    bar.appendChild(core.select("Scale", core.SCALES, st.scale, function (v) { st.scale = v; rebuild(); }).wrap);
    bar.appendChild(core.checkbox("hide special tokens", false, function (c) { st.hide = c; rebuild(); }).wrap);
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

    function rebuild() {
      var k = kind(), nh = k.heads.length, size = Math.max(32, Math.min(72, Math.floor(840 / nh)));
      st.vis = k.visible(st.hide, st.pair);
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
          var ctx = core.sizeCanvas(c, size, size);
          paint(off, k, k.map(li, hi), st.vis.q, st.vis.k, st.scale, core.lut(root));
          ctx.imageSmoothingEnabled = st.vis.k.length > size;
          ctx.imageSmoothingQuality = "high";
          ctx.drawImage(off, 0, 0, size, size);
          boundaryLines(ctx, k, st.vis, size / st.vis.k.length, size / st.vis.q.length, size, size);
          c.addEventListener("click", function () { st.sel = [li, hi]; select(); });
          grid.appendChild(c);
        });
      });
      /* One bar for the thumbnails: under "map" each has its own maximum. */
      var cbar = core.colourBar(root, st.scale, null);
      thumbs.replaceChild(cbar, gridBar);
      gridBar = cbar;
      select();
    }

    function select() {
      var k = kind(), li = st.sel[0], hi = st.sel[1];
      Array.prototype.forEach.call(grid.querySelectorAll(".av-thumb"), function (c) {
        c.classList.toggle("av-selected", +c.getAttribute("data-layer") === k.layers[li] &&
          +c.getAttribute("data-head") === k.heads[hi]);
      });
      if (st.closeup === "lines") {
        lines(k, li, hi);
      } else {
        drawDetail(root, detail, off, k, k.map(li, hi), st.vis, st.scale,
          k.label + ": layer " + k.layers[li] + ", head " + k.heads[hi]);
      }
      root.setAttribute("data-selected", k.layers[li] + "," + k.heads[hi]);
      root.setAttribute("data-kind", k.name);
    }

    pairControl();
    rebuild();
  }

  NS.model = { render: render, paint: paint, drawDetail: drawDetail };
})();
