// The interpreter builds the real-interpreter lane runs on, and a describe() per build. The lane runs
// once on each build that is installed: `linux` (ESPRUINO_BIN or espruino-linux on the PATH: the
// default build, whose variable store grows on demand) and `board` (ESPRUINO_BOARD_BIN or
// espruino-board: a fixed store of 7,100 variables, an Espruino WiFi's). Memory is proved on the
// board build; the linux build is where the figures of earlier releases were measured.
import { describe, it } from "vitest";
import { espruinoBuilds } from "../../scripts/espruino-gate.mjs";
import type { EspruinoBuild } from "../../scripts/espruino-gate.mjs";

export type { EspruinoBuild };

export const BUILDS = espruinoBuilds(true);

/** Why a build is missing, one line per missing build ("" when both are there). */
export function missingBuilds(): string {
  const names = BUILDS.map((b) => b.name);
  const out: string[] = [];
  if (!names.includes("linux")) out.push("no default build (set ESPRUINO_BIN or put espruino-linux on the PATH)");
  if (!names.includes("board")) out.push("no board-sized build (set ESPRUINO_BOARD_BIN or put espruino-board on the PATH)");
  return out.join("; ");
}

/**
 * `describe(title [build])` once per installed build, or one skipped suite that says why. `what`
 * names the suite in the skip line printed when a build is missing.
 */
export function eachBuild(title: string, fn: (build: EspruinoBuild) => void, options?: { timeout?: number }): void {
  const missing = missingBuilds();
  if (missing) console.log(`${title}: ${missing}: skipped there`);
  if (!BUILDS.length) {
    describe.skip(`${title} (no Espruino interpreter)`, () => { it("needs an interpreter", () => {}); });
    return;
  }
  for (const b of BUILDS) describe(`${title} [${b.name} build]`, options || {}, () => fn(b));
}
