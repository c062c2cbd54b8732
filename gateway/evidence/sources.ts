// What becomes a leaf of the transparency log (SPEC.md R-LOG-3..5): sealed recordings with a
// settled verdict (their manifests, signed by the station), custody events (links and unlinks
// from the custody trail, views, downloads, denials and exports from the audit log), and the
// audit log's head. Read from the tables of the parts that own them, through store/tlog.ts;
// each source remembers how far it has been read, in the transaction that appends its leaves.
import type { Db } from "../store/db.js";
import * as store from "../store/tlog.js";
import type { StationIdentity } from "./identity.js";
import type { PendingLeaf, TransparencyLog } from "./tlog.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { toHex } from "../../protocol/bytes.js";
import { concat } from "../../protocol/bytes.js";
import { D_GENESIS, D_SEAL } from "../../protocol/constants.js";
import { encodeLeaf, linkEventCommit, manifestNoteText } from "../../protocol/leaves.js";
import type { CustodyLeaf, RecordingLeaf } from "../../protocol/leaves.js";
import { validDeviceId } from "../../protocol/blocks.js";

/** The log's ref of a custody event's leaf: a link event's, an audit entry's (one place for both writers and readers). */
export const custodyLeafRef = (kind: "link" | "audit", id: number | string): string => `custody:${kind}:${id}`;

/** Audit actions that are accesses to a recording: custody events of the log (R-LOG-4). */
export const CUSTODY_AUDIT_ACTIONS = ["recording.view", "recording.download", "recording.denied", "recording.export", "recording.purge", "recording.undelete", "recording.hold", "recording.release"];

const BATCH = 500;

export interface Gathered {
  leaves: PendingLeaf[];
  progress: { source: string; last: number }[];
}

/** A recording's manifest leaf (R-LOG-3) and the station's signed note over it. */
export function recordingLeaf(identity: StationIdentity, r: store.SealedRecordingRow): PendingLeaf {
  let reasons: string[] = [];
  try { reasons = (JSON.parse(r.reasons) as { code: string }[]).map((x) => x.code); } catch { reasons = []; }
  const leaf: RecordingLeaf = {
    type: "recording", v: 1, device: r.device_id, recording: r.recording_id,
    genesis: toHex(r.genesis), seal: toHex(r.seal_block),
    c0: toHex(sha(concat([D_GENESIS, r.genesis]))), sealValue: toHex(sha(concat([D_SEAL, r.seal_block]))),
    verdict: r.verdict as RecordingLeaf["verdict"], reasons, receivedFirstMs: r.first_received, receivedLastMs: Math.max(r.first_received, r.last_received),
  };
  const data = encodeLeaf(sha, leaf);
  return { ref: `recording:${r.device_id}/${r.recording_id}`, kind: "recording", data, note: identity.signNote(manifestNoteText(data)) };
}

/** "DEV/N" → its parts, or null. */
export function parseTarget(t: string | null): { device: string; recording: number } | null {
  if (!t) return null;
  const m = /^([A-Za-z0-9._-]{1,16})\/([1-9][0-9]{0,9})$/.exec(t);
  if (!m || !validDeviceId(m[1])) return null;
  return { device: m[1], recording: Number(m[2]) };
}

/**
 * Bring the log up to date with every source (in batches until nothing is new); returns the
 * leaves added and the log's size. Passes must not overlap: the callers serialize them.
 */
export async function syncSources(db: Db, identity: StationIdentity, audit: { head(): Promise<{ count: number; hash: string }> }, tlog: TransparencyLog, now: () => number): Promise<{ added: number; size: number }> {
  let added = 0;
  let size = 0;
  for (;;) {
    const g = await gather(db, identity, await audit.head(), now());
    const r = await tlog.append(g.leaves, g.progress);
    added += r.added;
    size = r.size;
    if (!g.leaves.length || r.added === 0) break;
  }
  return { added, size };
}

/** New leaves from every source since the last call, and the progress to record with them. */
export async function gather(db: Db, identity: StationIdentity, auditHead: { count: number; hash: string }, now: number): Promise<Gathered> {
  const leaves: PendingLeaf[] = [];
  const progress: Gathered["progress"] = [];

  for (const r of await store.unloggedSealedRecordings(db, BATCH)) leaves.push(recordingLeaf(identity, r));

  const lastLink = await store.progress(db, "custody-link");
  const links = await store.linkEventsAfter(db, lastLink, BATCH);
  for (const e of links) {
    const leaf: CustodyLeaf = {
      type: "custody", v: 1, action: e.action, device: e.device_id, recording: e.recording_id, at: e.at, ref: `link:${e.id}`,
      commit: linkEventCommit(sha, { id: e.id, at: e.at, actor: e.actor, action: e.action, device: e.device_id, recording: e.recording_id, case: e.case_number, reason: e.reason }),
    };
    leaves.push({ ref: custodyLeafRef("link", e.id), kind: "custody", data: encodeLeaf(sha, leaf) });
  }
  if (links.length) progress.push({ source: "custody-link", last: links[links.length - 1].id });

  const lastAccess = await store.progress(db, "custody-audit");
  const accesses = await store.auditEntriesAfter(db, lastAccess, CUSTODY_AUDIT_ACTIONS, BATCH);
  for (const a of accesses) {
    const t = parseTarget(a.target);
    // An access to something that is not one recording (a case export lists its recordings in
    // their own entries) is anchored with the audit head instead.
    if (!t) continue;
    const leaf: CustodyLeaf = { type: "custody", v: 1, action: a.action, device: t.device, recording: t.recording, at: a.at, ref: `audit:${a.seq}`, commit: a.hash };
    leaves.push({ ref: custodyLeafRef("audit", a.seq), kind: "custody", data: encodeLeaf(sha, leaf) });
  }
  if (accesses.length) progress.push({ source: "custody-audit", last: accesses[accesses.length - 1].seq });

  // The audit log's head, whenever it moved: its keyed checkpoints, anchored in public.
  const anchored = await store.progress(db, "audit-head");
  if (auditHead.count > anchored) {
    leaves.push({ ref: `audit:${auditHead.count}`, kind: "audit", data: encodeLeaf(sha, { type: "audit", v: 1, count: auditHead.count, head: auditHead.hash, at: now }) });
    progress.push({ source: "audit-head", last: auditHead.count });
  }
  return { leaves, progress };
}
