// Drive an SVG flame graph in headless Chromium and print what was seen
// as JSON, for tests/test_visual.py to assert on.
//
// usage: node check_svg.js PLAYWRIGHT_CORE_DIR CHROMIUM FILE.svg REGEX FRAME_NAME
"use strict";
const [, , pwDir, chromium, file, regex, frameName] = process.argv;
const { main, watchedPage } = require("./browser");

main(pwDir, chromium, async (browser) => {
  const out = {};
  const page = await watchedPage(browser, out, null, async (d) => {
    await d.accept(d.type() === "prompt" ? regex : undefined);
  });
  await page.goto("file://" + file);
  const frames = () => page.$$eval("g.f", (gs) => gs.map((g) => ({
    name: g.getAttribute("data-n"),
    shown: g.style.display !== "none",
    width: g.querySelector("rect").getBoundingClientRect().width,
    x: g.querySelector("rect").getBoundingClientRect().x,
    label: g.querySelector("text").textContent,
    title: g.querySelector("title").textContent,
  })));
  out.title = await page.$eval("#title", (t) => t.textContent);
  out.documentTitle = await page.title();
  out.initial = await frames();
  // search through the page's own button and prompt
  await page.click("#search");
  out.matched = await page.$eval("#matched", (t) => t.textContent);
  out.searchButton = await page.$eval("#search", (t) => t.textContent);
  out.highlighted = await page.$$eval("g.f.match", (gs) => gs.map((g) => g.getAttribute("data-n")));
  // not a regular expression (an open parenthesis): searched as text
  out.matchedText = await page.evaluate(() => refbpf.search("alert(1"));
  await page.evaluate(() => refbpf.search(""));
  // zoom: click the named frame
  const target = await page.$$("g.f");
  for (const g of target) {
    if ((await g.getAttribute("data-n")) === frameName) { await g.click(); break; }
  }
  out.zoomed = await frames();
  out.resetVisible = await page.$eval("#reset", (r) => !r.classList.contains("hidden"));
  await page.click("#reset");
  out.reset = await frames();
  // an injected element would be a <script> or <b> outside our own
  out.scripts = await page.$$eval("script", (s) => s.length);
  out.foreign = await page.$$eval("b, img, iframe", (s) => s.length);
  return out;
});
