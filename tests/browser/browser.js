// What every browser check shares: Debian's chromium, headless, through
// playwright-core; a page whose errors, dialogs and outside requests are
// recorded; and the result printed as JSON for pytest.
"use strict";

async function launch(pwDir, chromium) {
  const { chromium: launcher } = require(pwDir);
  return launcher.launch({
    executablePath: chromium,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking"],
  });
}

// A page that notes into `out` whatever it did that a file page should not.
// onDialog(dialog) answers dialogs (default: dismiss).
async function watchedPage(browser, out, options, onDialog) {
  const page = await browser.newPage(options || {});
  out.errors = out.errors || [];
  out.dialogs = out.dialogs || [];
  out.requests = out.requests || [];
  page.on("pageerror", (e) => out.errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") out.errors.push(m.text()); });
  page.on("request", (r) => { if (!r.url().startsWith("file:")) out.requests.push(r.url()); });
  page.on("dialog", async (d) => {
    out.dialogs.push(d.message());
    if (onDialog) await onDialog(d);
    else await d.dismiss();
  });
  return page;
}

// Run `body(browser)` and print its result; any failure exits non-zero.
function main(pwDir, chromium, body) {
  (async () => {
    const browser = await launch(pwDir, chromium);
    let out;
    try {
      out = await body(browser);
    } finally {
      await browser.close();
    }
    console.log(JSON.stringify(out));
  })().catch((e) => { console.error(e); process.exit(1); });
}

module.exports = { launch, watchedPage, main };
