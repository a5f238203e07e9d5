// Wiring: init, which the Bokeh document calls once it is ready (explorer/page/figure.py),
// and the hook run when a cluster is hidden or shown.
(function (EX) {
  "use strict";
  var D = EX.data, S = EX.state, N = EX.N, X = EX.X, Y = EX.Y;
  var $ = EX.$, el = EX.el;

  function init(a) {
    S.fig = a.fig;
    S.rends = a.rends;
    S.srcs = a.srcs;
    S.hov = a.hov;
    S.pinSrc = a.pin;
    S.nbSrc = a.nb;
    S.linkSrc = a.link;
    S.matchSrc = a.match;
    S.srcs.forEach(function (src) {
      var idx = Int32Array.from(src.data.i);
      var xs = src.data.x, ys = src.data.y;
      for (var t = 0; t < idx.length; t++) { X[idx[t]] = xs[t]; Y[idx[t]] = ys[t]; }
      S.members.push(idx);
    });
    S.local = new Int32Array(N);  // each image's row in its cluster's data source
    S.members.forEach(function (m) { m.forEach(function (i, t) { S.local[i] = t; }); });
    S.tagRend = a.tag_rend;
    S.tagSrc = a.tag_src;
    S.thumbSrc = a.thumbs;
    var lo = Infinity, hi = -Infinity;
    for (var q = 0; q < N; q++) { lo = Math.min(lo, X[q]); hi = Math.max(hi, X[q]); }
    S.span = hi - lo;
    a.fig.x_range.connect(a.fig.x_range.change, EX.onRange);
    a.fig.y_range.connect(a.fig.y_range.change, EX.onRange);
    D.dupOf = new Int32Array(N).fill(-1);
    D.dups.forEach(function (g, k) { g.m.forEach(function (i) { D.dupOf[i] = k; }); });
    // byte-identical files: one picture (folded in neighbour lists, marked "exact copy")
    D.copyOf = new Int32Array(N).fill(-1);
    D.isExact = new Uint8Array(N);
    D.copies.forEach(function (s, k) {
      s.forEach(function (i) { D.copyOf[i] = k; D.isExact[i] = 1; });
    });
    D.facets = D.facets || [];
    D.sets = D.tags.slice();
    D.facets.forEach(function (f) { f.start = D.sets.length; D.sets = D.sets.concat(f.values); });
    D.tagsOf = new Array(N);
    D.tags.forEach(function (tg, t) {
      tg.m.forEach(function (i) { (D.tagsOf[i] = D.tagsOf[i] || []).push(t); });
    });
    var input = $("search");
    var timer = 0;
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { EX.search(input.value); }, 60);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") {
        EX.search(input.value);
        if (S.matches.length) { EX.pin(S.matches[0]); }
      }
      if (e.key === "Escape") { input.value = ""; EX.search(""); }
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !(e.target instanceof HTMLInputElement)) { EX.unpin(); }
    });
    // A mouse click focuses the map's event layer; keep the focus ring for keyboards only.
    var shadow = EX.view().canvas_view.el.shadowRoot;
    if (shadow) {
      var st = el("style", "", ".bk-events:focus:not(:focus-visible) { outline: none; }");
      shadow.append(st);
    }
    if (!$("dup-hist")) { $("nav-threshold").hidden = true; }
    // On a touch screen one finger scrolls the page (no drag tool active, so BokehJS lets
    // the browser pan); a pinch zooms the map; choose pan in the toolbar to drag it.
    if (window.matchMedia && window.matchMedia("(pointer: coarse)").matches) {
      S.fig.toolbar.active_drag = null;
      document.body.dataset.touch = "1";
    }
    EX.loadPageTags();
    EX.renderLegend();
    EX.setupColorBy();
    EX.renderPageTags();
    EX.fitMap();
    window.addEventListener("resize", EX.fitMap);
    EX.renderPin();
    EX.renderGallery();
    EX.renderDuplicates();
    document.body.dataset.colorBy = "cluster";
    document.body.dataset.ready = "1";
  }
  function onVisibility() {
    var all = S.rends.every(function (r) { return r.visible; });
    if (all) { S.solo = -1; }
    EX.syncSolo();
    EX.syncLegend();
    EX.onRange();
    EX.search($("search").value);
    EX.onSelect();  // also redraws the tagged points of the visible clusters
    S.hover = -2;
    EX.setHover(-1);
  }

  Object.assign(EX, {init: init, onVisibility: onVisibility});
})(window.ExplorerApp = window.ExplorerApp || {});
