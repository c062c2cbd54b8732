// The station console in a real browser (Debian's Chromium, driven by playwright-core) against a
// gateway with recorders that recorded: sign in; walk every page in Chinese and in English with
// axe-core finding nothing serious or critical, a screenshot of each; check a device out (and see
// a checkout refused with its reason); watch a clip arrive live; open it with a reason, play it,
// link it to a case; see a unit's shortfall; see an officer denied a secret clip; approve an
// export, make it and verify the bundle in the browser; clear an alarm; verify the audit log.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { station } from "../export/helpers.js";
import type { Station } from "../export/helpers.js";
import { provision, streamSealed } from "../gateway/harness.js";
import type { Caller } from "../../gateway/services/index.js";
import { axe, browserOrSkip, builtConsole, launch, shot, signIn, SHOTS } from "./browser.js";
// Inside page.evaluate callbacks, which run in the page (this program has no DOM types).
declare const document: any, window: any;

const HAVE = browserOrSkip();
const ADMIN: Caller = { name: "admin", role: "admin", officerBadge: null };
const PW = { admin: "station chief 2026", approver: "release desk 2026", reviewer: "legal desk 2026", liwei: "patrol shift 2026" };
const PAGES_ADMIN = ["fleet", "devices", "people", "cases", "clips", "approvals", "ratios", "stats", "alarms", "audit", "evidence", "system"];

describe.skipIf(!HAVE)("the station console in Chromium", () => {
  let s: Station, built: Awaited<ReturnType<typeof builtConsole>>, browser: Browser, base: string, downloads: string;
  const contexts: BrowserContext[] = [];
  let last: Page | null = null;
  const page = async (lang: "zh-CN" | "en" = "zh-CN"): Promise<Page> => {
    // The browser's own zone is UTC: the console must show the station's (Asia/Shanghai) anyway.
    const c = await browser.newContext({ locale: lang, timezoneId: "UTC", viewport: { width: 1360, height: 860 }, acceptDownloads: true });
    contexts.push(c);
    c.setDefaultTimeout(10000);
    const p = await c.newPage();
    last = p;
    p.on("console", (m) => { if (m.type() === "error" && /Content.Security.Policy|Refused/.test(m.text())) throw new Error(`CSP violation: ${m.text()}`); });
    return p;
  };
  const problems: string[] = [];
  const check = async (p: Page, name: string) => {
    for (const v of await axe(p)) problems.push(`${name}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(", ")}`);
    await shot(p, name);
  };

  beforeAll(async () => {
    built = await builtConsole();
    downloads = mkdtempSync(join(tmpdir(), "evrec-console-dl-"));
    s = await station({ consoleDir: built.dir });
    base = `http://127.0.0.1:${s.gw.httpPort}`;
    const gw = s.gw;
    const unit = (await gw.model.listUnits())[0];
    // A sub-unit of five officers and no recorder: a shortfall of 2 at 1:4.
    const patrol = await gw.model.addUnit("Highway Patrol", "agency", unit.id);
    for (let i = 1; i <= 5; i++) await gw.model.addOfficer({ badge: `P00${i}`, name: `巡逻员${i}`, unitId: patrol.id, role: "enforcement", certNo: `ZF-P00${i}`, certValidFrom: "2020-01-01", certValidTo: i === 1 ? "2020-12-31" : "2099-12-31" });
    await gw.model.addOfficer({ badge: "T003", name: "孙强", unitId: unit.id, role: "enforcement", certNo: "ZF-T003", certValidFrom: "2020-01-01", certValidTo: "2099-12-31" });
    await gw.accounts.create("liwei", "officer", "T001");
    for (const [n, p] of Object.entries(PW)) await gw.services.sessions.setPassword(ADMIN, n, p);
    // A secret case: its clip is beyond an officer's level, even the officer who recorded it.
    const t = Date.now() - 3600e3;
    await gw.model.addCase({ number: "C-2025-009", unitId: unit.id, category: "compulsion", activityKind: "seizure", windowStart: t, windowEnd: t + 3600e3, confidentiality: 3 });
    await gw.model.link("BWC-E1", 2, "C-2025-009", "admin", "the seizure's second part");
    // An inspection under way now: the clip that arrives live is suggested for it.
    await gw.model.addCase({ number: "C-2025-010", unitId: unit.id, category: "inspection", activityKind: "on_site_enforcement", windowStart: Date.now() - 600e3, windowEnd: Date.now() + 7200e3 });
    const spare = await provision(gw, "BWC-E3");
    await gw.model.setDeviceUnit("BWC-E3", unit.id);
    await spare.status({ batteryPct: 88, storageFree: 900 * 1048576, queueDepth: 0, clockOffsetMs: 40, state: 0 });
    await gw.alarms.raise("DEVICE_ALARM", "BWC-E2", "device reports an alarm: STORAGE_FULL");
    s.devices.push(spare);
    browser = await launch();
  }, 120000);

  // A failed step shows what the page said, and leaves its picture.
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== "fail" || !last) return;
    console.log(`page at failure (${last.url()}):`, (await last.locator("body").innerText().catch(() => "?")).slice(0, 1500));
    await shot(last, `failed-${ctx.task.name.slice(0, 40).replace(/[^a-z0-9]+/gi, "-")}`).catch(() => undefined);
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
    built?.remove();
    rmSync(downloads, { recursive: true, force: true });
  });

  it("serves the console at / with a CSP that allows only its own scripts, and refuses a wrong password", async () => {
    const r = await fetch(base + "/");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(await r.text()).toContain('<script type="module" src="/console/app.js">');
    const p = await page();
    await p.goto(base + "/");
    await expect(p.locator("h1").textContent()).resolves.toBe("执法记录站点控制台");
    await check(p, "signin.zh");
    await p.locator("#name").fill("admin");
    await p.locator("#password").fill("not the password");
    await p.locator("button[type=submit]").click();
    await expect(p.locator(".error").textContent()).resolves.toContain("SIGNIN_FAILED");
    // The session cookie is out of a script's reach.
    await signIn(p, base, "admin", PW.admin);
    expect(await p.evaluate(() => document.cookie)).toBe("");
  });

  it("walks every page as the admin in Chinese, then English, with nothing serious or critical for axe-core", async () => {
    const p = await page();
    await signIn(p, base, "admin", PW.admin);
    for (const lang of ["zh", "en"]) {
      for (const name of PAGES_ADMIN) {
        await p.goto(`${base}/#/${name}`);
        await p.locator("main h1").first().waitFor();
        await p.waitForFunction(() => !document.querySelector("main [role=status].muted") || !/载入中|Loading/.test(document.querySelector("main")!.textContent!));
        await check(p, `${name}.${lang}`);
        // At 1360 px a table is seen whole: none scrolls sideways.
        const wide = await p.evaluate(() => [...document.querySelectorAll("main .scroll")].filter((e: any) => e.scrollWidth > e.clientWidth + 1).map((e: any) => `${e.firstElementChild?.id}: ${e.scrollWidth} > ${e.clientWidth}`));
        for (const w of wide) problems.push(`${name}.${lang}: table wider than the page: ${w}`);
      }
      if (lang === "zh") {
        await p.locator("#lang").click();
        await p.waitForFunction(() => document.documentElement.lang === "en");
      }
    }
    await expect(p.locator("nav").textContent()).resolves.toContain("Fleet");
    // And back to Chinese, which the page remembers.
    await p.locator("#lang").click();
    await p.reload();
    await expect(p.locator("nav").textContent()).resolves.toContain("设备总览");
    expect(problems).toEqual([]);
  }, 180000);

  it("shows the fleet with the station's time and each device's status, live", async () => {
    const p = await page();
    await signIn(p, base, "admin", PW.admin);
    await p.goto(`${base}/#/fleet`);
    const row = p.locator('tr[data-device="BWC-E3"]');
    await expect(row.textContent()).resolves.toContain("88%");
    await s.devices[2].status({ batteryPct: 61, storageFree: 800 * 1048576, queueDepth: 3, clockOffsetMs: 40, state: 1 });
    await p.waitForFunction(() => document.querySelector('tr[data-device="BWC-E3"]')!.textContent!.includes("61%"));
    expect(await row.textContent()).toContain("录制中");
  });

  let checkedOutAt = 0;
  it("keeps a Status that arrives while the fleet list is on its way, not the older row the list read", async () => {
    const p = await page();
    await signIn(p, base, "admin", PW.admin);
    // From another page, so that the fleet page mounts and asks for its list after the route below
    // is in place (after sign-in the console may already be on it).
    await p.goto(`${base}/#/cases`);
    await p.locator("main h1").first().waitFor();
    // Every list of devices is read at once but handed to the page only once the Status has been
    // sent and its live event had time to arrive: the list is older than the event.
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    await p.route("**/api/devices", async (route) => {
      const res = await route.fetch();
      await released;
      await route.fulfill({ response: res });
    });
    const asked = p.waitForRequest("**/api/devices");
    await p.goto(`${base}/#/fleet`);
    await asked;
    await s.devices[2].status({ batteryPct: 47, storageFree: 700 * 1048576, queueDepth: 1, clockOffsetMs: 40, state: 0 });
    await new Promise((r) => setTimeout(r, 1500));
    release();
    await p.waitForFunction(() => document.querySelector('tr[data-device="BWC-E3"]')?.textContent?.includes("47%"));
    await p.unroute("**/api/devices");
  });

  it("checks a device out to an officer, and shows a refusal with its reason for an expired certificate", async () => {
    const p = await page();
    await signIn(p, base, "admin", PW.admin);
    await p.goto(`${base}/#/devices`);
    await p.getByRole("button", { name: "领用 BWC-E3" }).click();
    await p.locator("#f-badge").selectOption("P001");
    await p.locator("dialog button[type=submit]").click();
    // The code, its meaning in Chinese (the catalogue the admin CLI says it from too), the gateway's words.
    await expect(p.locator("dialog .error").textContent()).resolves.toMatch(/CERT_INVALID\s*执法证件无效或已过期.*P001/);
    await shot(p, "devices-refused.zh");
    await p.locator("#f-badge").selectOption("T003");
    await p.locator("dialog button[type=submit]").click();
    await expect(p.locator(".notice").textContent()).resolves.toContain("BWC-E3");
    checkedOutAt = Date.now();
    const a = await s.gw.services.audit.list(ADMIN, { action: "checkout" }).catch(() => []);
    expect(JSON.stringify(a) + JSON.stringify(await s.gw.model.listOfficers())).toContain("T003");
  });

  it("shows a clip arriving live; opens it with a reason, plays it and links it to a case, each audited", async () => {
    const p = await page();
    await signIn(p, base, "approver", PW.approver);
    await p.goto(`${base}/#/clips`);
    await p.locator("#clips-table").waitFor();
    const d = s.devices[2];
    // Recorded after the checkout (its two seconds end before now), so it is the officer's clip.
    await new Promise((r) => setTimeout(r, Math.max(0, checkedOutAt + 3000 - Date.now())));
    const rec = d.recording(1, [randomBytes(16000), randomBytes(16000)], { startMs: Date.now() - 2500, caseTag: "" });
    await streamSealed(d, rec);
    await p.locator('tr[data-clip="BWC-E3/1"]').waitFor({ timeout: 15000 });
    await p.locator('a[href="#/clip/BWC-E3/1"]').click();
    await p.locator("#f-reason").fill("checking the checkout's first clip");
    await p.locator("dialog button[type=submit]").click();
    await expect(p.locator("dl.facts").textContent()).resolves.toContain("已核验");
    // The officer who had the device checked out when it recorded.
    await expect(p.locator("dl.facts").textContent()).resolves.toContain("T003");
    await p.locator("#play").click();
    await expect(p.locator("#f-reason").inputValue()).resolves.toBe("checking the checkout's first clip");
    await p.locator("dialog button[type=submit]").click();
    await p.locator("#clip-audio").waitFor();
    const duration = await p.evaluate(() => new Promise<number>((res) => { const a = document.querySelector("#clip-audio") as { readyState: number; duration: number; onloadedmetadata: () => void }; if (a.readyState >= 1) res(a.duration); else a.onloadedmetadata = () => res(a.duration); }));
    expect(duration).toBeCloseTo(2, 1);
    await check(p, "clip.zh");
    // The gateway suggests the cases around the clip; one click fills the link dialog with one.
    await p.locator('#clip-suggestions li[data-case="C-2025-010"] button').click();
    await expect(p.locator("#f-case").inputValue()).resolves.toBe("C-2025-010");
    await p.locator("#f-reason").fill("recorded at the inspection");
    await p.locator("dialog button[type=submit]").click();
    await p.locator("dl.facts", { hasText: "C-2025-010" }).waitFor();
    // The custody report: the view, the playback and the link, each with its account and reason.
    await p.locator("#show-custody").click();
    const custody = await p.locator("#custody-table").textContent();
    expect(custody).toContain("recording.download");
    expect(custody).toContain("recorded at the inspection");
    await check(p, "clip-custody.zh");
    const audit = await s.gw.services.audit.list(ADMIN, { actor: "approver", limit: 100 });
    const acts = audit.map((e) => `${e.action} ${e.target} ${e.reason ?? ""}`);
    expect(acts).toContain("recording.view BWC-E3/1 checking the checkout's first clip");
    expect(acts).toContain("recording.download BWC-E3/1 checking the checkout's first clip");
  });

  it("suggests clips on the cases page, and links one with a reason", async () => {
    const p = await page();
    await signIn(p, base, "approver", PW.approver);
    await p.goto(`${base}/#/cases`);
    // BWC-E2/1 was recorded by an officer of the case's unit inside its window, and is not linked to it.
    const row = p.locator('#cases-table tr[data-case="C-2025-009"]');
    const suggestion = row.locator('li[data-suggest="BWC-E2/1"]');
    await suggestion.waitFor();
    await check(p, "cases-suggestions.zh");
    await suggestion.getByRole("button").click();
    await p.locator("#f-reason").fill("the second officer's clip of the seizure");
    await p.locator("dialog button[type=submit]").click();
    await row.locator('a[href="#/clip/BWC-E2/1"]').first().waitFor();
    await suggestion.waitFor({ state: "detached" });
    await expect(row.locator("td.clips").first().textContent()).resolves.toContain("BWC-E2/1");
    const links = await s.gw.services.audit.list(ADMIN, { action: "clip.link", actor: "approver" });
    expect(links.map((e) => `${e.target} ${e.reason}`)).toContain("BWC-E2/1 the second officer's clip of the seizure");
  });

  it("is usable with the keyboard alone: sign in, a skip link first, the language, the menu, open a clip with a reason, leave a dialog with Escape", async () => {
    const p = await page("en");
    const tabTo = async (test: string) => {
      for (let i = 0; i < 60; i++) {
        await p.keyboard.press("Tab");
        if (await p.evaluate((t: string) => (document.activeElement?.textContent ?? "").trim() === t || document.activeElement?.getAttribute("href") === t, test)) return;
      }
      throw new Error(`Tab never reached ${test}`);
    };
    await p.goto(base + "/");
    await p.locator("#name").waitFor();
    expect(await p.evaluate(() => document.activeElement?.id)).toBe("name");
    await p.keyboard.type("approver");
    await p.keyboard.press("Tab");
    await p.keyboard.type(PW.approver);
    await p.keyboard.press("Enter");
    await p.locator("header.top").waitFor();
    // The first stop is the link that skips the header and the menu.
    await p.keyboard.press("Tab");
    expect(await p.evaluate(() => document.activeElement?.className)).toBe("skip");
    // Chinese first; English from the header's button.
    await tabTo("English");
    await p.keyboard.press("Enter");
    await p.waitForFunction(() => document.documentElement.lang === "en");
    await tabTo("#/clips");
    await p.keyboard.press("Enter");
    await p.locator("#clips-table").waitFor();
    await tabTo("#/clip/BWC-E1/1");
    await p.keyboard.press("Enter");
    await p.locator("dialog[open]").waitFor();
    expect(await p.evaluate(() => document.activeElement?.id)).toBe("f-reason");
    await p.keyboard.type("keyboard-only review");
    await p.keyboard.press("Tab");
    await p.keyboard.press("Tab");
    await p.keyboard.press("Enter");
    await p.locator("dl.facts").waitFor();
    await shot(p, "clip.en");
    await tabTo("Link to case");
    await p.keyboard.press("Enter");
    await p.locator("dialog[open]").waitFor();
    await shot(p, "clip-link-dialog.en");
    await p.keyboard.press("Escape");
    await p.locator("dialog[open]").waitFor({ state: "detached" });
    // Focus is back on the button that opened it. Chromium can drop the dialog's `open` (Escape
    // closes it natively) a moment before the page's own close hands focus back: waited for, briefly.
    await p.waitForFunction(() => document.activeElement?.textContent === "Link to case", undefined, { timeout: 2000 }).catch(() => undefined);
    expect(await p.evaluate(() => document.activeElement?.textContent)).toBe("Link to case");
  });

  it("shows a unit's shortfall on the ratio page", async () => {
    const p = await page("en");
    await signIn(p, base, "admin", PW.admin);
    await p.goto(`${base}/#/ratios`);
    const row = p.locator('tr[data-unit="Highway Patrol"]');
    await row.waitFor();
    const cells = await row.locator("td").allTextContents();
    expect(cells[1]).toBe("2");
    expect(await row.textContent()).toMatch(/不达标|short/);
  });

  it("shows the station's admin what it has taken in on the system page, and no one else", async () => {
    const p = await page("en");
    await signIn(p, base, "admin", PW.admin);
    await p.goto(`${base}/#/system`);
    const chunks = p.locator('dd[data-count="chunks"]');
    await chunks.waitFor();
    const state = s.gw.services.system.state(ADMIN);
    expect(Number((await chunks.textContent())!.replace(/,/g, ""))).toBe(state.ingest!.chunks);
    expect(state.ingest!.chunks).toBeGreaterThan(0);
    // The disk: fine, its free space and the station's minimum (the test station's 1 MiB).
    await expect(p.locator("#sys-disk").textContent()).resolves.toMatch(/^(空间充足|enough space) .*\d (GiB|MiB).*1\.0 MiB$/);
    await expect(p.locator("#sys-connections").textContent()).resolves.toMatch(new RegExp(`^${state.sessions!.connections}\\D`));
    await expect(p.locator("main").textContent()).resolves.toMatch(/本站网关|Station gateway/);
    await expect(p.locator("header .brand").textContent()).resolves.toMatch(/^(执法记录站点控制台|Station console)$/);
    // An officer has no such page: not in the menu, refused by address.
    const o = await page("en");
    await signIn(o, base, "liwei", PW.liwei);
    expect(await o.locator("nav").textContent()).not.toMatch(/系统状态|System/);
    await o.goto(`${base}/#/system`);
    await expect(o.locator("main .error").textContent()).resolves.toMatch(/无权查看|may not see this page/);
  });

  it("shows each unit's FULL-case coverage on the statistics page, as the coverage report computes it, and in the CSV", async () => {
    const unit = (await s.gw.model.listUnits()).find((u) => u.name === "Road Transport Agency")!;
    const full = (await s.gw.services.reports.coverage(ADMIN)).cases.filter((c) => c.policy === "FULL" && c.unitId === unit.id);
    expect(full.length).toBe(2);
    const want = (full.reduce((n, c) => n + (c.coveredMs ?? 0), 0) / full.reduce((n, c) => n + c.windowEnd - c.windowStart, 0)) * 100;
    // Some of it is covered, and not all: the clips are seconds in hour-long windows.
    expect(want).toBeGreaterThan(0);
    expect(want).toBeLessThan(100);
    const p = await page("en");
    await signIn(p, base, "admin", PW.admin);
    await p.goto(`${base}/#/stats`);
    await p.locator("#lang").click();
    await p.waitForFunction(() => document.documentElement.lang === "en");
    const cell = p.locator(`#stats-table tr[data-row="${unit.id}"] td[data-col=full]`);
    await expect(cell.textContent()).resolves.toBe(`${want.toFixed(1)}% (2 cases)`);
    await expect(p.locator("#stats-table thead").textContent()).resolves.toContain("FULL coverage");
    const [dl] = await Promise.all([p.waitForEvent("download"), p.getByRole("button", { name: "Download CSV" }).click()]);
    const file = join(downloads, dl.suggestedFilename());
    await dl.saveAs(file);
    const lines = readFileSync(file, "utf8").replace(/^\ufeff/, "").trim().split("\r\n").map((l) => l.split(","));
    expect(lines[0].slice(-2)).toEqual(["full_cases", "full_coverage_pct"]);
    expect(lines.find((l) => l[0] === String(unit.id))!.slice(-2)).toEqual(["2", want.toFixed(1)]);
    await check(p, "stats-coverage.en");
  });

  it("denies an officer a secret clip, with the reason, even one they recorded", async () => {
    const p = await page();
    await signIn(p, base, "liwei", PW.liwei);
    await p.goto(`${base}/#/clip/BWC-E1/2`);
    await p.locator("#f-reason").fill("reviewing my own recording");
    await p.locator("dialog button[type=submit]").click();
    await expect(p.locator("dialog .error").textContent()).resolves.toContain("CONFIDENTIALITY");
    await shot(p, "clip-denied.zh");
    const denied = await s.gw.services.audit.list(ADMIN, { action: "recording.denied", actor: "liwei" });
    expect(denied.length).toBe(1);
  });

  it("approves an export with a reason, makes it, and verifies the bundle in the browser: PASS", async () => {
    const req = await s.gw.approvals.request(s.reviewer, { kind: "export", items: [{ device: "BWC-E1", recording: 1 }], reason: "the court asked for the evidence", hours: 24 });
    const a = await page();
    await signIn(a, base, "approver", PW.approver);
    await a.goto(`${base}/#/approvals`);
    await a.locator(`#approvals-pending tr[data-approval="${req.id}"] button.primary`).click();
    await a.locator("#f-reason").fill("release to the court approved");
    await a.locator("dialog button[type=submit]").click();
    await a.locator(`#approvals-decided tr[data-approval="${req.id}"]`).waitFor();
    await check(a, "approvals-decided.zh");
    const r = await page();
    await signIn(r, base, "reviewer", PW.reviewer);
    await r.goto(`${base}/#/evidence`);
    await r.locator(`#exports-table tr[data-grant="${req.id}"] button`).click();
    await r.locator("#f-reason").fill("for the court");
    const [dl] = await Promise.all([r.waitForEvent("download"), r.locator("dialog button[type=submit]").click()]);
    const file = join(downloads, dl.suggestedFilename());
    await dl.saveAs(file);
    // The station's own key is filled in: a bundle made here is checked against it.
    await r.waitForFunction(() => document.querySelector("#station-key").value !== "");
    expect(await r.locator("#station-key").inputValue()).toBe(s.gw.evidence.identity.verifierKey);
    await r.locator("#bundle-file").setInputFiles(file);
    await r.locator("#verify-report").waitFor({ timeout: 120000 });
    const text = await r.locator("#verify-report").textContent();
    await check(r, "evidence-verified.zh");
    expect(text).toContain("通过");
    expect(await r.locator("#verify-report tr[data-check] .badge.bad").count()).toBe(0);
    expect(await r.locator("#verify-report").getAttribute("class")).toContain("pass");
    // The export made is listed, with the bundle's hash, and downloads again: the same bytes.
    const id = dl.suggestedFilename().replace(/^evidence-|\.zip$/g, "");
    const bundle = readFileSync(file);
    const row = r.locator(`#made-table tr[data-export="${id}"]`);
    await row.locator("button").waitFor();
    const sha = createHash("sha256").update(bundle).digest("hex");
    await expect(row.locator("code").getAttribute("title")).resolves.toBe(sha);
    await check(r, "evidence-made.zh");
    await row.locator("button").click();
    await r.locator("#f-reason").fill("the court's copy was damaged");
    const [again] = await Promise.all([r.waitForEvent("download"), r.locator("dialog button[type=submit]").click()]);
    const second = join(downloads, "again-" + again.suggestedFilename());
    await again.saveAs(second);
    expect(readFileSync(second).equals(bundle)).toBe(true);
    const audit = await s.gw.services.audit.list(ADMIN, { actor: "reviewer", action: "recording.download" });
    expect(audit.map((e) => `${e.target} ${e.reason}`)).toContain("BWC-E1/1 the court's copy was damaged");
  }, 180000);

  it("clears an alarm with a reason, and verifies the audit log", async () => {
    await s.gw.alarms.raise("DISK_LOW", "/srv/evrec-other", { key: "diskLow", args: { free: 3, min: 500 } });
    const p = await page();
    await signIn(p, base, "admin", PW.admin);
    await p.goto(`${base}/#/alarms`);
    // The station's own alarm in the page's language, from the key and values it kept.
    await expect(p.locator('tr[data-alarm="DISK_LOW:/srv/evrec-other"]').textContent()).resolves.toContain("剩余 3 MiB，低于阈值 500 MiB：暂停确认");
    await p.getByRole("button", { name: "解除 DEVICE_ALARM BWC-E2" }).click();
    await p.locator("#f-reason").fill("storage emptied after upload");
    await p.locator("dialog button[type=submit]").click();
    await p.locator('tr[data-alarm="DEVICE_ALARM:BWC-E2"]').waitFor({ state: "detached" });
    await p.goto(`${base}/#/audit`);
    await p.locator("#verify-log").click();
    await expect(p.locator("#verify-result").textContent()).resolves.toContain("审计日志完整");
    expect((await s.gw.services.audit.list(ADMIN, { action: "alarm.clear" }))[0]).toMatchObject({ actor: "admin", reason: "storage emptied after upload" });
    console.log(`console: script app.js ${(built.sizes["app.js"] / 1024).toFixed(1)} KiB (${(built.sizes["app.js.gz"] / 1024).toFixed(1)} KiB gzipped); screenshots in ${SHOTS}`);
  });
});
