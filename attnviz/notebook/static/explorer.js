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

  function render(root, payload, firstKinds) {
    var cache = {}, first = payload.initialExample || 0;
    cache[first] = firstKinds;
    var st = { ex: first, kind: 0, layer: payload.initialLayer || 0, head: String(payload.initialHead || 0),
      scale: payload.scale, hide: false, pair: "all", view: payload.view || "head" };
    var ui = core.el("div", "av-ui"), bar = core.el("div", "av-bar"), bar2 = core.el("div", "av-bar");
    var text = core.el("div", "av-ex-text"), body = core.el("div", "av-explorer-body"), off = document.createElement("canvas");
    root.appendChild(ui); ui.appendChild(bar); ui.appendChild(bar2); ui.appendChild(text); ui.appendChild(body);
    function kinds() { return cache[st.ex]; }
    function realIndex() { return payload.exampleIndices ? payload.exampleIndices[st.ex] : st.ex; }
    function kind() { return kinds()[st.kind]; }

    var exSel = core.select("Example", payload.examples.map(function (e, i) { return [i, e.label]; }), st.ex,
      function (v) { setExample(+v); });
    var kindBox = core.el("span"), pairBox = core.el("span");
    var viewSel = core.select("View", [["head", "one head"], ["grid", "every layer x head"]], st.view,
      function (v) { st.view = v; draw(); });
    bar.appendChild(exSel.wrap); bar.appendChild(kindBox); bar.appendChild(viewSel.wrap);
    bar.appendChild(core.select("Scale", core.SCALES, st.scale, function (v) { st.scale = v; draw(); }).wrap);
    var layerSel = core.select("Layer", [], 0, function (v) { st.layer = +v; draw(); });
    var headSel = core.select("Head", [], st.head, function (v) { st.head = v; draw(); });
    bar2.appendChild(layerSel.wrap); bar2.appendChild(headSel.wrap);
    bar2.appendChild(core.checkbox("hide special tokens", false, function (c) { st.hide = c; draw(); }).wrap);
    bar2.appendChild(pairBox);

    function controls() {
      var ks = kinds(), k;
      st.kind = Math.min(st.kind, ks.length - 1);
      k = kind();
      kindBox.textContent = "";
      if (ks.length > 1) {
        kindBox.appendChild(core.select("Attention", ks.map(function (x, i) { return [i, x.label]; }), st.kind,
          function (v) { st.kind = +v; controls(); draw(); }).wrap);
      }
      st.layer = Math.min(st.layer, k.layers.length - 1);
      core.setOptions(layerSel.select, k.layers.map(function (l, i) { return [i, String(l)]; }), st.layer);
      var heads = k.heads.map(function (h, i) { return [String(i), "H" + h]; }).concat([["mean", "mean of heads"], ["max", "max of heads"]]);
      if (st.head !== "mean" && st.head !== "max" && +st.head >= k.heads.length) { st.head = "0"; }
      core.setOptions(headSel.select, heads, st.head);
      pairBox.textContent = "";
      var c = core.pairControl(k, function (v) { st.pair = v; draw(); });
      if (c) { c.select.value = st.pair; pairBox.appendChild(c.wrap); } else { st.pair = "all"; }
      text.textContent = payload.examples[st.ex].text || "";
    }

    function setExample(i) {
      if (cache[i]) { st.ex = i; controls(); draw(); return; }
      core.decodeKinds(payload.examples[i].kinds).then(function (ks) { cache[i] = ks; st.ex = i; controls(); draw(); })
        .catch(function (err) { root.setAttribute("data-attnviz-error", String(err.message || err)); });
    }

    function draw() {
      var k = kind(), vis = k.visible(st.hide, st.pair);
      layerSel.select.disabled = headSel.select.disabled = st.view === "grid";
      body.textContent = "";
      if (st.view === "grid") {
        var sub = core.el("div", "av-explorer-grid");
        sub.attnvizLut = root.attnvizLut;
        body.appendChild(sub);
        NS.model.render(sub, { scale: st.scale }, [k]);
      } else {
        var map, what;
        if (st.head === "mean") { map = k.meanMap(st.layer, k.heads.map(function (_, i) { return i; })); what = "mean of the heads"; }
        else if (st.head === "max") { map = maxMap(k, st.layer); what = "max of the heads"; }
        else { map = k.map(st.layer, +st.head); what = "head " + k.heads[+st.head]; }
        NS.model.drawDetail(root, body, off, k, map, vis, st.scale,
          "example " + realIndex() + ", " + k.label + ": layer " + k.layers[st.layer] + ", " + what, 640);
      }
      root.setAttribute("data-example", String(realIndex()));
      root.setAttribute("data-kind", k.name);
      root.setAttribute("data-layer", String(k.layers[st.layer]));
      root.setAttribute("data-head", st.head === "mean" || st.head === "max" ? st.head : String(k.heads[+st.head]));
      root.setAttribute("data-view", st.view);
    }

    controls();
    draw();
  }

  NS.explorer = { render: render };
})();
