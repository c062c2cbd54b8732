// The recorder's durable upload queue (firmware/core/queue.ts) over a real directory with fsync
// (simulator/imitation/node-store.ts), with injected power loss and a full medium; the Espruino gate;
// and, with ESPRUINO_BIN, a put / reboot / pending run on the real interpreter over its `fs`.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KIND_CHUNK, KIND_SEAL, KIND_START, Queue, RECORD_HEADER } from "../../firmware/core/queue.js";
import { FaultyStore, NodeStore, PowerLoss } from "../../simulator/imitation/node-store.js";
import { nodeSha256 } from "../../protocol/sha256-node.js";
import { chunkFrame } from "../../protocol/codec.js";
import { bundleForEspruino, formatFinding, gate } from "../../scripts/espruino-gate.mjs";
import { BUILDS, missingBuilds } from "../espruino/builds.js";

const ENTRY = join(import.meta.dirname, "queue-entry.ts");

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "queue-"));
  dirs.push(d);
  return d;
};
// vitest runs files in workers that are not ended by process exit: clean up after the file.
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A chunk as published: chunkFrame's prefix, a payload that names its seq, the suffix. */
const chunkParts = (rec: number, seq: number, size = 300): Uint8Array[] => {
  const header = new Uint8Array(128).fill(rec);
  header[24] = seq;
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = (seq * 31 + i) & 255;
  const f = chunkFrame(header, size, new Uint8Array(32).fill(seq));
  return [f.prefix, payload, f.suffix];
};
const joined = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const start = (rec: number): Uint8Array[] => [new Uint8Array([0x08, 1, 0x1a, rec])];
const seal = (rec: number): Uint8Array[] => [new Uint8Array([0x08, 1, 0x2a, rec, 0xee])];

const openQ = (store: NodeStore | FaultyStore, opts?: { segmentBytes?: number; reserve?: number }) => {
  const q = new Queue(store, nodeSha256, { segmentBytes: 2048, reserve: 1024, verifyAll: false, ...opts });
  return { q, report: q.open() };
};

/** Seqs and bytes of what is pending for a recording. */
const pendingOf = (q: Queue, rec: number) => q.pending(rec).map((p) => ({ seq: p.seq, kind: p.kind, bytes: q.load(p) }));
const chunkSeqs = (q: Queue, rec: number) => q.pending(rec).filter((p) => p.kind === KIND_CHUNK).map((p) => p.seq);

const fill = (q: Queue, rec: number, n: number) => {
  expect(q.put(rec, 0, KIND_START, start(rec))).toBe("");
  for (let s = 1; s <= n; s++) expect(q.put(rec, s, KIND_CHUNK, chunkParts(rec, s))).toBe("");
};

describe("queue: put, pending, ack", () => {
  it("pending is in seq order, byte-identical to what was put; ack frees exactly the covered chunks", () => {
    const { q } = openQ(new NodeStore(tempDir()));
    fill(q, 1, 12);
    const p = pendingOf(q, 1);
    expect(p.map((x) => x.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(p[0].kind).toBe(KIND_START);
    for (let s = 1; s <= 12; s++) expect(p[s].bytes).toEqual(joined(chunkParts(1, s)));
    expect(q.depth()).toBe(1 + 12); // the start and the chunks

    expect(q.ack(1, 7, false)).toBe(7);
    expect(chunkSeqs(q, 1)).toEqual([8, 9, 10, 11, 12]);
    expect(q.pending(1)[0].kind).toBe(KIND_START); // a start waits for ACK_SEALED
    expect(q.depth()).toBe(1 + 5);
    // An older or equal cumulative frees nothing more.
    expect(q.ack(1, 3, false)).toBe(0);
    expect(chunkSeqs(q, 1)).toEqual([8, 9, 10, 11, 12]);
  });

  it("never frees above the cumulative, even when it is beyond what was written", () => {
    const { q } = openQ(new NodeStore(tempDir()));
    fill(q, 1, 4);
    expect(q.ack(1, 100, false)).toBe(4); // clamped to the last written seq
    expect(q.put(1, 5, KIND_CHUNK, chunkParts(1, 5))).toBe("");
    expect(chunkSeqs(q, 1)).toEqual([5]); // a later chunk is not born acknowledged
    expect(q.ack(1, 4, true)).toBe(0); // ACK_SEALED without a seal held frees no start
    expect(q.pending(1).map((p) => p.seq)).toEqual([0, 5]);
  });

  it("refuses seqs out of order and anything after the seal", () => {
    const { q } = openQ(new NodeStore(tempDir()));
    fill(q, 1, 2);
    expect(q.put(1, 2, KIND_CHUNK, chunkParts(1, 2))).toBe("SEQ"); // same seq again: never stored twice
    expect(q.put(1, 4, KIND_CHUNK, chunkParts(1, 4))).toBe("SEQ");
    expect(q.put(1, 0, KIND_START, start(1))).toBe("SEQ");
    expect(q.put(1, 1, KIND_SEAL, seal(1))).toBe("SEQ"); // a seal's seq is the last seq
    expect(q.put(1, 2, KIND_SEAL, seal(1))).toBe("");
    expect(q.put(1, 3, KIND_CHUNK, chunkParts(1, 3))).toBe("SEALED");
  });

  it("a seal acknowledged with ACK_SEALED frees the whole recording, files included", () => {
    const store = new NodeStore(tempDir());
    const { q } = openQ(store);
    fill(q, 1, 15);
    fill(q, 2, 3);
    expect(q.put(1, 15, KIND_SEAL, seal(1))).toBe("");
    expect(q.ack(1, 14, true)).toBe(14); // the seal's last seq is not yet covered: chunks only
    expect(q.pending(1).map((p) => p.seq)).toEqual([0, 15, 15]);
    expect(q.ack(1, 15, true)).toBe(1);
    expect(q.pending(1)).toEqual([]);
    expect(store.list("q0000001")).toEqual([]);
    expect(chunkSeqs(q, 2)).toEqual([1, 2, 3]);
  });

  it("removes a segment once all its chunks are acknowledged, and only then", () => {
    const store = new NodeStore(tempDir());
    const { q } = openQ(store);
    fill(q, 1, 20); // about 5 chunk records per 2 KiB segment
    const before = store.list("q").sort();
    expect(before.length).toBeGreaterThan(4);
    const bytes0 = q.bytes();
    q.ack(1, 12, false);
    expect(q.bytes()).toBeLessThan(bytes0);
    const { q: q2 } = openQ(store); // what is on the medium agrees
    expect(chunkSeqs(q2, 1)).toEqual([13, 14, 15, 16, 17, 18, 19, 20]);
    for (const p of q2.pending(1)) if (p.kind === KIND_CHUNK) expect(q2.load(p)).toEqual(joined(chunkParts(1, p.seq)));
  });
});

describe("queue: depth counts every record held", () => {
  it("a recording whose chunks are all acknowledged but whose seal the gateway has not confirmed is not drained: depth 2 (start and seal) until ACK_SEALED", () => {
    const { q } = openQ(new NodeStore(tempDir()));
    fill(q, 1, 3);
    expect(q.put(1, 3, KIND_SEAL, [new Uint8Array([9, 9, 9])])).toBe("");
    expect(q.depth()).toBe(1 + 3 + 1);
    expect(q.ack(1, 3, false)).toBe(3); // ACK_OPEN covering every chunk: the seal is still only here
    expect(q.depth()).toBe(2);
    expect(q.held()).toEqual([{ recording: 1, firstSeq: 0, lastSeq: 3, sealed: true, open: false }]);
    q.ack(1, 3, true);
    expect(q.depth()).toBe(0);
    expect(q.held()).toEqual([]);
  });
});

describe("queue: reboot", () => {
  it("after a clean close everything unacknowledged is pending again, byte-identical; acked stays freed", () => {
    const store = new NodeStore(tempDir());
    const { q } = openQ(store);
    fill(q, 3, 9);
    q.ack(3, 4, false);
    fill(q, 4, 2);
    const was3 = pendingOf(q, 3), was4 = pendingOf(q, 4), held = q.held();
    const { q: q2, report } = openQ(store);
    expect(report.dropped).toEqual([]);
    expect(pendingOf(q2, 3)).toEqual(was3);
    expect(pendingOf(q2, 4)).toEqual(was4);
    expect(q2.held()).toEqual(held);
    expect(q2.depth()).toBe(1 + 5 + 1 + 2);
    // It keeps going where it stopped.
    expect(q2.put(3, 10, KIND_CHUNK, chunkParts(3, 10))).toBe("");
    expect(chunkSeqs(q2, 3)).toEqual([5, 6, 7, 8, 9, 10]);
  });

  it("power loss mid-write, at every cut of the last record: exactly it is dropped and named", () => {
    const dir0 = tempDir();
    const last = joined(chunkParts(5, 7));
    const recordLength = RECORD_HEADER + last.length;
    for (let cut = 0; cut < recordLength; cut++) {
      const dir = join(dir0, "c" + cut);
      const faulty = new FaultyStore(new NodeStore(dir));
      const { q } = openQ(faulty);
      fill(q, 5, 6);
      q.ack(5, 2, false);
      const before = pendingOf(q, 5);
      faulty.tearNextAfter(cut);
      expect(() => q.put(5, 7, KIND_CHUNK, chunkParts(5, 7))).toThrow(PowerLoss);
      faulty.reboot();
      const { q: q2, report } = openQ(faulty);
      expect(pendingOf(q2, 5)).toEqual(before); // earlier records intact, acked ones still freed
      expect(q2.held()).toEqual([{ recording: 5, firstSeq: 3, lastSeq: 6, sealed: false, open: true }]);
      if (cut === 0) {
        expect(report.dropped).toEqual([]); // nothing reached the medium
      } else {
        expect(report.dropped.length).toBe(1);
        expect(report.dropped[0].file).toMatch(/^q0000005\.[0-9a-f]{3}$/);
        expect(report.dropped[0].reason).toBe(cut < RECORD_HEADER ? "short header" : "short body");
      }
      // After recovery the recorder goes on (here: seals over the last chunk it durably holds).
      expect(q2.put(5, 6, KIND_SEAL, seal(5))).toBe("");
      const { q: q3, report: r3 } = openQ(faulty);
      expect(q3.pending(5).map((p) => p.seq)).toEqual([0, 3, 4, 5, 6, 6]);
      expect(r3.dropped.length).toBe(cut === 0 ? 0 : 1); // the torn tail is ignored, never appended to
    }
    // Hundreds of fsync'd writes: 15 s alone, over 80 s while the real-interpreter lane keeps the cores busy.
  }, 180000);

  it("a record whose length is complete but whose bytes are not (a zero-filled tail) fails its check", () => {
    const dir = tempDir();
    const store = new NodeStore(dir);
    const { q } = openQ(store);
    fill(q, 6, 3);
    const name = q.pending(6)[3].file;
    // Simulate a medium that extended the file but never wrote the data: flip the last body byte.
    const size = store.size(name);
    const bytes = store.read(name, 0, size) as Uint8Array;
    bytes[size - 1] ^= 0xff;
    writeFileSync(join(dir, name), bytes);
    const { q: q2, report } = openQ(store);
    expect(report.dropped).toEqual([{ file: name, offset: size - RECORD_HEADER - joined(chunkParts(6, 3)).length, reason: "check" }]);
    expect(chunkSeqs(q2, 6)).toEqual([1, 2]);
  });

  it("a write error (append returns false) stores nothing and the next put goes to a fresh file", () => {
    const faulty = new FaultyStore(new NodeStore(tempDir()));
    const { q } = openQ(faulty);
    fill(q, 1, 2);
    faulty.failNext();
    expect(q.put(1, 3, KIND_CHUNK, chunkParts(1, 3))).toBe("WRITE_FAILED");
    expect(q.put(1, 3, KIND_CHUNK, chunkParts(1, 3))).toBe("");
    const { q: q2, report } = openQ(faulty);
    expect(report.dropped).toEqual([]);
    expect(chunkSeqs(q2, 1)).toEqual([1, 2, 3]);
  });
});

describe("queue: storage full", () => {
  it("refuses with STORAGE_FULL, loses and overwrites nothing, and works again after an ack frees space", () => {
    const store = new NodeStore(tempDir(), 8192);
    const { q } = openQ(store, { segmentBytes: 1024, reserve: 1024 });
    expect(q.put(1, 0, KIND_START, start(1))).toBe("");
    let seq = 0;
    let r = "";
    while ((r = q.put(1, seq + 1, KIND_CHUNK, chunkParts(1, seq + 1))) === "") seq++;
    expect(r).toBe("STORAGE_FULL");
    expect(seq).toBeGreaterThan(5);
    const snapshot = pendingOf(q, 1);
    expect(snapshot.length).toBe(seq + 1);
    expect(q.put(1, seq + 1, KIND_CHUNK, chunkParts(1, seq + 1))).toBe("STORAGE_FULL"); // still
    expect(pendingOf(q, 1)).toEqual(snapshot);
    // The recorder stops and seals: a seal still fits (the reserve is kept for it and for acks).
    expect(q.put(1, seq, KIND_SEAL, seal(1))).toBe("");
    const { q: q2 } = openQ(store, { segmentBytes: 1024, reserve: 1024 });
    expect(pendingOf(q2, 1).slice(0, seq + 1)).toEqual(snapshot);
    // An ack frees whole segments; a new recording fits again.
    q2.ack(1, seq - 1, false);
    expect(q2.put(2, 0, KIND_START, start(2))).toBe("");
    expect(q2.put(2, 1, KIND_CHUNK, chunkParts(2, 1))).toBe("");
  });

  it("a store that reports little free space refuses before writing anything", () => {
    const faulty = new FaultyStore(new NodeStore(tempDir()));
    const { q } = openQ(faulty);
    fill(q, 1, 1);
    faulty.freeBytes = 100;
    const appends = faulty.appends;
    expect(q.put(1, 2, KIND_CHUNK, chunkParts(1, 2))).toBe("STORAGE_FULL");
    expect(faulty.appends).toBe(appends);
    faulty.freeBytes = null;
    expect(q.put(1, 2, KIND_CHUNK, chunkParts(1, 2))).toBe("");
  });
});

describe("queue: held", () => {
  it("reports open, sealed and partly acknowledged recordings", () => {
    const store = new NodeStore(tempDir());
    const { q } = openQ(store);
    fill(q, 1, 5);
    expect(q.put(1, 5, KIND_SEAL, seal(1))).toBe("");
    fill(q, 2, 8);
    q.ack(2, 3, false);
    fill(q, 3, 0); // started, no chunk yet
    fill(q, 4, 2);
    q.ack(4, 2, false); // everything acked, still open
    const expected = [
      { recording: 1, firstSeq: 1, lastSeq: 5, sealed: true, open: false },
      { recording: 2, firstSeq: 4, lastSeq: 8, sealed: false, open: true },
      { recording: 3, firstSeq: 0, lastSeq: 0, sealed: false, open: true },
      { recording: 4, firstSeq: 0, lastSeq: 2, sealed: false, open: true },
    ];
    expect(q.held()).toEqual(expected);
    expect(openQ(store).q.held()).toEqual(expected);
    q.ack(1, 5, true);
    expect(q.held().map((h) => h.recording)).toEqual([2, 3, 4]);
  });
});

describe("queue: cost on Node", () => {
  it("put and ack of 16 KiB chunks (fsync each)", () => {
    const { q } = openQ(new NodeStore(tempDir()), { segmentBytes: 262144 });
    q.put(1, 0, KIND_START, start(1));
    const n = 100;
    const t0 = performance.now();
    for (let s = 1; s <= n; s++) expect(q.put(1, s, KIND_CHUNK, chunkParts(1, s, 16384))).toBe("");
    const t1 = performance.now();
    for (let s = 1; s <= n; s++) q.ack(1, s, false);
    const t2 = performance.now();
    console.log("queue on Node, 16 KiB chunks: put " + ((t1 - t0) / n).toFixed(3) + " ms, ack " + ((t2 - t1) / n).toFixed(3) + " ms (fsync'd)");
    expect(q.depth()).toBe(1); // every chunk freed; the start waits for ACK_SEALED
  });
});

describe("queue: Espruino", () => {
  it("the gate accepts the queue", async () => {
    const r = await gate([ENTRY]);
    expect(r.errors.map(formatFinding)).toEqual([]);
    expect(r.ok).toBe(true);
    console.log("queue entry bundle: " + r.bundles[0].code.length + " bytes");
  });

  if (missingBuilds()) console.log("queue on the real interpreter: " + missingBuilds() + ": skipped there");
  for (const build of BUILDS) it(`on the real interpreter (${build.name} build) over fs: 20 puts, a reboot, the unacknowledged ones pending`, async () => {
    const BIN = build.bin;
    const code = await bundleForEspruino(ENTRY);
    const dir = tempDir();
    const run = (phase: number): string[] => {
      writeFileSync(join(dir, "b" + phase + ".js"), "var QUEUE_PHASE = " + phase + ";\n" + code);
      const r = spawnSync(BIN, ["b" + phase + ".js"], { cwd: dir, encoding: "utf8", timeout: 20000 });
      return (r.stdout || "").replace(/\r/g, "").replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").split("\n")
        .map((s) => s.replace(/^>+/, "").trim()).filter((s) => /^(PUT|DROPPED|PENDING|BYTES|Uncaught|ERROR)/.test(s));
    };
    const one = run(1);
    const two = run(2);
    console.log("espruino queue: " + one.concat(two).join(" / "));
    expect(one.length).toBe(1);
    expect(one[0]).toMatch(/^PUT \d+ \d+ 0$/);
    expect(two).toEqual(["DROPPED 0", "PENDING 0,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20", "BYTES ok"]);
  });
});
