// Test helpers: replay a vector case through the verifier; the SHA-256 paths under test.
import { sha256 as nobleSha } from "@noble/hashes/sha2.js";
import { fromHex } from "../../protocol/bytes.js";
import type { Sha256 } from "../../protocol/bytes.js";
import { nodeSha256 } from "../../protocol/sha256-node.js";
import { RecordingVerifier, verifyHistory } from "../../protocol/verify.js";
import type { RecordingMessages, VerdictReport } from "../../protocol/verify.js";
import type { Event, RecordingCase, HistoryCase } from "../../protocol/vectors/negative.js";
import { DEVICE } from "../../protocol/vectors/build.js";

/** The two Node-side SHA-256 paths: node:crypto, and a pure-JavaScript one shaped like a board's. */
export const SHA_PATHS: [string, Sha256][] = [
  ["node:crypto", nodeSha256],
  ["@noble/hashes (pure JavaScript)", (d) => nobleSha(d)],
];

/** Feed one recording's events to a fresh verifier and finish it, as the offline verifier does. */
export function runRecording(sha: Sha256, c: RecordingCase): VerdictReport {
  const v = new RecordingVerifier<number>({ sha, deviceId: DEVICE, recordingId: c.recordingId, k1: fromHex(c.k1), prevSeal: c.prevSeal ? fromHex(c.prevSeal) : undefined });
  feed(v, c.events);
  v.finish();
  return v.report();
}

export function feed(v: RecordingVerifier<number>, events: Event[]): void {
  events.forEach((e, i) => {
    if (e.type === "start") v.start({ genesis: fromHex(e.genesis), caseTag: e.caseTag });
    else if (e.type === "chunk") v.chunk({ header: fromHex(e.header), payload: fromHex(e.payload), tag: fromHex(e.tag) }, i);
    else v.seal({ block: fromHex(e.block), tag: fromHex(e.tag), caseTag: e.caseTag });
  });
}

export function toMessages(recordingId: number, events: Event[]): RecordingMessages {
  const m: RecordingMessages = { recordingId, chunks: [] };
  for (const e of events) {
    if (e.type === "start") m.start = { genesis: fromHex(e.genesis), caseTag: e.caseTag };
    else if (e.type === "chunk") m.chunks.push({ header: fromHex(e.header), payload: fromHex(e.payload), tag: fromHex(e.tag) });
    else m.seal = { block: fromHex(e.block), tag: fromHex(e.tag), caseTag: e.caseTag };
  }
  return m;
}

export function runHistory(sha: Sha256, s0: Uint8Array, c: HistoryCase) {
  return verifyHistory(sha, DEVICE, s0, c.recordings.map((r) => toMessages(r.recordingId, r.events)), c.claimedLastSealed);
}

export const codes = (r: { reasons: { code: string }[] }) => r.reasons.map((x) => x.code);
