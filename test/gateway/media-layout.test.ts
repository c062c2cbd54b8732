// A recording kept as messages (a region's JetStream media) reads back as a file would after the
// same writes and cuts, whether its bytes were kept from the replay or fetched again piece by piece.
import { describe, expect, it } from "vitest";
import { firstEndingAfter, piecesOf, sizeOf } from "../../gateway/store/media-layout.js";
import type { Op } from "../../gateway/store/media-layout.js";

/** What a file holds after the same positional writes and truncations (the reference). */
function asFile(ops: Op[], bytes: Map<number, Uint8Array>): Buffer {
  let out = Buffer.alloc(0);
  for (const o of ops) {
    if (o.trim !== undefined) {
      out = out.subarray(0, Math.min(out.length, o.trim));
      continue;
    }
    const end = o.at! + o.length!;
    if (end > out.length) out = Buffer.concat([out, Buffer.alloc(end - out.length)]);
    out.set(bytes.get(o.seq)!, o.at!);
  }
  return Buffer.from(out);
}

/** The same, put together from the pieces (zeros where none is). */
function fromPieces(ops: Op[], bytes: Map<number, Uint8Array>): Buffer {
  const out = Buffer.alloc(sizeOf(ops));
  for (const p of piecesOf(ops)) out.set(bytes.get(p.seq)!.subarray(p.from, p.from + p.end - p.start), p.start);
  return out;
}

/** A small deterministic random source, so a failure can be replayed from its seed. */
function rng(seed: number) {
  return () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
}

describe("a recording's layout from its messages", () => {
  it("is a file's bytes after appends, out-of-order and replayed writes, and cuts at reopening", () => {
    for (let seed = 1; seed <= 400; seed++) {
      const r = rng(seed);
      const ops: Op[] = [];
      const bytes = new Map<number, Uint8Array>();
      let end = 0;
      for (let seq = 1; seq <= 3 + Math.floor(r() * 30); seq++) {
        const k = r();
        if (k < 0.12) {
          ops.push({ seq, trim: Math.floor(r() * (end + 50)) }); // a cut, now and then past the end
          continue;
        }
        // Mostly appends; some rewrites of earlier bytes (a batch replayed) and writes past a gap.
        const at = k < 0.7 ? end : k < 0.9 ? Math.floor(r() * (end + 1)) : end + Math.floor(r() * 40);
        const length = Math.floor(r() * 60);
        const data = Uint8Array.from({ length }, () => Math.floor(r() * 256));
        bytes.set(seq, data);
        ops.push({ seq, at, length });
        end = Math.max(end, at + length);
      }
      const want = asFile(ops, bytes);
      expect(sizeOf(ops), `seed ${seed}`).toBe(want.length);
      expect(Buffer.compare(fromPieces(ops, bytes), want), `seed ${seed}`).toBe(0);
      const pieces = piecesOf(ops);
      for (let i = 1; i < pieces.length; i++) expect(pieces[i].start, `seed ${seed}: pieces overlap`).toBeGreaterThanOrEqual(pieces[i - 1].end);
    }
  });

  it("names one piece per message for a recording written by appends, found by offset", () => {
    const ops: Op[] = Array.from({ length: 1000 }, (_, i) => ({ seq: i + 1, at: i * 4096, length: 4096 }));
    const pieces = piecesOf(ops);
    expect(pieces.length).toBe(1000);
    expect(pieces[500]).toMatchObject({ start: 500 * 4096, end: 501 * 4096, seq: 501, from: 0 });
    expect(firstEndingAfter(pieces, 500 * 4096 + 10)).toBe(500);
    expect(firstEndingAfter(pieces, 501 * 4096)).toBe(501);
    expect(firstEndingAfter(pieces, 1000 * 4096)).toBe(1000);
  });
});
