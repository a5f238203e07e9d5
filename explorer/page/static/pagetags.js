// Tags added in the page: kept in this browser (localStorage, per index), listed in
// the "Tags added here" card and exported as JSON or CSV for `explorer tag --import`.
(function (EX) {
  "use strict";
  var D = EX.data, S = EX.state;
  var $ = EX.$, el = EX.el, plural = EX.plural, csvCell = EX.csvCell, download = EX.download;

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
    if (S.pin >= 0) { EX.renderPin(); }
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

  Object.assign(EX, {loadPageTags: loadPageTags, addPageTag: addPageTag,
    renderPageTags: renderPageTags, pageTagsJson: pageTagsJson});
})(window.ExplorerApp = window.ExplorerApp || {});
