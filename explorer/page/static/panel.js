// The pinned panel: one image with its facts, tags and nearest neighbours, back and
// forward through the images pinned before; and the thumbnail button that pins.
(function (EX) {
  "use strict";
  var D = EX.data, S = EX.state, N = EX.N, X = EX.X, Y = EX.Y;
  var $ = EX.$, el = EX.el, thumb = EX.thumb, fmt = EX.fmt, bytes = EX.bytes;
  var midShort = EX.midShort, chip = EX.chip, tagChips = EX.tagChips;
  var neighbors = EX.neighbors, copiesChip = EX.copiesChip, visible = EX.visible;

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
    var i = EX.nearest(e.sx, e.sy);
    if (i >= 0) { pin(i); }
  }

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

  Object.assign(EX, {pin: pin, unpin: unpin, renderPin: renderPin, onTap: onTap,
    thumbButton: thumbButton});
})(window.ExplorerApp = window.ExplorerApp || {});
