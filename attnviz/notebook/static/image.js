/* attnviz image view: hover a patch to see its attention over the image.
 * Our own code, no libraries, no network. Its only global is window.attnvizViews.image. */
(function () {
  "use strict";
  var NS = window.attnvizViews = window.attnvizViews || {};
  if (NS.image) { return; }

  function bytes(b64) {
    var s = atob(b64), out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) { out[i] = s.charCodeAt(i); }
    return out;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function option(select, value, label) {
    var o = el("option", null, label);
    o.value = value;
    select.appendChild(o);
  }

  function mount(id) {
    var root = document.getElementById(id);
    if (!root || root.getAttribute("data-attnviz-rendered")) { return; }
    var data = JSON.parse(document.getElementById(id + "-data").textContent);
    var rows = data.grid[0], cols = data.grid[1], nPatch = rows * cols;
    var values = bytes(data.maps), lut = bytes(data.lut);
    var nQuery = data.queries.length, nHead = data.heads.length;
    var side = data.size, scale = side / Math.max(data.imageSize[0], data.imageSize[1]);
    var width = Math.round(data.imageSize[1] * scale), height = Math.round(data.imageSize[0] * scale);
    var state = {layer: data.layers.length - 1, head: nHead - 1, query: data.initialQuery, pinned: false};

    var fallback = root.querySelector(".av-fallback");
    if (fallback) { fallback.remove(); }
    var bar = el("div", "av-img-controls");
    var layerSel = el("select", "av-img-layer"), headSel = el("select", "av-img-head");
    data.layers.forEach(function (l, i) { option(layerSel, i, "layer " + l); });
    data.heads.forEach(function (h, i) { option(headSel, i, typeof h === "number" ? "head " + h : h + " of heads"); });
    headSel.value = String(state.head);
    layerSel.value = String(state.layer);
    bar.appendChild(layerSel);
    bar.appendChild(headSel);
    data.specials.forEach(function (s) {
      var b = el("button", "av-img-special", s[1]);
      b.type = "button";
      b.setAttribute("data-query", s[0]);
      b.addEventListener("click", function () { state.query = s[0]; state.pinned = true; draw(); });
      bar.appendChild(b);
    });
    var stage = el("div", "av-img-stage");
    stage.style.position = "relative";
    stage.style.width = width + "px";
    stage.style.height = height + "px";
    var picture = el("img", "av-img-picture");
    picture.src = data.image;
    picture.width = width;
    picture.height = height;
    picture.style.imageRendering = "auto";
    var overlay = el("canvas", "av-img-overlay");
    overlay.width = cols;
    overlay.height = rows;
    var frame = el("canvas", "av-img-frame");
    frame.width = width;
    frame.height = height;
    [overlay, frame].forEach(function (c) {
      c.style.position = "absolute";
      c.style.left = "0";
      c.style.top = "0";
      c.style.width = width + "px";
      c.style.height = height + "px";
    });
    overlay.style.imageRendering = "pixelated";
    overlay.style.opacity = String(data.alpha);
    picture.style.position = "absolute";
    stage.appendChild(picture);
    stage.appendChild(overlay);
    stage.appendChild(frame);
    var legend = el("canvas", "av-img-legend");  /* the colour scale: 0 to the query's maximum */
    legend.width = 256;
    legend.height = 1;
    legend.style.width = width + "px";
    legend.style.height = "10px";
    legend.style.display = "block";
    legend.style.marginTop = "4px";
    var strip = legend.getContext("2d"), row = strip.createImageData(256, 1);
    for (var i = 0; i < 256; i++) {
      row.data[i * 4] = lut[i * 3];
      row.data[i * 4 + 1] = lut[i * 3 + 1];
      row.data[i * 4 + 2] = lut[i * 3 + 2];
      row.data[i * 4 + 3] = 255;
    }
    strip.putImageData(row, 0, 0);
    var info = el("div", "av-img-info");
    root.appendChild(bar);
    root.appendChild(stage);
    root.appendChild(legend);
    root.appendChild(info);

    function queryIndex(position) { return data.queries.indexOf(position); }

    function draw() {
      var q = queryIndex(state.query);
      var ctx = overlay.getContext("2d"), img = ctx.createImageData(cols, rows);
      var base = ((state.layer * nHead + state.head) * nQuery + q) * nPatch;
      var top = data.rowMax[(state.layer * nHead + state.head) * nQuery + q];
      for (var p = 0; p < nPatch; p++) {
        var v = values[base + p];
        img.data[p * 4] = lut[v * 3];
        img.data[p * 4 + 1] = lut[v * 3 + 1];
        img.data[p * 4 + 2] = lut[v * 3 + 2];
        img.data[p * 4 + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
      var f = frame.getContext("2d");
      f.clearRect(0, 0, width, height);
      var patch = data.patchPositions.indexOf(state.query);
      if (patch >= 0) {
        f.strokeStyle = "#ffffff";
        f.lineWidth = 2;
        f.strokeRect((patch % cols) * width / cols + 1, Math.floor(patch / cols) * height / rows + 1,
                     width / cols - 2, height / rows - 2);
      }
      info.textContent = "attention of " + data.tokens[state.query] + " (layer " + data.layers[state.layer] + ", " +
        headSel.options[state.head].textContent + "): colours from 0 to " + top.toPrecision(3) +
        (state.pinned ? "  [pinned: click the image to unpin]" : "");
      root.setAttribute("data-query", String(state.query));
    }

    function patchAt(event) {
      var r = frame.getBoundingClientRect();
      var c = Math.floor((event.clientX - r.left) / r.width * cols);
      var w = Math.floor((event.clientY - r.top) / r.height * rows);
      if (c < 0 || w < 0 || c >= cols || w >= rows) { return -1; }
      return data.patchPositions[w * cols + c];
    }
    frame.addEventListener("mousemove", function (e) {
      if (state.pinned) { return; }
      var pos = patchAt(e);
      if (pos >= 0 && queryIndex(pos) >= 0 && pos !== state.query) { state.query = pos; draw(); }
    });
    frame.addEventListener("click", function (e) {
      var pos = patchAt(e);
      state.pinned = !state.pinned;
      if (pos >= 0 && queryIndex(pos) >= 0) { state.query = pos; }
      draw();
    });
    layerSel.addEventListener("change", function () { state.layer = +layerSel.value; draw(); });
    headSel.addEventListener("change", function () { state.head = +headSel.value; draw(); });
    draw();
    root.setAttribute("data-attnviz-rendered", "1");
  }

  NS.image = {mount: mount};
})();
