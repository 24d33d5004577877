// refbpf's HTML report: the cumulative table (sortable, filterable), each
// function's callers and callees, and a zoomable flame graph (or icicle).
// All data comes from the JSON in #refbpf-data; nothing is fetched.
"use strict";
var refbpfReport = (function () {
  var data, funcs, edges, sortKey = "cum", sortDesc = true, selected = -1;
  var zoomNode = 0, flameQuery = "";
  var columns = [
    ["self", "self"], ["selfPct", "self%"], ["cum", "cum"], ["cumPct", "cum%"],
    ["tottime", "tottime"], ["cumtime", "cumtime"], ["name", "function (file:line)"]];

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;   // names are text, never markup
    return e;
  }
  function pct(n, of) { return of ? (100 * n / of).toFixed(1) + "%" : "0.0%"; }
  function label(f) { return f.name + " (" + f.file + ":" + f.line + ")"; }
  function value(f, key) {
    switch (key) {
      case "selfPct": return f.self;
      case "cumPct": return f.cum;
      case "tottime": return f.self;
      case "cumtime": return f.cum;
      case "name": return label(f);
      default: return f[key];
    }
  }

  function renderTable() {
    var body = $("rows"), q = $("filter").value.toLowerCase();
    var order = funcs.map(function (f, i) { return i; }).filter(function (i) {
      return i !== 0 && (!q || label(funcs[i]).toLowerCase().indexOf(q) >= 0);
    });
    order.sort(function (a, b) {
      var x = value(funcs[a], sortKey), y = value(funcs[b], sortKey), c;
      if (typeof x === "string") c = x < y ? -1 : x > y ? 1 : 0;
      else c = x - y;
      if (sortDesc) c = -c;
      return c || (label(funcs[a]) < label(funcs[b]) ? -1 : 1);
    });
    body.textContent = "";
    order.forEach(function (i) {
      var f = funcs[i], tr = el("tr");
      tr.setAttribute("data-f", i);
      if (i === selected) tr.className = "selected";
      [f.self, pct(f.self, data.total), f.cum, pct(f.cum, data.total),
       (f.self * data.period).toFixed(3), (f.cum * data.period).toFixed(3)].forEach(function (v) {
        tr.appendChild(el("td", "", String(v)));
      });
      tr.appendChild(el("td", "fn", label(f)));
      tr.addEventListener("click", function () { go(i); });
      body.appendChild(tr);
    });
    $("shown").textContent = order.length + " of " + (funcs.length - 1) + " functions";
    Array.prototype.forEach.call(document.querySelectorAll("th[data-key]"), function (th) {
      th.className = (th.getAttribute("data-key") === sortKey ? (sortDesc ? "sorted-desc" : "sorted-asc") : "") +
        (th.getAttribute("data-key") === "name" ? " fn" : "");
    });
  }

  function sortBy(key) {
    if (sortKey === key) sortDesc = !sortDesc;
    else { sortKey = key; sortDesc = key !== "name"; }
    renderTable();
  }

  function relatives(list, title, of, which) {
    var box = el("div"), t = el("table"), tb = el("tbody");
    box.appendChild(el("h3", "", title));
    if (!list.length) { box.appendChild(el("div", "none", "none")); return box; }
    list.sort(function (a, b) { return b.samples - a.samples; });
    list.forEach(function (e) {
      var tr = el("tr"), f = funcs[e[which]], bar = el("span", "share");
      tr.setAttribute("data-f", e[which]);
      bar.style.width = Math.round(60 * e.samples / (of || 1)) + "px";
      var share = el("td");
      share.appendChild(bar);
      share.appendChild(document.createTextNode(pct(e.samples, of)));
      tr.appendChild(share);
      tr.appendChild(el("td", "", String(e.samples)));
      tr.appendChild(el("td", "fn", label(f)));
      tr.addEventListener("click", function () { go(e[which]); });
      tb.appendChild(tr);
    });
    t.appendChild(tb);
    box.appendChild(t);
    return box;
  }

  function renderDetails() {
    var d = $("details");
    d.textContent = "";
    if (selected < 0) { d.appendChild(el("div", "none", "Click a function to see its callers and callees.")); return; }
    var f = funcs[selected];
    d.appendChild(el("h3", "selected-name", label(f)));
    d.appendChild(el("div", "", f.cum + " samples on the stack (" + pct(f.cum, data.total) + "), " +
                     f.self + " as the innermost frame (" + pct(f.self, data.total) + ")"));
    var callers = [], callees = [];
    edges.forEach(function (e) {
      if (e.callee === selected && e.caller !== 0) callers.push(e);
      if (e.caller === selected) callees.push(e);
    });
    // shares of this function's samples on the stack
    d.appendChild(relatives(callers, "Callers", f.cum, "caller"));
    d.appendChild(relatives(callees, "Callees", f.cum, "callee"));
  }

  function select(i) {
    selected = i;
    renderTable();
    renderDetails();
  }

  // Navigation is history: the back button returns to the last function.
  function go(i) {
    if (i === selected) return;
    history.pushState({ f: i }, "", "#f=" + i);
    select(i);
  }

  function fromLocation() {
    var m = /^#f=(\d+)$/.exec(location.hash);
    select(m && +m[1] < funcs.length ? +m[1] : -1);
  }

  // ---- flame graph ----
  function nodeName(n) { return n.f >= 0 ? funcs[n.f].name : n.f === -1 ? "all" : "<truncated stack>"; }

  // A regular expression; text that is not one is searched as a substring.
  function matcher(q) {
    if (!q) return null;
    try { var re = new RegExp(q); return function (s) { return re.test(s); }; }
    catch (e) { return function (s) { return s.indexOf(q) >= 0; }; }
  }

  function renderFlame() {
    var box = $("flame"), nodes = data.tree, z = nodes[zoomNode] || nodes[0];
    var icicle = $("icicle").checked, maxDepth = 0, width = box.clientWidth || 1000;
    var x0 = z ? z.start : 0, w0 = z ? z.total : 1, re = matcher(flameQuery), matched = [];
    nodes.forEach(function (n) { if (n.depth > maxDepth) maxDepth = n.depth; });
    box.textContent = "";
    box.style.height = ((maxDepth + 1) * 16 + 4) + "px";
    nodes.forEach(function (n, i) {
      var left = Math.max(n.start, x0), right = Math.min(n.start + n.total, x0 + w0);
      var hit = re !== null && re(nodeName(n));
      if (hit) matched.push([n.start, n.total]);
      if (right <= left) return;
      var px = (right - left) / w0 * width;
      if (px < 0.5) return;
      var d = el("div", "fr " + n.kind + (hit ? " match" : "") + (n.start < x0 || n.start + n.total > x0 + w0 ? " parent" : ""),
                 px > 30 ? nodeName(n) : "");
      d.style.left = ((left - x0) / w0 * width) + "px";
      d.style.width = px + "px";
      d.style.top = (icicle ? n.depth * 16 : (maxDepth - n.depth) * 16) + "px";
      d.style.background = colour(n);
      d.title = nodeName(n) + (n.f >= 0 ? " (" + funcs[n.f].file + ":" + funcs[n.f].line + ")" : "") +
        " - " + n.total + " samples (" + pct(n.total, data.total) + ")";
      d.setAttribute("data-i", i);
      d.addEventListener("click", function () { zoomNode = i; renderFlame(); if (n.f > 0) go(n.f); });
      box.appendChild(d);
    });
    // samples under matching frames, counted once where they nest
    matched.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
    var covered = 0, end = -1;
    matched.forEach(function (m) {
      var e = m[0] + m[1];
      if (e <= end) return;
      covered += e - Math.max(m[0], end);
      end = e;
    });
    $("matched").textContent = flameQuery ? "Matched: " + pct(covered, data.total) : "";
    $("reset").disabled = zoomNode === 0;
  }

  // The SVG writer's colours (flame_colour() in user/profile/flame_tree.c): warm
  // Python frames by file, grey synthetic ones, blue native, green kernel.
  var utf8 = new TextEncoder(), hues = { py: [0, 56], native: [195, 40], kernel: [95, 40] };
  function colour(n) {
    var range = hues[n.kind];
    if (!range || n.f < 0) return "hsl(220,10%,78%)";
    var h = 2166136261, s = utf8.encode(funcs[n.f].file);   // FNV-1a of its bytes
    for (var i = 0; i < s.length; i++) h = Math.imul(h ^ s[i], 16777619) >>> 0;
    return "hsl(" + (range[0] + h % range[1]) + "," + (65 + (h >>> 8) % 20) + "%," +
      (58 + (h >>> 16) % 12) + "%)";
  }

  function init() {
    data = JSON.parse($("refbpf-data").textContent);
    funcs = data.funcs.map(function (f) { return { name: f[0], file: f[1], line: f[2], self: f[3], cum: f[4] }; });
    edges = data.edges.map(function (e) { return { caller: e[0], callee: e[1], samples: e[2], self: e[3] }; });
    data.tree = data.tree.map(function (n) { return { f: n[0], depth: n[1], start: n[2], total: n[3], self: n[4], kind: n[5] }; });
    var head = $("head-row");
    columns.forEach(function (c) {
      var th = el("th", c[0] === "name" ? "fn" : "", c[1]);
      th.setAttribute("data-key", c[0]);
      th.addEventListener("click", function () { sortBy(c[0]); });
      head.appendChild(th);
    });
    $("filter").addEventListener("input", renderTable);
    $("flame-search").addEventListener("input", function () { flameQuery = this.value; renderFlame(); });
    $("reset").addEventListener("click", function () { zoomNode = 0; renderFlame(); });
    $("icicle").addEventListener("change", renderFlame);
    window.addEventListener("popstate", fromLocation);
    window.addEventListener("resize", renderFlame);
    fromLocation();
    renderFlame();
  }

  document.addEventListener("DOMContentLoaded", init);
  return { sortBy: sortBy, go: go, select: select,
           selected: function () { return selected; },
           zoom: function (i) { zoomNode = i; renderFlame(); } };
})();
