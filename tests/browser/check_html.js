// Drive the HTML report in headless Chromium and print what was seen as
// JSON, for tests/test_visual.py to assert on.
//
// usage: node check_html.js PLAYWRIGHT_CORE_DIR CHROMIUM FILE.html SCREENSHOT.png
"use strict";
const [, , pwDir, chromium, file, screenshot] = process.argv;
const { main, watchedPage } = require("./browser");

main(pwDir, chromium, async (browser) => {
  const out = { sorted: {} };
  const page = await watchedPage(browser, out, { viewport: { width: 1300, height: 900 } });
  await page.goto("file://" + file);
  const rows = () => page.$$eval("#rows tr", (trs) => trs.map((tr) =>
    Array.from(tr.children).map((td) => td.textContent)));
  const fn = (r) => r[6].replace(/ \(.*$/, "");
  out.rows = await rows();
  // every column, both directions
  const keys = await page.$$eval("th[data-key]", (ths) => ths.map((th) => th.getAttribute("data-key")));
  for (const key of keys) {
    await page.click(`th[data-key="${key}"]`);
    const first = await rows();
    await page.click(`th[data-key="${key}"]`);
    const second = await rows();
    out.sorted[key] = [first, second];
  }
  await page.fill("#filter", "rend");
  out.filtered = (await rows()).map(fn);
  await page.fill("#filter", "");
  // callers and callees of the handler, then follow a callee and go back
  const select = async (name) => {
    for (const tr of await page.$$("#rows tr")) {
      if ((await tr.textContent()).includes(name + " (")) { await tr.click(); return; }
    }
    throw new Error("no row for " + name);
  };
  const details = () => page.$eval("#details", (d) => ({
    name: d.querySelector("h3") ? d.querySelector("h3").textContent : null,
    sections: Array.from(d.querySelectorAll("h3 ~ h3, h3")).map((h) => h.textContent),
    callers: Array.from(d.querySelectorAll("div > table"))[0] ?
      Array.from(d.querySelectorAll("div"))
        .filter((div) => div.querySelector("h3") && div.querySelector("h3").textContent === "Callers")
        .flatMap((div) => Array.from(div.querySelectorAll("tr")).map((tr) =>
          Array.from(tr.children).map((td) => td.textContent))) : [],
    callees: Array.from(d.querySelectorAll("div"))
      .filter((div) => div.querySelector("h3") && div.querySelector("h3").textContent === "Callees")
      .flatMap((div) => Array.from(div.querySelectorAll("tr")).map((tr) =>
        Array.from(tr.children).map((td) => td.textContent))),
  }));
  await select("Handler.handler");
  out.handler = await details();
  await page.click("#details tr:has-text('render')");
  out.followed = await details();
  out.hashAfterFollow = await page.evaluate(() => location.hash);
  await page.goBack();
  out.back = await details();
  // flame graph: zoom into the handler, then search
  const frameWidth = (name) => page.$$eval("#flame .fr", (ds, name) =>
    ds.filter((d) => d.title.startsWith(name + " (") || d.title.startsWith(name + " -"))
      .map((d) => d.getBoundingClientRect().width), name);
  out.flameWidth = await page.$eval("#flame", (f) => f.clientWidth);
  out.before = { all: await frameWidth("all"), handler: await frameWidth("Handler.handler") };
  // each frame's kind and colour, to compare with the SVG's
  out.frames = await page.$$eval("#flame .fr", (ds) => ds.map((d) => ({
    title: d.title, cls: d.className, colour: getComputedStyle(d).backgroundColor })));
  await page.click("#flame .fr[title^='Handler.handler']");
  out.after = { handler: await frameWidth("Handler.handler"), idle: await frameWidth("idle"),
                render: await frameWidth("render") };
  await page.click("#reset");
  await page.fill("#flame-search", "^(render|idle)$");
  out.matched = await page.$eval("#matched", (m) => m.textContent);
  out.highlighted = await page.$$eval("#flame .fr.match", (ds) => ds.length);
  // not a regular expression (an open parenthesis): searched as text
  await page.fill("#flame-search", "alert(1");
  out.matchedText = await page.$eval("#matched", (m) => m.textContent);
  // markup in a name stayed text
  out.scripts = await page.$$eval("script", (s) => s.length);
  out.foreign = await page.$$eval("b, img, iframe", (s) => s.length);
  await page.fill("#flame-search", "");
  await page.click('th[data-key="cum"]');   // the screenshot in the default order
  await page.screenshot({ path: screenshot, fullPage: true });
  return out;
});
