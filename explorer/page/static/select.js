// Search and selection: the matches strip, how bright each point is, the selection
// card (copy paths, the tag command, a tag added in the page) and its CSV download.
(function (EX) {
  "use strict";
  var D = EX.data, S = EX.state, N = EX.N, X = EX.X, Y = EX.Y;
  var BASE_ALPHA = EX.BASE_ALPHA, FADED = EX.FADED;
  var $ = EX.$, el = EX.el, plural = EX.plural, visible = EX.visible;
  var csvCell = EX.csvCell, download = EX.download;

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
      grid.append(EX.thumbButton(i, "sel-thumb", EX.pin));
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
    EX.drawTagged();
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
      grid.append(EX.thumbButton(i, "sel-thumb", EX.pin));
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
      if (EX.addPageTag(input.value, S.selected)) { input.value = ""; }
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
      b.addEventListener("click", function () { EX.pin(i); });
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

  Object.assign(EX, {search: search, onSelect: onSelect, selectCluster: selectCluster,
    tagCommand: tagCommand, selectionCsv: selectionCsv});
})(window.ExplorerApp = window.ExplorerApp || {});
