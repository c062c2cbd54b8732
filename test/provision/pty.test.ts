// The provisioning tool end to end over a serial line: the real Espruino interpreter behind a
// pseudo-terminal (socat), a real test gateway with its admin token. Stand-ins that are not
// Espruino (a loopback, a silent line, noise) must be refused before anything is registered.
import { afterAll, beforeAll, expect, it } from "vitest";
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { testGateway, streamSealed } from "../gateway/harness.js";
import { FakeDevice } from "../gateway/fake-device.js";
import { provision, retire } from "../../provision/provision.js";
import type { Options } from "../../provision/provision.js";
import { ProvisionError } from "../../provision/errors.js";
import { BOOT_CODE, sha256Hex } from "../../provision/device.js";
import { checkConfig, checkKeys } from "../../protocol/device-files.js";
import { toHex } from "../../protocol/bytes.js";
import { DEVICE_TEST_MS, SKIP_REASON, refusingProxy, removeTempDirs, deviceFiles, espruinoOnPty, ptyRunning, readFlashOffline, script, tempDir, testBundle, useInterpreter } from "./devices.js";
import { eachBuild } from "../espruino/builds.js";
import type { TestDevice } from "./devices.js";

if (SKIP_REASON) console.log(`provisioning tests over a pty skipped: ${SKIP_REASON}`);

let g: Awaited<ReturnType<typeof testGateway>>;
let token: string;
let url: string;
/** A fresh gateway: each interpreter build's tests register the same ids. */
async function freshGateway(): Promise<void> {
  if (g) await g.close();
  g = await testGateway();
  token = readFileSync(g.gw.adminTokenFile!, "utf8").trim();
  url = `http://127.0.0.1:${g.gw.httpPort}`;
}
beforeAll(freshGateway);
afterAll(async () => {
  await g.close();
  removeTempDirs();
});

const opts = (dev: TestDevice, serial: string, over: Partial<Options> = {}): Options => ({
  port: dev.port, serial, gateway: url, token, broker: { host: "127.0.0.1", port: g.gw.mqttPort }, force: false,
  bundle: testBundle(dev.dir), chunk: 16384, pre: 5, baud: 115200, start: true, ...over,
});

/** "CODE: message" of a rejected promise (the message shows when a test fails on the code). */
const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof ProvisionError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "(no error)";
};

const rootEnc = async (id: string) => (await g.gw.db.get<{ root_enc: Buffer }>("SELECT root_enc FROM devices WHERE id = ?", [id]))?.root_enc.toString("hex");

/** The device's files match what the gateway holds for `id`: login, downlink and control keys, S_0. */
async function expectMatchesGateway(files: Record<string, string | null>, id: string): Promise<void> {
  const cfg = JSON.parse(String(files["rec.cfg"]));
  expect(checkConfig(cfg)).toBe("");
  expect(cfg).toMatchObject({ v: 1, id, host: "127.0.0.1", port: g.gw.mqttPort, chunk: 16384, pre: 5 });
  const d = (await g.gw.registry.get(id))!;
  expect(cfg.login).toBe(d.password);
  expect(cfg.dl).toBe(toHex(d.keys.downlinkKey));
  expect(cfg.ctl).toBe(toHex(d.keys.controlKey));
  const keys = JSON.parse(String(files["rec.key"]));
  expect(checkKeys(keys)).toBe("");
  expect(keys).toEqual({ v: 1, j: 0, s: toHex(d.keys.stateKey0), next: 1, ls: 0, lz: "", open: null });
  expect(files[".boot0"]).toBe(BOOT_CODE);
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

eachBuild("provisioning over a pty (real interpreter)", (build) => {
  beforeAll(async () => { useInterpreter(build.bin); await freshGateway(); });
  it("writes verified files whose keys are the gateway's, registers the chip serial, and the boot file runs the bundle at startup", async () => {
    const dev = await espruinoOnPty();
    try {
      const lines: string[] = [];
      const s = await provision(opts(dev, "BWC-P001"), (l) => lines.push(l));
      console.log(`provision over a pty: ${s.ms} ms in all; bundle ${s.bundleBytes} bytes in ${s.bundleMs} ms`);
      expect(s).toMatchObject({ serial: "BWC-P001", registered: "new", chipSerial: "00000000-addeadde-addeadde", board: "LINUX", started: true });
      expect(s.written).toEqual(["rec.js", "rec.cfg", "rec.key", ".boot0"]);
      expect(s.warnings).toEqual([]);
      expect(s.verified).toEqual(["rec.js (SHA-256)", "rec.cfg", "rec.key", ".boot0"]);
      expect(lines.some((l) => /^bundle rec\.js: \d+\/\d+ bytes \(100 %\)/.test(l))).toBe(true);
      const { list, files } = await deviceFiles(dev.port);
      expect(list.sort()).toEqual([".boot0", "rec.cfg", "rec.js", "rec.key"]);
      await expectMatchesGateway(files, "BWC-P001");
      const bundle = readFileSync(opts(dev, "x").bundle);
      expect(files["rec.js"]).toBe(`${bundle.length} bytes, SHA-256 ${sha256Hex(bundle)}`);
      // No key material in what the tool said.
      const cfg = JSON.parse(String(files["rec.cfg"]));
      for (const k of [cfg.login, cfg.dl, cfg.ctl, JSON.parse(String(files["rec.key"])).s]) expect(lines.join("\n")).not.toContain(k);
      const row = await g.gw.db.get<{ chip_serial: string; state: string }>("SELECT chip_serial, state FROM devices WHERE id = ?", ["BWC-P001"]);
      expect(row).toEqual({ chip_serial: "00000000-addeadde-addeadde", state: "provisioned" });
      expect((await g.gw.audit.list({ action: "device.add" })).some((a) => a.target === "BWC-P001")).toBe(true);
      // Power-on: a fresh interpreter in the device's directory runs .boot0, which runs rec.js.
      await dev.kill();
      const off = readFlashOffline(dev.dir, ["rec.cfg", "rec.key"]);
      expect(off.booted).toBe("booted BWC-P001\n");
      expect(off.files["rec.cfg"]).toBe(files["rec.cfg"]);
    } finally {
      await dev.kill();
    }
  });

  it("refuses a second provisioning without --force and changes nothing; --force re-keys both sides", async () => {
    const dev = await espruinoOnPty();
    try {
      await provision(opts(dev, "BWC-P002"));
      const before = await deviceFiles(dev.port);
      const enc = await rootEnc("BWC-P002");
      let msg = "";
      await provision(opts(dev, "BWC-P002")).catch((e: ProvisionError) => { msg = `${e.code}: ${e.message}`; });
      expect(msg).toMatch(/^PROVISION_ALREADY: .*serial BWC-P002/);
      // Under another id too: the device is what refuses.
      expect(await codeOf(provision(opts(dev, "BWC-P003")))).toMatch(/^PROVISION_ALREADY: /);
      expect(await deviceFiles(dev.port)).toEqual(before);
      expect(await rootEnc("BWC-P002")).toBe(enc);
      expect(await g.gw.registry.get("BWC-P003")).toBeUndefined();

      const s = await provision(opts(dev, "BWC-P002", { force: true, reason: "flash replaced" }));
      expect(s.registered).toBe("rekeyed");
      const after = await deviceFiles(dev.port);
      expect(JSON.parse(String(after.files["rec.cfg"])).login).not.toBe(JSON.parse(String(before.files["rec.cfg"])).login);
      expect(await rootEnc("BWC-P002")).not.toBe(enc);
      await expectMatchesGateway(after.files, "BWC-P002");
      const audit = (await g.gw.audit.list({ action: "device.rekey" })).find((a) => a.target === "BWC-P002");
      expect(audit).toMatchObject({ actor: "admin", reason: "flash replaced" });
    } finally {
      await dev.kill();
    }
  });

  it("an id the gateway already knows: refused without --force, before the device is written", async () => {
    await g.gw.registry.add("BWC-P004", { root: randomBytes(32) });
    const dev = await espruinoOnPty();
    try {
      expect(await codeOf(provision(opts(dev, "BWC-P004")))).toMatch(/^PROVISION_ID_TAKEN: /);
      expect((await deviceFiles(dev.port)).list).toEqual([]);
    } finally {
      await dev.kill();
    }
  });

  it("--force on an id with recordings is refused before the device is written (a new root would restart its chain)", async () => {
    const root = randomBytes(32);
    await g.gw.registry.add("BWC-P005", { root });
    const fake = new FakeDevice("BWC-P005", root);
    await fake.connect(g.gw.mqttPort);
    await fake.hello();
    await streamSealed(fake, fake.recording(1, [randomBytes(100)]));
    await fake.end();
    const enc = await rootEnc("BWC-P005");
    const dev = await espruinoOnPty();
    try {
      expect(await codeOf(provision(opts(dev, "BWC-P005", { force: true })))).toMatch(/^PROVISION_HAS_RECORDINGS: /);
      expect((await deviceFiles(dev.port)).list).toEqual([]);
      expect(await rootEnc("BWC-P005")).toBe(enc);
    } finally {
      await dev.kill();
    }
  });

  it.each([["a loopback (cat)", "/bin/cat", /only an echo/], ["a silent line", "/bin/sleep\\ 30", /nothing came back/]])("a device that does not answer, %s: PROVISION_NO_ANSWER, nothing registered", async (_name, program, why) => {
    const dev = await ptyRunning(program);
    try {
      const t = Date.now();
      let e: ProvisionError | undefined;
      await provision(opts(dev, "BWC-P006")).catch((x) => { e = x; });
      expect(e && e.code).toBe("PROVISION_NO_ANSWER");
      expect(e!.message).toMatch(why);
      expect(Date.now() - t).toBeLessThan(8000);
    } finally {
      await dev.kill();
    }
    expect(await g.gw.registry.get("BWC-P006")).toBeUndefined();
  });

  it("a line left half-sent by an interrupted run is cleared, and the interpreter survives two runs in a row", async () => {
    const dev = await espruinoOnPty();
    try {
      const { openLink } = await import("../../provision/repl.js");
      // What a run killed in the middle of an upload leaves: an open call, an open string.
      const link = await openLink(dev.port);
      await link.write('\x10(function(){return require("Storage").write("rec.js","abc');
      await link.close();
      const s = await provision(opts(dev, "BWC-P011"));
      expect(s.registered).toBe("new");
      // Right after, in under 5 s (the Linux build's Ctrl-C window): a second run still finds it.
      expect(await codeOf(provision(opts(dev, "BWC-P011")))).toMatch(/^PROVISION_ALREADY: /);
    } finally {
      await dev.kill();
    }
  });

  it("a device that answers garbage: PROVISION_GARBAGE, nothing registered", async () => {
    const dir = tempDir();
    const noise = script(dir, "noise.sh", `while :; do printf '\\376\\377 #%% AT+OK ~noise~\\r\\n'; sleep 0.2; done`);
    const dev = await ptyRunning(noise, dir);
    try {
      expect(await codeOf(provision(opts(dev, "BWC-P007")))).toMatch(/^PROVISION_GARBAGE: /);
    } finally {
      await dev.kill();
    }
    expect(await g.gw.registry.get("BWC-P007")).toBeUndefined();
  });

  it("gateway down, bad token, or a token that is not an admin's: refused, nothing left on the device", async () => {
    await g.gw.accounts.create("sup1", "supervisor");
    const sup = await g.gw.accounts.issueToken("sup1");
    const dev = await espruinoOnPty();
    try {
      expect(await codeOf(provision(opts(dev, "BWC-P008", { gateway: `http://127.0.0.1:${await closedPort()}` })))).toMatch(/^PROVISION_GATEWAY_DOWN: /);
      expect(await codeOf(provision(opts(dev, "BWC-P008", { token: "evr_wrong" })))).toMatch(/^PROVISION_GATEWAY_AUTH: /);
      expect(await codeOf(provision(opts(dev, "BWC-P008", { token: sup })))).toMatch(/^PROVISION_GATEWAY_AUTH: /);
      expect(await codeOf(provision(opts(dev, "BWC-P008", { unit: "No Such Unit" })))).toMatch(/^PROVISION_UNIT: /);
      expect((await deviceFiles(dev.port)).list).toEqual([]);
      expect(await g.gw.registry.get("BWC-P008")).toBeUndefined();
    } finally {
      await dev.kill();
    }
  });

  it("the gateway refuses the registration after the device was written: the device is put back (erased when new, its old files when re-keyed)", async () => {
    const proxy = await refusingProxy(url);
    const dev = await espruinoOnPty();
    try {
      let e: ProvisionError | undefined;
      await provision(opts(dev, "BWC-P009", { gateway: proxy.url })).catch((x) => { e = x; });
      expect(e && e.code).toBe("PROVISION_REGISTER");
      expect(e!.message).toMatch(/503 INTERNAL.*nothing of this run left on it/);
      expect((await deviceFiles(dev.port)).list).toEqual([]);
      expect(await g.gw.registry.get("BWC-P009")).toBeUndefined();

      // Provisioned for real, then a --force whose re-key is refused: the old config and keys
      // come back, and they still match the gateway's.
      await provision(opts(dev, "BWC-P009"));
      const before = await deviceFiles(dev.port);
      const enc = await rootEnc("BWC-P009");
      expect(await codeOf(provision(opts(dev, "BWC-P009", { gateway: proxy.url, force: true })))).toMatch(/^PROVISION_REGISTER: /);
      const after = await deviceFiles(dev.port);
      expect(after.files["rec.cfg"]).toBe(before.files["rec.cfg"]);
      expect(after.files["rec.key"]).toBe(before.files["rec.key"]);
      expect(after.files[".boot0"]).toBe(before.files[".boot0"]);
      expect(await rootEnc("BWC-P009")).toBe(enc);
      await expectMatchesGateway(after.files, "BWC-P009");
    } finally {
      await dev.kill();
      await proxy.close();
    }
  });

  it("--retire erases the recorder's files and retires the id; a device holding another serial is refused", async () => {
    const dev = await espruinoOnPty();
    try {
      await provision(opts(dev, "BWC-P010"));
      await g.gw.registry.add("BWC-P012", { root: randomBytes(32) });
      expect(await codeOf(retire(opts(dev, "BWC-P012")))).toMatch(/^PROVISION_WRONG_DEVICE: /);
      expect((await g.gw.registry.get("BWC-P012"))!.state).toBe("provisioned");
      expect((await deviceFiles(dev.port)).list.length).toBe(4);
      // An upload-queue file on the card (the interpreter's card is its working directory):
      // evidence the gateway has not acknowledged, so retiring is refused without --force.
      writeFileSync(join(dev.dir, "q0000001.000"), "QR");
      let e: ProvisionError | undefined;
      await retire(opts(dev, "BWC-P010")).catch((x) => { e = x; });
      expect(e && e.code).toBe("PROVISION_EVIDENCE");
      expect(e!.message).toMatch(/1 upload-queue files/);
      expect((await g.gw.registry.get("BWC-P010"))!.state).toBe("provisioned");
      unlinkSync(join(dev.dir, "q0000001.000"));
      const s = await retire(opts(dev, "BWC-P010", { reason: "end of service" }));
      expect(s).toMatchObject({ serial: "BWC-P010", gatewayState: "retired" });
      expect(s.erased.sort()).toEqual([".boot0", "rec.cfg", "rec.js", "rec.key"]);
      expect((await deviceFiles(dev.port)).list).toEqual([]);
      expect((await g.gw.registry.get("BWC-P010"))!.state).toBe("retired");
      expect((await g.gw.audit.list({ action: "device.state" })).find((a) => a.target === "BWC-P010")).toMatchObject({ reason: "end of service" });
      // The key material left the flash file too (compacted), not only the file table.
      await dev.kill();
      expect(readFileSync(`${dev.dir}/espruino.flash`, "latin1")).not.toContain('"login"');
    } finally {
      await dev.kill();
    }
  });
}, { timeout: DEVICE_TEST_MS });
