// The build's property mangling (firmware/build/mangle.ts): the names it gives, and the names it
// keeps because the world outside the bundle uses them, read from the boundary's types (the
// bundle's API in firmware/api.ts, rec.cfg and rec.key in protocol/device-files.ts).
import { beforeAll, describe, expect, it } from "vitest";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { propName } from "../../firmware/build/build.js";
import { boundaryNames, mangleable, sourceProgram } from "../../firmware/build/mangle.js";
import { withDefaults } from "../../protocol/device-files.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

describe("the minifier's names for the firmware's own properties", () => {
  it("are all different, one or two characters after `_` or `$`, the first 128 of them one", () => {
    const names = Array.from({ length: 2000 }, (_, i) => propName(i));
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[_$][0-9A-Za-z_$]{1,2}$/);
    expect(names.slice(0, 128).every((n) => n.length === 2)).toBe(true);
    expect(names[128].length).toBe(3);
    // Never a name a built-in object has: no such name starts with `_` or `$` (`__proto__` is longer).
    for (const n of names) for (const b of [Object.prototype, Array.prototype, Uint8Array.prototype, String.prototype, Function.prototype]) expect(n in b).toBe(false);
  });
});

describe("the names the renaming keeps, read from the boundary's types", () => {
  let keep = new Set<string>();
  let renamed = new Set<string>();
  beforeAll(() => {
    const program = sourceProgram(ROOT, path.join(ROOT, "firmware", "main.ts"));
    keep = boundaryNames(program, ROOT);
    // No bundle's text: the names a string of the bundle protects count as renamed here, so this is
    // more than the build renames, never less.
    renamed = new Set(mangleable(program, ROOT, "").names);
  }, 30000);

  it("every field of rec.cfg and rec.key, nested ones too, is kept: a provisioned device's files are read by these names", () => {
    const cfg = withDefaults({ v: 1, id: "D", host: "h", port: 1, login: "", dl: "", ctl: "", wifi: { ssid: "s", pass: "p" }, pins: { rec: "BTN1", mark: "B3", mic: "A5", bat: "A1", led: ["LED1"] } });
    const open = { r: 1, k1: "", g: "", c0: "", case: "", sc: "", t0: 0 };
    const key = { v: 1, j: 0, s: "", next: 1, ls: 0, lz: "", open };
    const fields = [cfg, cfg.wifi!, cfg.pins, key, open].flatMap((o) => Object.keys(o));
    expect(fields.filter((f) => !keep.has(f))).toEqual([]);
  });

  it("the API the REPL and the simulator call, the env they pass in with the interpreter's API, and the recorder's options are kept", () => {
    for (const n of ["start", "boot", "version", "record", "stop", "button", "info", "selftest", "halt", "setCaseTag", "state", "alarm", "lastError",
      "Storage", "readJSON", "getFree", "openFile", "toArrayBuffer", "SHA256", "connect", "watchButtons", "memInfo", "probe", "window", "segmentBytes", "backoffMax"]) {
      expect(keep.has(n), n).toBe(true);
      expect(renamed.has(n), n).toBe(false);
    }
  });

  it("the firmware's own members are renamed, and names of built-ins never are", () => {
    expect(renamed.size).toBeGreaterThan(150);
    for (const n of ["constructor", "length", "subarray", "toString", "then"]) expect(renamed.has(n), n).toBe(false);
  });
});
