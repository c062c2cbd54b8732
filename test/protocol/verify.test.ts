// The verifier as the gateway uses it: chunk by chunk, bounded memory, resumable (SPEC.md section 9).
import { describe, expect, it } from "vitest";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { deviceIdBytes } from "../../protocol/blocks.js";
import { ChainCrypto, deriveDeviceKeys, recordingKey } from "../../protocol/chain.js";
import { ChainWriter, genesisFor } from "../../protocol/writer.js";
import { MemoryHistory, RecordingVerifier } from "../../protocol/verify.js";
import type { ChunkMsg, SealMsg, VerifierOptions } from "../../protocol/verify.js";
import { END_REASONS, END_STOPPED, END_STORAGE_FULL } from "../../protocol/constants.js";
import { encodeSeal, parseSeal } from "../../protocol/blocks.js";

const DEVICE = "INC-1";
const k1 = recordingKey(sha, deriveDeviceKeys(sha, new Uint8Array(32).fill(3)).stateKey0, 1);
const zeros = new Uint8Array(32);

function recording(n: number) {
  const dev = deviceIdBytes(DEVICE);
  const cc = new ChainCrypto(sha);
  const g = genesisFor(cc, dev, { recordingId: 1, startMs: 1e12, preEventMs: 0, uptimeMs: 0, media: 1, caseTag: "", beacon: new Uint8Array(16), prevSeal: zeros });
  const w = new ChainWriter(sha, dev, 1, k1, 0, g.c0, 0);
  const chunks: (ChunkMsg & { chain: Uint8Array })[] = [];
  for (let i = 1; i <= n; i++) {
    const payload = new Uint8Array(64).fill(i);
    const o = w.chunk(payload, 0, 1, 1e12 + i * 1000, 1000, i, new Uint8Array(16));
    chunks.push({ header: o.header.slice(), payload, tag: o.tag, chain: o.chain });
  }
  const s = w.seal(0, 1e12 + (n + 1) * 1000, 0, cc.caseTagHash(""), new Uint8Array(16), END_STOPPED);
  return { start: { genesis: g.block, caseTag: "" }, chunks, seal: { block: s.block, tag: s.tag, caseTag: "" } as SealMsg, c0: g.c0 };
}

const mk = (o: Partial<VerifierOptions> = {}) => new RecordingVerifier<number>({ sha, deviceId: DEVICE, recordingId: 1, k1, prevSeal: zeros, ...o });

describe("incremental verification", () => {
  it("hands back each chunk, in seq order, only once its link is verified", () => {
    const r = recording(5);
    const v = mk();
    v.start(r.start);
    expect(v.chunk(r.chunks[2], 3).status).toBe("pending");
    expect(v.chunk(r.chunks[1], 2).status).toBe("pending");
    const res = v.chunk(r.chunks[0], 1);
    expect(res.status).toBe("linked");
    expect(res.linked.map((l) => l.ref)).toEqual([1, 2, 3]);
    expect(v.chunk(r.chunks[3], 4).linked.map((l) => l.seq)).toEqual([4]);
  });

  it("bounds the out-of-order buffer and refuses past it without harm; resent chunks then verify", () => {
    const r = recording(10);
    const v = mk({ maxPending: 3 });
    v.start(r.start);
    const st = r.chunks.slice(2).map((c, i) => v.chunk(c, i + 3));
    expect(st.map((x) => x.status)).toEqual(["pending", "pending", "pending", "rejected", "rejected", "rejected", "rejected", "rejected"]);
    expect(st[3].reasons[0].code).toBe("BUFFER_FULL");
    v.chunk(r.chunks[0], 1);
    expect(v.chunk(r.chunks[1], 2).linked.map((l) => l.seq)).toEqual([2, 3, 4, 5]);
    for (let i = 5; i < 10; i++) v.chunk(r.chunks[i], i + 1);
    v.seal(r.seal);
    expect(v.report().verdict).toBe("verified");
  });

  it("refuses a chunk or a seal too far ahead, cheaply, without changing the verdict", () => {
    const r = recording(3);
    const v = mk({ window: 2 });
    v.start(r.start);
    expect(v.chunk(r.chunks[2], 3).reasons[0].code).toBe("SEQ_OUT_OF_WINDOW");
    const forged = parseSeal(r.seal.block);
    forged.lastSeq = 0xfffffff0;
    const t = Date.now();
    const res = v.seal({ ...r.seal, block: encodeSeal(forged, deviceIdBytes(DEVICE)) });
    expect(res.status).toBe("rejected");
    expect(Date.now() - t).toBeLessThan(1000);
    for (const c of r.chunks) v.chunk(c, 0);
    v.seal(r.seal);
    expect(v.report().verdict).toBe("verified");
  });

  it("resumes after a gateway restart from the stored chain state", () => {
    const r = recording(6);
    const a = mk();
    a.start(r.start);
    for (let i = 0; i < 3; i++) a.chunk(r.chunks[i], i + 1);
    const mid = a.report();
    const b = mk({ resume: { c0: r.c0, linkedSeq: mid.linkedSeq, lastChain: r.chunks[2].chain, totalBytes: mid.totalBytes, lastTimeMs: r.chunks[2].header.length } });
    for (let i = 3; i < 6; i++) expect(b.chunk(r.chunks[i], i + 1).status).toBe("linked");
    b.seal(r.seal);
    expect(b.report().verdict).toBe("verified");
  });

  it("declared losses make the gap final and the rest still verifiable", () => {
    const r = recording(6);
    const v = mk();
    v.start(r.start);
    v.chunk(r.chunks[0], 1);
    expect(v.chunk(r.chunks[3], 4).status).toBe("pending");
    const res = v.skipTo(4);
    expect(res.linked.map((l) => l.seq)).toEqual([4]);
    v.chunk(r.chunks[4], 5);
    v.chunk(r.chunks[5], 6);
    v.seal(r.seal);
    v.finish();
    const rep = v.report();
    expect(rep.verdict).toBe("incomplete");
    expect(rep.final).toBe(true);
    expect(rep.missing).toEqual([[2, 3]]);
    expect(rep.reasons.map((x) => x.code)).toEqual(expect.arrayContaining(["GAP", "LOST_ON_DEVICE"]));
  });

  it("uses the caller's chain-value store, so memory stays bounded by what it keeps", () => {
    const r = recording(4);
    const calls: string[] = [];
    const inner = new MemoryHistory();
    const v = mk({ history: { get: (s) => { calls.push("get " + s); return inner.get(s); }, put: (s, c) => { calls.push("put " + s); inner.put(s, c); } } });
    v.start(r.start);
    for (let i = 0; i < 4; i++) v.chunk(r.chunks[i], i + 1);
    expect(v.chunk(r.chunks[1], 2).status).toBe("duplicate");
    expect(calls).toEqual(["put 1", "put 2", "put 3", "put 4", "get 2"]);
  });

  it("wipes its keys on destroy", () => {
    const v = mk();
    v.destroy();
    const keys = v as unknown as { k1: Uint8Array; kf: Uint8Array };
    expect(keys.k1.every((b) => b === 0) && keys.kf.every((b) => b === 0)).toBe(true);
    expect(k1.some((b) => b !== 0)).toBe(true);
  });
});

describe("the seal's end reason (R-SEAL-5)", () => {
  it("is byte 3 of the seal block, under the seal's tag: read back as written, and changed it fails SEAL_TAG", () => {
    const r = recording(2);
    expect(parseSeal(r.seal.block).endReason).toBe(END_STOPPED);
    const v = mk();
    v.start(r.start);
    for (const [i, c] of r.chunks.entries()) v.chunk(c, i + 1);
    const changed = new Uint8Array(r.seal.block);
    changed[3] = END_STORAGE_FULL; // a different reason claimed afterwards
    // Refused as forged (R-VER-0): the tag no longer covers the block.
    const step = v.seal({ ...r.seal, block: changed });
    expect(step.status).toBe("forged");
    expect(step.reasons.map((x) => x.code)).toContain("SEAL_TAG");
    // The true seal still closes the recording, with its own reason.
    expect(v.seal(r.seal).status).not.toBe("forged");
    expect(v.report().verdict).toBe("verified");
    expect(END_REASONS[END_STOPPED]).toBe("STOPPED");
  });
});
