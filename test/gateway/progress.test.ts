// What the admin CLI shows on stderr while a long pass runs over the store.
import { describe, expect, it } from "vitest";
import { progressReporter } from "../../gateway/progress.js";

function run(tty: boolean, ticks: [number, number, number][]): string {
  let text = "";
  let t = 0;
  const p = progressReporter("audit verify", "entries", { out: { write: (s: string) => (text += s), isTTY: tty }, now: () => t });
  for (const [at, done, total] of ticks) { t = at; p.tick(done, total); }
  p.end();
  return text;
}

describe("progress of a long pass", () => {
  it("says nothing of a pass over within a second", () => {
    expect(run(false, [[100, 1000, 2000], [900, 2000, 2000]])).toBe("");
  });

  it("writes 'N of M' lines into a file at most every 5 s, ending with where it stopped", () => {
    const ticks: [number, number, number][] = Array.from({ length: 12 }, (_, i) => [1000 + i * 1000, (i + 1) * 1000, 12000]);
    expect(run(false, ticks).split("\n")).toEqual(["audit verify: 1000 of 12000 entries", "audit verify: 6000 of 12000 entries", "audit verify: 11000 of 12000 entries", "audit verify: 12000 of 12000 entries", ""]);
  });

  it("rewrites one line in place on a terminal, and ends it", () => {
    expect(run(true, [[1000, 1, 3], [1100, 2, 3], [1300, 3, 3]])).toBe("\raudit verify: 1 of 3 entries\x1b[K\raudit verify: 3 of 3 entries\x1b[K\raudit verify: 3 of 3 entries\x1b[K\n");
  });
});
