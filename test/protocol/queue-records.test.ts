// The queue's record layout read without the firmware (protocol/queue-records.ts): what a tool reads
// off a device's card is what the firmware's own queue says it holds, byte for byte.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, rmSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "../../firmware/core/queue.js";
import { NodeStore } from "../../simulator/imitation/node-store.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { KIND_CHUNK, KIND_SEAL, KIND_START, heldOf, isSegmentName, pendingOf, readSegment } from "../../protocol/queue-records.js";
import type { QueueRecord } from "../../protocol/queue-records.js";

const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);

function card(dir: string): QueueRecord[] {
  const out: QueueRecord[] = [];
  for (const n of readdirSync(dir).filter(isSegmentName).sort()) out.push(...readSegment(sha, n, new Uint8Array(readFileSync(join(dir, n)))));
  return out;
}

describe("the queue's record layout, read off a card", () => {
  it("lists what the firmware's queue holds (its Hello's list) and the exact bytes of every message it would send", () => {
    const dir = mkdtempSync(join(tmpdir(), "qrec-"));
    try {
      const q = new Queue(new NodeStore(dir), sha, { segmentBytes: 4096, reserve: 0 });
      q.open();
      q.put(1, 0, KIND_START, [bytes(40, 1)]);
      for (let s = 1; s <= 6; s++) q.put(1, s, KIND_CHUNK, [bytes(10, s), bytes(1500, s), bytes(20, s)]);
      q.put(1, 6, KIND_SEAL, [bytes(90, 7)]);
      q.ack(1, 3, false);
      q.put(2, 0, KIND_START, [bytes(40, 2)]);
      q.put(2, 1, KIND_CHUNK, [bytes(10, 9), bytes(700, 9), bytes(20, 9)]);
      const records = card(dir);
      expect(heldOf(records)).toEqual(q.held());
      for (const r of [1, 2]) {
        const mine = pendingOf(records, r);
        const theirs = q.pending(r);
        expect(mine.map((x) => [x.kind, x.seq])).toEqual(theirs.map((p) => [p.kind, p.seq]));
        mine.forEach((x, i) => expect(x.body).toEqual(q.load(theirs[i])));
      }
      expect(pendingOf(records, 1).map((x) => x.seq)).toEqual([0, 4, 5, 6, 6]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("stops a file at a torn tail, as the firmware's recovery does", () => {
    const dir = mkdtempSync(join(tmpdir(), "qrec-"));
    try {
      const q = new Queue(new NodeStore(dir), sha, { reserve: 0 });
      q.open();
      q.put(3, 0, KIND_START, [bytes(40, 1)]);
      q.put(3, 1, KIND_CHUNK, [bytes(10, 1), bytes(300, 1), bytes(20, 1)]);
      const seg = readdirSync(dir).filter(isSegmentName).sort().pop() as string;
      appendFileSync(join(dir, seg), Buffer.from("QR\x02\x03torn"));
      const records = card(dir);
      expect(records.map((x) => [x.kind, x.seq])).toEqual([[KIND_START, 0], [KIND_CHUNK, 1]]);
      const again = new Queue(new NodeStore(dir), sha, { reserve: 0 });
      expect(again.open().dropped.length).toBe(1);
      expect(heldOf(records)).toEqual(again.held());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
