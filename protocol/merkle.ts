// The transparency log's Merkle tree (SPEC.md section 14): RFC 6962 / RFC 9162 hashing,
// inclusion and consistency proofs (which subtrees a proof needs, and checking one), and the
// C2SP tlog-tiles paths. Sans-IO and with SHA-256 injected, so the gateway, the offline
// verifier and a browser share it. Sizes and indexes stay below 2^53 and are handled with
// arithmetic, never 32-bit bit operations.
import type { Sha256 } from "./bytes.js";
import { codedError, concat } from "./bytes.js";

export const HASH_SIZE = 32;
/** Tile height (C2SP tlog-tiles): 2^8 = 256 hashes per full tile. */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** Largest entry an entry bundle can carry (uint16 length prefix). */
export const MAX_ENTRY = 65535;

const LEAF_PREFIX = new Uint8Array([0]);
const NODE_PREFIX = new Uint8Array([1]);

/** RFC 6962 2.1: the hash of a leaf, SHA-256(0x00 ‖ entry). */
export function leafHash(sha: Sha256, entry: Uint8Array): Uint8Array {
  return sha(concat([LEAF_PREFIX, entry]));
}

/** RFC 6962 2.1: the hash of an interior node, SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(sha: Sha256, left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha(concat([NODE_PREFIX, left, right]));
}

/** The largest power of two strictly below n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH of consecutive hashes taken as the leaves of a tree (RFC 6962 2.1): leaf hashes, or subtree hashes of equal full subtrees. */
export function treeHash(sha: Sha256, hashes: Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return sha(new Uint8Array(0));
  return fold(sha, hashes, 0, hashes.length);
}

function fold(sha: Sha256, h: Uint8Array[], lo: number, hi: number): Uint8Array {
  if (hi - lo === 1) return h[lo];
  const k = splitPoint(hi - lo);
  return nodeHash(sha, fold(sha, h, lo, lo + k), fold(sha, h, lo + k, hi));
}

/** A run of leaves [lo, hi) whose Merkle tree hash a proof carries. */
export type Range = [number, number];

function checkSizes(what: string, a: number, b: number): void {
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || a < 0 || b < 0) throw codedError("PROOF_RANGE", what + ": sizes must be non-negative integers");
}

/**
 * The subtrees whose hashes make the inclusion proof of leaf `index` in a tree of `size`
 * leaves (RFC 6962 2.1.1 PATH), in proof order, bottom up.
 */
export function inclusionRanges(index: number, size: number): Range[] {
  checkSizes("inclusion", index, size);
  if (index >= size) throw codedError("PROOF_RANGE", "leaf " + index + " is not in a tree of " + size);
  const out: Range[] = [];
  path(index, 0, size, out);
  return out;
}

function path(m: number, lo: number, hi: number, out: Range[]): void {
  if (hi - lo <= 1) return;
  const k = splitPoint(hi - lo);
  if (m < lo + k) {
    path(m, lo, lo + k, out);
    out.push([lo + k, hi]);
  } else {
    path(m, lo + k, hi, out);
    out.push([lo, lo + k]);
  }
}

/**
 * The subtrees whose hashes make the consistency proof from a tree of `oldSize` leaves to one
 * of `size` (RFC 6962 2.1.2 PROOF), in proof order. Empty when oldSize is 0 or equals size.
 */
export function consistencyRanges(oldSize: number, size: number): Range[] {
  checkSizes("consistency", oldSize, size);
  if (oldSize > size) throw codedError("PROOF_RANGE", "old size " + oldSize + " is above size " + size);
  const out: Range[] = [];
  if (oldSize === 0 || oldSize === size) return out;
  subproof(oldSize, 0, size, true, out);
  return out;
}

function subproof(m: number, lo: number, hi: number, whole: boolean, out: Range[]): void {
  const n = hi - lo;
  if (m === n) {
    if (!whole) out.push([lo, hi]);
    return;
  }
  const k = splitPoint(n);
  if (m <= k) {
    subproof(m, lo, lo + k, whole, out);
    out.push([lo + k, hi]);
  } else {
    subproof(m - k, lo + k, hi, false, out);
    out.push([lo, lo + k]);
  }
}

const odd = (x: number) => x % 2 === 1;

function isPowerOfTwo(n: number): boolean {
  while (n > 1 && n % 2 === 0) n /= 2;
  return n === 1;
}
const half = (x: number) => Math.floor(x / 2);

function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/**
 * The root an inclusion proof leads to (RFC 9162 2.1.3.2), or null when the proof has the
 * wrong length for this index and size.
 */
export function rootFromInclusion(sha: Sha256, index: number, size: number, leaf: Uint8Array, proof: Uint8Array[]): Uint8Array | null {
  checkSizes("inclusion", index, size);
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (p.length !== HASH_SIZE || sn === 0) return null;
    if (odd(fn) || fn === sn) {
      r = nodeHash(sha, p, r);
      if (!odd(fn)) while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else r = nodeHash(sha, r, p);
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 ? r : null;
}

/** True when `proof` shows leaf hash `leaf` at `index` in the tree of `size` leaves with `root`. */
export function verifyInclusion(sha: Sha256, index: number, size: number, leaf: Uint8Array, proof: Uint8Array[], root: Uint8Array): boolean {
  const r = rootFromInclusion(sha, index, size, leaf, proof);
  return r !== null && eq(r, root);
}

/**
 * True when `proof` shows that the tree of `oldSize` leaves with `oldRoot` is a prefix of the
 * tree of `size` leaves with `root` (RFC 9162 2.1.4.2).
 */
export function verifyConsistency(sha: Sha256, oldSize: number, size: number, oldRoot: Uint8Array, root: Uint8Array, proof: Uint8Array[]): boolean {
  checkSizes("consistency", oldSize, size);
  if (oldSize > size) return false;
  if (oldSize === size) return proof.length === 0 && eq(oldRoot, root);
  if (oldSize === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  for (const p of proof) if (p.length !== HASH_SIZE) return false;
  let path = proof;
  // An old tree of 2^k leaves is itself a node of the new tree: its root starts the path.
  if (isPowerOfTwo(oldSize)) path = [oldRoot].concat(proof);
  let fn = oldSize - 1;
  let sn = size - 1;
  while (odd(fn)) { fn = half(fn); sn = half(sn); }
  let fr = path[0];
  let sr = path[0];
  for (let i = 1; i < path.length; i++) {
    const c = path[i];
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = nodeHash(sha, c, fr);
      sr = nodeHash(sha, c, sr);
      if (!odd(fn)) while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else sr = nodeHash(sha, sr, c);
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && eq(fr, oldRoot) && eq(sr, root);
}

/** A tile of the C2SP tlog-tiles layout: level L (-1 for an entry bundle), index N, width W (1..256). */
export interface TileRef {
  level: number;
  index: number;
  width: number;
}

/** N as 3-digit path elements, all but the last prefixed with x: 1234067 → x001/x234/067. */
export function tileIndexPath(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw codedError("TILE_PATH", "tile index must be a non-negative integer");
  let s = String(n % 1000).padStart(3, "0");
  n = Math.floor(n / 1000);
  while (n > 0) {
    s = "x" + String(n % 1000).padStart(3, "0") + "/" + s;
    n = Math.floor(n / 1000);
  }
  return s;
}

/** The path of a tile below the log's prefix: tile/L/N[.p/W], or tile/entries/N[.p/W] for level -1. */
export function tilePath(t: TileRef): string {
  if (!Number.isInteger(t.width) || t.width < 1 || t.width > TILE_WIDTH) throw codedError("TILE_PATH", "tile width must be 1 to 256");
  const head = t.level === -1 ? "tile/entries/" : "tile/" + t.level + "/";
  return head + tileIndexPath(t.index) + (t.width < TILE_WIDTH ? ".p/" + t.width : "");
}

/** Parse tile/L/N[.p/W] or tile/entries/N[.p/W]; throws TILE_PATH with the reason. */
export function parseTilePath(p: string): TileRef {
  const m = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/.exec(p);
  if (!m) throw codedError("TILE_PATH", "not a tile path: " + JSON.stringify(p));
  const level = m[1] === "entries" ? -1 : Number(m[1]);
  if (level > 63) throw codedError("TILE_PATH", "tile level above 63");
  const parts = m[2].split("/");
  // No leading zero element: x000/001 would be a second spelling of 001.
  if (parts.length > 1 && parts[0] === "x000") throw codedError("TILE_PATH", "tile index has a leading zero element");
  let index = 0;
  for (const part of parts) index = index * 1000 + Number(part.replace("x", ""));
  if (!Number.isSafeInteger(index)) throw codedError("TILE_PATH", "tile index too large");
  const width = m[3] === undefined ? TILE_WIDTH : Number(m[3]);
  if (m[3] !== undefined && width >= TILE_WIDTH) throw codedError("TILE_PATH", "a partial tile is 1 to 255 wide");
  return { level, index, width };
}

/** An entry bundle: each entry as a big-endian uint16 length and its bytes. */
export function encodeEntryBundle(entries: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    if (e.length > MAX_ENTRY) throw codedError("ENTRY_TOO_LARGE", "log entry of " + e.length + " bytes: at most " + MAX_ENTRY);
    parts.push(new Uint8Array([e.length >> 8, e.length & 255]), e);
  }
  return concat(parts);
}

/** The entries of an entry bundle; throws ENTRY_BUNDLE when it does not parse to the end. */
export function decodeEntryBundle(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < b.length) {
    if (o + 2 > b.length) throw codedError("ENTRY_BUNDLE", "length prefix cut off at " + o);
    const n = (b[o] << 8) | b[o + 1];
    if (o + 2 + n > b.length) throw codedError("ENTRY_BUNDLE", "entry at " + o + " runs past the end");
    out.push(b.subarray(o + 2, o + 2 + n));
    o += 2 + n;
  }
  return out;
}

/**
 * Builds an RFC 6962 tree leaf by leaf in O(log n) memory (the roots of its full subtrees, a
 * "compact range"): the root at every size along the way, for a monitor replaying a log.
 */
export class MerkleBuilder {
  private stack: { size: number; hash: Uint8Array }[] = [];
  size = 0;
  constructor(private sha: Sha256) {}
  /** Add the next leaf's hash. */
  push(leaf: Uint8Array): void {
    let node = { size: 1, hash: leaf };
    while (this.stack.length && this.stack[this.stack.length - 1].size === node.size) {
      const left = this.stack.pop()!;
      node = { size: left.size * 2, hash: nodeHash(this.sha, left.hash, node.hash) };
    }
    this.stack.push(node);
    this.size++;
  }
  /** The root of the tree of the leaves pushed so far. */
  root(): Uint8Array {
    if (!this.stack.length) return this.sha(new Uint8Array(0));
    let r = this.stack[this.stack.length - 1].hash;
    for (let i = this.stack.length - 2; i >= 0; i--) r = nodeHash(this.sha, this.stack[i].hash, r);
    return r;
  }
}
