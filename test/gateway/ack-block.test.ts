// The Ack in the device's schema (R-ENV-1, R-ACKB-1): a device that says Hello in schema 2 gets its
// Acks as fixed-layout blocks, which a board reads with a few DataView calls; a device of the first
// schema still gets protobuf Acks. Each connection's downlink carries the schema of its Hello.
import { describe, it, expect, afterEach } from "vitest";
import { testGateway, provision, streamSealed } from "./harness.js";
import { AckState } from "../../protocol/schema.js";
import { parseAckBlock } from "../../protocol/blocks.js";
import type { FakeDevice } from "./fake-device.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

describe("Acks in the schema of the device's Hello", () => {
  it("schema 2: Acks as Ack blocks in schema-2 downlinks; schema 1: protobuf Acks in schema-1 downlinks; both recordings verified", async () => {
    const g = await testGateway();
    cleanup.push(() => g.close());
    const devices: [FakeDevice, number][] = [];
    for (const schema of [2, 1]) {
      const d = await provision(g.gw, "ACKB-" + schema, { connect: false });
      cleanup.push(() => d.end());
      await d.connect(g.gw.mqttPort);
      await d.hello([], {}, schema);
      await streamSealed(d, d.recording(1, [new Uint8Array(100).fill(1), new Uint8Array(100).fill(2)]));
      devices.push([d, schema]);
    }
    for (const [d, schema] of devices) {
      const acks = d.received.filter((m) => m.kind === "ack");
      expect(acks.length).toBeGreaterThan(0);
      for (const m of acks) {
        expect(m.ok).toBe("");
        expect(m.schema).toBe(schema);
        if (schema === 2) {
          expect(m.body.ackBlock).toBeInstanceOf(Uint8Array);
          expect(m.body.ack).toEqual(parseAckBlock(m.body.ackBlock as Uint8Array));
        } else expect(m.body.ackBlock).toBeUndefined();
      }
      expect(acks.at(-1)!.body.ack).toMatchObject({ recording: 1, state: AckState.ACK_SEALED, cumulative: 2 });
      const row = await g.gw.db.get<{ verdict: string }>("SELECT verdict FROM recordings WHERE device_id = ?", [d.id]);
      expect(row!.verdict).toBe("verified");
    }
  });
});
