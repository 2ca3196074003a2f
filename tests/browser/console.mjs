// Browser test of the countersign console: playwright-core driving Debian's Chromium
// (headless) against a real `countersign serve --demo` that the Rust test started.
// axe-core runs on every page (no serious or critical violation), the console must
// raise no Content-Security-Policy violation, a reviewer completes a review with the
// keyboard alone, a segregation-of-duties refusal is shown in plain words, and the
// inbox fits a 390 px wide screen. Screenshots go to $SCREENSHOTS.
//
// Env: BASE_URL, RELEASE, MAYA (the demo's submitter, mlops), SAM (security),
// SCREENSHOTS (a directory), CHROMIUM (default /usr/bin/chromium).
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env("BASE_URL");
const release = env("RELEASE");
const shots = env("SCREENSHOTS");
mkdirSync(shots, { recursive: true });

const failures = [];
const fail = (msg) => {
  failures.push(msg);
  console.error(`FAIL: ${msg}`);
};
const expect = (cond, msg) => {
  if (!cond) fail(msg);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});

async function newPage(width = 1280) {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) fail(`CSP violation on ${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => fail(`script error on ${page.url()}: ${e.message}`));
  return page;
}

// axe-core on the current page; serious and critical violations fail the test.
async function axe(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) {
    fail(`axe on ${name}: ${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  }
  console.log(`axe ${name}: ${result.violations.length} violation(s), ${bad.length} serious or critical`);
}

async function shot(page, name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

// Presses Tab until the focused element matches `selector` (at most 60 times).
async function tabTo(page, selector) {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate((s) => document.activeElement && document.activeElement.matches(s), selector)) return;
  }
  throw new Error(`keyboard focus never reached ${selector}`);
}

// Signs in with the keyboard alone: the sign-in page, the token, Enter.
async function signIn(page, token, path = "/console") {
  await page.goto(base + path);
  expect(page.url().includes("/console/sign-in"), `an anonymous visit to ${path} goes to sign-in (${page.url()})`);
  await tabTo(page, "#token");
  await page.keyboard.type(token);
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  expect(new URL(page.url()).pathname === path, `sign-in comes back to ${path} (${page.url()})`);
}

try {
  // The sign-in page itself.
  const anon = await newPage();
  await anon.goto(base + "/console/sign-in");
  await axe(anon, "sign-in");
  await shot(anon, "sign-in");

  // Maya submitted the demo release, so she cannot review it (I4).
  const maya = await newPage();
  await signIn(maya, env("MAYA"));
  await axe(maya, "inbox (maya)");
  await maya.goto(`${base}/console/releases/${release}`);
  await axe(maya, "release");
  await shot(maya, "release");
  expect((await maya.textContent("body")).includes("Who cannot review this revision"), "the release page lists who is excluded");
  await maya.goto(`${base}/console/releases/${release}/review/mlops`);
  for (const radio of await maya.$$('input[type=radio][value="yes"]')) await radio.check();
  await maya.check('input[name=verdict][value=approve]');
  await Promise.all([maya.waitForNavigation(), maya.click("form.review button[type=submit]")]);
  const refusal = await maya.textContent("#refusal");
  expect(
    refusal && refusal.includes("You submitted revision 1 of this release, so you cannot review it."),
    `the segregation-of-duties refusal is a sentence on the page (${refusal})`
  );
  expect(refusal && refusal.includes("segregation-of-duties/submitter-cannot-review"), "the refusal shows its code");
  await axe(maya, "review refused");
  await shot(maya, "review-refused");

  // Sam reviews as security with the keyboard alone.
  const sam = await newPage();
  await signIn(sam, env("SAM"));
  const reviewLink = `a[href="/console/releases/${release}/review/security"]`;
  await sam.waitForSelector(reviewLink, { timeout: 5000 });
  await shot(sam, "inbox");
  await tabTo(sam, reviewLink);
  await Promise.all([sam.waitForNavigation(), sam.keyboard.press("Enter")]);
  await axe(sam, "review");
  await shot(sam, "review");
  const groups = await sam.$$eval("fieldset.item", (fs) => fs.length);
  await tabTo(sam, "fieldset.item input[type=radio]");
  for (let g = 0; g < groups; g++) {
    await sam.keyboard.press("Space"); // the group's first choice: yes, or approve
    await sam.keyboard.press("Tab");
  }
  // Past the last group the focus is on the conditions; the comment comes next.
  await tabTo(sam, "#comment");
  await sam.keyboard.type("reviewed in the console");
  await tabTo(sam, "form.review button[type=submit]");
  await Promise.all([sam.waitForNavigation(), sam.keyboard.press("Enter")]);
  expect(sam.url().includes(`/console/releases/${release}?done=review`), `the review was recorded (${sam.url()})`);
  const row = await sam.textContent("table >> nth=1");
  expect(row && /security\s*✓\s*approve/.test(row), `the security review shows approved (${row})`);

  // A phone-sized screen: the inbox fits 390 px without sideways scrolling.
  const phone = await newPage(390);
  await signIn(phone, env("SAM"));
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  expect(width <= 390, `the inbox fits 390 px (scroll width ${width})`);
  await axe(phone, "inbox (390 px)");
  await shot(phone, "inbox-390");
} catch (e) {
  fail(e.stack || String(e));
} finally {
  await browser.close();
}

if (failures.length) {
  console.error(`console browser test: ${failures.length} failure(s)`);
  process.exit(1);
}
console.log("console browser test passed");
