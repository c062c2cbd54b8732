// Test helpers: replay a vector case through the verifier; the SHA-256 paths under test.
import { sha256 as nobleSha } from "@noble/hashes/sha2.js";
import { fromHex } from "../../protocol/bytes.js";
import type { Sha256 } from "../../protocol/bytes.js";
import { nodeSha256 } from "../../protocol/sha256-node.js";
import { RecordingVerifier, verifyHistory } from "../../protocol/verify.js";
import type { RecordingMessages, StepResult, VerdictReport } from "../../protocol/verify.js";
import type { Event, RecordingCase, HistoryCase } from "../../protocol/vectors/negative.js";
import { DEVICE } from "../../protocol/vectors/build.js";

/** The two Node-side SHA-256 paths: node:crypto, and a pure-JavaScript one shaped like a board's. */
export const SHA_PATHS: [string, Sha256][] = [
  ["node:crypto", nodeSha256],
  ["@noble/hashes (pure JavaScript)", (d) => nobleSha(d)],
];

/**
 * Feed one recording's events to a fresh verifier and finish it, as the offline verifier does.
 * `refused`: the codes of the messages it refused (forged, or out of bounds), in order.
 */
export function runRecording(sha: Sha256, c: RecordingCase): VerdictReport & { refused: string[] } {
  const v = new RecordingVerifier<number>({ sha, deviceId: DEVICE, recordingId: c.recordingId, k1: fromHex(c.k1), prevSeal: c.prevSeal ? fromHex(c.prevSeal) : undefined });
  const refused = feed(v, c.events);
  refusedIn(v.finish(), refused);
  return { ...v.report(), refused };
}

function refusedIn(r: StepResult<number>, into: string[]): void {
  if (r.status === "forged" || r.status === "rejected") for (const x of r.reasons) into.push(x.code);
  for (const f of r.forgedStarts) into.push(f.reason.code);
}

/** Feed events to a verifier; returns the codes of the messages it refused. */
export function feed(v: RecordingVerifier<number>, events: Event[]): string[] {
  const refused: string[] = [];
  events.forEach((e, i) => {
    if (e.type === "start") refusedIn(v.start({ genesis: fromHex(e.genesis), caseTag: e.caseTag }), refused);
    else if (e.type === "chunk") refusedIn(v.chunk({ header: fromHex(e.header), payload: fromHex(e.payload), tag: fromHex(e.tag) }, i), refused);
    else refusedIn(v.seal({ block: fromHex(e.block), tag: fromHex(e.tag), caseTag: e.caseTag }), refused);
  });
  return refused;
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
