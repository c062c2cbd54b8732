// The provisioning tool over TCP: the real Espruino interpreter's telnet REPL (`--telnet`, port
// 2323, fixed: devices.ts takes a machine-wide lock, and the tests of this file run one after the
// other). Then the real firmware bundle: provisioned, it logs in to the gateway with the keys the
// tool wrote, and after a restart it boots from the boot file and logs in again.
import { afterAll, beforeAll, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { testGateway } from "../gateway/harness.js";
import { provision, retire } from "../../provision/provision.js";
import type { Options } from "../../provision/provision.js";
import { ProvisionError } from "../../provision/errors.js";
import { checkConfig } from "../../protocol/device-files.js";
import { DEVICE_TEST_MS, SKIP_REASON, removeTempDirs, deviceFiles, espruinoOnPty, espruinoOnTelnet, testBundle, useInterpreter } from "./devices.js";
import { eachBuild } from "../espruino/builds.js";
import type { TestDevice } from "./devices.js";

if (SKIP_REASON) console.log(`provisioning tests over TCP skipped: ${SKIP_REASON}`);
const FIRMWARE = fileURLToPath(new URL("../../dist/recorder.min.js", import.meta.url));
const NO_FIRMWARE = existsSync(FIRMWARE) ? "" : "no firmware bundle: run npm run build:firmware";
if (!SKIP_REASON && NO_FIRMWARE) console.log(`provisioning with the real firmware skipped: ${NO_FIRMWARE}`);

let g: Awaited<ReturnType<typeof testGateway>>;
let token: string;
/** A fresh gateway: each interpreter build's tests register the same ids. */
async function freshGateway(): Promise<void> {
  if (g) await g.close();
  g = await testGateway();
  token = readFileSync(g.gw.adminTokenFile!, "utf8").trim();
}
beforeAll(freshGateway);
afterAll(async () => {
  await g.close();
  removeTempDirs();
});

const opts = (dev: TestDevice, serial: string, over: Partial<Options> = {}): Options => ({
  port: dev.port, serial, gateway: `http://127.0.0.1:${g.gw.httpPort}`, token, broker: { host: "127.0.0.1", port: g.gw.mqttPort },
  force: false, bundle: testBundle(dev.dir), chunk: 8192, pre: 5, baud: 115200, start: true, ...over,
});

const until = async (what: string, ok: () => Promise<boolean>, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

eachBuild("provisioning over TCP (the interpreter's telnet REPL)", (build) => {
  beforeAll(async () => { useInterpreter(build.bin); await freshGateway(); });
  it("provisions, refuses a second run without --force, re-keys with --force, and retires", async () => {
    const dev = await espruinoOnTelnet();
    try {
      // A 64 KiB bundle, to measure the upload rate on this link.
      const s = await provision(opts(dev, "BWC-T001", { bundle: testBundle(dev.dir, 64 * 1024) }));
      console.log(`provision over TCP: ${s.ms} ms in all; bundle ${s.bundleBytes} bytes in ${s.bundleMs} ms (${(s.bundleBytes / 1024 / (s.bundleMs / 1000)).toFixed(1)} KiB/s)`);
      const first = await deviceFiles(dev.port);
      const cfg = JSON.parse(String(first.files["rec.cfg"]));
      expect(checkConfig(cfg)).toBe("");
      expect(cfg.login).toBe((await g.gw.registry.get("BWC-T001"))!.password);

      const refused = await provision(opts(dev, "BWC-T001")).catch((e: ProvisionError) => e);
      expect((refused as ProvisionError).code).toBe("PROVISION_ALREADY");
      expect(await deviceFiles(dev.port)).toEqual(first);

      expect((await provision(opts(dev, "BWC-T001", { force: true }))).registered).toBe("rekeyed");
      const cfg2 = JSON.parse(String((await deviceFiles(dev.port)).files["rec.cfg"]));
      expect(cfg2.login).not.toBe(cfg.login);
      expect(cfg2.login).toBe((await g.gw.registry.get("BWC-T001"))!.password);

      expect((await retire(opts(dev, "BWC-T001"))).gatewayState).toBe("retired");
      expect((await deviceFiles(dev.port)).list).toEqual([]);
      expect((await g.gw.registry.get("BWC-T001"))!.state).toBe("retired");
    } finally {
      await dev.kill();
    }
  });

  (NO_FIRMWARE ? it.skip : it)("the real firmware bundle: the recorder logs in with the provisioned keys, and after a restart boots from .boot0 and logs in again", async () => {
    const dev = await espruinoOnTelnet();
    let again: TestDevice | undefined;
    try {
      const s = await provision(opts(dev, "BWC-T002", { bundle: FIRMWARE }));
      console.log(`real firmware over TCP: ${s.bundleBytes} bytes in ${s.bundleMs} ms, ${s.ms} ms in all`);
      // Started by the tool (load()): Hello moves the device from provisioned to active.
      await until("the first Hello", async () => (await g.gw.registry.get("BWC-T002"))!.state === "active");
      const seen = async () => (await g.gw.db.get<{ last_seen: number }>("SELECT last_seen FROM devices WHERE id = 'BWC-T002'"))!.last_seen;
      const first = await seen();
      // Power-on: a new interpreter in the same directory (same flash) runs the boot file.
      await dev.kill();
      again = await espruinoOnPty(dev.dir);
      await until("a Hello after the restart", async () => (await seen()) > first);
    } finally {
      await dev.kill();
      if (again) await again.kill();
    }
  });

}, { timeout: DEVICE_TEST_MS });
