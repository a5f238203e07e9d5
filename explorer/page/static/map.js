// The map (drawn by Bokeh): points under the pointer, the hover tooltip, colour by
// tag, the legend beside the map, the map's height, thumbnails drawn on the map when
// zoomed in, and zooming to a set of images.
(function (EX) {
  "use strict";
  var D = EX.data, S = EX.state, N = EX.N, X = EX.X, Y = EX.Y, FADED = EX.FADED;
  var $ = EX.$, el = EX.el, thumb = EX.thumb, fmt = EX.fmt, chip = EX.chip;
  var tagChips = EX.tagChips, neighbors = EX.neighbors, copiesChip = EX.copiesChip;
  var visible = EX.visible;

  var MAP_THUMBS = 150;  // thumbnails drawn on the map when at most this many points are in view

  // ---- geometry ---------------------------------------------------------
  function view() {
    if (!S.view) { S.view = Bokeh.index.find_one(S.fig); }
    return S.view;
  }
  function scales() {
    var f = view().frame;
    var x0 = f.x_scale.compute(0), y0 = f.y_scale.compute(0);
    return {ax: f.x_scale.compute(1) - x0, bx: x0, ay: f.y_scale.compute(1) - y0, by: y0};
  }
  function nearest(sx, sy) {
    var s = scales();
    var r = D.point_size / 2 + 5;
    var best = -1, bestD = r * r;
    for (var c = 0; c < S.members.length; c++) {
      if (!visible(c)) { continue; }
      var m = S.members[c];
      for (var t = 0; t < m.length; t++) {
        var i = m[t];
        var dx = s.ax * X[i] + s.bx - sx, dy = s.ay * Y[i] + s.by - sy;
        var d = dx * dx + dy * dy;
        if (d <= bestD) { bestD = d; best = i; }
      }
    }
    return best;
  }
  function clientPos(i) {
    var v = view();
    var rect = v.canvas_view.el.getBoundingClientRect();
    return [rect.left + v.frame.x_scale.compute(X[i]), rect.top + v.frame.y_scale.compute(Y[i])];
  }

  // ---- hover tooltip ----------------------------------------------------
  function buildTip(i) {
    var tip = $("tip");
    var c = D.labels[i];
    var main = el("div", "tip-main");
    var box = el("div", "tip-imgbox");
    box.append(thumb(i, "tip-img"));
    var meta = el("div", "tip-meta");
    meta.append(el("div", "tip-name", D.names[i]), chip(c));
    if (D.paths[i] !== D.names[i]) { meta.append(el("div", "tip-path", D.paths[i])); }
    if (D.tagsOf[i]) { meta.append(tagChips(i, false)); }
    main.append(box, meta);
    var nb = neighbors(i);
    var row = el("div", "tip-nbrs");
    nb.forEach(function (p) {
      var f = el("figure", "tip-nb");
      f.append(thumb(p[0], "tip-nbimg"), el("figcaption", "", fmt(p[1])));
      if (p[2]) { f.append(copiesChip(p[2])); }
      row.append(f);
    });
    tip.replaceChildren(main);
    if (nb.length) { tip.append(el("div", "tip-label", "Nearest neighbours · cosine"), row); }
    tip.dataset.index = String(i);
  }
  function placeTip(cx, cy) {
    var tip = $("tip");
    var w = tip.offsetWidth, h = tip.offsetHeight, pad = 16;
    var x = cx + pad, y = cy + pad;
    if (x + w > window.innerWidth - 8) { x = cx - w - pad; }
    if (y + h > window.innerHeight - 8) { y = Math.max(8, window.innerHeight - h - 8); }
    tip.style.transform = "translate(" + Math.max(8, x) + "px," + y + "px)";
  }
  function setHover(i) {
    if (i === S.hover) { return; }
    S.hover = i;
    var tip = $("tip");
    if (i < 0) {
      tip.hidden = true;
      S.hov.data = {x: [], y: []};
      return;
    }
    buildTip(i);
    tip.hidden = false;
    S.hov.data = {x: [X[i]], y: [Y[i]]};
  }
  function onMove(e) {
    S.move = e;
    if (S.raf) { return; }
    S.raf = window.requestAnimationFrame(function () {
      S.raf = 0;
      var ev = S.move;
      if (!ev || !S.fig) { return; }
      setHover(nearest(ev.sx, ev.sy));
      if (S.hover >= 0) {
        var rect = view().canvas_view.el.getBoundingClientRect();
        placeTip(rect.left + ev.sx, rect.top + ev.sy);
      }
    });
  }
  function onLeave() { S.move = null; setHover(-1); }

  // ---- colour by tag ----------------------------------------------------
  function drawTagged() {
    var t = S.colorTag, m = [], al = [];
    var chosen = null;
    if (S.selected.length) {
      chosen = new Uint8Array(N);
      S.selected.forEach(function (i) { chosen[i] = 1; });
    }
    var base = S.query ? 0.15 : 1.0;
    if (t >= 0) {
      D.sets[t].m.forEach(function (i) {
        if (visible(D.labels[i])) { m.push(i); al.push(chosen && !chosen[i] ? FADED : base); }
      });
    }
    S.tagSrc.data = {x: m.map(function (i) { return X[i]; }),
      y: m.map(function (i) { return Y[i]; }), a: al};
  }
  function colorBy(t) {
    t = Number(t);
    if (!(t >= 0 && t < D.sets.length)) { t = -1; }
    S.colorTag = t;
    S.rends.forEach(function (r, c) {
      var col = t >= 0 ? D.grey : D.clusters[c].color;
      [r.glyph, r.selection_glyph, r.nonselection_glyph, r.muted_glyph].forEach(function (g) {
        if (g && g.fill_color !== undefined) { g.fill_color = col; }
      });
    });
    var tb = $("legend-tag");
    if (t >= 0) {
      var name = (t < D.tags.length ? "tag: " : "") + D.sets[t].name;
      tb.children[1].textContent = short(name, 35);
      tb.children[2].textContent = "(" + D.sets[t].m.length + ")";
      tb.title = name;
    }
    tb.hidden = !(t >= 0);
    tb.classList.remove("off");
    S.tagRend.visible = true;
    var which = t < D.tags.length ? "Tagged" : "Chosen";
    $("legend-title").textContent = t >= 0 ? which + " vs. others (grey) · click to hide"
      : "Clusters · click to hide";
    syncLegend();
    drawTagged();
    $("color-by").value = String(t);
    document.querySelectorAll("button.tagchip").forEach(function (b) {
      b.classList.toggle("on", Number(b.dataset.tag) === t);
    });
    document.body.dataset.colorBy = t >= 0 ? "tag" : "cluster";
  }
  function short(s, n) { return s.length <= n ? s : s.slice(0, n - 1) + "…"; }

  // ---- legend (an HTML list beside the map, below it on a phone) -------------
  function renderLegend() {
    var ul = $("legend");
    var li = el("li");
    var tb = el("button", "legend-item tag-entry");
    tb.type = "button";
    tb.id = "legend-tag";
    tb.hidden = true;
    var td = el("i", "dot");
    td.style.background = D.tag_color;
    tb.append(td, el("span", "legend-label", ""), el("span", "legend-count", ""));
    tb.addEventListener("click", function () {
      S.tagRend.visible = !S.tagRend.visible;
      tb.classList.toggle("off", !S.tagRend.visible);
    });
    li.append(tb);
    ul.append(li);
    D.clusters.forEach(function (cl, c) {
      var item = el("li");
      var b = el("button", "legend-item");
      b.type = "button";
      b.dataset.cluster = String(c);
      b.title = "cluster " + c + ": " + cl.name + " · click to hide or show";
      var d = el("i", "dot");
      d.style.background = cl.color;
      b.append(d, el("span", "legend-num", String(c)),
        el("span", "legend-label", short(cl.name, 36)),
        el("span", "legend-count", "(" + cl.size + ")"));
      b.addEventListener("click", function () { S.rends[c].visible = !S.rends[c].visible; });
      item.append(b);
      ul.append(item);
    });
    syncLegend();
  }
  function syncLegend() {
    document.querySelectorAll("#legend button[data-cluster]").forEach(function (b) {
      var c = Number(b.dataset.cluster);
      b.classList.toggle("off", !visible(c));
      b.setAttribute("aria-pressed", String(visible(c)));
      b.firstChild.style.background = S.colorTag >= 0 ? D.grey : D.clusters[c].color;
    });
  }
  // The whole map fits the window below the header (at least 300 px tall).
  function fitMap() {
    var m = $("map");
    var top = m.getBoundingClientRect().top + window.scrollY;
    var h = window.innerWidth <= 700 ? Math.min(window.innerHeight * 0.6, 560)
      : window.innerHeight - top - 14;
    h = Math.max(300, Math.min(880, Math.round(h)));
    document.documentElement.style.setProperty("--map-h", h + "px");
  }

  // ---- thumbnails drawn on the map when zoomed in ----------------------------
  function inView() {
    var f = S.fig, out = [];
    var x0 = f.x_range.start, x1 = f.x_range.end, y0 = f.y_range.start, y1 = f.y_range.end;
    if (!(isFinite(x0) && isFinite(x1) && isFinite(y0) && isFinite(y1))) { return null; }
    for (var c = 0; c < S.members.length; c++) {
      if (!visible(c)) { continue; }
      var m = S.members[c];
      for (var t = 0; t < m.length; t++) {
        var i = m[t];
        if (X[i] >= x0 && X[i] <= x1 && Y[i] >= y0 && Y[i] <= y1) {
          out.push(i);
          if (out.length > MAP_THUMBS) { return null; }
        }
      }
    }
    return out;
  }
  function drawMapThumbs() {
    S.thumbRaf = 0;
    // Only once zoomed in (the view narrower than the whole map) to a few hundred points.
    var f = S.fig, zoomed = S.span && (f.x_range.end - f.x_range.start) < 0.8 * S.span;
    var shown = zoomed ? inView() || [] : [];
    S.onMap = shown;
    S.thumbSrc.data = {url: shown.map(function (i) { return D.thumbs[i]; }),
      x: shown.map(function (i) { return X[i]; }), y: shown.map(function (i) { return Y[i]; })};
    document.body.dataset.mapThumbs = String(shown.length);
  }
  function onRange() {
    if (!S.thumbRaf) { S.thumbRaf = window.requestAnimationFrame(drawMapThumbs); }
  }
  function zoomTo(ids) {
    if (!ids.length) { return; }
    var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    ids.forEach(function (i) {
      x0 = Math.min(x0, X[i]); x1 = Math.max(x1, X[i]);
      y0 = Math.min(y0, Y[i]); y1 = Math.max(y1, Y[i]);
    });
    var px = Math.max((x1 - x0) * 0.08, 0.5), py = Math.max((y1 - y0) * 0.08, 0.5);
    // (as a zoom tool does: the ranges then stop following the visible data)
    S.fig.x_range.have_updated_interactively = true;
    S.fig.y_range.have_updated_interactively = true;
    S.fig.x_range.setv({start: x0 - px, end: x1 + px});
    S.fig.y_range.setv({start: y0 - py, end: y1 + py});
  }
  function setupColorBy() {
    var box = $("color-by-box"), select = $("color-by");
    if (!D.sets.length) { box.hidden = true; return; }
    function group(label, sets, first) {
      var g = el("optgroup");
      g.label = label;
      sets.forEach(function (v, j) {
        var o = el("option", "", short(v.name, 40) + " (" + v.m.length + ")");
        o.value = String(first + j);
        o.title = v.name;
        g.append(o);
      });
      select.append(g);
    }
    if (D.tags.length) { group("Tag", D.tags, 0); }
    // capture facts (year taken, camera): numbered on from the tags
    D.facets.forEach(function (f) { group(f.name, f.values, f.start); });
    select.addEventListener("change", function () { colorBy(select.value); });
    box.hidden = false;
    if (!D.tags.length) { return; }
    var input = $("search");
    input.placeholder = "Search file names and tags";
    input.setAttribute("aria-label", "Search file names and tags");
  }

  Object.assign(EX, {view: view, nearest: nearest, clientPos: clientPos, setHover: setHover,
    onMove: onMove, onLeave: onLeave, drawTagged: drawTagged, colorBy: colorBy,
    renderLegend: renderLegend, syncLegend: syncLegend, fitMap: fitMap, onRange: onRange,
    zoomTo: zoomTo, setupColorBy: setupColorBy});
})(window.ExplorerApp = window.ExplorerApp || {});
