// The report page's script, in seven files that explorer/page/assets.py inlines,
// in the order of its SCRIPT_FILES, into the page's one <script> element:
//   core.js      the page data, the state, DOM and formatting helpers (this file)
//   map.js       the map: geometry, hover tooltip, colour by tag, legend, thumbnails
//   panel.js     the pinned panel with its neighbours, and the thumbnail button
//   select.js    search, the selection card and its CSV
//   pagetags.js  tags added in the page, kept in the browser and exported
//   gallery.js   the cluster gallery and the near-duplicate groups
//   main.js      init (called by the Bokeh document) and the visibility hook
// Each file is an IIFE that adds its shared functions to the one global object,
// window.ExplorerApp (EX): it holds the hooks the map calls (explorer/page/figure.py)
// and what the tests drive. A file takes local names for core's values at its top
// and calls another file's functions as EX.name(...) when they run, after every
// file has loaded: only core.js must come first.
(function (EX) {
  "use strict";
  // Every file-derived string reaches the page through textContent, alt or a
  // property: nothing here parses HTML. Image sources are only the data: URIs
  // or sidecar paths the report writer generated.
  var D = JSON.parse(document.getElementById("explorer-data").textContent);
  var N = D.paths.length;
  var K = D.k;
  var X = new Float64Array(N);
  var Y = new Float64Array(N);
  var S = {fig: null, view: null, rends: [], srcs: [], members: [], pin: -1, hover: -1,
    showDup: function () {},
    matches: [], selected: [], move: null, raf: 0, solo: -1, lower: null, colorTag: -1,
    query: "", copied: "", pageTags: {}, thumbRaf: 0, onMap: []};
  var BASE_ALPHA = D.alpha;
  var FADED = 0.08;  // alpha of everything outside a selection, whatever the colouring

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function thumb(i, cls, lazy) {
    var im = el("img", cls);
    im.alt = D.names[i];
    im.decoding = "async";
    im.draggable = false;
    if (lazy) { im.loading = "lazy"; }
    im.src = D.thumbs[i];
    return im;
  }
  function fmt(s) { return Number(s).toFixed(3); }
  function bytes(n) {
    return n < 1000 ? n + "\u00a0B" : n < 1e6 ? (n / 1000).toFixed(1) + "\u00a0kB"
      : (n / 1e6).toFixed(1) + "\u00a0MB";
  }
  // Shortened in the middle: copies differ at the end ("-crop", "_03").
  function midShort(s, n) {
    if (s.length <= n) { return s; }
    var tail = Math.floor((n - 1) * 0.45);
    return s.slice(0, n - 1 - tail) + "…" + s.slice(s.length - tail);
  }
  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }
  function chip(c) {
    var e = el("span", "chip");
    var dot = el("i", "dot");
    dot.style.background = D.clusters[c].color;
    e.title = "cluster " + c + ": " + D.clusters[c].name;
    e.append(dot, el("span", "chip-name", D.clusters[c].name));
    return e;
  }
  function tagChips(i, clickable) {
    var box = el("div", "tagchips");
    var ts = D.tagsOf[i] || [];
    var LIMIT = clickable ? 50 : 8;
    ts.slice(0, LIMIT).forEach(function (t) {
      var c = el(clickable ? "button" : "span", "tagchip", D.tags[t].name);
      c.title = D.tags[t].name;
      c.dataset.tag = String(t);
      if (clickable) {
        c.type = "button";
        c.title = "Colour the map by the tag " + D.tags[t].name;
        c.classList.toggle("on", S.colorTag === t);
        c.addEventListener("click", function () { EX.colorBy(S.colorTag === t ? -1 : t); });
      }
      box.append(c);
    });
    if (ts.length > LIMIT) { box.append(el("span", "muted", "+" + (ts.length - LIMIT))); }
    return box;
  }
  function neighbors(i) {
    // Byte-identical copies are folded into one entry: [image, cosine, further copies].
    var out = [], seen = {};
    for (var j = 0; j < K; j++) {
      var n = D.nbr[i * K + j];
      if (n < 0) { continue; }
      var key = D.copyOf[n] >= 0 ? "x" + D.copyOf[n] : "i" + n;
      if (key in seen) { out[seen[key]][2] += 1; continue; }
      seen[key] = out.length;
      out.push([n, D.nbs[i * K + j], 0]);
    }
    return out;
  }
  function copiesChip(count) {
    return el("span", "tag copies", "+" + count + (count === 1 ? " exact copy" : " exact copies"));
  }
  function visible(c) { return S.rends[c].visible; }

  // The files the page saves (the selection's CSV, the tags added here): one cell rule.
  function csvCell(v) {
    var s = String(v);
    // Spreadsheets run cells that start with = + - @ as formulas.
    // (a leading ' is doubled too, so that explorer can undo the guard exactly)
    if (/^[=+\-@\t\r']/.test(s)) { s = "'" + s; }
    if (/[",\r\n]/.test(s)) { s = "\"" + s.replace(/"/g, "\"\"") + "\""; }
    return s;
  }
  function download(text, name, type) {
    var blob = new Blob([text], {type: type});
    var url = URL.createObjectURL(blob);
    var a = el("a");
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    window.setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  Object.assign(EX, {data: D, state: S, N: N, X: X, Y: Y, BASE_ALPHA: BASE_ALPHA, FADED: FADED,
    $: $, el: el, thumb: thumb, fmt: fmt, bytes: bytes, midShort: midShort, plural: plural,
    chip: chip, tagChips: tagChips, neighbors: neighbors, copiesChip: copiesChip,
    visible: visible, csvCell: csvCell, download: download});
})(window.ExplorerApp = window.ExplorerApp || {});
