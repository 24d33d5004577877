// Load a page and report whether anything in it ran or loaded that we did
// not write: dialogs, errors, requests, injected elements; and whether a
// given text is on the page as text.
//
// usage: node check_inert.js PLAYWRIGHT_CORE_DIR CHROMIUM FILE TEXT
"use strict";
const [, , pwDir, chromium, file, text] = process.argv;
const { chromium: launcher } = require(pwDir);

(async () => {
  const browser = await launcher.launch({
    executablePath: chromium,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking"],
  });
  const out = { errors: [], dialogs: [], requests: [] };
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => out.errors.push(String(e)));
    page.on("dialog", async (d) => { out.dialogs.push(d.message()); await d.dismiss(); });
    page.on("request", (r) => { if (!r.url().startsWith("file:")) out.requests.push(r.url()); });
    await page.goto("file://" + file);
    await page.waitForTimeout(500);
    out.images = await page.$$eval("img", (e) => e.length);
    out.scripts = await page.$$eval("script", (e) => e.length);
    out.textShown = await page.evaluate((t) => {
      const all = Array.from(document.querySelectorAll("title, text, td, div"));
      return all.some((e) => e.textContent.includes(t)) ||
        Array.from(document.querySelectorAll("[title]")).some((e) => e.getAttribute("title").includes(t));
    }, text);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
