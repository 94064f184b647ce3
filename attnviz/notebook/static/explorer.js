/* attnviz explorer view: example, attention kind, layer, head (or mean / max), scale, filters;
 * one enlarged map, or every layer x head as thumbnails. All in the page: no kernel needed. */
(function () {
  "use strict";
  var NS = window.attnvizViews;
  if (NS.explorer) { return; }
  var core = NS.core;

  function maxMap(k, l) {
    var out = new Float32Array(k.size);
    for (var h = 0; h < k.heads.length; h++) {
      var m = k.map(l, h);
      for (var i = 0; i < k.size; i++) { if (m[i] > out[i]) { out[i] = m[i]; } }
    }
    return out;
  }

  /* hooks (optional, the notebook widget's): onChange(state) after every change made in the page;
   * the returned controller's set(state) applies a change made elsewhere. A state is in model
   * terms: {example, kind, layer, head (index, "mean" or "max"), query (token index or null),
   * view, scale, hide, pair}. */
  function render(root, payload, firstKinds, hooks) {
    hooks = hooks || {};
    var cache = {}, first = payload.initialExample || 0;
    cache[first] = firstKinds;
    var st = { ex: first, kind: 0, layer: payload.initialLayer || 0, head: String(payload.initialHead || 0),
      scale: payload.scale, hide: false, pair: "all", view: payload.view || "head",
      query: payload.initialQuery === undefined ? null : payload.initialQuery,
      sinks: payload.long ? payload.long.sinks !== false : true };
    if (payload.initialKind) { st.kind = Math.max(0, firstKinds.map(function (x) { return x.name; }).indexOf(payload.initialKind)); }
    var ui = core.el("div", "av-ui"), bar = core.el("div", "av-bar"), bar2 = core.el("div", "av-bar");
    var text = core.el("div", "av-ex-text"), body = core.el("div", "av-explorer-body"), off = document.createElement("canvas");
    root.appendChild(ui); ui.appendChild(bar); ui.appendChild(bar2); ui.appendChild(text); ui.appendChild(body);
    function kinds() { return cache[st.ex]; }
    function realIndex() { return payload.exampleIndices ? payload.exampleIndices[st.ex] : st.ex; }
    function kind() { return kinds()[st.kind]; }
    function changed() { draw(); if (hooks.onChange) { hooks.onChange(state()); } }

    var exSel = core.select("Example", payload.examples.map(function (e, i) { return [i, e.label]; }), st.ex,
      function (v) { setExample(+v, true); });
    var kindBox = core.el("span"), pairBox = core.el("span");
    var viewSel = core.select("View", [["head", "one head"], ["grid", "every layer x head"]], st.view,
      function (v) { st.view = v; changed(); });
    var scaleSel = core.select("Scale", core.SCALES, st.scale, function (v) { st.scale = v; changed(); });
    bar.appendChild(exSel.wrap); bar.appendChild(kindBox); bar.appendChild(viewSel.wrap); bar.appendChild(scaleSel.wrap);
    var layerSel = core.select("Layer", [], 0, function (v) { st.layer = +v; changed(); });
    var headSel = core.select("Head", [], st.head, function (v) { st.head = v; changed(); });
    var hideBox = core.checkbox("hide special tokens", false, function (c) { st.hide = c; changed(); });
    bar2.appendChild(layerSel.wrap); bar2.appendChild(headSel.wrap);
    bar2.appendChild(hideBox.wrap);
    if (payload.long) {
      bar2.appendChild(core.checkbox("first key in the colour scale", st.sinks, function (c) { st.sinks = c; changed(); }).wrap);
    }
    bar2.appendChild(pairBox);

    function controls() {
      var ks = kinds(), k;
      st.kind = Math.min(st.kind, ks.length - 1);
      k = kind();
      kindBox.textContent = "";
      if (ks.length > 1) {
        kindBox.appendChild(core.select("Attention", ks.map(function (x, i) { return [i, x.label]; }), st.kind,
          function (v) { st.kind = +v; st.query = null; controls(); changed(); }).wrap);
      }
      st.layer = Math.min(st.layer, k.layers.length - 1);
      core.setOptions(layerSel.select, k.layers.map(function (l, i) { return [i, String(l)]; }), st.layer);
      var heads = k.heads.map(function (h, i) { return [String(i), "H" + h]; }).concat([["mean", "mean of heads"], ["max", "max of heads"]]);
      if (st.head !== "mean" && st.head !== "max" && +st.head >= k.heads.length) { st.head = "0"; }
      core.setOptions(headSel.select, heads, st.head);
      if (st.query !== null && st.query >= k.nq) { st.query = null; }
      exSel.select.value = String(st.ex);
      viewSel.select.value = st.view;
      scaleSel.select.value = st.scale;
      hideBox.input.checked = st.hide;
      pairBox.textContent = "";
      var c = core.pairControl(k, function (v) { st.pair = v; changed(); });
      if (c) { c.select.value = st.pair; pairBox.appendChild(c.wrap); } else { st.pair = "all"; }
      text.textContent = payload.examples[st.ex].text || "";
    }

    function setExample(i, fromPage) {
      function go() {
        if (st.ex !== i) { st.query = null; }
        st.ex = i; controls();
        if (fromPage) { changed(); } else { draw(); }
      }
      if (cache[i]) { go(); return; }
      core.decodeKinds(payload.examples[i].kinds).then(function (ks) { cache[i] = ks; go(); })
        .catch(function (err) { root.setAttribute("data-attnviz-error", String(err.message || err)); });
    }

    function state() {
      var k = kind();
      return { example: realIndex(), kind: k.name, layer: k.layers[st.layer],
        head: st.head === "mean" || st.head === "max" ? st.head : k.heads[+st.head],
        query: st.query, view: st.view, scale: st.scale, hide: st.hide, pair: st.pair };
    }

    /* A change made outside the page (the widget's Python side); values it cannot show are ignored. */
    function set(s) {
      var k = kind();
      if (s.view === "head" || s.view === "grid") { st.view = s.view; }
      if (s.scale !== undefined && core.SCALES.some(function (x) { return x[0] === s.scale; })) { st.scale = s.scale; }
      if (s.hide !== undefined) { st.hide = !!s.hide; }
      if (s.pair !== undefined) { st.pair = s.pair; }
      if (s.kind !== undefined) {
        var ki = kinds().map(function (x) { return x.name; }).indexOf(s.kind);
        if (ki >= 0) { st.kind = ki; k = kind(); }
      }
      if (s.layer !== undefined && k.layers.indexOf(s.layer) >= 0) { st.layer = k.layers.indexOf(s.layer); }
      if (s.head === "mean" || s.head === "max") { st.head = s.head; }
      else if (s.head !== undefined && k.heads.indexOf(s.head) >= 0) { st.head = String(k.heads.indexOf(s.head)); }
      if (s.query !== undefined) { st.query = s.query === null || s.query < k.nq ? s.query : st.query; }
      var ex = payload.exampleIndices ? payload.exampleIndices.indexOf(s.example) : s.example;
      if (s.example !== undefined && ex >= 0 && ex < payload.examples.length && ex !== st.ex) { setExample(ex, false); return; }
      controls();
      draw();
    }

    function draw() {
      var k = kind(), vis = k.visible(st.hide, st.pair);
      layerSel.select.disabled = headSel.select.disabled = st.view === "grid";
      body.textContent = "";
      if (st.view === "grid") {
        var sub = core.el("div", "av-explorer-grid");
        sub.attnvizLut = root.attnvizLut;
        body.appendChild(sub);
        /* The close-up starts at the chosen layer and head (the first head for a mean / max);
         * a click on a thumbnail chooses that layer and head. */
        var hi = st.head === "mean" || st.head === "max" ? 0 : +st.head;
        NS.model.render(sub, { scale: st.scale, long: payload.long && Object.assign({}, payload.long, { sinks: st.sinks }),
          embedded: true, selected: [st.layer, hi], onSelect: function (l, h) {
          st.layer = l; st.head = String(h); controls(); mark(k);
          if (hooks.onChange) { hooks.onChange(state()); }
        } }, [k]);
      } else {
        var map, what;
        if (st.head === "mean") { map = k.meanMap(st.layer, k.heads.map(function (_, i) { return i; })); what = "mean of the heads"; }
        else if (st.head === "max") { map = maxMap(k, st.layer); what = "max of the heads"; }
        else { map = k.map(st.layer, +st.head); what = "head " + k.heads[+st.head]; }
        NS.model.drawDetail(root, body, off, k, map, vis, st.scale,
          "example " + realIndex() + ", " + k.label + ": layer " + k.layers[st.layer] + ", " + what, 640,
          { query: st.query, onQuery: function (q) { st.query = q; changed(); }, long: payload.long, sinks: st.sinks });
      }
      mark(k);
    }

    function mark(k) {
      root.setAttribute("data-example", String(realIndex()));
      root.setAttribute("data-kind", k.name);
      root.setAttribute("data-layer", String(k.layers[st.layer]));
      root.setAttribute("data-head", st.head === "mean" || st.head === "max" ? st.head : String(k.heads[+st.head]));
      root.setAttribute("data-view", st.view);
      root.setAttribute("data-query", st.query === null ? "" : String(st.query));
    }

    controls();
    draw();
    return { set: set, state: state };
  }

  NS.explorer = { render: render };
})();
