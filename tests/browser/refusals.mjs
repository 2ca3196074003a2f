// Browser test of the console's refusals that need a real browser: a form posted to
// the console from another site (CSRF: the browser sends it, the server refuses it,
// nothing is recorded) and a form sent after the session expired (refused, with the
// way back through sign-in). Against a real `countersign serve --demo` started by the
// Rust test with `--session-lifetime 10s`. axe-core runs on each refusal page.
//
// Env: BASE_URL, RELEASE (the demo release), SAM (a security reviewer's API token),
// SCREENSHOTS, CHROMIUM (default /usr/bin/chromium).
import { env, expect, axe, launch, screenshots, finish } from "./common.mjs";

const base = env("BASE_URL");
const release = env("RELEASE");
const shots = screenshots();

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/console/sign-in`);
  await page.fill("#token", env("SAM"));
  await Promise.all([page.waitForNavigation(), page.press("#token", "Enter")]);
  const signedInAt = Date.now();
  const reviewPath = `/console/releases/${release}/review/security`;
  await page.goto(base + reviewPath);
  const csrf = await page.getAttribute('form.review input[name="csrf"]', "value");

  // CSRF: another site's page posts a review to the console, even with the right
  // token in it; the browser sends it, the server refuses it.
  const evil = await context.newPage();
  await evil.route("http://evil.test/**", (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><html lang="en"><title>win a prize</title><body>
        <form id="f" method="post" action="${base}${reviewPath}">
        <input name="csrf" value="${csrf}"><input name="revision" value="1">
        <input name="verdict" value="reject"><input name="comment" value="forged"></form>
        <script>document.getElementById("f").submit()</script></body></html>`,
    })
  );
  const [answer] = await Promise.all([
    evil.waitForResponse((r) => r.url().startsWith(base) && r.request().method() === "POST"),
    evil.goto("http://evil.test/attack.html"),
  ]);
  await evil.waitForLoadState();
  const said = await evil.textContent("body");
  expect(answer.status() === 403 && said.includes("cross-site-request"),
    `a cross-site form is refused (${answer.status()}: ${said.slice(0, 200)})`);
  await axe(evil, "cross-site refusal");
  await evil.screenshot({ path: `${shots}/refused-cross-site.png`, fullPage: true });
  await page.goto(`${base}/console/releases/${release}`);
  const reviews = await page.textContent('section[aria-labelledby="h-reviews"]');
  expect(!reviews.includes("forged") && /security\s*●\s*pending/.test(reviews),
    `the forged review was not recorded (${reviews.slice(0, 300)})`);

  // Expiry: the session lasts 10 s; a form sent after that is refused, and the way
  // back is through sign-in.
  await page.goto(base + reviewPath);
  await page.check('input[name=verdict][value=reject]');
  await page.fill("#comment", "sent after the session expired");
  await page.waitForTimeout(Math.max(0, signedInAt + 11000 - Date.now()));
  const [late] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST"),
    page.click("form.review button[type=submit]"),
  ]);
  await page.waitForLoadState();
  const lateSays = await page.textContent("main");
  expect(late.status() === 401 && lateSays.includes("Your session has ended") && lateSays.includes("session-ended"),
    `a form after expiry is refused in plain words (${late.status()}: ${lateSays.slice(0, 200)})`);
  await axe(page, "expired-session refusal");
  await page.screenshot({ path: `${shots}/refused-expired-session.png`, fullPage: true });
  await page.goto(`${base}/console`);
  expect(page.url().includes("/console/sign-in?next=/console"),
    `after an expired session the console sends the person to sign in again (${page.url()})`);
} catch (e) {
  expect(false, e.stack || String(e));
} finally {
  await browser.close();
}
finish("refusals browser test");
