// The typed messages (protocol/messages.ts) are recorder.proto's: each type names exactly the
// fields the schema has, and decodeAs gives back what was encoded, so the gateway can rely on the
// types instead of casting what the codec returns.
import { describe, expect, it } from "vitest";
import { encode } from "../../protocol/codec.js";
import { MESSAGE_TYPES, fieldsOf } from "../../protocol/schema.js";
import { decodeAs, uplinkKind } from "../../protocol/messages.js";
import type { Messages } from "../../protocol/messages.js";

const b = (n: number) => new Uint8Array(n).fill(7);
const control = { body: b(3), tag: b(32) };
const ack = { recording: 3, state: 0, cumulative: 9, selective: b(1), settled: 11 };

/** One value per type with every field set: `Required<>` makes the compiler refuse a missing one, and an extra one. */
const SAMPLES: { [K in keyof Messages]: Required<Messages[K]> } = {
  Uplink: { schema: 2, hello: control, start: { genesis: b(120), caseTag: "C-1" }, chunk: { header: b(128), payload: b(9), tag: b(32) }, seal: { block: b(128), tag: b(32), caseTag: "C-1" }, status: control },
  Control: control,
  Hello: { nonce: b(16), held: [{ recording: 1, firstSeq: 2, lastSeq: 3, sealed: true, open: false }], lastSealed: 4, lastSealValue: b(32), nextRecording: 5, firmware: "fw", deviceTimeMs: 1700000000000, uptimeMs: 6 },
  Held: { recording: 1, firstSeq: 2, lastSeq: 3, sealed: true, open: true },
  RecordingStart: { genesis: b(120), caseTag: "C-1" },
  Chunk: { header: b(128), payload: b(9), tag: b(32) },
  Seal: { block: b(128), tag: b(32), caseTag: "C-1" },
  Status: { firmware: "fw", batteryMv: 3700, batteryPct: 80, storageFree: 5e9, queueDepth: 2, state: 1, recording: 3, clockOffsetMs: -40, lastError: "LOW_MEMORY", downlinkRejected: 1, deviceTimeMs: 1700000000000, alarm: true },
  Downlink: { schema: 2, counter: 1, body: b(4), mac: b(32) },
  DownBody: { ack, beacon: { timeMs: 1700000000000, nonce: b(16) }, config: { statusIntervalS: 60, preEventS: 5, chunkBytes: 8192, beaconIntervalS: 300 }, command: { action: 1, caseTag: "C-1" }, revoke: { reason: "r" }, ackBlock: b(16) },
  Ack: ack,
  TimeBeacon: { timeMs: 1700000000000, nonce: b(16) },
  Config: { statusIntervalS: 60, preEventS: 5, chunkBytes: 8192, beaconIntervalS: 300 },
  Command: { action: 1, caseTag: "C-1" },
  Revoke: { reason: "r" },
};

describe("typed messages (protocol/messages.ts)", () => {
  it("on Node, a message type's fields are parsed once and kept (a board parses them each time)", () => {
    expect(fieldsOf("Chunk")).toBe(fieldsOf("Chunk"));
    expect(fieldsOf("NoSuchType")).toBeNull();
    expect(fieldsOf("constructor")).toBeNull();
  });

  it("name exactly the schema's fields, for every message type", () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...MESSAGE_TYPES].sort());
    for (const t of MESSAGE_TYPES) {
      expect(Object.keys(SAMPLES[t as keyof Messages]).sort(), t).toEqual(fieldsOf(t)!.map((f) => f[1]).sort());
    }
  });

  it("decode to what was encoded, and name the Uplink's member that is set", () => {
    for (const t of MESSAGE_TYPES) {
      if (t === "Uplink" || t === "DownBody") continue; // oneofs: one member at a time, below
      const k = t as keyof Messages;
      expect(decodeAs(k, encode(t, SAMPLES[k] as unknown as Record<string, unknown>)), t).toEqual(SAMPLES[k]);
    }
    for (const member of ["hello", "start", "chunk", "seal", "status"] as const) {
      const up = decodeAs("Uplink", encode("Uplink", { schema: 2, [member]: SAMPLES.Uplink[member] }));
      expect(uplinkKind(up)).toBe(member);
      expect(up[member]).toEqual(SAMPLES.Uplink[member]);
    }
    expect(uplinkKind(decodeAs("Uplink", encode("Uplink", { schema: 2 })))).toBe("");
  });
});
