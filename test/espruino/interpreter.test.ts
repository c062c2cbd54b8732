// The real-interpreter lane: the protocol code, bundled exactly as the gate bundles it, rebuilds the
// golden vectors on each Espruino interpreter build the lane has: ESPRUINO_BIN (the default Linux
// build) and ESPRUINO_BOARD_BIN (a fixed store of 7,100 variables, as a board has). The code runs
// from `Storage` and the vectors are fed in pieces, so both fit a board's store. Skipped, with one
// console line, where no interpreter is set.
import { beforeAll, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DEFAULT_ENTRY, formatFinding, gate, runOnEspruino } from "../../scripts/espruino-gate.mjs";
import type { EspruinoRun } from "../../scripts/espruino-gate.mjs";
import { eachBuild } from "./builds.js";

/**
 * Checks that fail on the interpreter because of a protocol bug that is reported, not fixed, here.
 * Each must still fail (so the list cannot go stale): when the fix lands, its test says to remove it.
 */
const KNOWN_BOARD_BUGS: Record<string, string> = {};

const load = (name: string) => JSON.parse(readFileSync(new URL("../../protocol/vectors/" + name, import.meta.url), "utf8"));

/** How many PASS/FAIL lines vectors-entry.ts must print, counted from the JSON so a short run fails. */
function expectedChecks(): number {
  const keys = load("keys.json"), history = load("history.json"), downlink = load("downlink.json");
  const hmac = load("hmac-rfc4231.json"), messages = load("messages.json");
  let n = Object.keys(keys).length + 1 + history.recordings.length + hmac.length + 2 * messages.length;
  for (const k of Object.keys(downlink)) n += Array.isArray(downlink[k]) ? downlink[k].length : 1;
  return n;
}

/**
 * The vectors as vectors-entry.ts reads them: one small file per item (a history recording, a
 * message), and a count in place of each split list, so the interpreter never holds a whole file.
 */
function vectorFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ["keys.json", "downlink.json", "hmac-rfc4231.json"]) out[f] = JSON.stringify(load(f));
  const recs = load("history.json").recordings as unknown[];
  out["history.json"] = String(recs.length);
  recs.forEach((r, i) => { out[`history-${i}.json`] = JSON.stringify(r); });
  const msgs = load("messages.json") as unknown[];
  out["messages.json"] = String(msgs.length);
  msgs.forEach((m, i) => { out[`message-${i}.json`] = JSON.stringify(m); });
  return out;
}

async function runEntry(bin: string, entry: string, files?: Record<string, string>): Promise<EspruinoRun> {
  const g = await gate([entry]);
  expect(g.errors.map(formatFinding)).toEqual([]);
  return runOnEspruino(bin, g.bundles[0].code, 120000, files);
}

eachBuild("real Espruino interpreter", (build) => {
  const BIN = build.bin;
  let vectors: EspruinoRun;
  beforeAll(async () => {
    vectors = await runEntry(BIN, fileURLToPath(new URL("./vectors-entry.ts", import.meta.url)), vectorFiles());
  }, 180000);

  it("loads every Espruino-subset protocol module", async () => {
    const r = await runEntry(BIN, DEFAULT_ENTRY);
    expect(r.error).toBeUndefined();
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^LOADED 11 modules \d+ exports$/);
  });

  it("rebuilds every golden vector and HMAC case with the board's SHA-256", () => {
    expect(vectors.error).toBeUndefined();
    expect(vectors.status).toBe(0);
    // Nothing but result lines: an uncaught error or stray print fails here with its text.
    expect(vectors.lines.filter((l) => !/^(PASS|FAIL|DONE|MEM|TIME) /.test(l))).toEqual([]);
    const fails = vectors.lines.filter((l) => l.startsWith("FAIL "));
    const unexpected = fails.filter((l) => !Object.keys(KNOWN_BOARD_BUGS).some((k) => l.startsWith("FAIL " + k + " ")));
    expect(unexpected).toEqual([]);
    const passes = vectors.lines.filter((l) => l.startsWith("PASS ")).length;
    const done = vectors.lines.filter((l) => l.startsWith("DONE "));
    expect(done).toHaveLength(1);
    const [passed, failed] = done[0].split(" ").slice(1).map(Number);
    expect(passed).toBe(passes);
    expect(failed).toBe(fails.length); // 0 once the known bugs are fixed
    expect(passed + failed).toBeGreaterThanOrEqual(expectedChecks());
    expect(passed).toBeGreaterThanOrEqual(expectedChecks() - Object.keys(KNOWN_BOARD_BUGS).length);
    const mem = vectors.lines.find((l) => l.startsWith("MEM "));
    expect(Number(mem && mem.slice(4))).toBeGreaterThan(0);
  });

  it.each(Object.entries(KNOWN_BOARD_BUGS))("known board bug still reproduces: %s (remove it from KNOWN_BOARD_BUGS once fixed)", (name, why) => {
    const line = vectors.lines.find((l) => l === "PASS " + name || l.startsWith("FAIL " + name + " "));
    expect(line, why).toBeDefined();
    expect(line!.startsWith("FAIL "), "fixed on the interpreter: " + why).toBe(true);
  });
});
