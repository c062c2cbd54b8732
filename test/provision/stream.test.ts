// Provisioning through a pty into a real interpreter, then that interpreter streams: the station
// starts a recording with a downlink Command, stops it with another, and the gateway verifies it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { testGateway } from "../gateway/harness.js";
import { provision } from "../../provision/provision.js";
import { CommandAction } from "../../protocol/schema.js";
import { DEVICE_TEST_MS, HAS_SOCAT, SKIP_REASON, espruinoOnPty, removeTempDirs, useInterpreter } from "./devices.js";
import { eachBuild } from "../espruino/builds.js";
import { tone } from "../firmware/lane.js";

const FIRMWARE = fileURLToPath(new URL("../../dist/recorder.min.js", import.meta.url));
const skip = SKIP_REASON || (!HAS_SOCAT ? "socat is not installed" : "") || (existsSync(FIRMWARE) ? "" : "no firmware bundle: run npm run build:firmware");
if (skip) console.log(`provision-then-stream test skipped: ${skip}`);

let g: Awaited<ReturnType<typeof testGateway>>;
beforeAll(async () => { g = await testGateway(); });
afterAll(async () => { await g.close(); removeTempDirs(); });

const until = async (what: string, ok: () => Promise<boolean>, ms = 30000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

(skip ? (t: string, fn: (b: { bin: string }) => void) => describe.skip(t, () => fn({ bin: "" })) : eachBuild)("provision over a pty, then stream", (build) => {
  // A fresh gateway: each interpreter build's tests register the same ids.
  beforeAll(async () => { useInterpreter(build.bin); await g.close(); g = await testGateway(); });
  it("the provisioned interpreter records on a Command and the gateway verifies the recording", async () => {
    const dev = await espruinoOnPty();
    try {
      writeFileSync(join(dev.dir, "media.raw"), tone(30)); // the interpreter's SD card is its directory
      const token = readFileSync(g.gw.adminTokenFile!, "utf8").trim();
      const s = await provision({
        port: dev.port, serial: "BWC-S001", gateway: `http://127.0.0.1:${g.gw.httpPort}`, token, broker: { host: "127.0.0.1", port: g.gw.mqttPort },
        force: false, bundle: FIRMWARE, chunk: 8192, pre: 0, baud: 115200, start: true, media: "file:media.raw:4",
      });
      expect(s.registered).toBe("new");
      await until("the device's Hello", async () => (await g.gw.registry.get("BWC-S001"))!.state === "active");
      await new Promise((r) => setTimeout(r, 1500)); // the device's Hello wait ends and it is ready
      expect(g.gw.ingest.control("BWC-S001", { command: { action: CommandAction.CMD_START, caseTag: "" } })).toBe(1);
      await until("chunks arriving", async () => ((await g.gw.db.get<{ n: number }>("SELECT linked_seq AS n FROM recordings WHERE device_id = 'BWC-S001'"))?.n || 0) >= 3);
      expect(g.gw.ingest.control("BWC-S001", { command: { action: CommandAction.CMD_STOP } })).toBe(1);
      await until("the recording verified", async () => (await g.gw.db.get<{ v: string }>("SELECT verdict AS v FROM recordings WHERE device_id = 'BWC-S001'"))?.v === "verified");
      const r = (await g.gw.db.get<{ n: number; i: number }>("SELECT linked_seq AS n, interrupted AS i FROM recordings WHERE device_id = 'BWC-S001'"))!;
      expect(r.n).toBeGreaterThanOrEqual(3);
      expect(r.i).toBe(0);
    } finally {
      await dev.kill();
    }
  }, DEVICE_TEST_MS);
});
