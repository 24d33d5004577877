// Load a page and report whether anything in it ran or loaded that we did
// not write: dialogs, errors, requests, injected elements; and whether a
// given text is on the page as text.
//
// usage: node check_inert.js PLAYWRIGHT_CORE_DIR CHROMIUM FILE TEXT
"use strict";
const [, , pwDir, chromium, file, text] = process.argv;
const { main, watchedPage } = require("./browser");

main(pwDir, chromium, async (browser) => {
  const out = {};
  const page = await watchedPage(browser, out, null);
  await page.goto("file://" + file);
  await page.waitForTimeout(500);
  out.images = await page.$$eval("img", (e) => e.length);
  out.scripts = await page.$$eval("script", (e) => e.length);
  out.textShown = await page.evaluate((t) => {
    const all = Array.from(document.querySelectorAll("title, text, td, div"));
    return all.some((e) => e.textContent.includes(t)) ||
      Array.from(document.querySelectorAll("[title]")).some((e) => e.getAttribute("title").includes(t));
  }, text);
  return out;
});
