// The optional TLS listener: with no certificate given, a self-signed one is generated once
// (key mode 0600) and a device that trusts it streams a verified recording over TLS.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { execFileSync } from "node:child_process";
import { startGateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { FakeDevice } from "./fake-device.js";

const dir = mkdtempSync(join(tmpdir(), "evrec-tls-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hasOpenssl = (() => { try { execFileSync("openssl", ["version"]); return true; } catch { return false; } })();
const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});

describe.skipIf(!hasOpenssl)("MQTT over TLS", () => {
  it("serves devices over TLS with a generated certificate they can verify", async () => {
    const gw = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, tlsPort: await freePort(), dataDir: dir, diskMinFreeMb: 1, beaconIntervalS: 0 }, createLogger("silent"));
    try {
      expect(statSync(join(dir, "tls", "gateway.key")).mode & 0o777).toBe(0o600);
      const root = randomBytes(32);
      await gw.registry.add("BWC-0901", { root });
      const d = new FakeDevice("BWC-0901", root);
      await d.connect(gw.broker.tlsPort, undefined, { ca: readFileSync(join(dir, "tls", "gateway.crt")) });
      await d.hello();
      const rec = d.recording(1, [randomBytes(4096)]);
      await d.publish(rec.start);
      await d.publish(rec.chunks[0]);
      await d.publish(rec.seal);
      const ack = await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { state: number }).state === 1);
      expect(ack.ok).toBe("");
      await d.end();
    } finally {
      await gw.close();
    }
  });
});
