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

/**
 * Replay the log. Leaves, checkpoints and subtree hashes are read a page at a time (keyset, in
 * index order), so memory does not grow with the log: the tree is rebuilt from its right edge
 * (MerkleBuilder), and each full subtree of 256 leaves is checked as its last leaf goes by.
 * `progress` hears after each page of leaves how many of the total are replayed.
 */
export async function verifyLog(db: Db, identity: StationIdentity, opts: { progress?: (done: number, total: number) => void; page?: number } = {}): Promise<LogVerifyResult> {
  const page = opts.page ?? PAGE;
  const leafProblems: LogProblem[] = [];
  const subtreeProblems: LogProblem[] = [];
  const total = await store.leafCount(db);
  const checkpoints = await store.checkpointCount(db);
  const builder = new MerkleBuilder(sha);
  // The checkpoints, a page at a time, in size order beside the leaves.
  let cps: store.CheckpointRow[] = [];
  let cpAt = 0;
  let cpAfter = -1;
  let cpDone = false;
  const checkRoot = async (size: number) => {
    for (;;) {
      if (cpAt === cps.length) {
        if (cpDone) return;
        cps = await store.checkpointsAfter(db, cpAfter, page);
        cpAt = 0;
        if (cps.length < page) cpDone = true;
        if (!cps.length) return;
        cpAfter = cps[cps.length - 1].size;
      }
      const c = cps[cpAt];
      if (c.size > size) return;
      cpAt++;
      if (c.size < size) continue;
      if (!ctEqual(builder.root(), c.root)) leafProblems.push({ code: "CHECKPOINT_ROOT", index: size, detail: `the checkpoint signed at size ${size} has a root the log's leaves don't give: the log was rewritten after it was signed` });
      try {
        const v = verifyCheckpoint(sha, nodeEd25519Verify, c.note, { log: identity.noteKey });
        if (v.checkpoint.size !== size || !ctEqual(v.checkpoint.root, c.root)) throw new Error("the note says another size or root");
      } catch (e) {
        leafProblems.push({ code: "CHECKPOINT_SIGNATURE", index: size, detail: `the checkpoint at size ${size} does not verify under the station key: ${(e as Error).message}` });
      }
    }
  };
  const subtreeProblem = (level: number, idx: number) => {
    const unit = 256 ** level;
    subtreeProblems.push({ code: "SUBTREE_HASH", index: idx * unit, detail: `the stored hash of leaves ${idx * unit}..${(idx + 1) * unit - 1} (tile level ${level}) is not theirs` });
  };
  // The leaf hashes of the subtree of 256 under way; its stored hash is checked when it is full.
  let group: Uint8Array[] = [];
  await checkRoot(0);
  for (let after = -1; ;) {
    const rows = await store.leavesAfter(db, after, page);
    const leaves: (Leaf | null)[] = [];
    for (const r of rows) {
      const data = new Uint8Array(r.data);
      const h = leafHash(sha, data);
      if (!ctEqual(h, r.hash)) leafProblems.push({ code: "LEAF_HASH", index: r.idx, detail: `leaf ${r.idx} (${r.ref}) no longer hashes to its stored leaf hash` });
      const stored = new Uint8Array(r.hash);
      builder.push(stored);
      group.push(stored);
      if (group.length === 256) {
        const g = builder.size / 256 - 1;
        const [kept] = await store.subtreeHashes(db, 1, g, g + 1);
        if (kept && !ctEqual(treeHash(sha, group), kept)) subtreeProblem(1, g);
        group = [];
      }
      await checkRoot(builder.size);
      let leaf: Leaf | null = null;
      try { leaf = decodeLeaf(sha, data); } catch (e) {
        leafProblems.push({ code: "LEAF_INVALID", index: r.idx, detail: `leaf ${r.idx} (${r.ref}): ${(e as Error).message}` });
      }
      leaves.push(leaf);
    }
    // What the page's leaves anchor: the audit log's hashes in a few statements, the rest one by one.
    const seqs = new Set<number>();
    leaves.forEach((l, i) => { const seq = l ? auditSeqOf(rows[i].ref, l) : null; if (seq !== null) seqs.add(seq); });
    const auditHashes = seqs.size ? await store.auditHashesAt(db, [...seqs]) : new Map<number, string>();
    for (let i = 0; i < rows.length; i++) {
      const leaf = leaves[i];
      if (leaf) await checkAnchor(db, rows[i].idx, rows[i].ref, leaf, leafProblems, auditHashes);
    }
    opts.progress?.(builder.size, total);
    if (rows.length < page) break;
    after = rows[rows.length - 1].idx;
  }
  // Stored subtree hashes the walk did not check: level-1 ones past the full subtrees the log has
  // (nothing of theirs to hash: wrong), and those of higher levels, from the level below.
  const full = Math.floor(builder.size / 256);
  for (let after = { level: 1, idx: full - 1 }; ;) {
    const rows = await store.subtreeHashesAfter(db, after, page);
    for (const s of rows) {
      if (s.level === 1) { subtreeProblem(1, s.idx); continue; }
      const below = (await store.subtreeHashes(db, s.level - 1, s.idx * 256, s.idx * 256 + 256)).map((p) => new Uint8Array(p));
      if (below.length !== 256 || !ctEqual(treeHash(sha, below), s.hash)) subtreeProblem(s.level, s.idx);
    }
    if (rows.length < page) break;
    after = rows[rows.length - 1];
  }
  const problems = [...leafProblems, ...subtreeProblems];
  return { ok: problems.length === 0, size: builder.size, checkpoints, problems };
}

/** The audit entry a leaf anchors, if it anchors one (an audit head, a custody event of the audit log). */
function auditSeqOf(ref: string, leaf: Leaf): number | null {
  if (leaf.type === "audit" && ref.startsWith("audit:")) return leaf.count;
  if (leaf.type === "custody" && leaf.ref.startsWith("audit:")) return Number(leaf.ref.slice(6));
  return null;
}

async function checkAnchor(db: Db, idx: number, ref: string, leaf: Leaf, problems: LogProblem[], auditHashes: Map<number, string>): Promise<void> {
  if (leaf.type === "audit" && ref.startsWith("audit:")) {
    const h = auditHashes.get(leaf.count);
    if (h === undefined) problems.push({ code: "AUDIT_TRUNCATED", index: idx, detail: `leaf ${idx} anchors audit entry ${leaf.count}, which the audit log no longer has: it was cut` });
    else if (h !== leaf.head) problems.push({ code: "AUDIT_ANCHOR", index: idx, detail: `leaf ${idx} anchors audit entry ${leaf.count} with hash ${leaf.head}; the audit log has ${h} there: its history up to that entry was rewritten` });
  } else if (leaf.type === "recording") {
    const block = await store.sealBlockOf(db, leaf.device, leaf.recording);
    const z = block ? toHex(sha(concat([D_SEAL, new Uint8Array(block)]))) : null;
    if (z !== leaf.sealValue) problems.push({ code: "RECORDING_CHANGED", index: idx, detail: `${leaf.device}/${leaf.recording}: ${block === undefined ? "the recording's row is gone" : "its stored seal block is not the one logged"} (leaf ${idx})` });
  } else if (leaf.type === "custody") {
    if (leaf.ref.startsWith("audit:")) {
      const h = auditHashes.get(Number(leaf.ref.slice(6)));
      if (h !== leaf.commit) problems.push({ code: "CUSTODY_CHANGED", index: idx, detail: `leaf ${idx}: audit entry ${leaf.ref.slice(6)} (${leaf.action} of ${leaf.device}/${leaf.recording}) ${h === undefined ? "is gone" : "was changed"}` });
    } else {
      const e = await store.linkEvent(db, Number(leaf.ref.slice(5)));
      const commit = e ? linkEventCommit(sha, { id: e.id, at: e.at, actor: e.actor, action: e.action, device: e.device_id, recording: e.recording_id, case: e.case_number, reason: e.reason }) : null;
      if (commit !== leaf.commit) problems.push({ code: "CUSTODY_CHANGED", index: idx, detail: `leaf ${idx}: custody event ${leaf.ref} (${leaf.action} of ${leaf.device}/${leaf.recording}) ${e ? "was changed" : "is gone"}` });
    }
  }
}
