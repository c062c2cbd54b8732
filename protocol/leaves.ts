// The transparency log's entries (SPEC.md R-LOG-2..7): each is one JSON object in RFC 8785
// canonical form, UTF-8, with a "type" and a version "v". The offline verifier and any monitor
// parse them here and recheck what can be rechecked from the entry alone (a recording's chain
// values from its blocks). Sans-IO, SHA-256 injected.
import type { Sha256 } from "./bytes.js";
import { codedError, fromHex, toHex } from "./bytes.js";
import { canonicalBytes, canonicalize } from "./jcs.js";
import { D_GENESIS, D_SEAL, GENESIS_LEN, SEAL_LEN } from "./constants.js";
import { concat } from "./bytes.js";
import { parseGenesis, parseSeal, validDeviceId } from "./blocks.js";

export const LEAF_VERSION = 1;

/** A sealed recording as the station stored and judged it (R-LOG-3). */
export interface RecordingLeaf {
  type: "recording";
  v: 1;
  device: string;
  recording: number;
  /** The genesis block (R-GEN-1) and seal block (R-SEAL-1), lowercase hex, as the device sent them. */
  genesis: string;
  seal: string;
  /** C_0 and Z, recomputable from the blocks. */
  c0: string;
  sealValue: string;
  verdict: "verified" | "incomplete" | "failed";
  /** Reason codes of the verdict (informational ones included), in the order found. */
  reasons: string[];
  /** Gateway time of the first and last message of the recording it stored (ms since the epoch). */
  receivedFirstMs: number;
  receivedLastMs: number;
}

/** A custody event: a link, unlink, view, download, denial or export touching a recording (R-LOG-4). */
export interface CustodyLeaf {
  type: "custody";
  v: 1;
  action: string;
  device: string;
  recording: number;
  at: number;
  /** Where the full event is kept: "audit:<seq>" (the audit log) or "link:<id>" (the custody trail). */
  ref: string;
  /** A commitment to the full event (who, why, which case), lowercase hex SHA-256: see R-LOG-4. */
  commit: string;
}

/** A keyed checkpoint of the audit log, anchored (R-LOG-5). */
export interface AuditLeaf {
  type: "audit";
  v: 1;
  count: number;
  head: string;
  at: number;
}

/** A recording deleted under the retention rules (R-LOG-6). */
export interface DeletionLeaf {
  type: "deletion";
  v: 1;
  device: string;
  recording: number;
  sealValue: string;
  /** Index of the recording's own leaf in this log, -1 if it never had one. */
  recordingLeaf: number;
  category: string;
  /** When its retention ran out (ms since the epoch), and when it was deleted. */
  retainUntil: number;
  deletedAt: number;
}

export type Leaf = RecordingLeaf | CustodyLeaf | AuditLeaf | DeletionLeaf;

const HEX32 = /^[0-9a-f]{64}$/;
const VERDICTS = ["verified", "incomplete", "failed"];

function bad(why: string): Error {
  return codedError("LEAF_INVALID", why);
}

function isCount(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

function need(o: Record<string, unknown>, keys: string[]): void {
  const have = Object.keys(o).sort();
  const want = keys.slice().sort();
  if (have.join(",") !== want.join(",")) throw bad(`${String(o.type)} leaf has fields ${have.join(",")}, expected ${want.join(",")}`);
}

/** The bytes of a leaf: its canonical JSON (R-LOG-2). Checks the leaf first. */
export function encodeLeaf(sha: Sha256, leaf: Leaf): Uint8Array {
  checkLeaf(sha, leaf as unknown as Record<string, unknown>);
  return canonicalBytes(leaf);
}

/**
 * Parse and check a log entry: canonical JSON of a known type with exactly its fields, and
 * (recordings) chain values that match the blocks. Throws LEAF_INVALID with the reason.
 */
export function decodeLeaf(sha: Sha256, bytes: Uint8Array): Leaf {
  let text: string;
  try { text = new TextDecoder("utf-8", { fatal: true }).decode(bytes); } catch (e) { throw bad("not UTF-8"); }
  let o: unknown;
  try { o = JSON.parse(text); } catch (e) { throw bad("not JSON"); }
  if (o === null || typeof o !== "object" || Array.isArray(o)) throw bad("not a JSON object");
  if (canonicalize(o) !== text) throw bad("not in RFC 8785 canonical form");
  checkLeaf(sha, o as Record<string, unknown>);
  return o as Leaf;
}

function checkLeaf(sha: Sha256, o: Record<string, unknown>): void {
  if (o.v !== LEAF_VERSION) throw bad(`version ${String(o.v)}: this reader knows version ${LEAF_VERSION}`);
  if (o.type === "recording") {
    need(o, ["type", "v", "device", "recording", "genesis", "seal", "c0", "sealValue", "verdict", "reasons", "receivedFirstMs", "receivedLastMs"]);
    if (typeof o.device !== "string" || !validDeviceId(o.device)) throw bad("device is not a device id");
    if (!isCount(o.recording) || o.recording < 1) throw bad("recording is not a positive integer");
    if (typeof o.genesis !== "string" || !new RegExp(`^[0-9a-f]{${GENESIS_LEN * 2}}$`).test(o.genesis)) throw bad("genesis is not a 120-byte block in hex");
    if (typeof o.seal !== "string" || !new RegExp(`^[0-9a-f]{${SEAL_LEN * 2}}$`).test(o.seal)) throw bad("seal is not a 128-byte block in hex");
    const g = fromHex(o.genesis);
    const s = fromHex(o.seal);
    const pg = parseGenesis(g);
    const ps = parseSeal(s);
    if (pg.deviceId !== o.device || pg.recordingId !== o.recording) throw bad("genesis names another device or recording");
    if (ps.deviceId !== o.device || ps.recordingId !== o.recording) throw bad("seal names another device or recording");
    if (o.c0 !== toHex(sha(concat([D_GENESIS, g])))) throw bad("c0 is not the genesis block's chain value");
    if (o.sealValue !== toHex(sha(concat([D_SEAL, s])))) throw bad("sealValue is not the seal block's value");
    if (typeof o.verdict !== "string" || !VERDICTS.includes(o.verdict)) throw bad("verdict is not verified, incomplete or failed");
    if (!Array.isArray(o.reasons) || !o.reasons.every((r) => typeof r === "string" && /^[A-Z_]+$/.test(r))) throw bad("reasons is not a list of reason codes");
    if (!isCount(o.receivedFirstMs) || !isCount(o.receivedLastMs) || o.receivedLastMs < o.receivedFirstMs) throw bad("receipt times are not ordered ms");
    return;
  }
  if (o.type === "custody") {
    need(o, ["type", "v", "action", "device", "recording", "at", "ref", "commit"]);
    if (typeof o.action !== "string" || !/^[a-z][a-z._-]{0,63}$/.test(o.action)) throw bad("action is not a lowercase action name");
    if (typeof o.device !== "string" || !validDeviceId(o.device)) throw bad("device is not a device id");
    if (!isCount(o.recording) || o.recording < 1) throw bad("recording is not a positive integer");
    if (!isCount(o.at)) throw bad("at is not ms since the epoch");
    if (typeof o.ref !== "string" || !/^(audit|link):[1-9][0-9]*$/.test(o.ref)) throw bad("ref is not audit:<seq> or link:<id>");
    if (typeof o.commit !== "string" || !HEX32.test(o.commit)) throw bad("commit is not 32 bytes of hex");
    return;
  }
  if (o.type === "audit") {
    need(o, ["type", "v", "count", "head", "at"]);
    if (!isCount(o.count) || o.count < 1) throw bad("count is not a positive integer");
    if (typeof o.head !== "string" || !HEX32.test(o.head)) throw bad("head is not 32 bytes of hex");
    if (!isCount(o.at)) throw bad("at is not ms since the epoch");
    return;
  }
  if (o.type === "deletion") {
    need(o, ["type", "v", "device", "recording", "sealValue", "recordingLeaf", "category", "retainUntil", "deletedAt"]);
    if (typeof o.device !== "string" || !validDeviceId(o.device)) throw bad("device is not a device id");
    if (!isCount(o.recording) || o.recording < 1) throw bad("recording is not a positive integer");
    if (typeof o.sealValue !== "string" || !(HEX32.test(o.sealValue) || o.sealValue === "")) throw bad("sealValue is not 32 bytes of hex");
    if (typeof o.recordingLeaf !== "number" || !Number.isSafeInteger(o.recordingLeaf) || o.recordingLeaf < -1) throw bad("recordingLeaf is not a leaf index or -1");
    if (typeof o.category !== "string" || !/^[a-z][a-z0-9_-]{0,31}$/.test(o.category)) throw bad("category is not a retention category name");
    if (!isCount(o.retainUntil) || !isCount(o.deletedAt)) throw bad("retainUntil and deletedAt are ms since the epoch");
    return;
  }
  throw bad(`unknown leaf type ${JSON.stringify(o.type)}`);
}

/** The first line of a recording manifest's signed note (R-LOG-3): the domain of the station's signature. */
export const MANIFEST_NOTE_HEADER = "evrec/recording-manifest/v1";

/** The note text the station signs for a recording leaf: the header line, the leaf's canonical JSON, a newline. */
export function manifestNoteText(leafBytes: Uint8Array): string {
  return MANIFEST_NOTE_HEADER + "\n" + new TextDecoder("utf-8", { fatal: true }).decode(leafBytes) + "\n";
}

/**
 * The commitment of a custody event from the custody trail (R-LOG-4): SHA-256 of the canonical
 * JSON of {id, at, actor, action, device, recording, case, reason}.
 */
export function linkEventCommit(sha: Sha256, e: { id: number; at: number; actor: string; action: string; device: string; recording: number; case: string; reason: string }): string {
  return toHex(sha(canonicalBytes({ id: e.id, at: e.at, actor: e.actor, action: e.action, device: e.device, recording: e.recording, case: e.case, reason: e.reason })));
}
