// The station's transparency log (SPEC.md section 14): an append-only Merkle tree hashed as
// RFC 6962, its checkpoints signed by the station key as C2SP tlog-checkpoint notes, served as
// C2SP tlog-tiles. The tree is kept as leaf hashes plus the hash of every full subtree of 256^L
// leaves (what a tile of level L lists), so any subtree hash, hence any proof, costs at most a
// few hundred stored hashes. Every statement is in store/tlog.ts.
import type { Db } from "../store/db.js";
import * as store from "../store/tlog.js";
import type { NewLeaf } from "../store/tlog.js";
import type { StationIdentity } from "./identity.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import {
  TILE_WIDTH, consistencyRanges, encodeEntryBundle, inclusionRanges, leafHash, nodeHash, splitPoint, treeHash,
} from "../../protocol/merkle.js";
import type { TileRef } from "../../protocol/merkle.js";
import { formatCheckpoint } from "../../protocol/note.js";
import { MAX_ENTRY } from "../../protocol/merkle.js";

export class LogError extends Error {
  constructor(public code: string, message: string) {
    super(message);
    this.name = "LogError";
  }
}

/** A leaf to append: `note` asks for the station's signed note over it (recording manifests). */
export interface PendingLeaf {
  ref: string;
  kind: string;
  data: Uint8Array;
  note?: string | null;
}

export interface SignedCheckpoint {
  size: number;
  root: Uint8Array;
  /** The signed note, with any witness cosignature lines after the station's signature. */
  note: string;
}

const pow256 = (l: number) => 256 ** l;

function isPowerOfTwo(n: number): boolean {
  while (n > 1 && n % 2 === 0) n /= 2;
  return n === 1;
}

export class TransparencyLog {
  constructor(private db: Db, private identity: StationIdentity, private now: () => number = Date.now) {}

  /** The log's origin: the station's name. */
  get origin(): string {
    return this.identity.name;
  }

  /**
   * Append the leaves whose refs are not in the log yet, in order, and sign a checkpoint of the
   * new size, in one transaction; `progress` records how far each source was read, with them.
   */
  async append(leaves: PendingLeaf[], progress: { source: string; last: number }[] = []): Promise<{ added: number; size: number }> {
    for (const l of leaves) if (l.data.length > MAX_ENTRY) throw new LogError("ENTRY_TOO_LARGE", `leaf ${l.ref} is ${l.data.length} bytes; an entry is at most ${MAX_ENTRY}`);
    return this.db.transaction(async () => {
      const first = await store.leafCount(this.db);
      const have = await store.existingRefs(this.db, leaves.map((l) => l.ref));
      const seen = new Set<string>();
      const fresh: NewLeaf[] = [];
      const at = this.now();
      for (const l of leaves) {
        if (have.has(l.ref) || seen.has(l.ref)) continue;
        seen.add(l.ref);
        fresh.push({ ref: l.ref, kind: l.kind, data: l.data, hash: leafHash(sha, l.data), note: l.note ?? null, at });
      }
      if (fresh.length) {
        await store.insertLeaves(this.db, first, fresh);
        await this.integrate(first, first + fresh.length);
      }
      for (const p of progress) await store.setProgress(this.db, p.source, p.last);
      const size = first + fresh.length;
      const last = await store.latestCheckpoint(this.db);
      if (!last || last.size < size) await this.signCheckpoint(size);
      return { added: fresh.length, size };
    });
  }

  // Store the hash of every full 256^L subtree that leaves [oldSize, newSize) completed.
  private async integrate(oldSize: number, newSize: number): Promise<void> {
    for (let level = 1; Math.floor(newSize / pow256(level)) > 0; level++) {
      const from = Math.floor(oldSize / pow256(level));
      const to = Math.floor(newSize / pow256(level));
      for (let g = from; g < to; g++) {
        const below = await this.hashesAt(level - 1, g * TILE_WIDTH, (g + 1) * TILE_WIDTH);
        await store.insertSubtreeHash(this.db, level, g, treeHash(sha, below));
      }
    }
  }

  private async signCheckpoint(size: number): Promise<void> {
    const root = await this.rootAt(size);
    const note = this.identity.signNote(formatCheckpoint({ origin: this.origin, size, root, extensions: [] }));
    await store.insertCheckpoint(this.db, { size, root, note, at: this.now() });
  }

  /** Hashes at tile level `level` (0: leaf hashes; L: full subtrees of 256^L leaves), indexes [from, to). */
  private async hashesAt(level: number, from: number, to: number): Promise<Uint8Array[]> {
    const rows = level === 0 ? await store.leafHashes(this.db, from, to) : await store.subtreeHashes(this.db, level, from, to);
    if (rows.length !== to - from) throw new LogError("LOG_INCOMPLETE", `the log's stored hashes at level ${level} [${from}, ${to}) are incomplete (${rows.length} found)`);
    return rows.map((r) => new Uint8Array(r));
  }

  /** MTH of leaves [lo, hi) (RFC 6962 2.1), from the stored hashes. */
  async subtreeHash(lo: number, hi: number): Promise<Uint8Array> {
    const n = hi - lo;
    if (n <= 0) throw new LogError("PROOF_RANGE", `empty range [${lo}, ${hi})`);
    if (n === 1) return (await this.hashesAt(0, lo, hi))[0];
    // An aligned run of 2^j leaves is a node of the tree: read it from the highest level that covers it.
    if (isPowerOfTwo(n) && lo % n === 0) {
      let level = 0;
      while (pow256(level + 1) <= n) level++;
      const unit = pow256(level);
      return treeHash(sha, await this.hashesAt(level, lo / unit, hi / unit));
    }
    const k = splitPoint(n);
    return nodeHash(sha, await this.subtreeHash(lo, lo + k), await this.subtreeHash(lo + k, hi));
  }

  /** The root hash of the tree of the first `size` leaves. */
  async rootAt(size: number): Promise<Uint8Array> {
    return size === 0 ? treeHash(sha, []) : this.subtreeHash(0, size);
  }

  /** Leaves in the log now. */
  size(): Promise<number> {
    return store.leafCount(this.db);
  }

  /** The latest checkpoint with its cosignatures; the empty tree's is signed on first use. */
  async checkpoint(): Promise<SignedCheckpoint> {
    let c = await store.latestCheckpoint(this.db);
    if (!c) {
      await this.append([]);
      c = (await store.latestCheckpoint(this.db))!;
    }
    return this.withCosignatures(c);
  }

  /** The checkpoint the log signed at `size`, with its cosignatures, or null if none was signed there. */
  async checkpointAt(size: number): Promise<SignedCheckpoint | null> {
    const c = await store.checkpointAt(this.db, size);
    return c ? this.withCosignatures(c) : null;
  }

  private async withCosignatures(c: store.CheckpointRow): Promise<SignedCheckpoint> {
    const lines = (await store.cosignatures(this.db, c.size)).map((x) => x.line).join("");
    return { size: c.size, root: new Uint8Array(c.root), note: c.note + lines };
  }

  /** The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 2.1.1). */
  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    await this.checkSize(size);
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new LogError("PROOF_RANGE", `leaf ${index} is not in a tree of ${size}`);
    const out: Uint8Array[] = [];
    for (const [lo, hi] of inclusionRanges(index, size)) out.push(await this.subtreeHash(lo, hi));
    return out;
  }

  /** The consistency proof from the tree of `oldSize` leaves to the tree of `size` (RFC 6962 2.1.2). */
  async consistencyProof(oldSize: number, size: number): Promise<Uint8Array[]> {
    await this.checkSize(size);
    if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > size) throw new LogError("PROOF_RANGE", `old size ${oldSize} is not within 0..${size}`);
    const out: Uint8Array[] = [];
    for (const [lo, hi] of consistencyRanges(oldSize, size)) out.push(await this.subtreeHash(lo, hi));
    return out;
  }

  private async checkSize(size: number): Promise<void> {
    const n = await store.leafCount(this.db);
    if (!Number.isSafeInteger(size) || size < 0 || size > n) throw new LogError("PROOF_RANGE", `the log has ${n} leaves, not ${size}`);
  }

  /**
   * A tile's bytes (C2SP tlog-tiles), or null when the latest checkpoint does not cover it:
   * hashes at level L, or (level -1) the entry bundle.
   */
  async tile(t: TileRef): Promise<Uint8Array | null> {
    const c = await store.latestCheckpoint(this.db);
    const size = c ? c.size : 0;
    const level = t.level === -1 ? 0 : t.level;
    const available = Math.floor(size / pow256(level));
    const from = t.index * TILE_WIDTH;
    if (!Number.isSafeInteger(from) || from + t.width > available) return null;
    if (t.level === -1) return encodeEntryBundle((await store.leafEntries(this.db, from, from + t.width)).map((b) => new Uint8Array(b)));
    const hashes = await this.hashesAt(level, from, from + t.width);
    const out = new Uint8Array(hashes.length * 32);
    hashes.forEach((h, i) => out.set(h, i * 32));
    return out;
  }

  /** A leaf by index: its entry, hash, ref and (recordings) the station's signed note. */
  async leaf(index: number): Promise<store.LeafRow | undefined> {
    return store.leafAt(this.db, index);
  }

  /** A leaf by what it records (recording:DEV/N, ...). */
  async leafByRef(ref: string): Promise<store.LeafRow | undefined> {
    return store.leafByRef(this.db, ref);
  }
}
