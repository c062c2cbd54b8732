// Attacks over MQTT (issue: gateway, "Attacks"): each is refused or flagged with its reason
// code, nothing from it is stored as verified, and an honest device streaming at the same time
// is served throughout.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { Gateway } from "../../gateway/gateway.js";
import type { FakeDevice } from "./fake-device.js";
import { provision, streamSealed, testGateway } from "./harness.js";
import { decode, encode } from "../../protocol/codec.js";

let gw: Gateway;
let close: () => Promise<void>;
let honest: FakeDevice;
let honestDone: Promise<void>;
beforeAll(async () => {
  ({ gw, close } = await testGateway({ ratePerSecond: 50, rateBurst: 100 }));
  honest = await provision(gw, "HONEST-1");
  // The honest device streams slowly through every attack below.
  const rec = honest.recording(1, Array.from({ length: 30 }, () => randomBytes(4096)));
  honestDone = (async () => {
    await honest.publish(rec.start);
    for (const c of rec.chunks) {
      await honest.publish(c);
      await new Promise((r) => setTimeout(r, 40));
    }
    await honest.publish(rec.seal);
    await honest.waitFor((m) => m.kind === "ack" && (m.body.ack as { state: number; cumulative: number }).state === 1 && (m.body.ack as { cumulative: number }).cumulative === 30, 20000);
  })();
});
afterAll(async () => {
  await honest.end().catch(() => undefined);
  await close();
});

const attacker = (id: string) => provision(gw, id);
const verdict = async (id: string, r = 1) => (await gw.db.get<{ verdict: string; reasons: string }>("SELECT verdict, reasons FROM recordings WHERE device_id = ? AND recording_id = ?", [id, r]))!;
const settle = () => new Promise((r) => setTimeout(r, 300));

describe("attacks over MQTT while an honest device streams", () => {
  it("refuses a subscription to another device's downlink", async () => {
    const a = await attacker("ATT-SUB");
    const granted = await a.client.subscribeAsync("rec/HONEST-1/down", { qos: 1 }).catch(() => [{ qos: 128 }]);
    expect(granted[0].qos).toBe(128);
    expect(gw.broker.refusals.counts.ACL_TOPIC).toBeGreaterThanOrEqual(1);
    a.client.end(true);
  });

  it("refuses a chunk with a forged tag as forged, keeps it as evidence, acknowledges nothing of it, fails nothing", async () => {
    const a = await attacker("ATT-TAG");
    const rec = a.recording(1, [randomBytes(1000), randomBytes(1000)]);
    await a.publish(rec.start);
    await a.publish(rec.chunks[0]);
    const forged = Uint8Array.from(rec.chunks[1]);
    forged[forged.length - 1] ^= 0xff; // last byte of the tag
    await a.publish(forged);
    await settle();
    const v = await verdict("ATT-TAG");
    expect(v.verdict).toBe("incomplete");
    expect(v.reasons).not.toContain("TAG");
    expect((await gw.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM evidence WHERE device_id = 'ATT-TAG' AND reason = 'FORGED:TAG'"))!.n).toBe(1);
    expect(a.received.some((m) => m.kind === "ack" && (m.body.ack as { cumulative: number }).cumulative >= 2)).toBe(false);
    await a.end();
  });

  it("a forged re-seal of a sealed recording is evidence: the stored genuine seal stays, nothing is acknowledged", async () => {
    const a = await attacker("ATT-SEAL");
    const rec = a.recording(1, [randomBytes(500), randomBytes(500)]);
    await streamSealed(a, rec);
    const before = (await gw.db.get<{ b: Buffer; t: Buffer }>("SELECT seal_block AS b, seal_tag AS t FROM recordings WHERE device_id = 'ATT-SEAL'"))!;
    const forged = encode("Uplink", { schema: 1, seal: { ...(decode("Uplink", rec.seal).seal as object), tag: new Uint8Array(randomBytes(32)) } });
    const acks = a.received.length;
    await a.publish(forged);
    await settle();
    const after = (await gw.db.get<{ b: Buffer; t: Buffer }>("SELECT seal_block AS b, seal_tag AS t FROM recordings WHERE device_id = 'ATT-SEAL'"))!;
    expect(Buffer.compare(after.b, before.b)).toBe(0);
    expect(Buffer.compare(after.t, before.t)).toBe(0);
    expect((await gw.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM evidence WHERE device_id = 'ATT-SEAL' AND reason LIKE '%SEAL_TAG%'"))!.n).toBe(1);
    expect(a.received.slice(acks).some((m) => m.kind === "ack")).toBe(false);
    await a.end();
  });

  it("re-acknowledges a replayed old chunk without storing it twice, and flags equivocation", async () => {
    const a = await attacker("ATT-EQ");
    const rec = a.recording(1, [randomBytes(1000), randomBytes(1000)]);
    await a.publish(rec.start);
    for (const c of rec.chunks) await a.publish(c);
    await a.waitFor((m) => m.kind === "ack" && (m.body.ack as { cumulative: number }).cumulative === 2);
    await a.publish(rec.chunks[0]); // replay
    await settle();
    expect((await gw.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM chunks WHERE device_id = 'ATT-EQ'"))!.n).toBe(2);
    expect((await verdict("ATT-EQ")).verdict).not.toBe("failed");
    const other = a.recording(1, [randomBytes(1000), randomBytes(1000)]); // same keys, other payloads: a second chunk 1
    await a.publish(other.chunks[0]);
    await settle();
    const v = await verdict("ATT-EQ");
    expect(v.verdict).toBe("failed");
    expect(v.reasons).toContain("EQUIVOCATION");
    expect((await gw.alarms.list({ open: true })).some((x) => x.kind === "EQUIVOCATION" && x.subject === "ATT-EQ/1")).toBe(true);
    await a.end();
  });

  it("holds reordered chunks until their predecessor arrives, and leaves a dropped one as a gap", async () => {
    const a = await attacker("ATT-ORDER");
    const rec = a.recording(1, [randomBytes(500), randomBytes(500), randomBytes(500), randomBytes(500)]);
    await a.publish(rec.start);
    await a.publish(rec.chunks[2]);
    await a.publish(rec.chunks[0]);
    await a.publish(rec.chunks[1]);
    await a.publish(rec.seal); // chunk 4 dropped
    await a.waitFor((m) => m.kind === "ack" && (m.body.ack as { cumulative: number }).cumulative === 3);
    await settle();
    const v = await verdict("ATT-ORDER");
    expect(v.verdict).toBe("incomplete");
    expect(v.reasons).toContain("GAP");
    expect(a.received.some((m) => m.kind === "ack" && (m.body.ack as { cumulative: number }).cumulative === 4)).toBe(false);
    await a.end();
  });

  it("cuts off a flood with RATE_LIMITED", async () => {
    const a = await attacker("ATT-FLOOD");
    const closed = new Promise<void>((r) => a.client.once("close", () => r()));
    for (let i = 0; i < 300; i++) void a.publish(new Uint8Array([8, 1])).catch(() => undefined);
    await closed;
    expect(gw.broker.refusals.counts.RATE_LIMITED).toBeGreaterThanOrEqual(1);
    a.client.end(true);
  });

  it("served the honest device throughout: its recording is complete and verified", async () => {
    await honestDone;
    expect((await verdict("HONEST-1")).verdict).toBe("verified");
  });
});
