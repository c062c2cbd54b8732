// A recorder may stay connected for days (docked, charging, uploading): what its connection keeps
// must not grow with the recordings it makes. Each recording's last Ack was kept on the connection,
// and with it the recording's whole in-memory state (its verifier, its chain), after ingest had let
// the recording go: in a 200-device run, 500 such recordings more in the heap after 6 minutes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provision, streamSealed, testGateway } from "./harness.js";
import type { Gateway } from "../../gateway/gateway.js";

describe("a device connected across many recordings", () => {
  let gw: Gateway;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ gw, close } = await testGateway());
  });
  afterAll(async () => {
    await close();
  });

  it("keeps no recording's Ack on its connection once ingest has let the recording go, and still answers for it", async () => {
    const d = await provision(gw, "BWC-MEM-1");
    const recs = Array.from({ length: 12 }, (_, i) => d.recording(i + 1, [new Uint8Array(64).fill(i), new Uint8Array(64).fill(i + 1)]));
    for (const r of recs) await streamSealed(d, r);
    expect(gw.ingest.sessionLoad().acksKept).toBe(12);
    // Idle recordings are let go by the sweep (after idleMs): as a day later.
    gw.ingest.sweep(Date.now() + 24 * 3600_000);
    expect(gw.ingest.sessionLoad().acksKept).toBe(0);
    // A seal sent again is answered from the store: sealed, every chunk.
    const acks = d.received.length;
    await d.publish(recs[11].seal);
    const again = await d.waitFor((m) => d.received.indexOf(m) >= acks && m.kind === "ack" && (m.body.ack as { recording: number }).recording === 12, 10000);
    expect(again.body.ack).toMatchObject({ recording: 12, state: 1, cumulative: 2 });
    expect(gw.ingest.sessionLoad().acksKept).toBe(1);
  });
});
