// Browser test of the countersign console: playwright-core driving Debian's Chromium
// (headless) against a real `countersign serve --demo` that the Rust test started.
// axe-core runs on every page (no serious or critical violation), the console must
// raise no Content-Security-Policy violation, a reviewer completes a review with the
// keyboard alone, a segregation-of-duties refusal is shown in plain words, and the
// inbox fits a 390 px wide screen. Screenshots go to $SCREENSHOTS.
//
// Sam, Dana and Olu sign in through a real OpenID Connect provider (oidc-provider,
// started by the Rust test; ISSUER names it); Maya pastes her API token. Someone the
// provider vouches for but countersign does not know, and someone whose email the
// provider never verified, are refused with a page saying why.
//
// The demo release's tier carries every friction rule (the Rust test's profile: 3 s
// with the revision, every required document opened, the digest typed): the approve
// choices are disabled with the reasons, the server refuses a form that forces them,
// and once the reviewer has opened the documents the time rule alone enables them.
//
// Last, an agent waits in `countersign decide --wait` on a step-up; it shows in the
// approver's open inbox within 2 seconds, he approves it from a 390 px screen, and
// the agent wakes with ALLOW.
//
// Env: BASE_URL, ISSUER, RELEASE, MAYA (the demo's submitter, mlops), SAM (security), DANA (the
// release's decision owner), OLU (the
// demo system's owner, who approves step-ups), COUNTERSIGN_BIN, BOT_DIR (holds
// bot.key), AGENT, JIT (the agent's credential), SYSTEM, SCREENSHOTS (a directory),
// CHROMIUM (default /usr/bin/chromium).
import { spawn } from "node:child_process";
import { env, fail, expect, axe, launch, screenshots, finish } from "./common.mjs";

const base = env("BASE_URL");
const release = env("RELEASE");
const shots = screenshots();
const browser = await launch();

async function newPage(width = 1280) {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) fail(`CSP violation on ${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => fail(`script error on ${page.url()}: ${e.message}`));
  return page;
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

// The first 8 hex characters of the bundle digest the review page shows.
async function bundleHead(page) {
  const full = await page.getAttribute(".decision .ask button[data-copy]", "data-copy");
  return full.replace("sha256:", "").slice(0, 8);
}

// Meets the friction rules on a review page: opens every document it lists, comes
// back, and waits until the script enables approving (the time rule).
async function meetFriction(page, path) {
  const hrefs = await page.$$eval("a.open-evidence", (as) => as.map((a) => a.getAttribute("href")));
  expect(hrefs.length > 0, `the review page links the documents to open (${page.url()})`);
  for (const href of hrefs) await page.goto(base + href);
  await page.goto(base + path);
  expect(!(await page.$("a.open-evidence")), "once opened, no document is left to open");
  await page.waitForSelector('input[name=verdict][value=approve]:not([disabled])', { timeout: 10000 });
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

// Signs in through the identity provider as `login` (its development login form takes
// any password) and comes back to `path`.
async function signInWithProvider(page, login, path = "/console") {
  await page.goto(base + path);
  expect(page.url().includes("/console/sign-in"), `an anonymous visit to ${path} goes to sign-in (${page.url()})`);
  await Promise.all([page.waitForNavigation(), page.click("#sign-in-provider")]);
  expect(page.url().startsWith(env("ISSUER")), `the sign-in button goes to the provider (${page.url()})`);
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', "any password");
  await Promise.all([page.waitForURL((u) => u.href.startsWith(base), { timeout: 10000 }), page.click('button[type="submit"]')]);
}

try {
  // The sign-in page itself.
  const anon = await newPage();
  await anon.goto(base + "/console/sign-in");
  await axe(anon, "sign-in");
  await shot(anon, "sign-in");
  expect((await anon.textContent("#sign-in-provider")).includes("Sign in with Test IdP"), "the sign-in page offers the provider");

  // The provider vouches for Eve, but countersign has no account for her.
  const eve = await newPage();
  await signInWithProvider(eve, "eve");
  const eveSays = await eve.textContent("main");
  expect(eve.url().includes("/console/oidc/callback") && eveSays.includes("There is no countersign account for eve@elsewhere.example"),
    `an unknown person is refused with a sentence (${eve.url()}: ${eveSays})`);
  await axe(eve, "sign-in refused");
  await shot(eve, "sign-in-refused");
  // Mallory's provider says her email is Maya's but never verified it.
  const mallory = await newPage();
  await signInWithProvider(mallory, "mallory");
  const mallorySays = await mallory.textContent("main");
  expect(mallorySays.includes("did not send a verified email"), `an unverified email signs nobody in (${mallorySays})`);
  await mallory.goto(base + "/console");
  expect(mallory.url().includes("/console/sign-in"), "the refused person has no session");

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
  await maya.check('input[name=verdict][value=reject]');
  await Promise.all([maya.waitForNavigation(), maya.click("form.review button[type=submit]")]);
  const refusal = await maya.textContent("#refusal");
  expect(
    refusal && refusal.includes("You submitted revision 1 of this release, so you cannot review it."),
    `the segregation-of-duties refusal is a sentence on the page (${refusal})`
  );
  expect(refusal && refusal.includes("segregation-of-duties/submitter-cannot-review"), "the refusal shows its code");
  await axe(maya, "review refused");
  await shot(maya, "review-refused");

  // Sam signs in through the provider and reviews as security with the keyboard alone.
  const sam = await newPage();
  await signInWithProvider(sam, "sam");
  expect(new URL(sam.url()).pathname === "/console", `the provider sends Sam back to the console (${sam.url()})`);
  expect((await sam.textContent("body")).includes("Sam Okafor"), "Sam is signed in as himself");
  const reviewLink = `a[href="/console/releases/${release}/review/security"]`;
  await sam.waitForSelector(reviewLink, { timeout: 5000 });
  await shot(sam, "inbox");
  await tabTo(sam, reviewLink);
  await Promise.all([sam.waitForNavigation(), sam.keyboard.press("Enter")]);
  const reviewPath = new URL(sam.url()).pathname;
  // Friction: approving waits, with the reasons beside the disabled choices.
  expect(await sam.isDisabled("input[name=verdict][value=approve]"), "approve is disabled while a friction rule is unmet");
  const why = await sam.textContent("#friction-why");
  expect(why.includes("not opened yet") && why.includes("threat-model.md"), `the unopened documents are named (${why})`);
  await axe(sam, "review (friction)");
  await shot(sam, "review-friction");
  // Forcing the disabled choice does not get past the server.
  await sam.evaluate(() => document.querySelectorAll("[data-friction]").forEach((c) => { c.disabled = false; }));
  for (const radio of await sam.$$('input[type=radio][value="yes"]')) await radio.check();
  await sam.check("input[name=verdict][value=approve]");
  await Promise.all([sam.waitForNavigation(), sam.click("form.review button[type=submit]")]);
  const forced = await sam.textContent("#refusal");
  expect(forced && /friction-(min-review-seconds|require-opened-evidence)/.test(forced), `the server refuses, naming the rule (${forced})`);
  await axe(sam, "review refused (friction)");
  await sam.goto(base + reviewPath);
  await meetFriction(sam, reviewPath);
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
  const head = await bundleHead(sam);
  await tabTo(sam, "#confirm-digest");
  await sam.keyboard.type(head);
  await tabTo(sam, "form.review button[type=submit]");
  await Promise.all([sam.waitForNavigation(), sam.keyboard.press("Enter")]);
  expect(sam.url().includes(`/console/releases/${release}?done=review`), `the review was recorded (${sam.url()})`);
  const row = await sam.textContent("table >> nth=1");
  expect(row && /security\s*✓\s*approve/.test(row), `the security review shows approved (${row})`);

  // Noah, the other MLOps engineer, reviews as mlops (Maya may not).
  const noah = await newPage();
  await signIn(noah, env("NOAH"), `/console/releases/${release}/review/mlops`);
  await meetFriction(noah, `/console/releases/${release}/review/mlops`);
  await axe(noah, "review (noah)");
  for (const radio of await noah.$$('input[type=radio][value="yes"]')) await radio.check();
  await noah.check('input[name=verdict][value=approve]');
  await noah.fill("#confirm-digest", await bundleHead(noah));
  await Promise.all([noah.waitForNavigation(), noah.click("form.review button[type=submit]")]);
  expect(noah.url().includes("done=review"), `Noah's review was recorded (${noah.url()})`);

  // Dana owns the decision: go is disabled with the reason, each acceptable gap offers
  // a risk acceptance.
  const dana = await newPage();
  await signInWithProvider(dana, "dana", `/console/releases/${release}`);
  expect(new URL(dana.url()).pathname === `/console/releases/${release}`, `sign-in comes back to the release (${dana.url()})`);
  expect(await dana.isDisabled('button[value="go"]'), "go is disabled while the gate is not clear");
  expect((await dana.textContent("#go-why")).includes("unmet"), "the reason go is disabled is shown");
  expect((await dana.$$("form.accept")).length > 0, "acceptable gaps offer a risk acceptance");
  await axe(dana, "release (owner)");
  await shot(dana, "release-owner");
  // The eval report as a table with a chart per metric, the lineage as a graph, the
  // release's own ledger entries.
  const evalText = await dana.textContent('section[aria-labelledby="h-eval"]');
  expect(/accuracy[\s\S]*0\.94[\s\S]*>= 0\.9/.test(evalText), `the eval table shows accuracy against its threshold (${evalText})`);
  expect((await dana.$$("table.eval td.chart svg")).length >= 2, "each gated metric has its chart");
  await (await dana.$('section[aria-labelledby="h-eval"]')).screenshot({ path: `${shots}/release-eval.png` });
  const lineageText = await dana.textContent('section[aria-labelledby="h-lineage"]');
  expect(lineageText.includes("support-tickets@2026-10") && !!(await dana.$("figure.lineage svg")),
    `the lineage graph names the dataset (${lineageText})`);
  await (await dana.$('section[aria-labelledby="h-lineage"]')).screenshot({ path: `${shots}/release-lineage.png` });
  const ledgerText = await dana.textContent("table.ledger");
  expect(ledgerText.includes("review.record") && ledgerText.includes("release.create"), `the release's ledger entries are listed (${ledgerText.slice(0, 300)})`);
  // Evidence opens inline, as text.
  await Promise.all([dana.waitForNavigation(), dana.click(`a[href^="/console/releases/${release}/evidence/"]`)]);
  expect(!!(await dana.$("pre.verbatim")), `the evidence is shown inline (${dana.url()})`);
  await axe(dana, "evidence");
  await shot(dana, "evidence");
  // A Markdown document is rendered, its source one click away.
  await dana.goto(`${base}/console/releases/${release}`);
  await Promise.all([dana.waitForNavigation(), dana.click('a:text-is("threat-model.md")')]);
  expect((await dana.textContent("div.markdown h1")) === "Threat model", "Markdown evidence is rendered");
  await axe(dana, "evidence (markdown)");
  // Operations has not reviewed: Dana accepts that gap as risk, and go is possible.
  await dana.goto(`${base}/console/releases/${release}`);
  const gapForm = 'form.accept:has(input[name="gap"][value="missing_review:operations"])';
  const opened = await dana.$(`details:has(${gapForm}) > summary`);
  if (opened) await opened.click();
  await dana.fill(`${gapForm} textarea[name="justification"]`, "operations signed off in the change board");
  await Promise.all([dana.waitForNavigation(), dana.click(`${gapForm} button[type="submit"]`)]);
  expect((await dana.textContent("main")).includes("Your risk acceptance was recorded in the ledger as entry"),
    "the risk acceptance names its ledger entry");
  expect(!(await dana.isDisabled('button[value="go"]')), "go is enabled once every gap is met or accepted");
  await dana.fill("#decision-comment", "ship behind the flag");
  await Promise.all([dana.waitForNavigation(), dana.click('button[value="go"]')]);
  expect((await dana.textContent("main")).includes("Your decision was recorded in the ledger as entry"),
    `the go was recorded (${dana.url()})`);
  expect((await dana.textContent("body")).includes("Withdraw your go"), "before promotion the go can be withdrawn");
  await axe(dana, "release (go)");
  await shot(dana, "release-go");

  // A phone-sized screen: the inbox fits 390 px without sideways scrolling.
  const phone = await newPage(390);
  await signIn(phone, env("SAM"));
  expect(new URL(phone.url()).pathname === "/console", "token sign-in still works beside the provider");
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  expect(width <= 390, `the inbox fits 390 px (scroll width ${width})`);
  await axe(phone, "inbox (390 px)");
  await shot(phone, "inbox-390");

  // A step-up while the approver's inbox is open on his phone.
  const olu = await newPage(390);
  await signInWithProvider(olu, "olu");
  await olu.waitForSelector("#inbox");
  const agent = spawn(
    env("COUNTERSIGN_BIN"),
    ["decide", "--system", env("SYSTEM"), "--action", "write", "--resource", "orders/4711",
     "--arguments", '{"refund": 120, "currency": "EUR"}', "--risk-score", "40", "--confidence", "0.91",
     "--ai-input", "customer asks for a refund of order 4711", "--ai-output", "refund 120 EUR on order 4711",
     "--data-used", "orders/4711", "--impact", "120 EUR leaves the company", "--wait", "60"],
    {
      cwd: env("BOT_DIR"),
      env: { ...process.env, COUNTERSIGN_SERVER: base, COUNTERSIGN_TOKEN: env("JIT"),
             COUNTERSIGN_AGENT: env("AGENT"), COUNTERSIGN_AGENT_KEY: "bot.key" },
    }
  );
  let agentOut = "";
  const exited = new Promise((done) => agent.on("exit", (code) => done(code)));
  const approvalId = await new Promise((found, failed) => {
    const timer = setTimeout(() => failed(new Error(`the agent printed no approval request: ${agentOut}`)), 30000);
    agent.stdout.on("data", (d) => {
      agentOut += d;
      const m = agentOut.match(/approval (apr_\w+)/);
      if (m) { clearTimeout(timer); found(m[1]); }
    });
    agent.stderr.on("data", (d) => { agentOut += d; });
  });
  const asked = Date.now();
  const link = `a[href="/console/approvals/${approvalId}"]`;
  await olu.waitForSelector(link, { timeout: 2000 });
  const shownAfter = Date.now() - asked;
  console.log(`the step-up showed in the open inbox ${shownAfter} ms after the agent asked`);
  expect(shownAfter <= 2000, `a new step-up shows within 2 seconds (${shownAfter} ms)`);
  await Promise.all([olu.waitForNavigation(), olu.click(link)]);
  await axe(olu, "approval (390 px)");
  await shot(olu, "approval-390");
  const pageWidth = await olu.evaluate(() => document.documentElement.scrollWidth);
  expect(pageWidth <= 390, `the approval page fits 390 px (scroll width ${pageWidth})`);
  const args = await olu.textContent("pre.verbatim");
  expect(args && args.includes('"refund": 120'), `the exact arguments are shown (${args})`);
  expect((await olu.textContent("body")).includes("refund 120 EUR on order 4711"), "what the AI produced is shown");
  await olu.fill("#comment", "120 EUR is within the refund policy");
  await Promise.all([olu.waitForNavigation(), olu.click('button[value="approve"]')]);
  const answered = await olu.textContent("main");
  expect(answered.includes("Approved by") && answered.includes("120 EUR is within the refund policy"),
    "the approval page shows who approved, with the comment");
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("timeout"), 30000))]);
  expect(code === 0 && /ALLOW/.test(agentOut), `the waiting agent woke with allow (exit ${code}): ${agentOut}`);
  await shot(olu, "approval-approved-390");
} catch (e) {
  fail(e.stack || String(e));
} finally {
  await browser.close();
}

finish("console browser test");
