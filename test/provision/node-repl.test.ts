// Provisioning without hardware and without an Espruino interpreter: the node engine's REPL
// (simulator/imitation/repl.ts, run by simulator/device-repl.ts) behind a socat pty, provisioned by the
// real tool with the real firmware bundle, then recording on a gateway Command until the gateway
// verifies the recording: the flow of stream.test.ts, with the node engine in the interpreter's place.
// The first block checks the REPL's console behaviour in-process (no pty needed).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { testGateway } from "../gateway/harness.js";
import { provision } from "../../provision/provision.js";
import type { Options } from "../../provision/provision.js";
import { ProvisionError } from "../../provision/errors.js";
import { Repl, openLink } from "../../provision/repl.js";
import type { Link } from "../../provision/repl.js";
import { Device, sha256Hex } from "../../provision/device.js";
import { CommandAction } from "../../protocol/schema.js";
import { ensureBundle } from "../../firmware/build/build.js";
import { DeviceRepl, chipSerial } from "../../simulator/imitation/repl.js";
import { tone } from "../firmware/lane.js";
import { HAS_SOCAT, ptyRunning, removeTempDirs, script, tempDir } from "./devices.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
if (!HAS_SOCAT) console.log("node-engine REPL over a pty skipped: socat is not installed (apt-get install -y socat)");

afterAll(() => removeTempDirs());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A REPL in this process, and everything it printed so far (bytes as latin1). */
function localRepl(dir = tempDir("evrec-node-repl-")): { repl: DeviceRepl; out: () => string; take: () => string } {
  let buf = "";
  const repl = new DeviceRepl({ dir, seed: 1, write: (b) => { buf += b.toString("latin1"); } });
  repl.start();
  return { repl, out: () => buf, take: () => { const s = buf; buf = ""; return s; } };
}

describe("the node engine's REPL, in-process", () => {
  it("echoes, prints results, hides \\x10 lines, clears a line on Ctrl-C, and fails unknown names like Espruino", () => {
    const { repl, out, take } = localRepl();
    try {
      expect(out()).toContain("espruino.com/Donate");
      expect(out().endsWith("\r\n>")).toBe(true);
      take();
      repl.input("1+1\n");
      expect(take()).toBe("1+1\r\n=2\r\n>");
      repl.input("\x10 2+2\n");
      expect(take()).toBe("");
      repl.input('\x10print("a\\nb")\n');
      expect(take()).toBe("a\r\nb\r\n>");
      repl.input("nope\n");
      expect(take()).toBe('nope\r\nUncaught ReferenceError: "nope" is not defined\r\n    at REPL (:1:1)\r\n\r\n^\r\n>');
      repl.input("x=1\x03");
      expect(take()).toBe("x=1\x1b[D\x1b[D\x1b[D\r\x1b[J>");
      repl.input("[1,\r\n2]\r\n");
      expect(take()).toBe("[1,\r\n:2]\r\n=[ 1, 2 ]\r\n>");
      repl.input('require("Wifi")\n');
      expect(take()).toMatch(/^require\("Wifi"\)\r\nUncaught Error: Module "Wifi" not found\r\n/);
      // Answers stay 7-bit: JSON.stringify escapes what is above 0x7e, as Espruino's does.
      repl.input('\x10print(JSON.stringify("\\xe9"))\n');
      expect(take()).toBe('"\\u00E9"\r\n>');
      repl.input("\x10print(getSerial(), process.env.BOARD)\n");
      expect(take()).toBe(`${chipSerial(repl.device.dir)} NODE_ENGINE\r\n>`);
    } finally {
      repl.close();
    }
  });

  it("writes a Storage file in pieces, runs .boot0 after reset() (with the banner) and load() (without), keeps the flash across a power cycle", async () => {
    const dir = tempDir("evrec-node-repl-");
    const { repl, take } = localRepl(dir);
    try {
      take();
      const boot = 'print("boot0 ran " + require("Storage").read("f").length)';
      repl.input(`\x10require("Storage").write(".boot0",${JSON.stringify(boot.slice(0, 10))},0,${boot.length})\n`);
      repl.input(`\x10require("Storage").write(".boot0",${JSON.stringify(boot.slice(10))},10)\n`);
      repl.input('\x10require("Storage").write("f","abc",0,5)\n');
      repl.input('\x10print(JSON.stringify(require("Storage").read("f")))\n');
      expect(take()).toBe('"abc\\u00FF\\u00FF"\r\n>');
      repl.input("\x10reset()\n");
      const r = take();
      expect(r).toMatch(/^\r\x1b\[Jboot0 ran 5\r\n\r\n ____/);
      expect(r).toContain("espruino.com/Donate");
      repl.input("\x10load()\n");
      expect(take()).toBe("\r\x1b[Jboot0 ran 5\r\n>");
      // A timer's output clears the prompt first and puts it back.
      repl.input('\x10setTimeout(function(){print("tick")},10)\n');
      await sleep(50);
      expect(take()).toBe("\r\x1b[Jtick\r\n>");
    } finally {
      repl.close();
    }
    const again = localRepl(dir);
    try {
      expect(again.take()).toMatch(/^boot0 ran 5\r\n/);
    } finally {
      again.repl.close();
    }
  });

  it("the provisioning tool's driver clears a line an interrupted run left half-sent, then works", async () => {
    let listener: (d: string) => void = () => undefined;
    const repl = new DeviceRepl({ dir: tempDir("evrec-node-repl-"), seed: 1, write: (b) => listener(b.toString("latin1")) });
    // The driver's link, straight into the REPL: bytes as latin1, as a serial port gives them.
    const link: Link = {
      name: "in-process",
      write: async (d) => { setImmediate(() => repl.input(Buffer.from(d, "latin1"))); },
      onData: (cb) => { listener = cb; },
      close: async () => undefined,
    };
    repl.start();
    try {
      await link.write('\x10(function(){return require("Storage").write("rec.js","abc');
      const driver = new Repl(link);
      await driver.sync();
      const dev = new Device(driver);
      await dev.writeFile("rec.js", Buffer.from("x".repeat(5000)), undefined, 2048);
      expect(await dev.hashFile("rec.js")).toEqual({ length: 5000, sha256: sha256Hex(Buffer.from("x".repeat(5000))) });
      expect((await dev.info()).files).toEqual(["rec.js"]);
    } finally {
      repl.close();
    }
  });
});

/** A shell word. */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

(HAS_SOCAT ? describe : describe.skip)("provisioning a node-engine device over a pty (no interpreter)", () => {
  let g: Awaited<ReturnType<typeof testGateway>>;
  let firmware = "";
  beforeAll(async () => {
    firmware = await ensureBundle();
    g = await testGateway();
  }, 60000);
  afterAll(async () => { if (g) await g.close(); });

  const until = async (what: string, ok: () => Promise<boolean>, ms = 20000): Promise<void> => {
    const end = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  };

  it("the tool provisions it with the real bundle; it records on a Command, the gateway verifies the recording; a second run is refused", async () => {
    const dir = tempDir("evrec-node-repl-");
    // The node engine's SD card is <dir>/sd: the file the firmware's "microphone" plays.
    mkdirSync(join(dir, "sd"), { recursive: true });
    writeFileSync(join(dir, "sd", "media.raw"), tone(30));
    // Through a script, so that socat's EXEC gets one word (paths may hold spaces) and `--import tsx`
    // resolves from the repository.
    const program = script(dir, "device.sh", `cd ${sq(ROOT)} && exec ${sq(process.execPath)} --import tsx simulator/device-repl.ts --dir ${sq(dir)} --seed 7`);
    const t0 = Date.now();
    const dev = await ptyRunning(program, dir);
    try {
      // Ready when the REPL answers (node and tsx take a moment to start).
      const probe = new Repl(await openLink(dev.port));
      try { await probe.sync(5000); } finally { await probe.close(); }
      const ready = Date.now() - t0;

      const token = readFileSync(g.gw.adminTokenFile!, "utf8").trim();
      const opts: Options = {
        port: dev.port, serial: "BWC-N001", gateway: `http://127.0.0.1:${g.gw.httpPort}`, token, broker: { host: "127.0.0.1", port: g.gw.mqttPort },
        force: false, bundle: firmware, chunk: 8192, pre: 0, baud: 115200, start: true, media: "file:media.raw:4",
      };
      const lines: string[] = [];
      const s = await provision(opts, (l) => lines.push(l));
      console.log(`node-engine REPL over a pty: ready in ${ready} ms; provisioned in ${s.ms} ms; bundle ${s.bundleBytes} bytes in ${s.bundleMs} ms (${Math.round(s.bundleBytes / 1.024 / Math.max(1, s.bundleMs))} KiB/s)`);
      expect(s).toMatchObject({ serial: "BWC-N001", registered: "new", board: "NODE_ENGINE", chipSerial: chipSerial(dir), started: true, warnings: [] });
      expect(s.written).toEqual(["rec.js", "rec.cfg", "rec.key", ".boot0"]);
      expect(s.verified).toEqual(["rec.js (SHA-256)", "rec.cfg", "rec.key", ".boot0"]);
      expect(lines.some((l) => /^bundle rec\.js: \d+\/\d+ bytes \(100 %\)/.test(l))).toBe(true);
      expect(await g.gw.db.get("SELECT chip_serial FROM devices WHERE id = 'BWC-N001'")).toEqual({ chip_serial: chipSerial(dir) });

      // load() ran .boot0, which ran the bundle: the recorder logs in.
      await until("the device's Hello", async () => (await g.gw.registry.get("BWC-N001"))!.state === "active");
      await sleep(1500); // the device's Hello wait ends and it is ready
      expect(g.gw.ingest.control("BWC-N001", { command: { action: CommandAction.CMD_START, caseTag: "" } })).toBe(1);
      await until("chunks arriving", async () => ((await g.gw.db.get<{ n: number }>("SELECT linked_seq AS n FROM recordings WHERE device_id = 'BWC-N001'"))?.n || 0) >= 3);
      expect(g.gw.ingest.control("BWC-N001", { command: { action: CommandAction.CMD_STOP } })).toBe(1);
      await until("the recording verified", async () => (await g.gw.db.get<{ v: string }>("SELECT verdict AS v FROM recordings WHERE device_id = 'BWC-N001'"))?.v === "verified");
      const r = (await g.gw.db.get<{ n: number; i: number }>("SELECT linked_seq AS n, interrupted AS i FROM recordings WHERE device_id = 'BWC-N001'"))!;
      expect(r.n).toBeGreaterThanOrEqual(3);
      expect(r.i).toBe(0);

      // Provisioned already: refused without --force, with the firmware running, nothing changed.
      const enc = (await g.gw.db.get<{ root_enc: Buffer }>("SELECT root_enc FROM devices WHERE id = 'BWC-N001'"))!.root_enc.toString("hex");
      let refused = "";
      await provision(opts).catch((e: unknown) => { refused = e instanceof ProvisionError ? `${e.code}: ${e.message}` : String(e); });
      expect(refused).toMatch(/^PROVISION_ALREADY: .*serial BWC-N001/);
      expect((await g.gw.db.get<{ root_enc: Buffer }>("SELECT root_enc FROM devices WHERE id = 'BWC-N001'"))!.root_enc.toString("hex")).toBe(enc);
      expect((await g.gw.registry.get("BWC-N001"))!.state).toBe("active");
    } finally {
      await dev.kill();
    }
  }, 60000);
});
