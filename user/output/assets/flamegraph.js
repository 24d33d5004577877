// refbpf's interactive flame graph: zoom, reset, search, details.
// Frames carry their position in samples (data-s start, data-w width,
// data-d depth); this script maps samples to pixels for the current zoom.
"use strict";
var refbpf = (function () {
  var svg, frames, total, width, pad = 10, charWidth = 7, zoomed = null, query = "";

  function byId(id) { return document.getElementById(id); }

  function label(g, px) {
    var text = g.querySelector("text"), name = g.getAttribute("data-n");
    var fit = Math.floor((px - 6) / charWidth);
    if (fit < 3) { text.textContent = ""; return; }
    text.textContent = name.length <= fit ? name : name.slice(0, fit - 2) + "..";
  }

  function layout(x0, w0) {
    var scale = (width - 2 * pad) / w0;
    frames.forEach(function (g) {
      var s = +g.getAttribute("data-s"), w = +g.getAttribute("data-w");
      var left = Math.max(s, x0), right = Math.min(s + w, x0 + w0);
      var rect = g.querySelector("rect"), text = g.querySelector("text");
      var px = (right - left) * scale;
      if (right <= left || px < 0.3) { g.style.display = "none"; return; }
      g.style.display = "";
      var x = pad + (left - x0) * scale;
      rect.setAttribute("x", x.toFixed(2));
      rect.setAttribute("width", px.toFixed(2));
      text.setAttribute("x", (x + 3).toFixed(2));
      label(g, px);
      // ancestors of the zoomed frame are wider than the view: faded
      g.classList.toggle("parent", s < x0 || s + w > x0 + w0);
    });
  }

  function zoom(g) {
    zoomed = g;
    layout(+g.getAttribute("data-s"), +g.getAttribute("data-w"));
    byId("reset").classList.remove("hidden");
  }

  function reset() {
    zoomed = null;
    layout(0, total);
    byId("reset").classList.add("hidden");
  }

  // A regular expression; text that is not one is searched as a substring.
  function matcher(q) {
    try { var re = new RegExp(q); return function (s) { return re.test(s); }; }
    catch (e) { return function (s) { return s.indexOf(q) >= 0; }; }
  }

  // Samples under matching frames, counted once where matches nest.
  function search(q) {
    var re, matched = [], covered = 0, end = -1;
    query = q || "";
    re = matcher(query);
    frames.forEach(function (g) {
      var hit = query !== "" && re(g.getAttribute("data-n"));
      g.classList.toggle("match", hit);
      if (hit) matched.push([+g.getAttribute("data-s"), +g.getAttribute("data-w")]);
    });
    matched.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
    matched.forEach(function (m) {
      var s = m[0], e = m[0] + m[1];
      if (e <= end) return;
      covered += e - Math.max(s, end);
      end = Math.max(end, e);
    });
    var pct = total ? 100 * covered / total : 0;
    byId("matched").textContent = query ? "Matched: " + pct.toFixed(1) + "%" : "";
    byId("search").textContent = query ? "Clear search" : "Search";
    return pct;
  }

  function details(g) {
    byId("details").textContent = g ? g.querySelector("title").textContent : " ";
  }

  function init() {
    svg = document.documentElement;
    frames = Array.prototype.slice.call(document.querySelectorAll("g.f"));
    total = +svg.getAttribute("data-total");
    width = +svg.getAttribute("width");
    frames.forEach(function (g) {
      g.addEventListener("click", function () { zoom(g); });
      g.addEventListener("mouseover", function () { details(g); });
      g.addEventListener("mouseout", function () { details(null); });
    });
    byId("reset").addEventListener("click", reset);
    byId("search").addEventListener("click", function () {
      if (query) { search(""); return; }
      var q = window.prompt("Search (regular expression or text)", "");
      if (q !== null) search(q);
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { reset(); search(""); }
    });
    // a long title (several targets) is squeezed between the buttons
    var title = byId("title"), room = width - 2 * pad - 220;
    if (title.getComputedTextLength() > room) {
      title.setAttribute("textLength", room);
      title.setAttribute("lengthAdjust", "spacingAndGlyphs");
    }
    layout(0, total || 1);
    var m = /[?&]s=([^&]*)/.exec(window.location.search);
    if (m) search(decodeURIComponent(m[1]));
  }

  window.addEventListener("load", init);
  return { zoom: zoom, reset: reset, search: search,
           zoomed: function () { return zoomed; } };
})();
