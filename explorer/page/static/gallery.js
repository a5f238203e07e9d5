// Below the map: the cluster gallery ("Show only", "Select") and the near-duplicate
// groups, paged, with the pairs nearest the threshold.
(function (EX) {
  "use strict";
  var D = EX.data, S = EX.state;
  var $ = EX.$, el = EX.el, fmt = EX.fmt, plural = EX.plural;

  function solo(c) {
    var only = S.solo !== c;
    S.solo = only ? c : -1;
    S.rends.forEach(function (r, k) { r.visible = !only || k === c; });
    if (only) { EX.zoomTo(Array.from(S.members[c])); } else { EX.view().reset_range(); }
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
      sb.addEventListener("click", function () { EX.selectCluster(c); });
      head.append(sw, t, sb, b);
      var reps = el("div", "reps");
      cl.reps.forEach(function (i) { reps.append(EX.thumbButton(i, "rep")); });
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
        f.append(EX.thumbButton(p[0], "dup-thumb"), EX.thumbButton(p[1], "dup-thumb"),
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
      f.append(EX.thumbButton(i, "dup-thumb"), cap);
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

  Object.assign(EX, {renderGallery: renderGallery, syncSolo: syncSolo,
    renderDuplicates: renderDuplicates});
})(window.ExplorerApp = window.ExplorerApp || {});
