// What the browser tests share: Debian's Chromium driven by playwright-core, axe-core run in the
// page, screenshots saved as artifacts (dist/console-shots/, or CONSOLE_SHOTS), sign-in, and the
// console built into a temporary directory as npm start builds it.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { buildConsole } from "../../scripts/build-console.mjs";
// Inside page.evaluate callbacks, which run in the page (this program has no DOM types).
declare const document: any, window: any;

export const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
export const SHOTS = process.env.CONSOLE_SHOTS || join(import.meta.dirname, "..", "..", "dist", "console-shots");

/**
 * Is there a Chromium to drive? In CI there must be (.ci/run installs Debian's chromium): a missing
 * one fails there. Elsewhere the browser tests are skipped with this message.
 */
export function browserOrSkip(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`no Chromium at ${CHROMIUM}: CI installs Debian's chromium (apt-get install chromium)`);
  console.warn(`console browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_BIN)`);
  return false;
}

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ["--disable-gpu", "--disable-dev-shm-usage"] });
}

/** Build the console into a fresh temporary directory; remove() deletes it. */
export async function builtConsole(): Promise<{ dir: string; sizes: Record<string, number>; remove: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "evrec-console-"));
  const sizes = await buildConsole(dir, { quiet: true });
  return { dir, sizes, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface AxeViolation { id: string; impact: string; help: string; nodes: string[] }

/** axe-core's violations of serious or critical impact on the page as it is now. */
export async function axe(page: Page): Promise<AxeViolation[]> {
  // Evaluated through the DevTools protocol: the page's CSP (no inline scripts) stays in force.
  await page.evaluate(AXE + "\n;0");
  const r = await page.evaluate(async () => {
    const w = window as unknown as { axe: { run: (ctx: unknown, o: object) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } };
    const res = await w.axe.run(document, { resultTypes: ["violations"] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
  });
  return r.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** A screenshot as an artifact: the whole page, or (`fullPage` false) what the window shows. */
export async function shot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(SHOTS, { recursive: true });
  const file = join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

export async function signIn(page: Page, base: string, name: string, password: string): Promise<void> {
  await page.goto(base + "/");
  await page.locator("#name").fill(name);
  await page.locator("#password").fill(password);
  await page.locator("button[type=submit]").click();
  await page.locator("header.top").waitFor();
}
