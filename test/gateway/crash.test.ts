// Crash safety with a real kill -9 of the gateway process while chunks are in flight: nothing
// it acknowledged is lost, the media file holds no uncommitted tail, and the recording
// completes verified after the restart (P4).
import { afterAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { openStore } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { FakeDevice } from "./fake-device.js";

const dir = mkdtempSync(join(tmpdir(), "evrec-crash-"));
let child: ChildProcess | null = null;
afterAll(() => {
  if (child) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});

function launch(port: number): Promise<ChildProcess> {
  const c = spawn(process.execPath, ["--import", "tsx", "gateway/main.ts", "--host", "127.0.0.1", "--mqtt-port", String(port), "--http-port", "0", "--data-dir", dir, "--disk-min-free-mb", "1", "--log-level", "warn"], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    c.stdout!.on("data", (b) => { if (String(b).includes("gateway: MQTT on")) resolve(c); });
    c.once("exit", (code) => reject(new Error("gateway exited early: " + code)));
  });
}

const ackedUpTo = (d: FakeDevice, r: number) => Math.max(0, ...d.received.filter((m) => m.kind === "ack" && m.ok === "").map((m) => (m.body.ack as { recording: number; cumulative: number }).recording === r ? (m.body.ack as { cumulative: number }).cumulative : 0));

describe("gateway killed with SIGKILL mid-upload", () => {
  it("keeps every acknowledged chunk and finishes the recording verified after restart", async () => {
    const port = await freePort();
    const root = randomBytes(32);
    {
      const store = await openStore({ ...DEFAULTS, dataDir: dir });
      await store.registry.add("BWC-0301", { root });
      await store.db.close();
    }
    child = await launch(port);
    const d = new FakeDevice("BWC-0301", root);
    const payloads = Array.from({ length: 40 }, () => randomBytes(8192));
    const rec = d.recording(1, payloads);
    await d.connect(port);
    await d.hello();
    await d.publish(rec.start);
    // Publish without waiting for Acks, and kill the gateway while they are being committed.
    for (const c of rec.chunks.slice(0, 30)) void d.publish(c).catch(() => undefined);
    await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { cumulative: number }).cumulative >= 5, 10000);
    child.kill("SIGKILL");
    await new Promise((r) => child!.once("exit", r));
    const ackedBefore = ackedUpTo(d, 1);
    d.client.end(true);
    expect(ackedBefore).toBeGreaterThanOrEqual(5);

    child = await launch(port);
    d.received = [];
    await d.connect(port);
    await d.hello([{ recording: 1, firstSeq: 1, lastSeq: 40, sealed: true, open: false }]);
    const resumed = await d.waitFor((m) => m.kind === "ack");
    const stored = (resumed.body.ack as { cumulative: number }).cumulative;
    // Nothing the gateway acknowledged before the kill is missing after it.
    expect(stored).toBeGreaterThanOrEqual(ackedBefore);
    const mediaFile = join(dir, "media", "BWC-0301", "000001.media");
    expect(statSync(mediaFile).size).toBe(stored * 8192);
    // The device resends what the Ack does not cover, then seals.
    for (const c of rec.chunks.slice(stored)) await d.publish(c);
    await d.publish(rec.seal);
    await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { state: number; cumulative: number }).state === 1 && (m.body.ack as { cumulative: number }).cumulative === 40, 10000);
    expect(readFileSync(mediaFile).equals(Buffer.concat(payloads))).toBe(true);
    await d.end();
    child.kill("SIGTERM");
    await new Promise((r) => child!.once("exit", r));
    child = null;
    const store = await openStore({ ...DEFAULTS, dataDir: dir });
    const row = await store.db.get<{ verdict: string }>("SELECT verdict FROM recordings WHERE device_id = 'BWC-0301'");
    await store.db.close();
    expect(row!.verdict).toBe("verified");
  });
});
