// Property tests (SPEC.md section 9): random recordings verify in any delivery order, and any
// single mutation (bit flip anywhere, drop, swap, duplicate with other bytes, truncation) is
// caught with the reason the layout predicts for where it struck. A mutated message is not the
// device's (its tag no longer vouches for it): it is refused as forged and the recording misses it
// (R-VER-0); a junk copy beside the genuine message changes nothing but is still named.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { deviceIdBytes } from "../../protocol/blocks.js";
import { ChainCrypto, deriveDeviceKeys, recordingKey } from "../../protocol/chain.js";
import { ChainWriter, genesisFor } from "../../protocol/writer.js";
import { RecordingVerifier } from "../../protocol/verify.js";
import type { StepResult, VerdictReport } from "../../protocol/verify.js";
import { END_REBOOT, END_STOPPED, FLAG_INTERRUPTED, MEDIA_PCM_8K_S16LE } from "../../protocol/constants.js";

const DEVICE = "PROP-1";
const keys = deriveDeviceKeys(sha, new Uint8Array(32).fill(9));
const REC = 7;
const k1 = recordingKey(sha, keys.stateKey0, REC);
const prevSeal = new Uint8Array(32).fill(0xab);

type Msg =
  | { t: "start"; genesis: Uint8Array; caseTag: string }
  | { t: "chunk"; header: Uint8Array; payload: Uint8Array; tag: Uint8Array }
  | { t: "seal"; block: Uint8Array; tag: Uint8Array; caseTag: string };

interface Spec { chunks: { size: number; flags: number; duration: number }[]; interrupted: boolean; caseTag: string; seed: number }

const arbSpec: fc.Arbitrary<Spec> = fc.record({
  chunks: fc.array(fc.record({ size: fc.integer({ min: 0, max: 300 }), flags: fc.integer({ min: 0, max: 3 }), duration: fc.integer({ min: 1, max: 2000 }) }), { maxLength: 10 }),
  interrupted: fc.boolean(),
  caseTag: fc.oneof(fc.constant(""), fc.string({ minLength: 1, maxLength: 16 })),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

function build(s: Spec): Msg[] {
  const dev = deviceIdBytes(DEVICE);
  const cc = new ChainCrypto(sha);
  const t0 = 1.7e12 + s.seed;
  const g = genesisFor(cc, dev, { recordingId: REC, startMs: t0, preEventMs: 0, uptimeMs: 1000, media: MEDIA_PCM_8K_S16LE, caseTag: s.caseTag, beacon: new Uint8Array(16).fill(1), prevSeal });
  const w = new ChainWriter(sha, dev, REC, k1, 0, g.c0, 0);
  const out: Msg[] = [{ t: "start", genesis: g.block, caseTag: s.caseTag }];
  let t = t0;
  s.chunks.forEach((c, i) => {
    const payload = new Uint8Array(c.size).map((_, j) => (s.seed + i * 31 + j * 7) & 255);
    const o = w.chunk(payload, c.flags, MEDIA_PCM_8K_S16LE, t, c.duration, i, new Uint8Array(16).fill(i));
    out.push({ t: "chunk", header: o.header.slice(), payload, tag: o.tag });
    t += c.duration;
  });
  const sl = w.seal(s.interrupted ? FLAG_INTERRUPTED : 0, t, 99, cc.caseTagHash(s.caseTag), new Uint8Array(16), s.interrupted ? END_REBOOT : END_STOPPED);
  out.push({ t: "seal", block: sl.block, tag: sl.tag, caseTag: s.caseTag });
  return out;
}

type Checked = VerdictReport & { refused: string[] };

/** The verdict, with the codes of every message refused on the way (forged or out of bounds). */
function verify(msgs: Msg[]): Checked {
  const v = new RecordingVerifier<number>({ sha, deviceId: DEVICE, recordingId: REC, k1, prevSeal });
  const refused: string[] = [];
  const note = (r: StepResult<number>) => {
    if (r.status === "forged" || r.status === "rejected") for (const x of r.reasons) refused.push(x.code);
    for (const f of r.forgedStarts) refused.push(f.reason.code);
  };
  msgs.forEach((m, i) => {
    if (m.t === "start") note(v.start(m));
    else if (m.t === "chunk") note(v.chunk(m, i));
    else note(v.seal(m));
  });
  note(v.finish());
  return { ...v.report(), refused };
}

/** Every code the run named: the verdict's reasons and the messages refused. */
const codes = (r: Checked) => [...r.reasons.map((x) => x.code), ...r.refused];

/** The reasons a bit flip at `off` of a field must produce (SPEC.md R-HDR-3, R-GEN-1, R-SEAL-1). */
function expectedForFlip(field: string, off: number): string[] {
  if (field === "payload") return ["PAYLOAD_HASH"];
  if (field === "tag") return ["TAG"];
  if (field === "sealTag") return ["SEAL_TAG"];
  // Every header byte is under the tag: a flip makes the tag fail (a flipped seq may instead
  // fall outside the window and be refused at the door).
  // A flipped layout byte before the start is confirmed is refused as a layout this verifier lacks.
  if (field === "header") return off >= 24 && off < 28 ? ["TAG", "SEQ_OUT_OF_WINDOW"] : off < 2 ? ["TAG", "LAYOUT_VERSION", "UNSUPPORTED_ALG"] : ["TAG"];
  if (field === "genesis") {
    if (off < 2) return ["LAYOUT_VERSION", "UNSUPPORTED_ALG"];
    if (off >= 40 && off < 72) return ["CASE_TAG_MISMATCH"];
    // Chunk 1 (or the empty recording's seal) binds the genuine C_0: the flipped start is not the device's.
    return ["START_UNCONFIRMED"];
  }
  // seal block: all of it under the seal's tag
  if (off < 2) return ["LAYOUT_VERSION", "UNSUPPORTED_ALG"];
  if (off >= 24 && off < 28) return ["SEAL_TAG", "SEQ_OUT_OF_WINDOW"];
  return ["SEAL_TAG"];
}

const RUNS = Number(process.env.PROPERTY_RUNS || 300);

describe("random recordings", () => {
  it("verify whatever order their messages arrive in", () => {
    fc.assert(fc.property(arbSpec, fc.nat(), (s, shuffleSeed) => {
      const msgs = build(s);
      const order = msgs.map((m, i) => ({ m, k: (i * 2654435761 + shuffleSeed) % 1000003 })).sort((a, b) => a.k - b.k).map((x) => x.m);
      const r = verify(order);
      expect(r.verdict).toBe("verified");
      expect(r.linkedSeq).toBe(s.chunks.length);
      expect(r.totalBytes).toBe(s.chunks.reduce((a, c) => a + c.size, 0));
      expect(r.interrupted).toBe(s.interrupted);
      expect(codes(r).filter((c) => c !== "INTERRUPTED")).toEqual([]);
      expect(r.forged).toBe(0);
    }), { numRuns: RUNS });
  });
});

describe("any single mutation is caught with the right reason", () => {
  const fieldsOf = (m: Msg): [string, Uint8Array][] =>
    m.t === "start" ? [["genesis", m.genesis]] : m.t === "chunk" ? [["header", m.header], ["payload", m.payload], ["tag", m.tag]] : [["block", m.block], ["sealTag", m.tag]];

  it("a bit flipped anywhere", () => {
    fc.assert(fc.property(arbSpec, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), (s, which, where, bit) => {
      const msgs = build(s);
      const targets: [number, string, Uint8Array][] = [];
      msgs.forEach((m, i) => { for (const [f, b] of fieldsOf(m)) if (b.length) targets.push([i, f, b]); });
      const [, field, bytes] = targets[which % targets.length];
      const off = where % bytes.length;
      bytes[off] ^= 1 << bit;
      const r = verify(msgs);
      // The flipped message is refused; the recording misses it and nothing fails (R-VER-0).
      expect(r.verdict).toBe("incomplete");
      const want = expectedForFlip(field, off);
      expect(codes(r).some((c) => want.includes(c)), `${field}[${off}] bit ${bit}: got ${codes(r)}, want one of ${want}`).toBe(true);
    }), { numRuns: RUNS * 3 });
  });

  it("a message dropped", () => {
    fc.assert(fc.property(arbSpec, fc.nat(), (s, which) => {
      const msgs = build(s);
      const i = which % msgs.length;
      const dropped = msgs.splice(i, 1)[0];
      const r = verify(msgs);
      expect(r.verdict).toBe("incomplete");
      expect(codes(r)).toContain(dropped.t === "start" ? "MISSING_START" : dropped.t === "seal" ? "MISSING_SEAL" : "GAP");
    }), { numRuns: RUNS });
  });

  it("two chunks swapped into each other's places", () => {
    fc.assert(fc.property(arbSpec.filter((s) => s.chunks.length >= 2), fc.nat(), fc.nat(), (s, a, b) => {
      const msgs = build(s);
      const i = 1 + (a % s.chunks.length);
      let j = 1 + (b % s.chunks.length);
      if (j === i) j = i === 1 ? 2 : i - 1;
      const hi = (msgs[i] as { header: Uint8Array }).header, hj = (msgs[j] as { header: Uint8Array }).header;
      const si = hi.slice(24, 28);
      hi.set(hj.subarray(24, 28), 24);
      hj.set(si, 24);
      const r = verify(msgs);
      expect(r.verdict).toBe("incomplete");
      expect(codes(r)).toContain("TAG");
      expect(codes(r)).toContain("GAP");
    }), { numRuns: RUNS });
  });

  it("a chunk duplicated with other bytes", () => {
    fc.assert(fc.property(arbSpec.filter((s) => s.chunks.length >= 1), fc.nat(), fc.nat(), fc.constantFrom("header", "payload", "tag"), (s, which, where, field) => {
      const msgs = build(s);
      const i = 1 + (which % s.chunks.length);
      const orig = msgs[i] as Extract<Msg, { t: "chunk" }>;
      const copy = { ...orig, header: orig.header.slice(), payload: orig.payload.slice(), tag: orig.tag.slice() };
      const f = field === "payload" && copy.payload.length === 0 ? "tag" : field;
      const target = copy[f as "header" | "payload" | "tag"];
      const off = where % target.length;
      target[off] ^= 0x10;
      msgs.splice(i + 1, 0, copy);
      const r = verify(msgs);
      // Junk beside the genuine chunk: named and refused, and the recording stays verified.
      expect(r.verdict).toBe("verified");
      const want = expectedForFlip(f, off);
      expect(r.refused.some((c) => want.includes(c)), `${f}[${off}]: got ${r.refused}`).toBe(true);
    }), { numRuns: RUNS });
  });

  it("a payload truncated, or the message stream cut short", () => {
    fc.assert(fc.property(arbSpec.filter((s) => s.chunks.some((c) => c.size > 0)), fc.nat(), fc.nat(), fc.boolean(), (s, which, cut, stream) => {
      const msgs = build(s);
      if (stream) {
        const keep = cut % (msgs.length - 1) + 1;
        const r = verify(msgs.slice(0, keep));
        expect(r.verdict).toBe("incomplete");
        expect(codes(r)).toContain("MISSING_SEAL");
        return;
      }
      const withPayload = msgs.map((m, i) => [m, i] as const).filter(([m]) => m.t === "chunk" && m.payload.length > 0);
      const [m, i] = withPayload[which % withPayload.length];
      const c = m as Extract<Msg, { t: "chunk" }>;
      msgs[i] = { ...c, payload: c.payload.subarray(0, cut % c.payload.length) };
      const r = verify(msgs);
      expect(r.verdict).toBe("incomplete");
      expect(codes(r)).toContain("PAYLOAD_LENGTH");
    }), { numRuns: RUNS });
  });
});
