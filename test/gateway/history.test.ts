// What the gateway learns from a device's Hello about its history (R-VER-9), and lost devices.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../helpers/wait.js";
import { randomBytes } from "node:crypto";
import type { Gateway } from "../../gateway/gateway.js";
import { encode } from "../../protocol/codec.js";
import { tagControl } from "../../protocol/downlink.js";
import { CONTROL_HELLO } from "../../protocol/constants.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { alarmText } from "../../protocol/alarm-details.js";
import type { FakeDevice } from "./fake-device.js";
import { provision, streamSealed, testGateway } from "./harness.js";

let gw: Gateway;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ gw, close } = await testGateway());
});
afterAll(() => close());

const device = (id: string) => provision(gw, id, { connect: false }).then(async (d) => {
  await d.connect(gw.mqttPort);
  return d;
});

/** A Hello that claims a last sealed recording, as a device whose storage was tampered with might. */
async function helloClaiming(d: FakeDevice, lastSealed: number, lastSealValue: Uint8Array, held: object[] = []) {
  const nonce = randomBytes(16);
  d.guard.open(nonce);
  const body = encode("Hello", { nonce, held, lastSealed, lastSealValue, firmware: "test" });
  // The beacon that answers this Hello, not one that answered an earlier Hello.
  const before = d.received.length;
  await d.publish(encode("Uplink", { schema: 1, hello: { body, tag: tagControl(sha, d.keys.controlKey, CONTROL_HELLO, d.dev, body) } }));
  await d.waitFor((m) => m.kind === "beacon" && d.received.indexOf(m) >= before);
}

describe("device history from Hello", () => {
  it("raises RECORDING_MISSING for recordings sealed on the device, no longer held, never received", async () => {
    const d = await device("BWC-0801");
    await d.hello();
    const r1 = d.recording(1, [randomBytes(500)]);
    await streamSealed(d, r1);
    await d.end();
    await d.connect(gw.mqttPort);
    await helloClaiming(d, 3, randomBytes(32), [{ recording: 3, firstSeq: 1, lastSeq: 2, sealed: true, open: false }]);
    const open = await gw.alarms.list({ open: true });
    const missing = open.find((a) => a.kind === "RECORDING_MISSING" && a.subject === "BWC-0801");
    expect(missing && missing.detail).toContain("recordings 2 ");
    // Said in Chinese too, by the CLI and the console.
    expect(alarmText(missing!.said!, "zh")).toBe("记录 2 从未收到，设备上也已不再保存");
    await d.end();
  });

  it("raises EQUIVOCATION when the device's last seal value is not the stored one", async () => {
    const d = await device("BWC-0802");
    await d.hello();
    const r1 = d.recording(1, [randomBytes(500)]);
    await streamSealed(d, r1);
    await helloClaiming(d, 1, r1.sealValue);
    expect((await gw.alarms.list({ open: true })).some((a) => a.subject === "BWC-0802/1")).toBe(false);
    await helloClaiming(d, 1, randomBytes(32));
    expect((await gw.alarms.list({ open: true })).some((a) => a.kind === "EQUIVOCATION" && a.subject === "BWC-0802/1")).toBe(true);
    await d.end();
  });

  it("admits a device marked lost and flags what it uploads", async () => {
    const d = await device("BWC-0803");
    await gw.registry.setState("BWC-0803", "lost");
    await d.hello();
    const r1 = d.recording(1, [randomBytes(500)]);
    await streamSealed(d, r1);
    const row = await gw.db.get<{ verdict: string; device_lost: number }>("SELECT verdict, device_lost FROM recordings WHERE device_id = 'BWC-0803'");
    expect(row).toEqual({ verdict: "verified", device_lost: 1 });
    await d.end();
  });
});

describe("an incomplete recording the device no longer holds", () => {
  it("becomes final, with the reason naming the loss", async () => {
    const d = await device("BWC-0804");
    await d.hello();
    const rec = d.recording(1, [randomBytes(500), randomBytes(500), randomBytes(500)]);
    await d.publish(rec.start);
    await d.publish(rec.chunks[0]);
    await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { cumulative: number }).cumulative === 1);
    expect(await gw.db.get("SELECT verdict, final FROM recordings WHERE device_id = 'BWC-0804'")).toEqual({ verdict: "incomplete", final: 0 });
    // Reconnect: the device holds nothing of recording 1 any more (its flash was wiped).
    await d.end();
    await d.connect(gw.mqttPort);
    await d.hello([]);
    await d.waitFor((m) => m.kind === "beacon");
    await until("recording 1 judged final", async () => (await gw.db.get<{ final: number }>("SELECT final FROM recordings WHERE device_id = 'BWC-0804'"))!.final === 1, 5000);
    const row = await gw.db.get<{ verdict: string; final: number; reasons: string }>("SELECT verdict, final, reasons FROM recordings WHERE device_id = 'BWC-0804'");
    expect(row).toMatchObject({ verdict: "incomplete", final: 1 });
    expect(row!.reasons).toContain("LOST_ON_DEVICE");
    expect(row!.reasons).toContain("MISSING_SEAL");
    await d.end();
  });
});
