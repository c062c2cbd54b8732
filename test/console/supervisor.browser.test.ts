// The console as supervisors and legal reviewers use it day to day, in Chromium, with a second unit
// beside theirs: one officer's clips of a period, filtered by the gateway within the supervisor's
// unit's subtree, the filters kept in the address (the way back from a clip, from the alarms page,
// a reload) and not undone while the page is drawn again; another unit's officers, approval
// requests and ratios out of reach; a phone's width on every page; periods whose last date is taken
// in whole; an empty unit said so; an expired grant shown expired; a gateway that does not answer
// said so; link offered only to whom the gateway lets link; long reasons wrapped; a case's export
// asked for from the cases page; a device's alarms from its count on the fleet page.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { station } from "../export/helpers.js";
import type { Station } from "../export/helpers.js";
import { provision, streamSealed } from "../gateway/harness.js";
import type { Caller } from "../../gateway/services/index.js";
import { browserOrSkip, builtConsole, launch, shot, signIn } from "./browser.js";

const HAVE = browserOrSkip();
const ADMIN: Caller = { name: "admin", role: "admin", officerBadge: null };
const SUPERVISOR: Caller = { name: "approver", role: "supervisor", officerBadge: "S001" };
const PW = "release desk 2026";
const REVIEWER_PW = "legal desk 2026";
const ADMIN_PW = "station chief 2026";

/** A station-local date (YYYY-MM-DD) in the station's zone. */
const localDate = (ms: number, zone: string) => new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(ms);

describe.skipIf(!HAVE)("the console as a supervisor", () => {
  let s: Station, built: Awaited<ReturnType<typeof builtConsole>>, browser: Browser, base: string, zone: string;
  const contexts: BrowserContext[] = [];
  let last: Page | null = null;
  const page = async (lang: "zh-CN" | "en" = "en"): Promise<Page> => {
    const c = await browser.newContext({ locale: lang, timezoneId: "UTC", viewport: { width: 1360, height: 860 } });
    contexts.push(c);
    c.setDefaultTimeout(10000);
    const p = await c.newPage();
    last = p;
    return p;
  };
  const shown = (p: Page) => p.locator("#clips-table tbody tr").evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: { clip: string } }).dataset.clip).sort());
  /** The clips as the page shows them, top to bottom. */
  const inOrder = (p: Page) => p.locator("#clips-table tbody tr").evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: { clip: string } }).dataset.clip));

  beforeAll(async () => {
    built = await builtConsole();
    s = await station({ consoleDir: built.dir });
    base = `http://127.0.0.1:${s.gw.httpPort}`;
    zone = s.gw.services.ctx.policy.timeZone;
    // Another unit, outside the supervisor's: its officer's clip is never theirs to list.
    const harbour = await s.gw.model.addUnit("Harbour Agency", "agency");
    await s.gw.model.addOfficer({ badge: "H001", name: "Zhou Hai", unitId: harbour.id, role: "enforcement", certNo: "ZF-H001", certValidFrom: "2020-01-01", certValidTo: "2099-12-31" });
    const d = await provision(s.gw, "BWC-H1");
    await s.gw.model.setDeviceUnit("BWC-H1", harbour.id);
    await s.gw.model.checkOut("BWC-H1", { badge: "H001" }, Date.now() - 120e3);
    await streamSealed(d, d.recording(1, [randomBytes(4000)], { startMs: Date.now() - 60e3, caseTag: "" }));
    s.devices.push(d);
    // The other unit's supervisor: no approver of releases, and none of the first unit's records.
    await s.gw.model.addOfficer({ badge: "H002", name: "Harbour Chief", unitId: harbour.id, role: "supervisor", certNo: "ZF-H002", certValidFrom: "2020-01-01", certValidTo: "2099-12-31" });
    await s.gw.accounts.create("harbour", "supervisor", "H002");
    // Long names, as some units and people have: the page must still fit a phone's width.
    const newUnit = await s.gw.model.addUnit("Municipal Comprehensive Administrative Law Enforcement Bureau, Second Brigade, Special Operations Detachment", "agency");
    // A supervisor of a unit with no recorder yet.
    await s.gw.model.addOfficer({ badge: "M001", name: "Ma Lin", unitId: newUnit.id, role: "supervisor", certNo: "ZF-M001", certValidFrom: "2020-01-01", certValidTo: "2099-12-31" });
    await s.gw.accounts.create("newunit", "supervisor", "M001");
    await s.gw.model.addOfficer({ badge: "T009", name: "Ouyang Xiaoming-Alexander Konstantinopoulos", unitId: (await s.gw.model.listUnits())[0].id, role: "enforcement", certNo: "ZF-T009", certValidFrom: "2020-01-01", certValidTo: "2099-12-31" });
    for (const n of ["approver", "harbour", "newunit"]) await s.gw.services.sessions.setPassword(ADMIN, n, PW);
    await s.gw.services.sessions.setPassword(ADMIN, "reviewer", REVIEWER_PW);
    await s.gw.services.sessions.setPassword(ADMIN, "admin", ADMIN_PW);
    browser = await launch();
  }, 120000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== "fail" || !last) return;
    console.log(`page at failure (${last.url()}):`, (await last.locator("body").innerText().catch(() => "?")).slice(0, 1500));
    await shot(last, `failed-clips-${ctx.task.name.slice(0, 40).replace(/[^a-z0-9]+/gi, "-")}`).catch(() => undefined);
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
    built?.remove();
  });

  it("lists one officer's clips, chosen among the supervisor's officers only, and keeps the filter on the way back from a clip", async () => {
    const p = await page();
    await signIn(p, base, "approver", PW);
    await p.goto(`${base}/#/clips`);
    await p.locator("#clips-table").waitFor();
    expect(await shown(p)).toEqual(["BWC-E1/1", "BWC-E1/2", "BWC-E2/1"]);
    // The officers to choose from: the supervisor's unit's, not the other unit's, and no legal reviewer.
    const options = await p.locator("#clips-filters select[name=officer] option").evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));
    expect(options).toEqual(expect.arrayContaining(["", "T001", "T002"]));
    expect(options).not.toContain("H001");
    expect(options).not.toContain("R001");
    await p.locator("#clips-filters select[name=officer]").selectOption("T002");
    await p.locator("#clips-filters button[type=submit]").click();
    await p.waitForFunction(() => (globalThis as unknown as { location: { hash: string } }).location.hash.includes("officer=T002"));
    await p.locator('#clips-table tr[data-clip="BWC-E1/1"]').waitFor({ state: "detached" });
    expect(await shown(p)).toEqual(["BWC-E2/1"]);
    // The gateway filtered it (the listing's audit entry says what was asked).
    const listed = await s.gw.services.audit.list(ADMIN, { actor: "approver", action: "recording.list", limit: 1 });
    expect(listed[0].details).toMatchObject({ count: 1, asked: { officer: "T002" } });
    await p.locator('a[href^="#/clip/BWC-E2/1"]').click();
    await p.locator("#f-reason").fill("reviewing the officer's week");
    await p.locator("dialog button[type=submit]").click();
    await p.locator("dl.facts").waitFor();
    await p.locator("#clip-back").click();
    await p.locator("#clips-table").waitFor();
    expect(await p.locator("#clips-filters select[name=officer]").inputValue()).toBe("T002");
    expect(await shown(p)).toEqual(["BWC-E2/1"]);
    await shot(p, "clips-filtered.en");
  });

  it("shows the clips a page at a time, with a way to the next that keeps the filters", async () => {
    const p = await page();
    await signIn(p, base, "approver", PW);
    // Pages of one clip (limit in the address): the listing's order, newest first (BWC-E1/2 started
    // ten minutes after the other two), More adding the older ones below.
    await p.goto(`${base}/#/clips?limit=1`);
    await p.locator("#clips-table").waitFor();
    expect(await shown(p)).toEqual(["BWC-E1/2"]);
    await expect(p.locator("#clips-count").textContent()).resolves.toMatch(/^(1 clips shown, more to come|已显示 1 条记录, 还有更多)$/);
    await p.locator("#clips-more").click();
    await p.locator("#clips-table tbody tr:nth-child(2)").waitFor();
    await p.locator("#clips-more").click();
    await p.locator("#clips-table tbody tr:nth-child(3)").waitFor();
    const order = await inOrder(p);
    expect(order[0]).toBe("BWC-E1/2");
    expect(order.slice(1).sort()).toEqual(["BWC-E1/1", "BWC-E2/1"]);
    await p.locator("#clips-more").waitFor({ state: "detached" });
    // The whole listing in one page: the same order.
    await p.goto(`${base}/#/clips`);
    await p.locator('#clips-table tr[data-clip="BWC-E1/1"]').waitFor();
    expect(await inOrder(p)).toEqual(order);
    // One officer's: their pages only, the filter and the page size kept by the form.
    const zh = await page("zh-CN");
    await signIn(zh, base, "approver", PW);
    await zh.goto(`${base}/#/clips?officer=T001&limit=1`);
    await zh.locator("#clips-table").waitFor();
    expect(await shown(zh)).toEqual(["BWC-E1/2"]);
    await expect(zh.locator("#clips-more").textContent()).resolves.toMatch(/^(More clips|显示更多)$/);
    await zh.locator("#clips-more").click();
    await zh.locator('#clips-table tr[data-clip="BWC-E1/1"]').waitFor();
    await zh.locator("#clips-more").waitFor({ state: "detached" });
    expect(await inOrder(zh)).toEqual(["BWC-E1/2", "BWC-E1/1"]);
    await zh.locator("#clips-filters button[type=submit]").click();
    await zh.waitForFunction(() => (globalThis as unknown as { location: { hash: string } }).location.hash === "#/clips?officer=T001&limit=1");
  });

  it("takes a period of station-local dates, the last day included", async () => {
    const day = localDate(s.starts.get("BWC-E2/1")!, zone);
    const p = await page("zh-CN");
    await signIn(p, base, "approver", PW);
    await p.goto(`${base}/#/clips?officer=T002&from=${day}&to=${day}`);
    await p.locator("#clips-table").waitFor();
    expect(await shown(p)).toEqual(["BWC-E2/1"]);
    expect(await p.locator("#clips-filters input[name=to]").inputValue()).toBe(day);
    const next = localDate(s.starts.get("BWC-E2/1")! + 86400e3, zone);
    await p.goto(`${base}/#/clips?officer=T002&from=${next}`);
    await p.locator("#clips-table").waitFor({ state: "detached" });
    await expect(p.locator("#clips-count").textContent()).resolves.toContain("0");
  });

  it("refuses an officer outside the supervisor's unit's subtree with its reason, and bad input with its own", async () => {
    const p = await page();
    await signIn(p, base, "approver", PW);
    await p.goto(`${base}/#/clips?officer=H001`);
    await expect(p.locator("main .error").textContent()).resolves.toContain("OUTSIDE_UNIT");
    // A Chinese page says what the code means, and gives the gateway's own words beside it.
    const said = (await p.locator("main .error").textContent())!;
    expect(said).toContain("不在您所在单位及其下级单位的范围内");
    expect(said).toContain("no officer H001 in your unit's subtree");
    expect(await p.locator("#clips-table").count()).toBe(0);
    // An unknown badge reads the same to a supervisor: nothing about other units' rosters.
    await expect(s.gw.services.recordings.list(SUPERVISOR, { officer: "NOBODY" })).rejects.toMatchObject({ code: "OUTSIDE_UNIT" });
    await expect(s.gw.services.recordings.list(ADMIN, { officer: "NOBODY" })).rejects.toMatchObject({ code: "OFFICER_NOT_FOUND" });
    expect((await s.gw.services.recordings.list(ADMIN, { officer: "H001" })).map((r) => `${r.device}/${r.recording}`)).toEqual(["BWC-H1/1"]);
    await expect(s.gw.services.recordings.list(SUPERVISOR, { from: "last week" })).rejects.toMatchObject({ code: "BAD_TIME" });
    await expect(s.gw.services.recordings.list(SUPERVISOR, { from: "2026-03-02", to: "2026-03-01" })).rejects.toMatchObject({ code: "BAD_WINDOW" });
    await expect(s.gw.services.recordings.list(SUPERVISOR, { officer: "T0\u001b[2J" })).rejects.toMatchObject({ code: "BAD_INPUT" });
  });

  it("shows a supervisor only the approval requests they may decide, not another unit's", async () => {
    const req = await s.gw.approvals.request(s.reviewer, { kind: "export", items: [{ device: "BWC-E1", recording: 1 }], reason: "the court asked for the seizure", hours: 24 });
    const mine = await s.gw.approvals.request({ name: "harbour", role: "supervisor", officer_badge: "H002" }, { kind: "view", items: [{ device: "BWC-E2", recording: 1 }], reason: "a cross-unit look", hours: 2 });
    const approver = await page();
    await signIn(approver, base, "approver", PW);
    await approver.goto(`${base}/#/approvals`);
    await approver.locator(`#approvals-pending tr[data-approval="${req.id}"]`).waitFor();
    await approver.locator(`#approvals-pending tr[data-approval="${mine.id}"]`).waitFor();
    const p = await page();
    await signIn(p, base, "harbour", PW);
    await p.goto(`${base}/#/approvals`);
    await p.locator(`#approvals-mine tr[data-approval="${mine.id}"]`).waitFor();
    // The release asked in the other unit, its records and its reason, are not on their page.
    expect(await p.locator(`tr[data-approval="${req.id}"]`).count()).toBe(0);
    expect(await p.locator("main").textContent()).not.toContain("the court asked for the seizure");
    // The legal reviewer who asked sees their own request, and no one else's.
    expect((await s.gw.approvals.listFor(s.reviewer)).map((a) => a.id)).toEqual([req.id]);
  });

  it("fits a phone's width on every page, in Chinese and English: only a table scrolls sideways, inside its box", async () => {
    const c = await browser.newContext({ locale: "zh-CN", timezoneId: "UTC", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    contexts.push(c);
    c.setDefaultTimeout(10000);
    const p = await c.newPage();
    last = p;
    await signIn(p, base, "approver", PW);
    const pages = await p.locator("nav a").evaluateAll((as) => as.map((a) => (a as unknown as { getAttribute: (n: string) => string }).getAttribute("href")));
    expect(pages.length).toBeGreaterThan(5);
    const wide: string[] = [];
    for (const lang of ["zh-CN", "en"]) {
      for (const href of pages) {
        await p.goto(`${base}/${href}`);
        await p.locator("main h1").first().waitFor();
        await p.waitForFunction(() => !/载入中|Loading/.test((globalThis as unknown as { document: { querySelector: (s: string) => { textContent: string } } }).document.querySelector("main").textContent));
        const [sw, cw] = await p.evaluate(() => { const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement; return [d.scrollWidth, d.clientWidth]; });
        if (sw > cw + 1) wide.push(`${lang} ${href}: ${sw} px wide in a ${cw} px window`);
        await shot(p, `phone-${href.replace(/[#/]/g, "")}.${lang}`);
      }
      if (lang === "zh-CN") {
        await p.locator("#lang").click();
        await p.waitForFunction(() => (globalThis as unknown as { document: { documentElement: { lang: string } } }).document.documentElement.lang === "en");
      }
    }
    expect(wide).toEqual([]);
  }, 60000);

  it("counts a day's recordings on the statistics page when the period is that one day, and ends the default period today", async () => {
    const day = localDate(s.starts.get("BWC-E1/1")!, zone);
    const p = await page();
    await signIn(p, base, "reviewer", REVIEWER_PW);
    await p.goto(`${base}/#/stats`);
    await expect(p.locator("form.filters input[name=to]").inputValue()).resolves.toBe(localDate(Date.now(), zone));
    await p.locator("form.filters input[name=from]").fill(day);
    await p.locator("form.filters input[name=to]").fill(day);
    await p.locator("form.filters button[type=submit]").click();
    const unit = (await s.gw.model.listUnits()).find((u) => u.name === "Road Transport Agency")!;
    const row = p.locator(`#stats-table tr[data-row="${unit.id}"]`);
    await row.waitFor();
    // The reviewer's unit's three clips of that day; the other unit's is not theirs.
    await expect(row.locator("td").first().textContent()).resolves.toBe("3");
    expect(await p.locator("#stats-table tbody tr").count()).toBe(1);
    expect(await p.locator("main .error").count()).toBe(0);
  });

  it("keeps the fleet's and the statistics' filters on the way back from another page", async () => {
    await s.gw.alarms.raise("DEVICE_ALARM", "BWC-E2", "device reports an alarm: BATTERY_LOW");
    const p = await page();
    await signIn(p, base, "approver", PW);
    await p.goto(`${base}/#/fleet`);
    await p.locator('#fleet-table tr[data-device="BWC-E2"]').waitFor();
    await p.locator("form.filters select").nth(1).selectOption("online");
    // From the device's alarm count to the alarms page, and back.
    await p.locator('#fleet-table tr[data-device="BWC-E2"] a.badge.alarm').click();
    await p.locator("#alarms-table").waitFor();
    await p.goBack();
    await p.locator('#fleet-table tr[data-device="BWC-E2"]').waitFor();
    expect(await p.locator("form.filters select").nth(1).inputValue()).toBe("online");
    // Statistics by officer, then the clips page, and back.
    await p.goto(`${base}/#/stats`);
    await p.locator("form.filters select[name=by]").selectOption("officer");
    await p.locator("form.filters button[type=submit]").click();
    await p.locator('#stats-table tr[data-row="T001"]').waitFor();
    await p.locator('nav a[href="#/clips"]').click();
    await p.locator("#clips-table").waitFor();
    await p.goBack();
    await p.locator('#stats-table tr[data-row="T001"]').waitFor();
    expect(await p.locator("form.filters select[name=by]").inputValue()).toBe("officer");
  });

  it("keeps what the user typed in the link dialog after a refusal, so the error is about what is in the field", async () => {
    const p = await page();
    await signIn(p, base, "approver", PW);
    await p.goto(`${base}/#/clip/BWC-E2/1`);
    await p.locator("#f-reason").fill("checking the clip's cases");
    await p.locator("dialog button[type=submit]").click();
    await p.locator("dl.facts").waitFor();
    await p.getByRole("button", { name: /^(关联案件|Link to case)$/ }).click();
    await p.locator("#f-case").fill("C-NO-SUCH-1");
    await p.locator("#f-reason").fill("linking the wrong case on purpose");
    await p.locator("dialog button[type=submit]").click();
    await expect(p.locator("dialog .error").textContent()).resolves.toMatch(/NOT_FOUND/);
    expect(await p.locator("#f-case").inputValue()).toBe("C-NO-SUCH-1");
  });

  it("keeps the filters being chosen on the clips page while new clips arrive, until Filter applies them", async () => {
    const p = await page();
    await signIn(p, base, "approver", PW);
    await p.goto(`${base}/#/clips`);
    await p.locator("#clips-table").waitFor();
    const day = localDate(Date.now(), zone);
    await p.locator("#clips-filters select[name=officer]").selectOption("T002");
    await p.locator("#clips-filters input[name=from]").fill(day);
    // A clip arrives meanwhile: the list is asked again and drawn again.
    const d = s.devices[1];
    await streamSealed(d, d.recording(2, [randomBytes(3000)], { startMs: Date.now() - 5e3, caseTag: "" }));
    await p.locator('#clips-table tr[data-clip="BWC-E2/2"]').waitFor({ timeout: 15000 });
    expect(await p.locator("#clips-filters select[name=officer]").inputValue()).toBe("T002");
    expect(await p.locator("#clips-filters input[name=from]").inputValue()).toBe(day);
    await p.locator("#clips-filters button[type=submit]").click();
    await p.waitForFunction((d: string) => (globalThis as unknown as { location: { hash: string } }).location.hash === `#/clips?officer=T002&from=${d}`, day);
  });

  it("says there is no device in scope, rather than showing an empty table, to a supervisor of a unit without recorders", async () => {
    const p = await page("en");
    await signIn(p, base, "newunit", PW);
    await p.goto(`${base}/#/fleet`);
    await expect(p.locator("#fleet-none").textContent()).resolves.toMatch(/没有设备|No devices/);
    expect(await p.locator("#fleet-table").count()).toBe(0);
    await p.goto(`${base}/#/devices`);
    await expect(p.locator("#devices-none").textContent()).resolves.toMatch(/没有设备|No devices/);
    expect(await p.locator("#devices-table").count()).toBe(0);
  });

  it("shows a legal reviewer an export grant whose time ran out as expired, not as approved with no way to use it", async () => {
    const req = await s.gw.approvals.request(s.reviewer, { kind: "export", items: [{ device: "BWC-E2", recording: 1 }], reason: "the hearing's copy", hours: 1 });
    await s.gw.approvals.approve(s.approver, req.id, "released for the hearing");
    // An hour later: the grant has run out.
    await s.gw.db.run("UPDATE approvals SET valid_until = ? WHERE id = ?", [Date.now() - 60e3, req.id]);
    const p = await page("en");
    await signIn(p, base, "reviewer", REVIEWER_PW);
    await p.goto(`${base}/#/evidence`);
    const row = p.locator(`#exports-table tr[data-grant="${req.id}"]`);
    await row.waitFor();
    await expect(row.locator(".badge").textContent()).resolves.toMatch(/^(已过期|expired)$/);
    expect(await row.locator("button").count()).toBe(0);
    await p.goto(`${base}/#/approvals`);
    await expect(p.locator(`#approvals-mine tr[data-approval="${req.id}"] .badge`).textContent()).resolves.toMatch(/^(已过期|expired)$/);
  });

  it("says the gateway did not answer, in the page's language, when a request gets no answer at all", async () => {
    const p = await page();
    await signIn(p, base, "approver", PW);
    await p.route("**/api/recordings*", (route) => route.abort("connectionrefused"));
    await p.goto(`${base}/#/clips`);
    const error = await p.locator("main .error").textContent();
    expect(error).toContain("GATEWAY_UNREACHABLE");
    expect(error).toMatch(/网关未应答/);
    expect(error).not.toMatch(/Failed to fetch/);
  });

  it("shows today's audit entries to an admin who asks for the period from today to today", async () => {
    const today = localDate(Date.now(), zone);
    const p = await page("en");
    await signIn(p, base, "admin", ADMIN_PW);
    await p.goto(`${base}/#/audit`);
    await p.locator("#audit-table").waitFor();
    await p.locator("form.filters input[name=since]").fill(today);
    await p.locator("form.filters input[name=until]").fill(today);
    await p.locator("form.filters button[type=submit]").click();
    // Today's sign-in is among them, and nothing is refused.
    await p.locator("#audit-table td code", { hasText: /^signin$/ }).first().waitFor();
    expect(await p.locator("main .error").count()).toBe(0);
  });

  it("offers a legal reviewer no link or unlink on a clip, which the gateway would refuse them, and still the export request", async () => {
    const p = await page("en");
    await signIn(p, base, "reviewer", REVIEWER_PW);
    await p.goto(`${base}/#/clip/BWC-E1/1`);
    await p.locator("#f-reason").fill("reviewing the seizure's clip");
    await p.locator("dialog button[type=submit]").click();
    await p.locator("dl.facts", { hasText: "C-2025-001" }).waitFor();
    expect(await p.getByRole("button", { name: /^(关联案件|Link to case)$/ }).count()).toBe(0);
    expect(await p.getByRole("button", { name: /取消关联|Unlink/ }).count()).toBe(0);
    expect(await p.getByRole("button", { name: /^(申请导出|Request export)$/ }).count()).toBe(1);
  });

  it("wraps a long reason and a long list of records on the approvals and evidence pages, so their tables fit a 1360 px window", async () => {
    const reason = "Requested by the municipal court for the administrative reconsideration hearing; the applicant disputes the seizure's timing, the officers' identification and the notice served on site, and asks for every recording of the day. ".repeat(2).trim();
    const items = [...Array(3).keys()].flatMap(() => [{ device: "BWC-E1", recording: 1 }, { device: "BWC-E1", recording: 2 }, { device: "BWC-E2", recording: 1 }]);
    const req = await s.gw.approvals.request(s.reviewer, { kind: "export", items, reason, hours: 24 });
    const widest = async (p: Page) => p.evaluate(() => [...(globalThis as unknown as { document: { querySelectorAll: (s: string) => { scrollWidth: number; clientWidth: number; firstElementChild: { id: string } | null }[] } }).document.querySelectorAll("main .scroll")]
      .filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => `${e.firstElementChild?.id}: ${e.scrollWidth} > ${e.clientWidth}`));
    const a = await page("en");
    await signIn(a, base, "approver", PW);
    await a.goto(`${base}/#/approvals`);
    await a.locator(`#approvals-pending tr[data-approval="${req.id}"]`).waitFor();
    expect(await widest(a)).toEqual([]);
    const r = await page("en");
    await signIn(r, base, "reviewer", REVIEWER_PW);
    await r.goto(`${base}/#/evidence`);
    await r.locator(`#exports-table tr[data-grant="${req.id}"]`).waitFor();
    expect(await widest(r)).toEqual([]);
  });

  it("lets a legal reviewer ask for a case's recordings to be exported from the cases page, and the release approver see it", async () => {
    const r = await page("en");
    await signIn(r, base, "reviewer", REVIEWER_PW);
    await r.goto(`${base}/#/cases`);
    await r.getByRole("button", { name: /^(申请导出|Request export).*C-2025-001$/ }).click();
    await r.locator("#f-reason").fill("the court asked for the whole seizure");
    await r.locator("dialog button[type=submit]").click();
    const notice = await r.locator(".notice").textContent();
    const id = Number(/#(\d+)/.exec(notice ?? "")?.[1]);
    expect(id).toBeGreaterThan(0);
    const asked = await s.gw.approvals.get(id);
    expect(asked).toMatchObject({ kind: "export", requester: "reviewer", caseNumber: "C-2025-001", reason: "the court asked for the whole seizure", state: "pending" });
    const a = await page("en");
    await signIn(a, base, "approver", PW);
    await a.goto(`${base}/#/approvals`);
    await expect(a.locator(`#approvals-pending tr[data-approval="${id}"]`).textContent()).resolves.toContain("C-2025-001");
  });

  it("shows a supervisor the ratios of their unit's subtree, not another unit's roster counts", async () => {
    const p = await page("en");
    await signIn(p, base, "approver", PW);
    await p.goto(`${base}/#/ratios`);
    await p.locator('#ratios-table tr[data-unit="Road Transport Agency"]').waitFor();
    const units = await p.locator("#ratios-table tbody tr").evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: { unit: string } }).dataset.unit));
    expect(units).toEqual(["Road Transport Agency"]);
    const harbour = (await s.gw.model.listUnits()).find((u) => u.name === "Harbour Agency")!;
    await expect(s.gw.services.reports.fleet(SUPERVISOR, harbour.id)).rejects.toMatchObject({ code: "OUTSIDE_UNIT" });
    expect((await s.gw.services.reports.fleet(ADMIN)).units.map((u) => u.name)).toContain("Harbour Agency");
    // A recorder issued to no unit is the station's to count: the admin is told of it, a supervisor not.
    await s.gw.registry.add("BWC-NOUNIT", { root: randomBytes(32) });
    await s.gw.registry.activate("BWC-NOUNIT");
    expect((await s.gw.services.reports.fleet(ADMIN)).unassignedDevices).toBeGreaterThanOrEqual(1);
    expect((await s.gw.services.reports.fleet(SUPERVISOR)).unassignedDevices).toBeNull();
  });

  it("opens the alarms of the device whose alarm count was clicked on the fleet page, with a way to every alarm", async () => {
    await s.gw.alarms.raise("DEVICE_ALARM", "BWC-E1", "device reports an alarm: CLOCK_LOST");
    await s.gw.alarms.raise("DEVICE_ALARM", "BWC-E2", "device reports an alarm: STORAGE_FULL");
    const p = await page("en");
    await signIn(p, base, "approver", PW);
    await p.goto(`${base}/#/fleet`);
    await p.locator('#fleet-table tr[data-device="BWC-E2"] a.badge.alarm').click();
    await p.locator("#alarms-table").waitFor();
    // The device each alarm is about (DEV, or DEV/N for one of its recordings).
    const subjects = () => p.locator("#alarms-table tbody tr").evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: { alarm: string } }).dataset.alarm.split(":")[1].split("/")[0]));
    expect(new Set(await subjects())).toEqual(new Set(["BWC-E2"]));
    await p.locator("#alarms-device a").click();
    await p.locator('#alarms-table tr[data-alarm="DEVICE_ALARM:BWC-E1"]').waitFor();
    expect(new Set(await subjects())).toEqual(new Set(["BWC-E1", "BWC-E2"]));
  });
});
