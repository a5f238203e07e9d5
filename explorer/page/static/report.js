(function () {
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
  var MAP_THUMBS = 150;  // thumbnails drawn on the map when at most this many points are in view

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
        c.addEventListener("click", function () { colorBy(S.colorTag === t ? -1 : t); });
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

  // ---- pinned panel -----------------------------------------------------
  // Visited images, for back and forward in the pinned panel.
  var visits = {list: [], at: -1};
  function pin(i, fromHistory) {
    if (i < 0 || i >= N) { return; }
    if (!fromHistory && visits.list[visits.at] !== i) {
      visits.list = visits.list.slice(0, visits.at + 1).concat([i]).slice(-200);
      visits.at = visits.list.length - 1;
    }
    S.pin = i;
    var nb = neighbors(i);
    S.pinSrc.data = {x: [X[i]], y: [Y[i]]};
    S.nbSrc.data = {x: nb.map(function (p) { return X[p[0]]; }),
      y: nb.map(function (p) { return Y[p[0]]; })};
    S.linkSrc.data = {
      x0: nb.map(function () { return X[i]; }),
      y0: nb.map(function () { return Y[i]; }),
      x1: nb.map(function (p) { return X[p[0]]; }),
      y1: nb.map(function (p) { return Y[p[0]]; })};
    renderPin();
    document.body.dataset.pinned = String(i);
  }
  function unpin() {
    S.pin = -1;
    S.pinSrc.data = {x: [], y: []};
    S.nbSrc.data = {x: [], y: []};
    S.linkSrc.data = {x0: [], y0: [], x1: [], y1: []};
    renderPin();
    delete document.body.dataset.pinned;
  }
  function renderPin() {
    var box = $("pin");
    box.replaceChildren();
    var i = S.pin;
    if (i < 0) {
      box.className = "card pin empty";
      box.append(el("h2", "card-title", "Pinned image"),
        el("p", "muted", "Hover a point to preview it; click it to pin it here with its "
          + "nearest neighbours. Click a neighbour to move there."));
      return;
    }
    box.className = "card pin";
    var head = el("div", "pin-head");
    var close = el("button", "icon", "×");
    close.title = "Unpin (Esc)";
    close.id = "pin-close";
    close.setAttribute("aria-label", "Unpin");
    close.addEventListener("click", unpin);
    var nav = el("div", "pin-nav");
    [["‹", "pin-back", "Back to the image pinned before", -1],
      ["›", "pin-forward", "Forward", 1]].forEach(function (d) {
      var b = el("button", "icon", d[0]);
      b.type = "button";
      b.id = d[1];
      b.title = d[2];
      b.setAttribute("aria-label", d[2]);
      var to = visits.at + d[3];
      b.disabled = to < 0 || to >= visits.list.length;
      b.addEventListener("click", function () {
        visits.at = to;
        pin(visits.list[to], true);
      });
      nav.append(b);
    });
    head.append(el("h2", "card-title", "Pinned image"), nav, close);
    var fig = el("div", "pin-imgbox");
    fig.append(thumb(i, "pin-img"));
    var tags = el("div", "pin-tags");
    tags.append(chip(D.labels[i]), el("span", "tag", "#" + i));
    var g = D.dupOf[i];
    if (g !== undefined && g >= 0) {
      var gl = el(g < D.dup_limit ? "button" : "span", "tag warn dup-link",
        "near-duplicate group " + (g + 1));
      if (g < D.dup_limit) {
        gl.type = "button";
        gl.title = "Show the group in the Near-duplicates list";
        gl.addEventListener("click", function () { S.showDup(g); });
      }
      tags.append(gl);
      if (D.dups[g].keep === i) { tags.append(el("span", "tag keep", "suggested keeper")); }
    }
    if (D.isExact[i]) { tags.append(el("span", "tag warn", "exact copy")); }
    var name = el("div", "pin-name", midShort(D.names[i], 64));
    name.title = D.names[i];
    box.append(head, fig, name, el("div", "pin-path", D.paths[i]));
    if (D.originals) {
      // a relative file: URL, every segment percent-encoded, set as a property
      var open = el("a", "open-original", "Open original");
      open.href = D.originals + "/" + D.paths[i].split("/").map(encodeURIComponent).join("/");
      open.target = "_blank";
      open.rel = "noopener noreferrer";
      box.append(open);
    }
    var facts = [D.captions[i], D.bytes.length ? bytes(D.bytes[i]) : ""].filter(Boolean);
    if (facts.length) { box.append(el("div", "pin-path pin-capture", facts.join(" · "))); }
    box.append(tags);
    if (D.tagsOf[i]) {
      var tl = tagChips(i, true);
      tl.classList.add("pin-taglist");
      box.append(tl);
    }
    var added = S.pageTags[D.paths[i]] || [];
    if (added.length) {
      var at = el("div", "tagchips pin-taglist page-added");
      added.forEach(function (t) { at.append(el("span", "tagchip", t)); });
      at.title = "tags added in this page (export them from the Tags added here card)";
      box.append(at);
    }
    var nb = neighbors(i);
    box.append(el("h3", "sub", nb.length ? "Nearest neighbours" : "No neighbours"));
    var list = el("ol", "nbr-list");
    nb.forEach(function (p) {
      var li = el("li");
      var b = el("button", "nbr");
      b.type = "button";
      b.dataset.index = String(p[0]);
      b.title = D.paths[p[0]];
      var txt = el("span", "nbr-text");
      var bar = el("span", "bar");
      var fill = el("i");
      fill.style.width = Math.max(0, Math.min(1, p[1])) * 100 + "%";
      bar.append(fill);
      txt.append(el("span", "nbr-name", midShort(D.names[p[0]], 30)), bar);
      if (p[2]) { txt.append(copiesChip(p[2])); }
      b.append(thumb(p[0], "nbr-img"), txt, el("span", "nbr-score", fmt(p[1])));
      b.addEventListener("click", function () { pin(p[0]); });
      li.append(b);
      list.append(li);
    });
    box.append(list);
  }
  function onTap(e) {
    var i = nearest(e.sx, e.sy);
    if (i >= 0) { pin(i); }
  }

  // ---- search -----------------------------------------------------------
  function search(q) {
    q = q.trim().toLowerCase();
    if (!S.lower) {
      // One line per searchable text (path, then each tag), so a match never spans two.
      S.lower = D.paths.map(function (p, i) {
        var ts = (D.tagsOf[i] || []).map(function (t) { return D.tags[t].name; });
        return [p].concat(ts).join("\n").toLowerCase();
      });
    }
    var m = [];
    if (q) {
      for (var i = 0; i < N; i++) {
        if (visible(D.labels[i]) && S.lower[i].indexOf(q) >= 0) { m.push(i); }
      }
    }
    S.matches = m;
    S.query = q;
    S.matchSrc.data = {x: m.map(function (i) { return X[i]; }),
      y: m.map(function (i) { return Y[i]; })};
    applyFade();
    var out = $("search-count");
    out.textContent = q ? (m.length ? plural(m.length, "match", "matches") : "no match") : "";
    out.className = q && !m.length ? "count none" : "count";
    renderMatches();
  }
  // The matches as a thumbnail strip (click one to pin it), with "Select all".
  function renderMatches() {
    var box = $("matches"), m = S.matches, STRIP = 24;
    box.hidden = !m.length;
    if (!m.length) { box.replaceChildren(); return; }
    var grid = el("div", "sel-grid");
    m.slice(0, STRIP).forEach(function (i) {
      grid.append(thumbButton(i, "sel-thumb", pin));
    });
    var all = el("button", "btn small", "Select all " + m.length);
    all.type = "button";
    all.id = "select-matches";
    all.addEventListener("click", function () { selectImages(S.matches.slice()); });
    var head = el("div", "pin-head");
    head.append(el("h2", "card-title", "Search · " + plural(m.length, "match", "matches")), all);
    box.replaceChildren(head, grid);
    if (m.length > STRIP) { box.append(el("p", "muted", "+" + (m.length - STRIP) + " more")); }
  }
  function selectImages(ids) {
    var per = S.srcs.map(function () { return []; });
    ids.forEach(function (i) { per[D.labels[i]].push(S.local[i]); });
    S.srcs.forEach(function (src, c) { src.selected.indices = per[c]; });
    onSelect();
  }
  // One place decides how bright each point is: a search fades what it does not match,
  // and a selection fades everything outside it (clusters it never touched included).
  function applyFade() {
    var any = S.selected.length > 0;
    S.rends.forEach(function (r, c) {
      var a = S.query ? 0.15 : BASE_ALPHA, la = S.query ? 0.15 : D.line_alpha;
      if (any && !S.srcs[c].selected.indices.length) { a = FADED; la = FADED; }
      r.glyph.fill_alpha = a;
      r.glyph.line_alpha = la;
    });
    drawTagged();
  }

  // ---- selection --------------------------------------------------------
  function onSelect() {
    var sel = [];
    S.srcs.forEach(function (src, c) {
      if (!visible(c)) { return; }
      var loc = src.selected.indices;
      for (var t = 0; t < loc.length; t++) { sel.push(S.members[c][loc[t]]); }
    });
    sel.sort(function (a, b) { return a - b; });
    S.selected = sel;
    renderSelection();
    applyFade();
  }
  function selectCluster(c) {
    if (!visible(c)) { S.rends[c].visible = true; }
    selectImages(Array.from(S.members[c]));
  }
  function clearSelection() {
    S.srcs.forEach(function (src) { src.selected.indices = []; });
    onSelect();
  }
  function renderSelection() {
    var box = $("selection");
    var sel = S.selected;
    box.hidden = sel.length === 0;
    document.body.dataset.selected = String(sel.length);
    if (!sel.length) { box.replaceChildren(); return; }
    var head = el("div", "pin-head");
    head.append(el("h2", "card-title", "Selection · " + plural(sel.length, "image", "images")));
    var grid = el("div", "sel-grid");
    var GRID = 24;
    sel.slice(0, GRID).forEach(function (i) {
      grid.append(thumbButton(i, "sel-thumb", pin));
    });
    var actions = el("div", "actions");
    function button(label, id, cls, fn) {
      var b = el("button", "btn small" + (cls ? " " + cls : ""), label);
      b.type = "button";
      b.id = id;
      b.addEventListener("click", fn);
      actions.append(b);
    }
    button("Download CSV", "download-csv", "primary", downloadCsv);
    button("Copy paths", "copy-paths", "", function () {
      copyText(S.selected.map(function (i) { return D.paths[i]; }).join("\n") + "\n", "paths");
    });
    button("Copy tag command", "copy-tag-cmd", "", function () {
      copyText(tagCommand($("tag-input").value), "command");
    });
    button("Clear", "clear-selection", "", clearSelection);
    var form = el("form", "tagform");
    var input = el("input");
    input.id = "tag-input";
    input.placeholder = "Tag these images…";
    input.setAttribute("aria-label", "Tag the selected images");
    input.maxLength = 200;
    var add = el("button", "btn small", "Add tag");
    add.type = "submit";
    add.id = "tag-add";
    form.append(input, add);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (addPageTag(input.value, S.selected)) { input.value = ""; }
    });
    var status = el("div", "status");
    status.id = "sel-status";
    status.setAttribute("aria-live", "polite");
    var list = el("ul", "sel-list");
    var LIMIT = 300;
    sel.slice(0, LIMIT).forEach(function (i) {
      var li = el("li");
      var b = el("button", "sel-item");
      b.type = "button";
      b.title = D.paths[i];
      var dot = el("i", "dot");
      dot.style.background = D.clusters[D.labels[i]].color;
      b.append(dot, el("span", "", D.paths[i]));
      b.addEventListener("click", function () { pin(i); });
      li.append(b);
      list.append(li);
    });
    box.replaceChildren(head, grid);
    if (sel.length > GRID) { box.append(el("p", "muted", "+" + (sel.length - GRID) + " more")); }
    var files = el("details", "sel-files");
    files.append(el("summary", "", "List the files"), list);
    if (sel.length > LIMIT) {
      files.append(el("p", "muted", "… and " + (sel.length - LIMIT) + " more (all in the CSV)"));
    }
    box.append(actions, form, status, files);
  }
  function shellQuote(s) { return "'" + String(s).replace(/'/g, "'\\''") + "'"; }
  function tagCommand(tag) {
    tag = String(tag || "").trim();
    return "explorer tag --from selection.csv " + (tag ? shellQuote(tag) : "NAME");
  }
  function copyText(text, what) {
    S.copied = text;
    function done() {
      var st = $("sel-status") || $("pagetags-status");
      if (st) { st.textContent = "Copied the " + what + " to the clipboard"; }
    }
    function fallback() {
      var ta = el("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.style.position = "fixed";
      ta.style.opacity = "0";
      document.body.append(ta);
      ta.select();
      try { document.execCommand("copy"); } catch (err) { /* nothing more to try */ }
      ta.remove();
      done();
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  }

  // ---- tags added in the page (kept in this browser, exported as a file) ----
  function storeKey() { return "explorer-tags:" + D.key; }
  function loadPageTags() {
    try {
      var raw = window.localStorage.getItem(storeKey());
      var got = raw ? JSON.parse(raw) : {};
      if (got && typeof got === "object") { S.pageTags = got; }
    } catch (err) { S.pageTags = {}; }
  }
  function savePageTags() {
    try { window.localStorage.setItem(storeKey(), JSON.stringify(S.pageTags)); }
    catch (err) { /* private mode or file:// storage off: tags last until the page closes */ }
  }
  function addPageTag(tag, indices) {
    tag = String(tag || "").trim();
    // the same rule as explorer's check_tag, which checks again on import
    if (!tag || tag.length > 200 || /[\u0000-\u001f]/.test(tag) || !indices.length) {
      return false;
    }
    indices.forEach(function (i) {
      var p = D.paths[i], have = S.pageTags[p] || [];
      if (have.indexOf(tag) < 0) { S.pageTags[p] = have.concat([tag]).sort(); }
    });
    savePageTags();
    renderPageTags();
    if (S.pin >= 0) { renderPin(); }
    var st = $("sel-status");
    if (st) { st.textContent = "Tagged " + plural(indices.length, "image", "images") + " " + tag; }
    return true;
  }
  function pageTagCounts() {
    var counts = {};
    Object.keys(S.pageTags).forEach(function (p) {
      S.pageTags[p].forEach(function (t) { counts[t] = (counts[t] || 0) + 1; });
    });
    return counts;
  }
  function pageTagsJson() {
    var out = {};
    Object.keys(S.pageTags).sort().forEach(function (p) {
      if (S.pageTags[p].length) { out[p] = S.pageTags[p].slice(); }
    });
    return JSON.stringify({format: "explorer-tags", version: 1, tags: out}, null, 1) + "\n";
  }
  function pageTagsCsv() {
    var rows = ["path,tag"];
    Object.keys(S.pageTags).sort().forEach(function (p) {
      S.pageTags[p].forEach(function (t) { rows.push(csvCell(p) + "," + csvCell(t)); });
    });
    return rows.join("\r\n") + "\r\n";
  }
  function renderPageTags() {
    var box = $("pagetags");
    var counts = pageTagCounts(), names = Object.keys(counts).sort();
    box.hidden = names.length === 0;
    if (!names.length) { box.replaceChildren(); return; }
    var list = el("ul", "pagetag-list");
    names.forEach(function (t) { list.append(el("li", "", t + " · " + counts[t])); });
    var actions = el("div", "actions");
    [["Export JSON", "export-tags-json", function () {
      download(pageTagsJson(), "explorer-tags.json", "application/json");
    }], ["Export CSV", "export-tags-csv", function () {
      download(pageTagsCsv(), "explorer-tags.csv", "text/csv;charset=utf-8");
    }], ["Forget", "forget-tags", function () {
      S.pageTags = {};
      savePageTags();
      renderPageTags();
    }]].forEach(function (d, j) {
      var b = el("button", "btn small" + (j === 0 ? " primary" : ""), d[0]);
      b.type = "button";
      b.id = d[1];
      b.addEventListener("click", d[2]);
      actions.append(b);
    });
    var note = el("p", "muted", "Kept in this browser only. Merge them into the index with: "
      + "explorer tag --import explorer-tags.json");
    box.replaceChildren(el("h2", "card-title", "Tags added here"), list, actions, note);
  }
  function csvCell(v) {
    var s = String(v);
    // Spreadsheets run cells that start with = + - @ as formulas.
    // (a leading ' is doubled too, so that explorer can undo the guard exactly)
    if (/^[=+\-@\t\r']/.test(s)) { s = "'" + s; }
    if (/[",\r\n]/.test(s)) { s = "\"" + s.replace(/"/g, "\"\"") + "\""; }
    return s;
  }
  function selectionCsv() {
    var rows = ["index,path,cluster,cluster_name,x,y,tags"];
    S.selected.forEach(function (i) {
      var c = D.labels[i];
      var ts = (D.tagsOf[i] || []).map(function (t) { return D.tags[t].name; });
      rows.push([i, csvCell(D.paths[i]), c, csvCell(D.clusters[c].name),
        X[i].toFixed(4), Y[i].toFixed(4), csvCell(ts.join(";"))].join(","));
    });
    return rows.join("\r\n") + "\r\n";
  }
  function downloadCsv() { download(selectionCsv(), "selection.csv", "text/csv;charset=utf-8"); }
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


  // ---- cluster gallery and duplicates -----------------------------------
  function pinAndShow(i) {
    if (!visible(D.labels[i])) { S.rends[D.labels[i]].visible = true; }
    pin(i);
    $("map-card").scrollIntoView({behavior: "smooth", block: "start"});
  }
  // A thumbnail button; a click pins its image (and, by default, shows the map).
  function thumbButton(i, cls, onClick) {
    var act = onClick || pinAndShow;
    var b = el("button", cls);
    b.type = "button";
    b.title = D.paths[i];
    b.dataset.index = String(i);
    b.append(thumb(i, "", true));
    b.addEventListener("click", function () { act(i); });
    return b;
  }
  function solo(c) {
    var only = S.solo !== c;
    S.solo = only ? c : -1;
    S.rends.forEach(function (r, k) { r.visible = !only || k === c; });
    if (only) { zoomTo(Array.from(S.members[c])); } else { view().reset_range(); }
    $("map-card").scrollIntoView({behavior: "instant", block: "start"});
  }
  function renderGallery() {
    var grid = $("gallery-grid");
    D.clusters.forEach(function (cl, c) {
      var card = el("article", "card cluster");
      var head = el("header", "cluster-head");
      var sw = el("span", "swatch");
      sw.style.background = cl.color;
      var t = el("div", "cluster-title");
      // "Cluster N" and its size first: the ImageNet words are only a guess
      var h = el("h3", "", "Cluster " + c);
      t.append(h, el("span", "muted", plural(cl.size, "image", "images")));
      var guess = el("p", "guess");
      if (cl.guess.length) {
        guess.append(el("span", "muted", "ImageNet guess: "), cl.guess.map(function (g) {
          return g[0] + "\u00a0" + Math.round(g[1] * 100) + "\u00a0%";
        }).join(" · "));
        guess.title = "share of the cluster's ImageNet class mass; the backbone knows only "
          + "ImageNet's 1,000 classes";
      } else if (cl.name.toLowerCase() !== "cluster " + c) {
        guess.append(el("span", "muted", "named: "), cl.name);
      }
      var b = el("button", "btn small solo", "Show only");
      b.type = "button";
      b.dataset.cluster = String(c);
      b.addEventListener("click", function () { solo(c); });
      var sb = el("button", "btn small select-cluster", "Select");
      sb.type = "button";
      sb.title = "Select this cluster (to tag it, copy its paths or download them)";
      sb.dataset.cluster = String(c);
      sb.addEventListener("click", function () { selectCluster(c); });
      head.append(sw, t, sb, b);
      var reps = el("div", "reps");
      cl.reps.forEach(function (i) { reps.append(thumbButton(i, "rep")); });
      card.append(head, reps);
      if (guess.childNodes.length) { card.append(guess); }
      grid.append(card);
    });
  }
  function syncSolo() {
    document.querySelectorAll("button.solo").forEach(function (b) {
      var c = Number(b.dataset.cluster);
      var on = S.solo === c;
      b.textContent = on ? "Show all" : "Show only";
      b.classList.toggle("on", on);
    });
  }
  function renderNearCut() {
    // Example pairs just above and just below the threshold, to judge the cut by eye.
    var box = $("dup-near");
    if (!box || !(D.near[0].length || D.near[1].length)) { return; }
    box.append(el("p", "near-title", "Pairs nearest the cut"));
    [[D.near[0], "above", "above"], [D.near[1], "below", "below"]].forEach(function (s) {
      if (!s[0].length) { return; }
      var row = el("div", "near-row " + s[1]);
      row.append(el("span", "near-side", s[2]));
      s[0].forEach(function (p) {
        var f = el("figure", "near-pair");
        f.append(thumbButton(p[0], "dup-thumb"), thumbButton(p[1], "dup-thumb"),
          el("figcaption", "", "cosine " + fmt(p[2])));
        row.append(f);
      });
      box.append(row);
    });
  }
  function dupCard(g, k) {
    var MEMBERS = 24;
    var card = el("article", "card dup");
    var lo = Math.min.apply(null, g.p.map(function (p) { return p[2]; }));
    var hi = Math.max.apply(null, g.p.map(function (p) { return p[2]; }));
    var head = el("header", "dup-head");
    head.append(el("h3", "", "Group " + (k + 1)),
      el("span", "muted", plural(g.m.length, "image", "images") + " · "
        + (g.x ? "exact copies" : "cosine " + (lo === hi ? fmt(lo) : fmt(lo) + "–" + fmt(hi)))));
    if (!g.x && g.m.length > 5) {
      head.append(el("span", "tag warn big", "over 5 images: check they are one picture"));
    }
    var row = el("div", "dup-members");
    // The suggested keeper first, then the others in index order.
    var shown = g.m.filter(function (i) { return i !== g.keep; });
    if (g.keep >= 0) { shown.unshift(g.keep); }
    shown.slice(0, MEMBERS).forEach(function (i) {
      var f = el("figure", "dup-member");
      f.dataset.index = String(i);
      var cap = el("figcaption", "", D.names[i]);
      f.append(thumbButton(i, "dup-thumb"), cap);
      if (D.details[i]) { f.append(el("div", "dup-detail", D.details[i])); }
      var badges = el("div", "badge");
      if (i === g.keep) {
        f.classList.add("keep");
        badges.append(el("span", "keep", "keep"));
      }
      if (D.isExact[i]) { badges.append(el("span", "exact", "exact")); }
      if (badges.childElementCount) { f.append(badges); }
      row.append(f);
    });
    if (g.m.length > MEMBERS) {
      row.append(el("p", "muted", "+" + (g.m.length - MEMBERS) + " more"));
    }
    card.append(head);
    if (g.r) { card.append(el("p", "dup-reason", "keep: " + g.r)); }
    var pairs = el("details", "pairs");
    pairs.append(el("summary", "", plural(g.p.length, "matching pair", "matching pairs")));
    var ul = el("ul");
    g.p.slice(0, 100).forEach(function (p) {
      ul.append(el("li", "", D.names[p[0]] + "  ↔  " + D.names[p[1]] + "   " + fmt(p[2])));
    });
    pairs.append(ul);
    card.append(row, pairs);
    return card;
  }
  function renderDuplicates() {
    // Paged: a page of cards at a time, so 1,500 images do not make a page miles long.
    renderNearCut();
    var list = $("dup-list");
    var LIMIT = D.dup_limit, PAGE = D.dup_page;
    var groups = D.dups.slice(0, LIMIT);
    var done = 0;
    var more = el("button", "btn dup-more");
    more.type = "button";
    function page() {
      groups.slice(done, done + PAGE).forEach(function (g, j) {
        var card = dupCard(g, done + j);
        card.dataset.group = String(done + j);
        list.append(card);
      });
      done = Math.min(groups.length, done + PAGE);
      var left = groups.length - done;
      more.textContent = "Show " + Math.min(PAGE, left) + " more of " + left + " groups";
      if (!left) { more.remove(); }
    }
    more.addEventListener("click", page);
    // (the pinned panel's group link: draw pages until the group's card exists)
    S.showDup = function (k) {
      while (done <= k && done < groups.length) { page(); }
      var card = list.querySelector("[data-group='" + k + "']");
      if (!card) { return; }
      card.scrollIntoView({behavior: "instant", block: "start"});
      card.classList.add("flash");
      window.setTimeout(function () { card.classList.remove("flash"); }, 1500);
    };
    page();
    if (done < groups.length) { list.after(more); }
    if (!D.dups.length) {
      list.append(el("p", "muted", "No near-duplicates above the threshold."));
    } else if (D.dups.length > LIMIT) {
      list.parentNode.append(el("p", "muted", (D.dups.length - LIMIT) + " more groups not shown."));
    }
  }

  // ---- wiring -----------------------------------------------------------
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
    a.fig.x_range.connect(a.fig.x_range.change, onRange);
    a.fig.y_range.connect(a.fig.y_range.change, onRange);
    D.dupOf = new Int32Array(N).fill(-1);
    D.dups.forEach(function (g, k) { g.m.forEach(function (i) { D.dupOf[i] = k; }); });
    D.copyOf = new Int32Array(N).fill(-1);
    D.dups.forEach(function (g, k) {
      if (g.x) { g.m.forEach(function (i) { D.copyOf[i] = k; }); }
    });
    D.isExact = new Uint8Array(N);
    D.exact.forEach(function (i) { D.isExact[i] = 1; });
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
      timer = window.setTimeout(function () { search(input.value); }, 60);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") {
        search(input.value);
        if (S.matches.length) { pin(S.matches[0]); }
      }
      if (e.key === "Escape") { input.value = ""; search(""); }
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !(e.target instanceof HTMLInputElement)) { unpin(); }
    });
    // A mouse click focuses the map's event layer; keep the focus ring for keyboards only.
    var shadow = view().canvas_view.el.shadowRoot;
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
    loadPageTags();
    renderLegend();
    setupColorBy();
    renderPageTags();
    fitMap();
    window.addEventListener("resize", fitMap);
    renderPin();
    renderGallery();
    renderDuplicates();
    document.body.dataset.colorBy = "cluster";
    document.body.dataset.ready = "1";
  }
  function onVisibility() {
    var all = S.rends.every(function (r) { return r.visible; });
    if (all) { S.solo = -1; }
    syncSolo();
    syncLegend();
    onRange();
    search($("search").value);
    onSelect();  // also redraws the tagged points of the visible clusters
    S.hover = -2;
    setHover(-1);
  }

  window.ExplorerApp = {init: init, onMove: onMove, onLeave: onLeave, onTap: onTap,
    onSelect: onSelect, onVisibility: onVisibility, pin: pin, unpin: unpin, search: search,
    clientPos: clientPos, nearest: nearest, selectionCsv: selectionCsv, colorBy: colorBy,
    pageTagsJson: pageTagsJson, tagCommand: tagCommand, zoomTo: zoomTo, state: S, data: D};
})();
