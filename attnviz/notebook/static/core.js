/* attnviz views: shared runtime (decoding, maps, colours, controls, mounting).
 * Our own code, no libraries, no network. The only global is window.attnvizViews. */
(function () {
  "use strict";
  var NS = window.attnvizViews = window.attnvizViews || {};
  if (NS.core) { return; }
  var core = NS.core = {};

  core.PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd"];
  core.SCALES = [["linear", "weight (0-1)"], ["sqrt", "sqrt(weight)"], ["map", "per map max"]];

  core.el = function (tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  };

  core.headColour = function (head) { return core.PALETTE[head % core.PALETTE.length]; };

  /* 256-entry colour table from 768 base64 bytes (the payload's "lut": a matplotlib colour map). */
  core.lutFrom = function (b64) { return b64ToBytes(b64); };
  /* Fallback table (viridis end points) for payloads without one. */
  core.LUT = (function () {
    var stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
    var lut = new Uint8Array(256 * 3);
    for (var i = 0; i < 256; i++) {
      var t = i / 255 * (stops.length - 1), s = Math.min(Math.floor(t), stops.length - 2), f = t - s;
      for (var c = 0; c < 3; c++) { lut[i * 3 + c] = Math.round(stops[s][c] * (1 - f) + stops[s + 1][c] * f); }
    }
    return lut;
  })();
  core.lut = function (root) { return (root && root.attnvizLut) || core.LUT; };

  /* Dark or light: JupyterLab / Notebook 7 mark the body, VS Code too; else the page's background. */
  core.isDarkPage = function (root) {
    var b = document.body;
    if (b) {
      var jl = b.getAttribute("data-jp-theme-light");
      if (jl === "false") { return true; }
      if (jl === "true") { return false; }
      if (b.classList.contains("vscode-dark") || b.classList.contains("vscode-high-contrast")) { return true; }
      if (b.classList.contains("vscode-light")) { return false; }
    }
    var el = root.parentNode;
    while (el && el.nodeType === 1) {
      var m = (getComputedStyle(el).backgroundColor || "").match(/rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?/);
      if (m && (m[4] === undefined || +m[4] > 0.5)) { return 0.2126 * m[1] + 0.7152 * m[2] + 0.0722 * m[3] < 128; }
      el = el.parentNode;
    }
    return false;
  };
  core.applyTheme = function (root, theme) {
    function set() {
      var dark = theme === "dark" || (theme === "auto" && core.isDarkPage(root));
      root.classList.toggle("av-dark", dark);
      root.setAttribute("data-theme", dark ? "dark" : "light");
    }
    set();
    if (theme === "auto" && window.MutationObserver && document.body) {
      new MutationObserver(set).observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "class"] });
    }
  };
  /* The text colour of the theme (a view drawn inside another one follows the outer view's theme). */
  core.fg = function (root) {
    var dark = root.classList.contains("av-dark") || !!(root.closest && root.closest(".av-dark"));
    return dark ? "#e8e8e8" : "#333333";
  };

  core.decodeKinds = function (entries) {
    return Promise.all(entries.map(function (e) {
      return core.decode(e).then(function (bytes) { return new Kind(e, bytes); });
    }));
  };

  /* Sentence-pair filters: which of A / B the rows and the columns keep. */
  core.PAIRS = [["all", "All"], ["AA", "A\u2192A"], ["AB", "A\u2192B"], ["BA", "B\u2192A"], ["BB", "B\u2192B"]];
  core.pairControl = function (kind, onChange) {
    if (kind.segB === null || kind.segB === undefined) { return null; }
    var c = core.select("Sentences", core.PAIRS, "all", onChange);
    c.wrap.title = "A: the first text, B: the second (from token #" + kind.segB + "); rows attend to columns";
    return c;
  };

  /* A function from a weight to an intensity in 0..1 for the chosen scale. */
  core.scaler = function (scale, peak) {
    if (scale === "sqrt") { return function (w) { return Math.sqrt(w); }; }
    if (scale === "map") { var p = peak > 0 ? peak : 1; return function (w) { return w / p; }; }
    return function (w) { return w; };
  };

  /* The ticks of a colour bar for a scale: [{value, pos (0..1 along the bar), label}], in
   * attention-weight units. "sqrt" places them at sqrt(weight); "map" runs from 0 to peak (the
   * shown map's maximum), or, with peak null (thumbnails with a maximum each), from 0 to
   * "per-map max" (each: what has its own maximum, default "map"). */
  core.colourTicks = function (scale, peak, each) {
    function fmt(v) { return v === 0 ? "0" : String(+v.toPrecision(2)); }
    function tick(v, pos, label) { return { value: v, pos: pos, label: label === undefined ? fmt(v) : label }; }
    if (scale === "sqrt") {
      return [0, 0.02, 0.1, 0.25, 0.5, 1].map(function (v) { return tick(v, Math.sqrt(v)); });
    }
    if (scale === "map") {
      if (peak === null || peak === undefined) { return [tick(0, 0), tick(null, 1, "per-" + (each || "map") + " max")]; }
      var p = peak > 0 ? peak : 1, raw = p / 3, mag = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
      var steps = [1, 2, 2.5, 5, 10], step = mag * 10, out = [tick(0, 0)];
      for (var s = 0; s < steps.length; s++) { if (steps[s] * mag >= raw * 0.999) { step = steps[s] * mag; break; } }
      /* Nice values inside the bar, none so near the end that its label would touch the maximum's. */
      for (var i = 1; i * step / p < 0.72; i++) { out.push(tick(i * step, i * step / p)); }
      out.push(tick(p, 1));
      return out;
    }
    return [0, 0.25, 0.5, 0.75, 1].map(function (v) { return tick(v, v); });
  };

  /* A colour bar (legend) for maps drawn with a scale: a strip of the view's colour table, ticks
   * in attention-weight units below it (see colourTicks) and a caption. opts.alpha: a ramp of
   * the theme's text colour from transparent (line opacity, as the head view draws) instead;
   * opts.what: what the colour stands for (default "colour"); opts.each: what has its own maximum
   * under "map" when peak is null (default "map"); opts.one: whose maximum peak is (default
   * "this map's"); opts.width: the strip's width in CSS pixels. */
  core.colourBar = function (root, scale, peak, opts) {
    opts = opts || {};
    var width = opts.width || 220, height = 10, each = opts.each || "map", perMap = peak === null || peak === undefined;
    var box = core.el("div", "av-cbar"), axis = core.el("div", "av-cbar-axis");
    var strip = core.el(opts.alpha ? "div" : "canvas", opts.alpha ? "av-cbar-strip av-cbar-alpha" : "av-cbar-strip");
    box.setAttribute("data-scale", scale);
    box.setAttribute("data-ramp", opts.alpha ? "alpha" : "lut");
    if (scale === "map") { box.setAttribute("data-max", perMap ? "per " + each : String(peak)); }
    if (opts.alpha) {
      /* The theme's text colour from transparent: follows a theme switch without a redraw. */
      strip.style.width = width + "px";
      strip.style.height = height + "px";
    } else {
      /* 256 entries, one source pixel each, stretched without smoothing: the ends are the table's ends. */
      var src = document.createElement("canvas"), lut = core.lut(root);
      src.width = 256; src.height = 1;
      var sctx = src.getContext("2d"), img = sctx.createImageData(256, 1), px = img.data;
      for (var i = 0; i < 256; i++) {
        px[i * 4] = lut[i * 3]; px[i * 4 + 1] = lut[i * 3 + 1]; px[i * 4 + 2] = lut[i * 3 + 2]; px[i * 4 + 3] = 255;
      }
      sctx.putImageData(img, 0, 0);
      var ctx = core.sizeCanvas(strip, width, height);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(src, 0, 0, width, height);
    }
    axis.style.width = width + "px";
    var ticks = core.colourTicks(scale, perMap ? null : peak, each);
    ticks.forEach(function (t, n) {
      var e = core.el("div", "av-cbar-tick", t.label);
      e.style.left = (t.pos * 100).toFixed(3) + "%";
      e.setAttribute("data-pos", String(t.pos));
      if (n === 0) { e.classList.add("av-first"); }
      if (n === ticks.length - 1) { e.classList.add("av-last"); }
      axis.appendChild(e);
    });
    /* Under a "Values" menu showing other maps, the caption names them. */
    var vals = root.closest && root.closest("[data-values]"), named = vals && vals.getAttribute("data-values");
    var quantity = named && named !== "attention" ? named : "attention weight";
    var caption = {
      linear: quantity,
      sqrt: quantity + ", square-root scale",
      map: quantity + ", 0 to " + (perMap ? "each " + each + "'s own" : opts.one || "this map's") + " maximum"
    }[scale] || quantity;
    box.appendChild(strip);
    box.appendChild(axis);
    box.appendChild(core.el("div", "av-cbar-caption", (opts.what || "colour") + ": " + caption));
    box.title = (opts.what || "colour") + " scale: " + caption;
    return box;
  };

  function b64ToBytes(s) {
    var bin = atob(s), n = bin.length, out = new Uint8Array(n);
    for (var i = 0; i < n; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }

  core.decode = function (entry) {
    var bytes = b64ToBytes(entry.data);
    if (entry.encoding === "raw") { return Promise.resolve(bytes); }
    if (typeof DecompressionStream === "undefined") {
      return Promise.reject(new Error("this browser cannot decompress the view: build it with compress=False"));
    }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buf) { return new Uint8Array(buf); });
  };

  /* One attention kind: uint8 maps (layer, head, query, key) and a scale per map. */
  function Kind(entry, bytes) {
    var self = this;
    ["name", "label", "layers", "heads", "q", "k", "qSpecial", "kSpecial", "promptQ", "promptK", "scales", "segB"]
      .forEach(function (key) { self[key] = entry[key]; });
    this.nq = entry.q.length;
    this.nk = entry.k.length;
    this.size = this.nq * this.nk;
    this.qPos = entry.qPos || null;  /* captured with queries=: the token position of each row */
    this.sparse = entry.sparse || 0;  /* top-k keys per row kept; the rest are 0 */
    this.dropped = entry.dropped || null;  /* per map: the largest share of a row's weight left out */
    if (this.sparse) {
      var rows = this.layers.length * this.heads.length * this.nq, kk = this.sparse;
      if (bytes.length !== rows * kk * 3) { throw new Error("attnviz: the sparse data of the " + this.name + " maps has the wrong length"); }
      var idx = new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + rows * kk * 2));
      var vals = bytes.subarray(rows * kk * 2), dense = new Uint8Array(rows * this.nk);
      for (var r = 0; r < rows; r++) {
        var base = r * this.nk, o = r * kk;
        for (var j = 0; j < kk; j++) { dense[base + idx[o + j]] = vals[o + j]; }
      }
      bytes = dense;
    }
    this.bytes = bytes;
    this.gamma = entry.gamma || 1;  /* weight = (byte / 255) ^ gamma * scale */
    if (bytes.length !== this.layers.length * this.heads.length * this.size) {
      throw new Error("attnviz: the data of the " + this.name + " maps has the wrong length");
    }
  }
  /* The last map asked for is kept (long inputs: a redraw does not decode it again); callers
   * must not change the array they get. */
  Kind.prototype.cached = function (key, make) {
    if (this._key !== key) { this._val = make.call(this); this._key = key; }
    return this._val;
  };
  /* The weight of each of the 256 steps of map (l, h). */
  Kind.prototype.steps = function (l, h, times) {
    var s = this.scales[l * this.heads.length + h] * (times || 1), g = this.gamma, t = new Float32Array(256);
    for (var v = 0; v < 256; v++) { t[v] = Math.pow(v / 255, g) * s; }
    return t;
  };
  Kind.prototype.map = function (l, h) {
    return this.cached("map" + l + "," + h, function () {
      var off = (l * this.heads.length + h) * this.size, t = this.steps(l, h);
      var out = new Float32Array(this.size), bytes = this.bytes;
      for (var i = 0; i < this.size; i++) { out[i] = t[bytes[off + i]]; }
      return out;
    });
  };
  Kind.prototype.meanMap = function (l, heads) {
    return this.cached("mean" + l + ":" + heads.join(","), function () {
      var out = new Float32Array(this.size), bytes = this.bytes;
      for (var n = 0; n < heads.length; n++) {
        var off = (l * this.heads.length + heads[n]) * this.size, t = this.steps(l, heads[n], 1 / heads.length);
        for (var i = 0; i < this.size; i++) { out[i] += t[bytes[off + i]]; }
      }
      return out;
    });
  };
  /* Visible query / key indices (special tokens left out when hide is set; a pair filter
   * "AA", "AB", "BA" or "BB" keeps sentence A or B on the rows and on the columns). */
  Kind.prototype.visible = function (hide, pair) {
    var segB = this.segB;
    function keep(flags, side) {
      var out = [];
      for (var i = 0; i < flags.length; i++) {
        if (hide && flags[i]) { continue; }
        if (pair && pair !== "all" && segB !== null && segB !== undefined) {
          if ((pair.charAt(side) === "A") !== (i < segB)) { continue; }
        }
        out.push(i);
      }
      return out.length ? out : flags.map(function (_, i) { return i; });
    }
    return { q: keep(this.qSpecial, 0), k: keep(this.kSpecial, 1) };
  };
  /* Prompt length of one axis ("q" or "k"), or null when nothing was generated. */
  Kind.prototype.prompt = function (side) {
    var p = side === "q" ? this.promptQ : this.promptK;
    return (p === null || p === undefined) ? null : p;
  };
  /* Position in a visible list of one axis where the generated tokens start (or -1). */
  Kind.prototype.boundary = function (indices, side) {
    var prompt = this.prompt(side);
    if (prompt === null) { return -1; }
    var b = 0;
    while (b < indices.length && indices[b] < prompt) { b++; }
    return (b > 0 && b < indices.length) ? b : -1;
  };
  core.Kind = Kind;

  core.peak = function (map, nk, vq, vk) {
    var p = 0;
    for (var a = 0; a < vq.length; a++) {
      for (var b = 0; b < vk.length; b++) { var w = map[vq[a] * nk + vk[b]]; if (w > p) { p = w; } }
    }
    return p;
  };

  /* A token label element: special and generated tokens styled apart. */
  core.token = function (kind, side, index) {
    var text = side === "q" ? kind.q[index] : kind.k[index];
    var special = (side === "q" ? kind.qSpecial : kind.kSpecial)[index];
    var e = core.el("div", "av-tok", text);
    if (special) { e.classList.add("av-special"); }
    var gen = kind.prompt(side) !== null && index >= kind.prompt(side);
    if (gen) { e.classList.add("av-gen"); }
    var pos = side === "q" && kind.qPos ? kind.qPos[index] : index;
    e.title = "#" + pos + " " + text + (special ? " (special)" : "") + (gen ? " (generated)" : "");
    e.setAttribute("data-i", String(index));
    return e;
  };

  core.select = function (label, options, value, onChange) {
    var wrap = core.el("label", "av-ctl"), sel = core.el("select");
    sel.name = label.toLowerCase();
    wrap.appendChild(document.createTextNode(label + " "));
    wrap.appendChild(sel);
    core.setOptions(sel, options, value);
    sel.addEventListener("change", function () { onChange(sel.value); });
    return { wrap: wrap, select: sel };
  };
  core.setOptions = function (sel, options, value) {
    sel.textContent = "";
    options.forEach(function (o) {
      var opt = core.el("option", null, o[1]);
      opt.value = String(o[0]);
      sel.appendChild(opt);
    });
    sel.value = String(value);
  };
  core.checkbox = function (label, checked, onChange) {
    var wrap = core.el("label", "av-ctl"), box = core.el("input");
    box.type = "checkbox";
    box.checked = checked;
    box.addEventListener("change", function () { onChange(box.checked); });
    wrap.appendChild(box);
    wrap.appendChild(document.createTextNode(" " + label));
    return { wrap: wrap, input: box };
  };

  /* A canvas sized in CSS pixels, sharp on high-density screens. */
  core.sizeCanvas = function (canvas, w, h) {
    var r = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(w * r));
    canvas.height = Math.max(1, Math.round(h * r));
    canvas.style.width = w + "px";
    canvas.style.height = h + "px";
    var ctx = canvas.getContext("2d");
    ctx.setTransform(r, 0, 0, r, 0, 0);
    return ctx;
  };

  /* Find the view's root: by id, or (when that element is another copy already mounted, as
   * after showing one view twice) the element around the script that calls mount. */
  function findRoot(id, script) {
    var root = document.getElementById(id);
    if (root && !root.getAttribute("data-attnviz-mounted")) { return root; }
    var up = script && script.parentNode;
    while (up && up.nodeType === 1) {
      if (up.classList && up.classList.contains("attnviz-view")) { return up.getAttribute("data-attnviz-mounted") ? null : up; }
      up = up.parentNode;
    }
    /* Last resort: any unmounted copy with this id prefix (front ends that drop currentScript). */
    var all = document.querySelectorAll(".attnviz-view:not([data-attnviz-mounted])");
    for (var i = 0; i < all.length; i++) { if (all[i].id === id) { return all[i]; } }
    return null;
  }

  NS.mount = function (id, script) {
    var root = findRoot(id, script);
    if (!root) { return; }
    root.setAttribute("data-attnviz-mounted", "1");
    var data = root.querySelector('script[type="application/json"]');
    NS.render(root, root.getAttribute("data-attnviz-view"), JSON.parse(data.textContent)).catch(function (err) { throw err; });
  };

  /* The static copy of a notebook widget (its twin, shown as a second output): hidden while the
   * live widget shows in the same page; where the widget cannot show (reopened without its
   * kernel: "Error displaying widget: model not found"), the copy stays and the error goes. */
  var WIDGET_ERROR = /Error displaying widget|model not found|^\s*Loading widget\.*\s*$/;
  /* A front end's note where a widget could not show (not another view, whose script holds these words). */
  function widgetNote(el) {
    if (!el || (el.classList && el.classList.contains("attnviz-view")) || el.querySelector(".attnviz-view")) { return false; }
    return WIDGET_ERROR.test(el.textContent);
  }
  NS.twin = function (id, script) {
    var box = script && script.parentNode;
    if (!box) { return; }
    function live() { return document.querySelector('[data-attnviz-widget="' + id + '"]'); }
    if (live()) { box.style.display = "none"; return; }
    var cell = box.closest && box.closest(".jp-OutputArea-child");  /* JupyterLab, Notebook 7 */
    var up = box, sibling = cell && cell.previousElementSibling && (cell.previousElementSibling.querySelector("[data-attnviz-widget]") ||
      !cell.previousElementSibling.querySelector(".attnviz-view")) ? cell.previousElementSibling : null;
    for (var i = 0; i < 5 && up && !sibling; i++) {
      var prev = up.previousElementSibling;
      if (prev && (prev.querySelector("[data-attnviz-widget]") || widgetNote(prev))) { sibling = prev; }
      up = up.parentElement;
    }
    function check() {
      if (live()) { box.style.display = "none"; if (sibling) { sibling.style.display = ""; } return; }
      if (sibling && widgetNote(sibling)) { sibling.style.display = "none"; }
    }
    check();
    if (sibling && window.MutationObserver) {
      new MutationObserver(check).observe(sibling, { childList: true, subtree: true, characterData: true });
    }
  };
  /* Called by a live widget: hide its static twin. */
  NS.hideTwin = function (id) {
    var twins = document.querySelectorAll('[data-attnviz-twin="' + id + '"]');
    for (var i = 0; i < twins.length; i++) { twins[i].style.display = "none"; }
  };

  /* A "Values" menu over the view: attention, or one of the other maps of the same tokens
   * (payload.values / each example's values); the view is drawn again with that set, at the
   * same example, layer and head where it has a controller (the explorer). Another map's
   * numbers need not be weights in 0..1 (relevance of 1e-5, value norms of 30), so it starts on
   * the per-map scale; attention starts on the view's own. */
  function withValues(root, type, payload, hooks) {
    var bar = core.el("div", "av-bar av-values"), sub = core.el("div", "av-values-view"), ctl = null, which = 0;
    var fallback = root.querySelector(".av-fallback");
    if (fallback) { fallback.parentNode.removeChild(fallback); }
    sub.attnvizLut = root.attnvizLut;
    root.appendChild(bar); root.appendChild(sub);
    function setOf(i) {
      var p = Object.assign({}, payload, { valueSet: payload.valueNames[i] });
      if (payload.examples) {
        p.examples = payload.examples.map(function (e) { return Object.assign({}, e, { kinds: i ? e.values[i - 1] : e.kinds }); });
      } else if (i) { p.kinds = payload.values[i - 1]; }
      return p;
    }
    function show(i) {
      var p = setOf(i);
      if (ctl && ctl.state) {
        var s = ctl.state(), e0 = p.examples[0];
        p.initialExample = p.exampleIndices ? p.exampleIndices.indexOf(s.example) : s.example;
        p.view = s.view; p.scale = s.scale; p.initialQuery = s.query; p.initialKind = s.kind;
        var k = p.examples[p.initialExample].kinds.filter(function (x) { return x.name === s.kind; })[0] || e0.kinds[0];
        p.initialLayer = Math.max(0, k.layers.indexOf(s.layer));
        p.initialHead = s.head === "mean" || s.head === "max" ? s.head : Math.max(0, k.heads.indexOf(s.head));
      }
      p.scale = i ? "map" : payload.scale;
      which = i;
      sub.textContent = "";
      root.setAttribute("data-values", payload.valueNames[i]);
      return NS.render(sub, type, p, hooks).then(function (c) {
        ctl = c; root.setAttribute("data-attnviz-rendered", "1"); return c;
      });
    }
    var sel = core.select("Values", payload.valueNames.map(function (n, i) { return [i, n]; }), 0, function (v) { show(+v); });
    bar.appendChild(sel.wrap);
    bar.appendChild(core.el("span", "av-note", "the maps shown: the attention or another map of the same tokens"));
    return show(which);
  }

  /* Render a view of type ("head", "model", "explorer", ...) from its payload into root; resolves
   * to what the view's render returns (the explorer: a controller; see explorer.js). hooks: passed on. */
  NS.render = function (root, type, payload, hooks) {
    root.setAttribute("data-attnviz-mounted", "1");
    core.applyTheme(root, payload.theme || "auto");
    if (payload.lut) { root.attnvizLut = core.lutFrom(payload.lut); }
    if (payload.valueNames && !payload.valueSet) { return withValues(root, type, payload, hooks); }
    var entries = payload.examples ? payload.examples[payload.initialExample || 0].kinds : payload.kinds;
    return core.decodeKinds(entries).then(function (kinds) {
      var fallback = root.querySelector(".av-fallback");
      if (fallback) { fallback.parentNode.removeChild(fallback); }
      var out = NS[type].render(root, payload, kinds, hooks);
      root.setAttribute("data-attnviz-rendered", "1");
      return out;
    }).catch(function (err) {
      var fallback = root.querySelector(".av-fallback");
      if (fallback) { fallback.textContent = "attnviz: " + err.message; }
      root.setAttribute("data-attnviz-error", String(err.message || err));
      throw err;
    });
  };
})();
