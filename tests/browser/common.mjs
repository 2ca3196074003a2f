// What the console's browser tests share: their environment, failures collected
// rather than thrown (so one run reports them all), axe-core on a page, and Debian's
// Chromium, headless.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};

export const failures = [];
export const fail = (msg) => {
  failures.push(msg);
  console.error(`FAIL: ${msg}`);
};
export const expect = (cond, msg) => {
  if (!cond) fail(msg);
};

// The screenshots folder ($SCREENSHOTS), created.
export function screenshots() {
  const dir = env("SCREENSHOTS");
  mkdirSync(dir, { recursive: true });
  return dir;
}

// axe-core on the current page; serious and critical violations fail the test.
export async function axe(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) {
    fail(`axe on ${name}: ${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  }
  console.log(`axe ${name}: ${result.violations.length} violation(s), ${bad.length} serious or critical`);
}

// Debian's Chromium ($CHROMIUM, default /usr/bin/chromium), never a downloaded one.
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

// Exits non-zero with the count when anything failed; otherwise says `passed`.
export function finish(name) {
  if (failures.length) {
    console.error(`${name}: ${failures.length} failure(s)`);
    process.exit(1);
  }
  console.log(`${name} passed`);
}
