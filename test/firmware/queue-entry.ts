// Espruino entry for the upload queue. Two uses:
//   - the gate (test/firmware/queue.test.ts) checks that firmware/core/queue.ts stays inside the
//     interpreter's subset;
//   - the real-interpreter test prepends `var QUEUE_PHASE = 1;` (or 2) and runs the bundle twice in
//     one working directory, a "reboot" in between. Phase 1 opens the queue over `fs` (the board's
//     SD card), puts a start and 20 chunks (200-byte payload, first byte = seq, as three parts),
//     acks 5, prints `PUT <ms for 20 puts> <memory usage>`. Phase 2 opens it again and prints
//     `DROPPED <n>`, `PENDING <seqs>` and `BYTES <ok|bad>` (every pending chunk byte-identical).
import { KIND_CHUNK, KIND_START, Queue } from "../../firmware/core/queue.js";
import type { QueueStore } from "../../firmware/core/queue.js";

declare const QUEUE_PHASE: number;
declare function getTime(): number;

interface EspFile { write(s: string): void; read(n: number): string | undefined; skip(n: number): void; close(): void }
declare const E: { openFile(path: string, mode: string): EspFile | undefined; toString(b: Uint8Array): string; toUint8Array(s: string): Uint8Array };

var sha = function (d: Uint8Array): Uint8Array { return new Uint8Array(require("crypto").SHA256(d)); };

/**
 * The queue's store over Espruino's `fs` (the SD card). Durable here means the write calls returned
 * and the file was closed (DESIGN.md section 4). Binary strings are how Espruino's files take bytes.
 */
var fsStore = function (): QueueStore {
  const fs = require("fs");
  return {
    append: function (name: string, parts: Uint8Array[]): boolean {
      const f = E.openFile(name, "a");
      if (!f) return false;
      for (let i = 0; i < parts.length; i++) if (parts[i].length) f.write(E.toString(parts[i]));
      f.close();
      return true;
    },
    read: function (name: string, offset: number, length: number): Uint8Array | null {
      const f = E.openFile(name, "r");
      if (!f) return null;
      if (offset) f.skip(offset);
      const s = f.read(length);
      f.close();
      if (s === undefined || s.length !== length) return null;
      return E.toUint8Array(s);
    },
    size: function (name: string): number {
      const st = fs.statSync(name);
      return st ? st.size : 0;
    },
    remove: function (name: string): void {
      try { fs.unlinkSync(name); } catch (e) { return; }
    },
    list: function (prefix: string): string[] {
      const all: string[] = fs.readdirSync(".") || [];
      return all.filter(function (n) { return n.indexOf(prefix) === 0; });
    },
    free: function (): number {
      return 64 * 1024 * 1024; // the Linux build has no free-space call for fs: the test needs none
    },
  };
};

var payloadOf = function (seq: number): Uint8Array {
  const p = new Uint8Array(200);
  p.fill(seq & 255);
  p[0] = seq;
  return p;
};

if (typeof QUEUE_PHASE !== "undefined") {
  const q = new Queue(fsStore(), sha, { segmentBytes: 2048 });
  const rep = q.open();
  if (QUEUE_PHASE === 1) {
    const t0 = getTime();
    q.put(7, 0, KIND_START, [new Uint8Array([1, 2, 3])]);
    let bad = 0;
    for (let s = 1; s <= 20; s++) if (q.put(7, s, KIND_CHUNK, [new Uint8Array([9, s]), payloadOf(s), new Uint8Array([s, 9])]) !== "") bad++;
    const ms = Math.round((getTime() - t0) * 1000);
    q.ack(7, 5, false);
    console.log("PUT " + ms + " " + (process as unknown as { memory(): { usage: number } }).memory().usage + " " + bad);
  } else {
    console.log("DROPPED " + rep.dropped.length);
    const p = q.pending(7);
    const seqs: number[] = [];
    let ok = true;
    for (let i = 0; i < p.length; i++) {
      seqs.push(p[i].seq);
      const b = q.load(p[i]);
      if (p[i].kind !== KIND_CHUNK) continue;
      if (!b || b.length !== 204 || b[0] !== 9 || b[1] !== p[i].seq || b[2] !== p[i].seq || b[203] !== 9 || b[100] !== p[i].seq) ok = false;
    }
    console.log("PENDING " + seqs.join(","));
    console.log("BYTES " + (ok ? "ok" : "bad"));
  }
}
