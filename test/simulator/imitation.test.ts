// The node engine's imitation of the Espruino interpreter (simulator/imitation/): Storage, fs and
// E.openFile with durability faults, strict module objects, net over real TCP with injected faults,
// timers and clock, E and crypto, the synthetic media and WAV export. With an interpreter
// (ESPRUINO_BIN, or espruino-linux on the PATH), the same script runs on both and must print the
// same lines, and each side reads the other's `espruino.flash`.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as nodeNet from "node:net";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEnv, PowerLoss } from "../../simulator/imitation/espruino-env.js";
import type { EnvOptions } from "../../simulator/imitation/espruino-env.js";
import { fileMedia, pcm, sampleAt, SyntheticMedia, writeSyntheticPcm } from "../../simulator/imitation/media.js";
import { wav } from "../../simulator/imitation/wav.js";
import { MEDIA_PCM_8K_S16LE } from "../../protocol/constants.js";
import { eachBuild } from "../espruino/builds.js";

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "sim-engine-"));
  dirs.push(d);
  return d;
};
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A device with no microphone unless asked (most tests need none). */
const device = (opts?: Partial<EnvOptions>) => createEnv({ dir: tempDir(), seed: 7, media: false, ...opts });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const all256 = (): string => { let s = ""; for (let i = 0; i < 256; i++) s += String.fromCharCode(i); return s; };
const KIB4 = "d".repeat(4096);

describe("Storage: Espruino's journaling flash", () => {
  it("holds 256 KiB: a file costs a 32-byte header and its data padded to 4 bytes; 63 files of 4 KiB fill it", () => {
    const { env } = device();
    const S = env.Storage;
    expect(S.getFree()).toBe(262144);
    const costs = [1, 2, 4, 5, 100].map((n) => { const before = S.getFree(); S.write("s" + n, "x".repeat(n)); return before - S.getFree(); });
    expect(costs).toEqual([36, 36, 36, 40, 132]);
    const fresh = device().env.Storage;
    let i = 0;
    expect(() => { for (; i < 100; i++) fresh.write("f" + i, KIB4); }).toThrow("Unable to find or create file");
    expect(i).toBe(63);
    expect(fresh.getFree()).toBe(262144 - 63 * 4128);
  });

  it("an overwrite or erase keeps occupying flash until compact(); rewriting the same bytes costs nothing", () => {
    const S = device().env.Storage;
    S.write("a", "x".repeat(100));
    expect(S.getFree()).toBe(262012);
    S.write("a", "x".repeat(100));
    expect(S.getFree()).toBe(262012);
    S.write("a", "y".repeat(100));
    expect(S.getFree()).toBe(261880);
    expect(S.read("a")).toBe("y".repeat(100));
    S.erase("a");
    expect(S.getFree()).toBe(261880);
    expect(S.read("a")).toBeUndefined();
    S.compact();
    expect(S.getFree()).toBe(262144);
    expect(S.list()).toEqual([]);
  });

  it("a write that does not fit compacts when that makes room, else throws and the old copy is already gone", () => {
    const { env, device: dev } = device();
    const S = env.Storage;
    for (let i = 0; i < 63; i++) S.write("f" + i, KIB4);
    S.erase("f0");
    S.erase("f1");
    expect(S.getFree()).toBe(2080);
    expect(S.write("g", KIB4)).toBe(true);
    expect(dev.logs()).toContain("Compacting...");
    expect(S.getFree()).toBe(6208);
    S.write("g2", KIB4);
    expect(() => S.write("f3", KIB4 + KIB4)).toThrow("Unable to find or create file");
    expect(S.read("f3")).toBeUndefined();
    expect(S.list()).not.toContain("f3");
  });

  it("refuses an empty file and cuts names to 28 characters, as the interpreter does", () => {
    const { env, device: dev } = device();
    const S = env.Storage;
    expect(() => S.write("e", "")).toThrow("Can't create zero length file");
    S.write("abcdefghijklmnopqrstuvwxyz0123456789", "1");
    S.write("abcdefghijklmnopqrstuvwxyz01-other", "2");
    expect(S.list()).toEqual(["abcdefghijklmnopqrstuvwxyz01"]);
    expect(S.read("abcdefghijklmnopqrstuvwxyz01")).toBe("2");
    expect(dev.logs().some((l) => l.includes("cut to 28"))).toBe(true);
  });

  it("stores binary strings byte for byte, and a Unicode string as its UTF-8 bytes", () => {
    const S = device().env.Storage;
    S.write("bin", all256());
    expect(S.read("bin")).toBe(all256());
    S.write("u", "\u00e9\u4e2d");
    expect(S.read("u")).toBe("\u00c3\u00a9\u00e4\u00b8\u00ad");
  });

  it("readJSON: undefined for a missing file; bad JSON is undefined with noExceptions, else throws", () => {
    const S = device().env.Storage;
    expect(S.readJSON("nope", true)).toBeUndefined();
    expect(S.readJSON("nope", false)).toBeUndefined();
    S.write("bad", "{x");
    expect(S.readJSON("bad", true)).toBeUndefined();
    expect(() => S.readJSON("bad", false)).toThrow(SyntaxError);
    S.write("std", JSON.stringify({ a: [1, { b: "c" }] }));
    expect(S.readJSON("std", true)).toEqual({ a: [1, { b: "c" }] });
  });

  it("writeJSON writes Espruino's JSON (bare keys, \\u00XX above 126) and readJSON reads it back", () => {
    const S = device().env.Storage;
    const v = { a: 1, "b c": ["x\"y", null], 2: true, u: undefined, e: "\u00e9", nested: { k: [0.5, -3] } };
    expect(S.writeJSON("j", v)).toBe(true);
    expect(S.read("j")).toBe("{2:true,a:1,\"b c\":[\"x\\\"y\",null],e:\"\\u00E9\",nested:{k:[0.5,-3]}}");
    expect(S.readJSON("j", true)).toEqual({ a: 1, "b c": ["x\"y", null], 2: true, e: "\u00e9", nested: { k: [0.5, -3] } });
  });

  it("persists across a reboot (a new env on the same directory), erased copies and free space included", () => {
    const dir = tempDir();
    const first = createEnv({ dir, seed: 1, media: false }).env.Storage;
    first.write("cfg", "{\"v\":1}");
    first.write("cfg", "{\"v\":2}");
    first.write("key", all256());
    first.erase("key");
    first.write("chain", "z");
    const stats = (first as unknown as { getStats(): unknown }).getStats();
    const again = createEnv({ dir, seed: 1, media: false }).env.Storage;
    expect(again.list()).toEqual(["cfg", "chain"]);
    expect(again.read("cfg")).toBe("{\"v\":2}");
    expect(again.getFree()).toBe(first.getFree());
    expect((again as unknown as { getStats(): unknown }).getStats()).toEqual(stats);
    expect(readdirSync(dir).sort()).toEqual(["espruino.flash", "sd"]); // no temporary file left behind
  });
});

describe("fs and E.openFile: the SD card", () => {
  it("writes, appends, reads in pieces, skips, and gives undefined at end of file", () => {
    const { env, device: dev } = device();
    const all = all256();
    let f = env.E.openFile("a.bin", "w")!;
    expect(f.write("hello")).toBe(5);
    expect(f.write(all)).toBe(256);
    f.close();
    f = env.E.openFile("a.bin", "a")!;
    f.write("tail");
    f.close();
    expect(readFileSync(join(dev.dir, "sd", "a.bin"))).toEqual(Buffer.concat([Buffer.from("hello"), Buffer.from(all, "latin1"), Buffer.from("tail")]));
    expect(env.fs!.statSync("a.bin")!.size).toBe(265);
    f = env.E.openFile("a.bin", "r")!;
    expect(f.read(3)).toBe("hel");
    f.skip(2);
    expect(f.read(256)).toBe(all);
    expect(f.read(100)).toBe("tail");
    expect(f.read(10)).toBeUndefined();
    expect(f.read(0)).toBeUndefined();
    f.close();
    expect(f.read(1)).toBeUndefined();
    expect(f.write("x")).toBe(0);
    f = env.E.openFile("a.bin", "w")!;
    f.write("Z");
    f.close();
    expect(env.fs!.readFileSync("a.bin")).toBe("Z");
  });

  it("fails like the interpreter: missing files throw, empty reads are undefined, unknown modes are undefined", () => {
    const { env } = device();
    const fs = env.fs!;
    expect(() => env.E.openFile("missing.bin", "r")).toThrow("Could not open file : UNKNOWN");
    expect(() => env.E.openFile("nodir/x.bin", "w")).toThrow("Could not open file : UNKNOWN");
    expect(env.E.openFile("x.bin", "x")).toBeUndefined();
    expect(() => fs.readFileSync("missing.bin")).toThrow("Could not open file : UNKNOWN");
    expect(() => fs.unlinkSync("missing.bin")).toThrow("Unable to delete file : UNKNOWN");
    expect(fs.statSync("missing.bin")).toBeUndefined();
    expect(fs.readdirSync("nodir")).toBeUndefined();
    expect(fs.writeFileSync("e.bin", "")).toBe(false);
    expect(fs.statSync("e.bin")!.size).toBe(0);
    expect(fs.readFileSync("e.bin")).toBeUndefined();
    expect(fs.writeFileSync("w.bin", "abc")).toBe(true);
    expect(fs.readdirSync(".")!.sort()).toEqual([".", "..", "e.bin", "w.bin"]);
    expect(fs.unlinkSync("w.bin")).toBe(true);
    expect(fs.statSync("w.bin")).toBeUndefined();
  });

  it("keeps the firmware on its card: absolute paths and .. are refused", () => {
    const { env } = device();
    expect(() => env.E.openFile("../espruino.flash", "r")).toThrow("outside the SD card");
    expect(() => env.fs!.readFileSync("/etc/passwd")).toThrow("outside the SD card");
  });

  it("a device without a card has no fs, and E.openFile fails", () => {
    const { env } = device({ noSd: true });
    expect(env.fs).toBeNull();
    expect(() => env.E.openFile("a.bin", "w")).toThrow("Could not open file");
  });
});

describe("durability faults", () => {
  it("tearNextWrite writes part of the bytes, then the device is dead; the torn file stays for the next boot", () => {
    const { env, device: dev } = device();
    const f = env.E.openFile("q.000", "a")!;
    f.write("A".repeat(100));
    f.close();
    dev.faults.tearNextWrite = 10;
    const g = env.E.openFile("q.000", "a")!;
    expect(() => g.write("B".repeat(50))).toThrow(PowerLoss);
    expect(dev.dead).toBe(true);
    expect(() => env.Storage.getFree()).toThrow(PowerLoss);
    expect(() => env.E.openFile("q.001", "w")).toThrow(PowerLoss);
    expect(() => g.close()).toThrow(PowerLoss);
    const reboot = createEnv({ dir: dev.dir, seed: 7, media: false }).env;
    expect(reboot.fs!.readFileSync("q.000")).toBe("A".repeat(100) + "B".repeat(10));
  });

  it("tearNextWrite on fs.writeFileSync leaves the first bytes (true: half of them)", () => {
    const { env, device: dev } = device({ faults: { tearNextWrite: true } });
    expect(() => env.fs!.writeFileSync("w.bin", "0123456789")).toThrow(PowerLoss);
    expect(readFileSync(join(dev.dir, "sd", "w.bin"), "latin1")).toBe("01234");
  });

  it("dropUnsynced: a power cut loses what was written to files not closed since; closed files survive", () => {
    const { env, device: dev } = device({ faults: { dropUnsynced: true } });
    const closed = env.E.openFile("closed.bin", "w")!;
    closed.write("kept");
    closed.close();
    const grown = env.E.openFile("grown.bin", "w")!;
    grown.write("before");
    grown.close();
    const open = env.E.openFile("grown.bin", "a")!;
    open.write("-lost");
    const fresh = env.E.openFile("fresh.bin", "w")!;
    fresh.write("lost too");
    env.fs!.writeFileSync("whole.bin", "returned, so durable");
    dev.powerCut();
    const sd = join(dev.dir, "sd");
    expect(readFileSync(join(sd, "closed.bin"), "latin1")).toBe("kept");
    expect(readFileSync(join(sd, "grown.bin"), "latin1")).toBe("before");
    expect(statSync(join(sd, "fresh.bin")).size).toBe(0);
    expect(readFileSync(join(sd, "whole.bin"), "latin1")).toBe("returned, so durable");
  });

  it("a torn write with dropUnsynced loses the whole unclosed file tail, torn bytes included", () => {
    const { env, device: dev } = device({ faults: { dropUnsynced: true } });
    const durable = env.E.openFile("q.000", "a")!;
    durable.write("durable;");
    durable.close();
    dev.faults.tearNextWrite = 3;
    const f = env.E.openFile("q.000", "a")!;
    expect(() => f.write("torn record")).toThrow(PowerLoss);
    expect(readFileSync(join(dev.dir, "sd", "q.000"), "latin1")).toBe("durable;");
  });

  it("kill() is a process death: the OS keeps unsynced writes even with dropUnsynced set", () => {
    const { env, device: dev } = device({ faults: { dropUnsynced: true } });
    const f = env.E.openFile("k.bin", "w")!;
    f.write("in the page cache");
    dev.kill();
    expect(dev.dead).toBe(true);
    expect(readFileSync(join(dev.dir, "sd", "k.bin"), "latin1")).toBe("in the page cache");
  });
});

describe("strict modules: what is not on Espruino fails loudly", () => {
  it("an unknown property of any module, file or socket throws naming it", () => {
    const { env } = device();
    const mods: [string, object][] = [["Storage", env.Storage], ["fs", env.fs!], ["E", env.E], ["crypto", env.crypto], ["net", env.net]];
    for (const [name, m] of mods) expect(() => (m as Record<string, unknown>).nope).toThrow("not on Espruino: " + name + ".nope");
    const f = env.E.openFile("a.bin", "w")!;
    expect(() => (f as unknown as Record<string, unknown>).truncate).toThrow("not on Espruino: File.truncate");
    f.close();
    const s = env.net.connect({ host: "127.0.0.1", port: 1 }, () => {});
    s.on("error", () => {});
    expect(() => (s as unknown as Record<string, unknown>).destroy).toThrow("not on Espruino: Socket.destroy");
    expect(() => (env.crypto as unknown as { createHash: unknown }).createHash).toThrow("not on Espruino: crypto.createHash");
  });

  it("what the interpreter has but the imitation lacks says so; what only other builds have reads undefined", () => {
    const { env } = device();
    expect(() => (env.Storage as unknown as { open: unknown }).open).toThrow("not implemented in the simulator: Storage.open");
    expect(() => (env.E as unknown as { getTemperature: unknown }).getTemperature).toThrow("not implemented in the simulator: E.getTemperature");
    const f = env.E.openFile("a.bin", "w")!;
    expect(() => (f as unknown as { seek: unknown }).seek).toThrow("not implemented in the simulator: File.seek");
    expect(() => (env.Storage.write as (...a: unknown[]) => boolean)("a", "b", 0, 10, 1)).toThrow("not implemented in the simulator: Storage.write with 5 arguments");
    expect((env.fs as unknown as { getFree: unknown }).getFree).toBeUndefined();
  });

  it("the probes JavaScript and tools make pass: then, toJSON, symbols, Object.prototype, await, printing", async () => {
    const { env } = device();
    const S = env.Storage as unknown as Record<string | symbol, unknown>;
    expect(S.then).toBeUndefined();
    expect(S[Symbol.toPrimitive]).toBeUndefined();
    expect(S[Symbol.iterator]).toBeUndefined();
    expect(typeof S.hasOwnProperty).toBe("function");
    expect(String(env.crypto)).toBe("[object Object]");
    expect(JSON.stringify(env.crypto)).toBe("{}");
    expect(await Promise.resolve(env.Storage)).toBe(env.Storage);
    expect("read" in env.Storage && !("nope" in env.Storage)).toBe(true);
    // vitest can print and diff it: the failure is the assertion, not a refused probe.
    expect(() => expect(env.net).toEqual({ a: 1 })).toThrow("expected { connect: [Function connect] } to deeply equal { a: 1 }");
  });

  it("returns plain Uint8Arrays with a buffer of their own, never Node Buffers", () => {
    const { env } = device();
    const u = env.E.toUint8Array("abc");
    expect(Buffer.isBuffer(u)).toBe(false);
    expect(u.buffer.byteLength).toBe(3);
  });
});

describe("net: real TCP through Espruino's socket API", () => {
  const echo = async () => {
    const conns: nodeNet.Socket[] = [];
    const events: string[] = [];
    const server = nodeNet.createServer((c) => {
      conns.push(c);
      c.on("data", (d) => c.write(d));
      c.on("error", (e: NodeJS.ErrnoException) => events.push("error " + e.code));
      c.on("close", () => events.push("close"));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as nodeNet.AddressInfo).port;
    return { port, conns, events, close: () => { for (const c of conns) c.destroy(); server.close(); } };
  };
  const collect = (s: ReturnType<ReturnType<typeof device>["env"]["net"]["connect"]>) => {
    const got = { data: [] as string[], events: [] as string[] };
    s.on("data", (d) => got.data.push(d));
    s.on("error", (e) => got.events.push("error " + (e as unknown as { code: number }).code));
    s.on("close", (h) => got.events.push("close " + h));
    return got;
  };
  const until = async (cond: () => boolean, ms = 5000) => {
    const t = Date.now();
    while (!cond()) { if (Date.now() - t > ms) throw new Error("timed out"); await sleep(5); }
  };

  it("carries all 256 byte values both ways as binary strings, in data events of at most 536 bytes", async () => {
    const srv = await echo();
    try {
      const { env } = device();
      const payload = all256().repeat(40); // 10,240 bytes
      let connected = false;
      const s = env.net.connect({ host: "127.0.0.1", port: srv.port }, () => { connected = true; });
      s.write(payload.slice(0, 100)); // before the connection is up: sent after it
      const got = collect(s);
      s.write(payload.slice(100));
      await until(() => got.data.join("").length >= payload.length);
      expect(connected).toBe(true);
      expect(got.data.join("")).toBe(payload);
      expect(Math.max(...got.data.map((d) => d.length))).toBeLessThanOrEqual(536);
      s.end();
      await until(() => got.events.length > 0);
      expect(got.events).toEqual(["close false"]);
    } finally {
      srv.close();
    }
  });

  it("a refused connection is an error event then close, as on a board", async () => {
    const srv = await echo();
    const port = srv.port;
    srv.close();
    await sleep(20);
    const { env } = device();
    const got = collect(env.net.connect({ host: "127.0.0.1", port }, () => {}));
    await until(() => got.events.length >= 2);
    expect(got.events).toEqual(["error -1", "close true"]);
  });

  it("partition holds traffic both ways without losing it; lifting it delivers in order", async () => {
    const srv = await echo();
    try {
      const { env, device: dev } = device();
      const s = env.net.connect({ host: "127.0.0.1", port: srv.port }, () => {});
      const got = collect(s);
      s.write("one;");
      await until(() => got.data.join("") === "one;");
      dev.net.partition(true);
      s.write("two;");
      s.write("three;");
      await sleep(100);
      expect(got.data.join("")).toBe("one;");
      dev.net.partition(false);
      await until(() => got.data.join("") === "one;two;three;");
      s.end();
    } finally {
      srv.close();
    }
  });

  it("delay(ms) adds one-way latency to each action and event", async () => {
    const srv = await echo();
    try {
      const { env, device: dev } = device();
      dev.net.delay(60);
      const t0 = Date.now();
      const s = env.net.connect({ host: "127.0.0.1", port: srv.port }, () => {});
      const got = collect(s);
      s.write("ping");
      await until(() => got.data.join("") === "ping");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(110); // out and back
      s.end();
    } finally {
      srv.close();
    }
  });

  it("dropAll resets every connection: error then close on the device, a reset at the peer", async () => {
    const srv = await echo();
    try {
      const { env, device: dev } = device();
      const got = collect(env.net.connect({ host: "127.0.0.1", port: srv.port }, () => {}));
      await until(() => srv.conns.length === 1);
      dev.net.dropAll();
      await until(() => got.events.length >= 2 && srv.events.includes("close"));
      expect(got.events).toEqual(["error -1", "close true"]);
      expect(srv.events[0]).toBe("error ECONNRESET");
      expect(dev.net.open).toBe(0);
    } finally {
      srv.close();
    }
  });

  it("a power cut closes the device's connections (silent: the peer hears nothing) and delivers no more events", async () => {
    const srv = await echo();
    try {
      const a = device();
      const gotA = collect(a.env.net.connect({ host: "127.0.0.1", port: srv.port }, () => {}));
      await until(() => srv.conns.length === 1);
      a.device.powerCut();
      await until(() => srv.events.includes("close"));
      const b = device();
      b.env.net.connect({ host: "127.0.0.1", port: srv.port }, () => {});
      await until(() => srv.conns.length === 2);
      b.device.powerCut({ silent: true });
      srv.conns[1].write("anyone there?");
      await sleep(100);
      expect(srv.events.filter((e) => e === "close")).toHaveLength(1);
      expect(gotA.events).toEqual([]);
      expect(() => a.env.net.connect({ host: "127.0.0.1", port: srv.port }, () => {})).toThrow(PowerLoss);
    } finally {
      srv.close();
    }
  });
});

describe("timers and clock", () => {
  it("follow Espruino's contract: ids from 1, clearTimeout(undefined) throws, clearTimeout() clears all", async () => {
    const { env, device: dev } = device();
    const fired: string[] = [];
    expect(env.setTimeout(() => fired.push("a"), 5)).toBe(1);
    const b = env.setTimeout(() => fired.push("b"), 5);
    expect(b).toBe(2);
    env.clearTimeout(b);
    env.clearTimeout(999);
    expect(() => env.clearTimeout(undefined)).toThrow("clearTimeout(undefined) not allowed");
    await sleep(30);
    expect(fired).toEqual(["a"]);
    env.setTimeout(() => fired.push("c"), 5);
    env.setTimeout(() => fired.push("d"), 5);
    (env.clearTimeout as () => void)();
    expect(dev.timers()).toBe(0);
    await sleep(30);
    expect(fired).toEqual(["a"]);
  });

  it("an exception in a callback is logged as Uncaught and collected; other devices and timers go on", async () => {
    const { env, device: dev } = device();
    let later = false;
    env.setTimeout(() => { throw new Error("firmware bug"); }, 1);
    env.setTimeout(() => { later = true; }, 10);
    await sleep(40);
    expect(later).toBe(true);
    expect(dev.errors).toHaveLength(1);
    expect(dev.logs().some((l) => l.startsWith("Uncaught Error: firmware bug"))).toBe(true);
  });

  it("a power cut clears every timer: none fires, and the dead device's APIs throw", async () => {
    const { env, device: dev } = device();
    let fired = 0;
    for (let i = 0; i < 20; i++) env.setTimeout(() => { fired++; }, 10 + i);
    expect(dev.timers()).toBe(20);
    dev.powerCut();
    expect(dev.timers()).toBe(0);
    await sleep(60);
    expect(fired).toBe(0);
    expect(() => env.getTime()).toThrow(PowerLoss);
    expect(() => env.setTimeout(() => {}, 1)).toThrow(PowerLoss);
  });

  it("getTime is seconds from a device clock that can be skewed, reset, set and made to drift", () => {
    let now = 1_000_000;
    const { env, device: dev } = device({ clock: { now: () => now, startMs: 0 } });
    expect(env.getTime()).toBe(0); // a board that boots in 1970
    now += 1500;
    expect(env.getTime()).toBe(1.5);
    dev.clock.skew(-500);
    expect(env.getTime()).toBe(1);
    env.setTime!(1_800_000_000);
    expect(env.getTime()).toBe(1_800_000_000);
    dev.clock.reset(0);
    expect(env.getTime()).toBe(0);
    dev.clock.drift(100); // 100 ppm fast
    now += 1_000_000;
    expect(dev.clock.nowMs()).toBeCloseTo(1_000_100, 6);
  });
});

describe("E, crypto and the board", () => {
  it("E.toString, E.toUint8Array and E.toArrayBuffer convert bytes and binary strings; Unicode goes as UTF-8", () => {
    const { env } = device();
    const bytes = new Uint8Array(256).map((_, i) => i);
    expect(env.E.toString(bytes)).toBe(all256());
    expect(env.E.toUint8Array(all256())).toEqual(bytes);
    expect(env.E.toString(bytes.subarray(65, 67))).toBe("AB");
    expect(Array.from(env.E.toUint8Array("\u4e2dA"))).toEqual([228, 184, 173, 65]);
    expect(new Uint8Array(env.E.toArrayBuffer(all256()))).toEqual(bytes);
    expect(env.E.toArrayBuffer(5 as unknown as string)).toBeUndefined();
  });

  it("E.hwRand is a signed 32-bit stream that repeats for a seed and differs between seeds", () => {
    const run = (seed: number) => { const { env } = device({ seed }); return Array.from({ length: 1000 }, () => env.E.hwRand()); };
    const a = run(1);
    expect(run(1)).toEqual(a);
    expect(run(2)).not.toEqual(a);
    expect(a.every((v) => Number.isInteger(v) && v >= -2147483648 && v <= 2147483647)).toBe(true);
    expect(a.some((v) => v < 0) && a.some((v) => v > 0)).toBe(true);
    expect(new Set(a).size).toBe(1000);
  });

  it("crypto.SHA256 gives an ArrayBuffer of 32 bytes equal to node:crypto's, for bytes, views and strings", () => {
    const { env } = device();
    const data = new Uint8Array(1000).map((_, i) => (i * 7) & 255);
    const want = createHash("sha256").update(data.subarray(10, 500)).digest();
    const got = env.crypto.SHA256(data.subarray(10, 500));
    expect(got).toBeInstanceOf(ArrayBuffer);
    expect(Buffer.from(got)).toEqual(want);
    expect(Buffer.from((env.crypto.SHA256 as unknown as (s: string) => ArrayBuffer)("abc")).toString("hex")).toBe(createHash("sha256").update("abc").digest("hex"));
  });

  it("buttons reach the watcher, the LED pattern is kept, the battery drains with time and recording", () => {
    let now = 0;
    const { env, device: dev } = device({ clock: { now: () => now }, media: { manual: true } });
    expect(dev.press("record")).toBe(false);
    const pressed: string[] = [];
    env.board.watchButtons!((b) => pressed.push(b));
    dev.press("record");
    dev.press("marker");
    expect(pressed).toEqual(["record", "marker"]);
    env.board.led!("boot");
    env.board.led!("idle");
    expect(dev.led).toBe("idle");
    expect(dev.ledHistory).toEqual(["boot", "idle"]);
    expect(env.board.battery!()).toEqual({ mv: 4200, pct: 100 });
    now += 2 * 3600000;
    expect(env.board.battery!().pct).toBe(97);
    env.board.media!.start(1600, () => {});
    now += 3600000;
    expect(env.board.battery!().pct).toBe(86); // 1.5 %/h idle + 10 %/h recording
    dev.battery.set(10);
    expect(env.board.battery!()).toEqual({ mv: 3390, pct: 10 });
  });
});

describe("media: the synthetic microphone", () => {
  const timers = () => ({ setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout), now: Date.now });

  it("gives the same bytes for the same seed, whatever the chunking, and other bytes for another seed", () => {
    const chunks: Uint8Array[] = [];
    const m = new SyntheticMedia({ seed: 3, manual: true }, timers());
    m.start(1001, (p, d) => { chunks.push(p); expect(d).toBe(62.5); }); // 1001 bytes: 500 samples
    for (let i = 0; i < 40; i++) m.tick();
    m.stop();
    expect(chunks.every((c) => c.length === 1000)).toBe(true);
    const joined = Buffer.concat(chunks);
    expect(joined).toEqual(Buffer.from(pcm(3, 0, 20000)));
    expect(Buffer.from(pcm(3, 0, 20000))).toEqual(Buffer.from(pcm(3, 0, 20000)));
    expect(Buffer.from(pcm(4, 0, 20000))).not.toEqual(joined);
    expect(m.tick()).toBe(false);
  });

  it("beeps at each second (1 kHz), longer every tenth second, and at 2 kHz on the minute, over a low noise floor", () => {
    const rms = (from: number, n: number) => { let s = 0; for (let i = from; i < from + n; i++) s += sampleAt(9, i) ** 2; return Math.sqrt(s / n); };
    expect(rms(100, 100)).toBeGreaterThan(4000); // minute beep, inside its first 400 ms
    expect(rms(8000 + 100, 100)).toBeGreaterThan(4000); // second 1
    expect(rms(8000 + 400, 1000)).toBeLessThan(40); // after the 40 ms beep: noise only
    expect(rms(80000 + 400, 700)).toBeGreaterThan(4000); // second 10: a 150 ms beep
    expect(rms(480000 + 2000, 1000)).toBeGreaterThan(4000); // the next minute: 400 ms
    // 2 kHz on the minute: half a period is 2 samples; 1 kHz otherwise: 4 samples.
    const corr = (from: number, n: number, lag: number) => {
      let xy = 0, xx = 0;
      for (let i = from; i < from + n; i++) { xy += sampleAt(9, i) * sampleAt(9, i + lag); xx += sampleAt(9, i) ** 2; }
      return xy / xx;
    };
    expect(corr(400, 800, 2)).toBeLessThan(-0.95);
    expect(corr(8000 + 20, 280, 4)).toBeLessThan(-0.95);
    expect(Math.abs(corr(8000 + 20, 280, 2))).toBeLessThan(0.1);
  });

  it("runs on the device's timers at `speed` times real time, and a power cut stops it", async () => {
    const { env, device: dev } = device({ media: { speed: 50 } });
    const got: Uint8Array[] = [];
    env.board.media!.start(1600, (p) => got.push(p)); // 100 ms of audio: every 2 ms at 50x
    await sleep(150);
    expect(got.length).toBeGreaterThan(10);
    expect(Buffer.concat(got)).toEqual(Buffer.from(pcm(7, 0, got.length * 800)));
    dev.powerCut();
    const n = got.length;
    await sleep(30);
    expect(got.length).toBe(n);
  });

  it("fileMedia plays a file from the card through E.openFile, chunk by chunk, looping at the end", () => {
    const { env, device: dev } = device();
    writeSyntheticPcm(join(dev.dir, "sd", "audio.pcm"), 5, 0.25); // 2,000 samples
    const m = fileMedia(env, "audio.pcm", { manual: true });
    expect(m.media).toBe(MEDIA_PCM_8K_S16LE);
    const got: [number, number][] = [];
    const bytes: Uint8Array[] = [];
    m.start(1501, (p, d) => { got.push([p.length, d]); bytes.push(p); });
    for (let i = 0; i < 4; i++) m.tick();
    expect(got).toEqual([[1500, 93.75], [1500, 93.75], [1000, 62.5], [1500, 93.75]]);
    expect(Buffer.concat(bytes.slice(0, 3))).toEqual(Buffer.from(pcm(5, 0, 2000)));
  });
});

describe("wav", () => {
  /** A RIFF reader written for this test, independent of wav.ts. */
  const parse = (b: Uint8Array) => {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const str = (o: number) => String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]);
    expect(str(0)).toBe("RIFF");
    expect(dv.getUint32(4, true)).toBe(b.length - 8);
    expect(str(8)).toBe("WAVE");
    const chunks: Record<string, [number, number]> = {};
    for (let o = 12; o + 8 <= b.length; ) {
      const size = dv.getUint32(o + 4, true);
      chunks[str(o)] = [o + 8, size];
      o += 8 + size + (size & 1);
    }
    const [f] = chunks["fmt "];
    return {
      format: dv.getUint16(f, true), channels: dv.getUint16(f + 2, true), rate: dv.getUint32(f + 4, true),
      byteRate: dv.getUint32(f + 8, true), blockAlign: dv.getUint16(f + 12, true), bits: dv.getUint16(f + 14, true),
      data: b.subarray(chunks.data[0], chunks.data[0] + chunks.data[1]),
    };
  };

  it("writes a valid 8 kHz 16-bit mono PCM WAV of the chunks, byte for byte", () => {
    const parts = [pcm(1, 0, 4000), pcm(1, 4000, 4000), pcm(1, 8000, 123)];
    const w = parse(wav(parts));
    expect(w).toMatchObject({ format: 1, channels: 1, rate: 8000, byteRate: 16000, blockAlign: 2, bits: 16 });
    expect(Buffer.from(w.data)).toEqual(Buffer.concat(parts));
    expect(() => wav([new Uint8Array(3)])).toThrow("whole number");
  });

  it("is read by an independent reader (Python's wave module) with the right length and samples", () => {
    const py = spawnSync("python3", ["-c", "import wave"], { encoding: "utf8" });
    if (py.status !== 0) { console.log("python3 with the wave module not found: independent WAV check skipped"); return; }
    const file = join(tempDir(), "t.wav");
    writeFileSync(file, wav([pcm(2, 0, 16000)]));
    const r = spawnSync("python3", ["-c", [
      "import wave, struct, sys",
      "w = wave.open(sys.argv[1], 'rb')",
      "print(w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())",
      "print(*struct.unpack('<4h', w.readframes(4)))",
    ].join("\n"), file], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    const [params, first] = r.stdout.trim().split("\n");
    expect(params).toBe("1 2 8000 16000");
    expect(first).toBe([0, 1, 2, 3].map((i) => sampleAt(2, i)).join(" "));
  });
});

// ---- The real interpreter: same script, same output; each side reads the other's flash. ----

/** The interpreter the comparison runs on: once per installed build (eachBuild below). */
let BIN = "";

/** Storage, fs, E and timers, the same calls on both sides; prints what a firmware could observe. */
const COMMON = String.raw`
var S = require("Storage");
var fs = require("fs");
function codes(s) { if (s === undefined) return "undefined"; var a = []; for (var i = 0; i < s.length; i++) a.push(s.charCodeAt(i)); return a.join(","); }
function attempt(label, fn) { try { print(label, fn()); } catch (e) { print(label, "threw", e.message); } }
var all = ""; for (var c = 0; c < 256; c++) all += String.fromCharCode(c);
var big = "d"; while (big.length < 4096) big += big; big = big.substr(0, 4096);
print("free0", S.getFree());
print("write", S.write("cfg", '{"a":1}'), S.getFree());
print("same", S.write("cfg", '{"a":1}'), S.getFree());
print("overwrite", S.write("cfg", '{"a":22}'), S.getFree());
print("one byte", S.write("k", "x"), S.getFree());
S.erase("k");
print("erase", S.getFree(), JSON.stringify(S.getStats()));
S.compact();
print("compact", S.getFree(), JSON.stringify(S.getStats()));
print("list", JSON.stringify(S.list()));
print("missing", S.read("nope") === undefined, S.readJSON("nope", true) === undefined, S.readJSON("nope") === undefined);
S.write("bad", "{x");
print("bad json", S.readJSON("bad", true) === undefined);
try { S.readJSON("bad"); print("bad json did not throw"); } catch (e) { print("bad json throws"); }
print("writeJSON", S.writeJSON("j", {a: 1, "b c": [1, "x"], n: null, u: undefined}), S.read("j"), JSON.stringify(S.readJSON("j")));
attempt("empty", function () { return S.write("z", ""); });
print("long name", S.write("abcdefghijklmnopqrstuvwxyz0123456789", "q"), JSON.stringify(S.list()));
print("unicode", S.write("u", "\u00e9\u4e2d"), codes(S.read("u")));
print("binary", S.write("bin", all), S.read("bin") === all);
print("parts: first", S.write("p~0", "abc", 0, 8), codes(S.read("p~0")), S.getFree());
print("parts: second", S.write("p~0", new Uint8Array([1, 2]), 3), codes(S.read("p~0", 2, 4)));
attempt("parts: rewrite", function () { return S.write("p~0", "z", 1); });
attempt("parts: past the end", function () { return S.write("p~0", "xyzw", 6); });
attempt("parts: no file", function () { return S.write("nofile", "x", 4); });
print("parts: fill", S.write("p~0", "end", 5), S.read("p~0"));
print("parts: again at 0 recreates", S.write("p~0", "Q", 0, 8), codes(S.read("p~0")));
var i = 0;
try { while (i < 100) { S.write("f" + i, big); i++; } } catch (e) { print("full after", i, e.message, S.getFree()); }
S.erase("f0"); S.erase("f1");
print("erased two", S.getFree());
print("compacts to fit", S.write("g", big), S.getFree());
attempt("overwrite too big", function () { return S.write("f3", big + big); });
print("old copy lost", S.read("f3") === undefined, S.getFree(), JSON.stringify(S.getStats()));
var f = E.openFile("a.bin", "w");
print("file write", f.write("hello"), f.write(all));
f.close();
f = E.openFile("a.bin", "a"); f.write("tail"); f.close();
print("stat", fs.statSync("a.bin").size, fs.statSync("a.bin").dir);
print("readFileSync", fs.readFileSync("a.bin") === "hello" + all + "tail");
f = E.openFile("a.bin", "r");
print("read 3", f.read(3)); f.skip(2); print("read 256", f.read(256) === all); print("rest", f.read(100));
print("eof", f.read(10) === undefined, f.read(0) === undefined); f.close();
print("closed", f.read(1) === undefined, f.write("x"));
f = E.openFile("a.bin", "r"); print("write on r", f.write("x")); f.skip(1000); print("skip past", f.read(1) === undefined); f.close();
f = E.openFile("u.bin", "w"); print("unicode file", f.write("\u00e9\u4e2d")); f.close(); print("unicode bytes", codes(fs.readFileSync("u.bin")));
attempt("open missing", function () { return E.openFile("missing.bin", "r"); });
attempt("open in missing dir", function () { return E.openFile("nodir/x.bin", "w"); });
print("bad mode", E.openFile("a.bin", "x") === undefined);
attempt("readFileSync missing", function () { return fs.readFileSync("missing.bin"); });
attempt("unlinkSync missing", function () { return fs.unlinkSync("missing.bin"); });
print("stat missing", fs.statSync("missing.bin") === undefined);
print("writeFileSync empty", fs.writeFileSync("e.bin", ""), fs.readFileSync("e.bin") === undefined, fs.statSync("e.bin").size);
print("writeFileSync", fs.writeFileSync("w.bin", all), fs.readFileSync("w.bin") === all);
print("unlink", fs.unlinkSync("w.bin"), fs.statSync("w.bin") === undefined);
print("readdir", fs.readdirSync("nodir") === undefined, fs.readdirSync(".").indexOf("a.bin") >= 0, fs.readdirSync(".").indexOf("..") >= 0);
print("toUint8Array", codes(E.toString(E.toUint8Array("\u4e2dA"))));
print("toString", codes(E.toString(new Uint8Array([65, 0, 200]))));
print("toArrayBuffer", codes(E.toString(new Uint8Array(E.toArrayBuffer("A\u00c8" + all.substr(250))))), E.toArrayBuffer(5) === undefined);
f = E.openFile("a.bin", "r"); f.skip(5); print("toArrayBuffer of a read", new Uint8Array(E.toArrayBuffer(f.read(256)))[255]); f.close();
print("sha256", new Uint8Array(require("crypto").SHA256("abc"))[0], new Uint8Array(require("crypto").SHA256(E.toUint8Array(all)))[31]);
var h = E.hwRand(); print("hwRand", typeof h, h === (h | 0));
attempt("clearTimeout(undefined)", function () { return clearTimeout(undefined); });
print("timer id", setTimeout(function () { print("timer fired"); }, 1));
`;

/** Runs COMMON on the imitation in `dir`, collecting print lines. */
const onImitation = async (code: string, dir: string): Promise<string[]> => {
  const { env } = createEnv({ dir, seed: 1, media: false });
  const lines: string[] = [];
  const print = (...a: unknown[]) => lines.push(a.map((x) => String(x)).join(" "));
  const modules: Record<string, unknown> = { Storage: env.Storage, fs: env.fs, crypto: env.crypto, net: env.net };
  new Function("require", "E", "print", "setTimeout", "clearTimeout", code)((m: string) => modules[m], env.E, print, env.setTimeout, env.clearTimeout);
  await sleep(20);
  return lines;
};

/** Runs a script on the interpreter with `dir` as its working directory (its flash and its card). */
const onInterpreter = (code: string, dir: string): string[] => {
  writeFileSync(join(dir, "run.js"), code);
  const r = spawnSync(BIN, ["run.js"], { cwd: dir, encoding: "utf8", timeout: 60000 });
  rmSync(join(dir, "run.js"));
  const out = (r.stdout || "").replace(/\r/g, "").replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
  const body = out.slice(out.indexOf("\n", out.indexOf("espruino.com/Donate")) + 1);
  return body.split("\n").map((l) => l.replace(/^>+/, "").trimEnd()).filter((l) => l !== "" && !l.startsWith("Compacting"));
};

eachBuild("imitation vs the real interpreter", (build) => {
  beforeAll(() => { BIN = build.bin; });
  it("the same Storage / fs / E script prints the same lines on both", async () => {
    const real = onInterpreter(COMMON, tempDir());
    const imitation = await onImitation(COMMON, join(tempDir(), "dev"));
    expect(real.length).toBeGreaterThan(40);
    expect(imitation).toEqual(real);
  });

  it("the interpreter reads a flash the imitation wrote, erased copies and free space included", () => {
    const dir = tempDir();
    const S = createEnv({ dir, seed: 1, media: false }).env.Storage;
    S.write("cfg", "{\"v\":1}");
    S.write("cfg", "{\"v\":22}");
    S.write("bin", all256());
    S.write("gone", "x");
    S.erase("gone");
    S.writeJSON("j", { a: [1, 2], "b-c": "\u00e9" });
    S.write("odd", "12345");
    const real = onInterpreter(String.raw`
var S = require("Storage");
print(JSON.stringify(S.list()), S.getFree(), JSON.stringify(S.getStats()));
var all = ""; for (var c = 0; c < 256; c++) all += String.fromCharCode(c);
print(S.read("cfg"), S.read("bin") === all, S.read("gone"), JSON.stringify(S.readJSON("j")), S.read("odd"));
S.write("added", "by the interpreter");
`, dir);
    const st = JSON.stringify((S as unknown as { getStats(): unknown }).getStats());
    expect(real).toEqual([JSON.stringify(S.list()) + " " + S.getFree() + " " + st, "{\"v\":22} true undefined {\"a\":[1,2],\"b-c\":\"\\u00E9\"} 12345"]);
    const after = createEnv({ dir, seed: 1, media: false }).env.Storage;
    expect(after.read("added")).toBe("by the interpreter");
    expect(after.getFree()).toBe(S.getFree() - 32 - 20);
  });

  it("the imitation reads a flash the interpreter wrote", () => {
    const dir = tempDir();
    const real = onInterpreter(String.raw`
var S = require("Storage");
var all = ""; for (var c = 0; c < 256; c++) all += String.fromCharCode(c);
S.write("cfg", "one"); S.write("cfg", "two"); S.write("bin", all); S.write("x", "1"); S.erase("x");
S.writeJSON("j", {k: [1, "\u00e9"]});
S.write("name28name28name28name28name", "long");
print(JSON.stringify(S.list()), S.getFree(), JSON.stringify(S.getStats()));
`, dir);
    expect(existsSync(join(dir, "espruino.flash"))).toBe(true);
    const S = createEnv({ dir, seed: 1, media: false }).env.Storage;
    expect(real).toEqual([JSON.stringify(S.list()) + " " + S.getFree() + " " + JSON.stringify((S as unknown as { getStats(): unknown }).getStats())]);
    expect(S.read("cfg")).toBe("two");
    expect(S.read("bin")).toBe(all256());
    expect(S.readJSON("j", true)).toEqual({ k: [1, "\u00e9"] });
    expect(S.read("name28name28name28name28name")).toBe("long");
  });
});
