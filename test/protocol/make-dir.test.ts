// Making a directory a person named (a data directory, a witness's state): the levels above it
// too, and a refusal said at once with the file system's code.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeDir } from "../../protocol/make-dir.js";

const dir = mkdtempSync(join(tmpdir(), "evrec-make-dir-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("makeDir", () => {
  it("makes the missing levels with the mode asked for, and returns the first it made", () => {
    expect(makeDir(join(dir, "a", "b", "c"), 0o700)).toBe(join(dir, "a"));
    expect(statSync(join(dir, "a", "b", "c")).mode & 0o777).toBe(0o700);
    expect(makeDir(join(dir, "a", "b"))).toBeUndefined();
  });

  it("refuses a file standing in the way with ENOTDIR, naming it", () => {
    writeFileSync(join(dir, "f"), "");
    expect(() => makeDir(join(dir, "f", "sub"))).toThrow(expect.objectContaining({ code: "ENOTDIR" }));
    expect(() => makeDir(join(dir, "f"))).toThrow(`ENOTDIR: ${join(dir, "f")} is a file, not a directory`);
  });
});
