// npm run build:firmware -- --measure: what each pass of the build gains, measured. The bundle is
// built with every pass, then once with each pass switched off (global-scope with overlay, which
// needs it), and each bundle is stored as `rec.js` with a config and keys, in pieces as the
// provisioning tool writes it, and booted from Storage on each interpreter build installed
// (ESPRUINO_BOARD_BIN or espruino-board: a board's fixed store; ESPRUINO_BIN or espruino-linux).
// Printed per bundle: its bytes and the variables in use after boot (process.memory().usage once
// Recorder.boot() has returned, the interpreter's own included, as the lane counts them against the
// budget), then each pass's gain, the difference from the bundle without it. The table in
// README.md comes from here.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { espruinoBuilds, storageFromFiles } from "../../scripts/espruino-gate.mjs";
import type { EspruinoBuild } from "../../scripts/espruino-gate.mjs";
import { toHex } from "../../protocol/bytes.js";
import { deriveDeviceKeys } from "../../protocol/chain.js";
import { initialKeys } from "../../protocol/device-files.js";
import { nodeSha256 } from "../../protocol/sha256-node.js";
import { buildFirmware } from "./build.js";
import type { Pass } from "./build.js";

/** A bundle to measure: the passes switched off, and the bundle its gain is taken against. */
interface Variant { label: string; without: Pass[]; against?: string }

const VARIANTS: Variant[] = [
  { label: "all passes", without: [] },
  { label: "mangle", without: ["mangle"], against: "all passes" },
  { label: "inline-constants", without: ["inline-constants"], against: "all passes" },
  { label: "overlay", without: ["overlay"], against: "all passes" },
  // Overlays need the global scope: global-scope's gain is measured on bundles without them.
  { label: "global-scope", without: ["overlay", "global-scope"], against: "overlay" },
  { label: "all four together", without: ["mangle", "inline-constants", "global-scope", "overlay"], against: "all passes" },
];

/** Variables in use once the bundle booted from Storage on `build`. */
async function bootVariables(build: EspruinoBuild, bundle: string): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "evrec-measure-"));
  try {
    const k = deriveDeviceKeys(nodeSha256, new Uint8Array(randomBytes(32)));
    // Port 9 on the loopback: nothing listens, so the recorder's connection fails after boot, as a
    // board's does away from its station; what boot leaves in memory is the same either way.
    const cfg = { v: 1, id: "MEASURE-1", host: "127.0.0.1", port: 9, login: toHex(k.login), dl: toHex(k.downlinkKey), ctl: toHex(k.controlKey), media: "file:media.raw" };
    writeFileSync(path.join(dir, "cfg.src"), JSON.stringify(cfg));
    writeFileSync(path.join(dir, "key.src"), JSON.stringify(initialKeys(toHex(k.stateKey0))));
    writeFileSync(path.join(dir, "rec.src"), bundle);
    writeFileSync(path.join(dir, "media.raw"), new Uint8Array(64000)); // what the pre-event ring reads from boot on
    const driver = 'eval(require("Storage").read("rec.js"));\nconsole.log("BOOTMEM " + process.memory().usage);\n';
    writeFileSync(path.join(dir, "drv.src"), driver);
    writeFileSync(path.join(dir, "setup.js"), storageFromFiles([["rec.cfg", "cfg.src"], ["rec.key", "key.src"], ["rec.js", "rec.src"], ["drv.js", "drv.src"]]));
    await run(build.bin, dir, "setup.js", null);
    // The program is one line that runs a Storage file, as a board's boot does: no program text in RAM.
    writeFileSync(path.join(dir, "boot.js"), 'eval(require("Storage").read("drv.js"));\n');
    const line = await run(build.bin, dir, "boot.js", /BOOTMEM (\d+)/);
    return Number(/BOOTMEM (\d+)/.exec(line)![1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run `file` in `dir` until it prints a line matching `until` (then kill it), or until it ends. */
function run(bin: string, dir: string, file: string, until: RegExp | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, [file], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => { p.kill("SIGKILL"); reject(new Error(`${file}: no ${until} within 60 s:\n${out.slice(-2000)}`)); }, 60000);
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString("latin1");
      const hit = until && out.split("\n").slice(0, -1).find((l) => until.test(l)); // whole lines only
      if (hit) { clearTimeout(timer); p.kill("SIGKILL"); resolve(hit); }
    });
    p.on("exit", () => {
      clearTimeout(timer);
      if (!until) resolve(out);
      else if (!until.test(out)) reject(new Error(`${file}: ended without ${until}:\n${out.slice(-2000)}`));
    });
  });
}

/** Build and boot every variant, print the figures and the gains; returns the exit code. */
export async function measurePasses(): Promise<number> {
  const builds = espruinoBuilds(true);
  if (!builds.length) {
    console.error("measure: no interpreter (set ESPRUINO_BOARD_BIN or ESPRUINO_BIN, or put espruino-board or espruino-linux on the PATH)");
    return 1;
  }
  const figures = new Map<string, { bytes: number; vars: Record<string, number> }>();
  for (const v of VARIANTS) {
    const b = await buildFirmware({ without: v.without });
    const vars: Record<string, number> = {};
    for (const build of builds) vars[build.name] = await bootVariables(build, b.min);
    figures.set(v.label, { bytes: b.min.length, vars });
    const name = v.without.length ? "without " + v.without.join(", ") : v.label;
    console.log(`${name.padEnd(58)} ${String(b.min.length).padStart(6)} bytes   variables after boot: ${builds.map((x) => `${vars[x.name]} (${x.name})`).join(", ")}`);
  }
  console.log("\n| pass | bytes saved | " + builds.map((x) => `variables saved after boot (${x.name} build)`).join(" | ") + " |");
  console.log("|---|---|" + builds.map(() => "---|").join(""));
  for (const v of VARIANTS) {
    if (!v.against) continue;
    const off = figures.get(v.label)!, on = figures.get(v.against)!;
    console.log(`| ${v.label} | ${off.bytes - on.bytes} | ${builds.map((x) => off.vars[x.name] - on.vars[x.name]).join(" | ")} |`);
  }
  return 0;
}
