// `admin log verify`: replay the station's own transparency log against what the station
// holds, as a monitor would and more: every leaf hashes to its stored hash and parses; every
// stored checkpoint's root is the replayed tree's at its size and its signature verifies; the
// stored subtree hashes tiles are served from are right; and what the leaves anchor still
// matches: the audit log's entry at each anchored count (an audit history rewritten even by
// someone holding the audit key shows here), each recording's stored seal block, each
// custody event. The log itself can't be rewritten unseen once witnesses hold its checkpoints.
import type { Db } from "../store/db.js";
import * as store from "../store/tlog.js";
import type { StationIdentity } from "./identity.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { nodeEd25519Verify } from "../../protocol/ed25519-node.js";
import { MerkleBuilder, leafHash, treeHash } from "../../protocol/merkle.js";
import { decodeLeaf, linkEventCommit } from "../../protocol/leaves.js";
import type { Leaf } from "../../protocol/leaves.js";
import { verifyCheckpoint } from "../../protocol/note.js";
import { concat, ctEqual, toHex } from "../../protocol/bytes.js";
import { D_SEAL } from "../../protocol/constants.js";

export interface LogProblem {
  code: "LEAF_HASH" | "LEAF_INVALID" | "CHECKPOINT_ROOT" | "CHECKPOINT_SIGNATURE" | "SUBTREE_HASH" | "AUDIT_ANCHOR" | "AUDIT_TRUNCATED" | "RECORDING_CHANGED" | "CUSTODY_CHANGED";
  index?: number;
  detail: string;
}

export interface LogVerifyResult {
  ok: boolean;
  size: number;
  checkpoints: number;
  problems: LogProblem[];
}

const PAGE = 2000;

export async function verifyLog(db: Db, identity: StationIdentity): Promise<LogVerifyResult> {
  const problems: LogProblem[] = [];
  const checkpoints = await store.allCheckpoints(db);
  const bySize = new Map(checkpoints.map((c) => [c.size, c]));
  const builder = new MerkleBuilder(sha);
  const hashes: Uint8Array[] = [];
  const checkRoot = (size: number) => {
    const c = bySize.get(size);
    if (!c) return;
    if (!ctEqual(builder.root(), c.root)) problems.push({ code: "CHECKPOINT_ROOT", index: size, detail: `the checkpoint signed at size ${size} has a root the log's leaves don't give: the log was rewritten after it was signed` });
    try {
      const v = verifyCheckpoint(sha, nodeEd25519Verify, c.note, { log: identity.noteKey });
      if (v.checkpoint.size !== size || !ctEqual(v.checkpoint.root, c.root)) throw new Error("the note says another size or root");
    } catch (e) {
      problems.push({ code: "CHECKPOINT_SIGNATURE", index: size, detail: `the checkpoint at size ${size} does not verify under the station key: ${(e as Error).message}` });
    }
  };
  checkRoot(0);
  for (let after = -1; ;) {
    const rows = await store.leavesAfter(db, after, PAGE);
    for (const r of rows) {
      const data = new Uint8Array(r.data);
      const h = leafHash(sha, data);
      if (!ctEqual(h, r.hash)) problems.push({ code: "LEAF_HASH", index: r.idx, detail: `leaf ${r.idx} (${r.ref}) no longer hashes to its stored leaf hash` });
      builder.push(new Uint8Array(r.hash));
      hashes.push(new Uint8Array(r.hash));
      checkRoot(builder.size);
      let leaf: Leaf | null = null;
      try { leaf = decodeLeaf(sha, data); } catch (e) {
        problems.push({ code: "LEAF_INVALID", index: r.idx, detail: `leaf ${r.idx} (${r.ref}): ${(e as Error).message}` });
      }
      if (leaf) await checkAnchor(db, r.idx, r.ref, leaf, problems);
    }
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1].idx;
  }
  // The subtree hashes that tiles of level ≥ 1 serve.
  for (const s of await store.allSubtreeHashes(db)) {
    const unit = 256 ** s.level;
    let below: Uint8Array[] = [];
    if (s.level === 1) below = hashes.slice(s.idx * 256, s.idx * 256 + 256);
    else {
      const parts = await store.subtreeHashes(db, s.level - 1, s.idx * 256, s.idx * 256 + 256);
      below = parts.map((p) => new Uint8Array(p));
    }
    if (below.length !== 256 || !ctEqual(treeHash(sha, below), s.hash)) problems.push({ code: "SUBTREE_HASH", index: s.idx * unit, detail: `the stored hash of leaves ${s.idx * unit}..${(s.idx + 1) * unit - 1} (tile level ${s.level}) is not theirs` });
  }
  return { ok: problems.length === 0, size: builder.size, checkpoints: checkpoints.length, problems };
}

async function checkAnchor(db: Db, idx: number, ref: string, leaf: Leaf, problems: LogProblem[]): Promise<void> {
  if (leaf.type === "audit" && ref.startsWith("audit:")) {
    const h = await store.auditHashAt(db, leaf.count);
    if (h === undefined) problems.push({ code: "AUDIT_TRUNCATED", index: idx, detail: `leaf ${idx} anchors audit entry ${leaf.count}, which the audit log no longer has: it was cut` });
    else if (h !== leaf.head) problems.push({ code: "AUDIT_ANCHOR", index: idx, detail: `leaf ${idx} anchors audit entry ${leaf.count} with hash ${leaf.head}; the audit log has ${h} there: its history up to that entry was rewritten` });
  } else if (leaf.type === "recording") {
    const block = await store.sealBlockOf(db, leaf.device, leaf.recording);
    const z = block ? toHex(sha(concat([D_SEAL, new Uint8Array(block)]))) : null;
    if (z !== leaf.sealValue) problems.push({ code: "RECORDING_CHANGED", index: idx, detail: `${leaf.device}/${leaf.recording}: ${block === undefined ? "the recording's row is gone" : "its stored seal block is not the one logged"} (leaf ${idx})` });
  } else if (leaf.type === "custody") {
    if (leaf.ref.startsWith("audit:")) {
      const h = await store.auditHashAt(db, Number(leaf.ref.slice(6)));
      if (h !== leaf.commit) problems.push({ code: "CUSTODY_CHANGED", index: idx, detail: `leaf ${idx}: audit entry ${leaf.ref.slice(6)} (${leaf.action} of ${leaf.device}/${leaf.recording}) ${h === undefined ? "is gone" : "was changed"}` });
    } else {
      const e = await store.linkEvent(db, Number(leaf.ref.slice(5)));
      const commit = e ? linkEventCommit(sha, { id: e.id, at: e.at, actor: e.actor, action: e.action, device: e.device_id, recording: e.recording_id, case: e.case_number, reason: e.reason }) : null;
      if (commit !== leaf.commit) problems.push({ code: "CUSTODY_CHANGED", index: idx, detail: `leaf ${idx}: custody event ${leaf.ref} (${leaf.action} of ${leaf.device}/${leaf.recording}) ${e ? "was changed" : "is gone"}` });
    }
  }
}
