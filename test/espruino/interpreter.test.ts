// The real-interpreter lane: the protocol code, bundled exactly as the gate bundles it, rebuilds the
// golden vectors on the Espruino interpreter named by ESPRUINO_BIN (e.g. `$(which espruino-linux)`).
// Skipped, with one console line, when ESPRUINO_BIN is unset or not executable.
import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DEFAULT_ENTRY, espruinoBin, formatFinding, gate, runOnEspruino } from "../../scripts/espruino-gate.mjs";
import type { EspruinoRun } from "../../scripts/espruino-gate.mjs";

const BIN = espruinoBin();
const usable = BIN !== "";
if (!usable) console.log("ESPRUINO_BIN not set: real-interpreter lane skipped" + (process.env.ESPRUINO_BIN ? " (" + process.env.ESPRUINO_BIN + " is not an executable file)" : ""));

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

async function runEntry(entry: string): Promise<EspruinoRun> {
  const g = await gate([entry]);
  expect(g.errors.map(formatFinding)).toEqual([]);
  return runOnEspruino(BIN, g.bundles[0].code, 120000);
}

(usable ? describe : describe.skip)("real Espruino interpreter (" + (BIN || "unset") + ")", () => {
  let vectors: EspruinoRun;
  beforeAll(async () => {
    vectors = await runEntry(fileURLToPath(new URL("./vectors-entry.ts", import.meta.url)));
  }, 180000);

  it("loads every Espruino-subset protocol module", async () => {
    const r = await runEntry(DEFAULT_ENTRY);
    expect(r.error).toBeUndefined();
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^LOADED 9 modules \d+ exports$/);
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
