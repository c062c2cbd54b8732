// Per-chunk cost of the chain on the real Espruino interpreter: `node --import tsx test/bench/espruino-step.ts`
// with ESPRUINO_BIN set (e.g. `ESPRUINO_BIN=$(which espruino-linux)`). Bundles espruino-step-entry.ts
// through the Espruino gate, runs it, and prints the table. What it answers: how much the chunk step
// costs over the one payload hash any scheme pays, whether the keyed-hash tag beats HMAC-SHA256 under
// a per-chunk key, and how both compare with appending the chunk to flash.
import { fileURLToPath } from "node:url";
import { espruinoBin, formatFinding, gate, runOnEspruinoAsync } from "../../scripts/espruino-gate.mjs";
import { benchArgs } from "./args.js";
import { onInterrupt } from "./interrupt.js";

benchArgs("bench:espruino", "npm run bench:espruino", "The chain's per-chunk cost on the real Espruino interpreter (ESPRUINO_BIN, or espruino-linux on\nthe PATH), against the one payload hash any scheme pays and appending the chunk to flash.", {});

// ESPRUINO_BIN, or an `espruino-linux` on the PATH, as the test runner finds it.
const BIN = espruinoBin(true);
if (!BIN) {
  console.log("ESPRUINO_BIN not set (or not executable): set it to an Espruino interpreter, e.g. ESPRUINO_BIN=$(which espruino-linux). Bench skipped.");
  process.exit(0);
}

const g = await gate([fileURLToPath(new URL("./espruino-step-entry.ts", import.meta.url))]);
if (!g.ok) {
  for (const f of g.errors) console.error(formatFinding(f));
  process.exit(1);
}
// Stopped part way (Ctrl-C, kill), the bench stops its interpreter and removes its directory.
const running = runOnEspruinoAsync(BIN, g.bundles[0].code, 600000);
const forget = onInterrupt(running.stop);
const run = await running.done;
forget();
const rows = run.lines.filter((l) => l.startsWith("ROW ")).map((l) => l.split(" ").slice(1).map(Number));
const other = run.lines.filter((l) => !/^(ROW|VERSION|MEMINFO) /.test(l));
if (run.error || rows.length !== 3 || other.length) {
  console.error("bench run failed (status " + run.status + (run.error ? ", " + run.error.message : "") + "):\n" + run.lines.join("\n"));
  process.exit(1);
}
const version = (run.lines.find((l) => l.startsWith("VERSION ")) || "VERSION " + run.version).slice(8);
const meminfo = (run.lines.find((l) => l.startsWith("MEMINFO ")) || "MEMINFO ? ? ?").split(" ");

const head = ["size B", "hash µs", "step µs", "step/hash", "hmac-step µs", "hmac-step/hash", "append µs", "(step+append)/(hash+append)", "mem vars"];
const body = rows.map((r) => {
  const [size, hash, step, hmac, append, mem] = r;
  return [String(size), hash.toFixed(1), step.toFixed(1), (step / hash).toFixed(2), hmac.toFixed(1), (hmac / hash).toFixed(2),
    append.toFixed(1), ((step + append) / (hash + append)).toFixed(2), String(mem)];
});
const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
const line = (cells: string[]) => "| " + cells.map((c, i) => c.padStart(width[i])).join(" | ") + " |";
console.log("Espruino interpreter " + version + " (" + BIN + "), 50 iterations x 3 runs, median; wall " + (run.ms / 1000).toFixed(1) + " s");
console.log(line(head));
console.log("|" + width.map((w) => "-".repeat(w + 2)).join("|") + "|");
for (const b of body) console.log(line(b));
console.log("mem: process.memory().usage after each size, in variables; at the end " + meminfo[1] + " of " + meminfo[2] + " in use, " + meminfo[3] + " bytes each");
