// The recorder's chain output, driven like a device (buttons, media, a Command's case tag, a reboot),
// reproduces the protocol's golden device history (protocol/vectors/history.json) byte for byte:
// genesis blocks, chunk headers and tags, seals (the interrupted one made by the reboot path), each
// seal with the end reason its path gives (the button, the reboot, a station Command).
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { fromHex, toHex } from "../../protocol/bytes.js";
import { parseGenesis, parseHeader } from "../../protocol/blocks.js";
import { decode } from "../../protocol/codec.js";
import { Recorder } from "../../firmware/core/recorder.js";
import { onCommand } from "../../firmware/core/downlink.js";
import { CMD_STOP } from "../../protocol/schema.js";
import { KIND_CHUNK, KIND_SEAL, KIND_START } from "../../firmware/core/queue.js";
import { fakeHost, provisionKv, MemKv } from "./fake-host.js";
import type { FakeHost } from "./fake-host.js";

const history = JSON.parse(readFileSync(new URL("../../protocol/vectors/history.json", import.meta.url), "utf8"));
const keys = JSON.parse(readFileSync(new URL("../../protocol/vectors/keys.json", import.meta.url), "utf8"));

describe("firmware chain output = golden vectors", () => {
  it("four recordings: case tags, a marker, a reboot's interrupted seal, pre-event chunks, an empty one", () => {
    const kv = new MemKv();
    // Offline (port 1, no retry soon): everything stays in the queue for inspection.
    provisionKv(kv, history.deviceId, fromHex(keys.root), 1, { pre: 2 });
    const opts = { backoffMin: 600000, backoffMax: 600000 };
    let h: FakeHost = fakeHost({ kv });
    let rec = new Recorder(h.host, opts);
    expect(rec.start()).toBe("");
    const dir = (h.store.inner as unknown as { dir: string }).dir;
    const [r1, r2, r3, r4] = history.recordings;
    const at = (ms: number, up: number) => { h.clock.fixed = ms; h.clock.up = up; };
    const beacon = (hex: string) => { rec.bnonce = fromHex(hex); };
    const headerBeacon = (c: { header: string }) => toHex(parseHeader(fromHex(c.header)).beacon);
    const play = (r: typeof r1, from: number) => {
      for (const c of r.chunks.slice(from)) {
        at(c.timeMs, 5000 * r.recordingId + (c.timeMs - r.start.startMs + r.start.preEventMs));
        beacon(headerBeacon(c));
        if (c.flags & 2) h.press("marker");
        expect(h.media.push(fromHex(c.payload), c.durationMs)).toBe(true);
      }
    };
    const end = (r: typeof r1) => r.chunks.length ? r.chunks.at(-1).timeMs + r.chunks.at(-1).durationMs : r.start.startMs;
    const startRec = (r: typeof r1) => {
      at(r.start.startMs, 5000 * r.recordingId);
      beacon(toHex(parseGenesis(fromHex(r.start.genesis)).beacon));
      expect(rec.record(r.start.caseTag)).toBe("");
    };
    // 1: case tag at start, a marker, a normal stop.
    startRec(r1);
    play(r1, 0);
    at(end(r1), 5000 + end(r1) - r1.start.startMs);
    expect(rec.stop()).toBe("");
    // 2: no case tag at start; one set by Command mid-recording; then the power goes.
    startRec(r2);
    play(r2, 0);
    rec.setCaseTag(r2.seal.caseTag);
    rec.halt();
    h = fakeHost({ kv, dir });
    at(0, 10000 + end(r2) - r2.start.startMs); // the reboot's seal carries this uptime
    rec = new Recorder(h.host, opts);
    expect(rec.start()).toBe("");
    // 3: two pre-event chunks while idle, then the recording with a marker.
    for (const c of r3.chunks.filter((c: { flags: number }) => c.flags & 1)) {
      at(c.timeMs, 15000 + (c.timeMs - r3.start.startMs + r3.start.preEventMs));
      beacon(headerBeacon(c));
      h.media.push(fromHex(c.payload), c.durationMs);
    }
    startRec(r3);
    play(r3, 2);
    at(end(r3), 15000 + end(r3) - r3.start.startMs + r3.start.preEventMs);
    onCommand(rec, { action: CMD_STOP }); // the station stops it: the seal says COMMAND
    // 4: empty, with a Chinese case tag.
    startRec(r4);
    at(end(r4), 20000);
    expect(rec.stop()).toBe("");
    rec.halt();

    for (const v of history.recordings) {
      const msgs = rec.queue.pending(v.recordingId).map((p) => ({ kind: p.kind, up: decode("Uplink", rec.queue.load(p)!) }));
      const start = msgs.find((m) => m.kind === KIND_START)!.up.start as { genesis: Uint8Array; caseTag: string };
      expect(toHex(start.genesis)).toBe(v.start.genesis);
      expect(start.caseTag).toBe(v.start.caseTag);
      const chunks = msgs.filter((m) => m.kind === KIND_CHUNK).map((m) => m.up.chunk as { header: Uint8Array; payload: Uint8Array; tag: Uint8Array });
      expect(chunks.map((c) => toHex(c.header))).toEqual(v.chunks.map((c: { header: string }) => c.header));
      expect(chunks.map((c) => toHex(c.tag))).toEqual(v.chunks.map((c: { tag: string }) => c.tag));
      const seal = msgs.find((m) => m.kind === KIND_SEAL)!.up.seal as { block: Uint8Array; tag: Uint8Array; caseTag: string };
      expect([toHex(seal.block), toHex(seal.tag), seal.caseTag]).toEqual([v.seal.block, v.seal.tag, v.seal.caseTag]);
    }
    // The key file ends where the vectors' state key does.
    expect(JSON.parse(kv.read("rec.key")!).s).toBe(r4.nextStateKey);
  });
});
