// The log's Merkle tree: every proof our ranges produce for trees up to 40 leaves checks out
// against a tree hash computed straight from RFC 6962's definition, and a proof with any hash
// changed, or offered for another leaf or size, does not.
import { describe, expect, it } from "vitest";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { toHex } from "../../protocol/bytes.js";
import {
  MerkleBuilder, consistencyRanges, decodeEntryBundle, encodeEntryBundle, inclusionRanges, leafHash, nodeHash, parseTilePath, tilePath,
  treeHash, verifyConsistency, verifyInclusion,
} from "../../protocol/merkle.js";

const enc = new TextEncoder();
const entries = Array.from({ length: 40 }, (_, i) => enc.encode(`entry ${i}`));

/** MTH(D[lo:hi]) exactly as RFC 6962 2.1 defines it, over the entries themselves. */
function mth(lo: number, hi: number): Uint8Array {
  if (hi - lo === 1) return leafHash(sha, entries[lo]);
  let k = 1;
  while (k * 2 < hi - lo) k *= 2;
  return nodeHash(sha, mth(lo, lo + k), mth(lo + k, hi));
}

const flip = (h: Uint8Array) => { const c = new Uint8Array(h); c[7] ^= 1; return c; };

describe("Merkle tree (RFC 6962 / 9162)", () => {
  it("hashes the empty tree as SHA-256 of nothing and a list of leaves as MTH, whole or leaf by leaf", () => {
    expect(toHex(treeHash(sha, []))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const b = new MerkleBuilder(sha);
    expect(toHex(b.root())).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    for (let n = 1; n <= 40; n++) {
      expect(toHex(treeHash(sha, entries.slice(0, n).map((e) => leafHash(sha, e))))).toBe(toHex(mth(0, n)));
      b.push(leafHash(sha, entries[n - 1]));
      expect(toHex(b.root())).toBe(toHex(mth(0, n)));
    }
  });

  it("proves every leaf in every tree up to 40 leaves, and refuses a changed proof, leaf or index", () => {
    for (let n = 1; n <= 40; n++) {
      const root = mth(0, n);
      for (let i = 0; i < n; i++) {
        const proof = inclusionRanges(i, n).map(([lo, hi]) => mth(lo, hi));
        const leaf = leafHash(sha, entries[i]);
        expect(verifyInclusion(sha, i, n, leaf, proof, root)).toBe(true);
        expect(verifyInclusion(sha, i, n, flip(leaf), proof, root)).toBe(false);
        if (proof.length) expect(verifyInclusion(sha, i, n, leaf, [flip(proof[0]), ...proof.slice(1)], root)).toBe(false);
        if (i + 1 < n) expect(verifyInclusion(sha, i + 1, n, leaf, proof, root)).toBe(false);
        expect(verifyInclusion(sha, i, n, leaf, [...proof, root], root)).toBe(false);
      }
    }
  });

  it("proves every older tree consistent with every newer one up to 40 leaves, and refuses forks", () => {
    for (let n = 1; n <= 40; n++) {
      for (let m = 0; m <= n; m++) {
        const proof = consistencyRanges(m, n).map(([lo, hi]) => mth(lo, hi));
        const oldRoot = m ? mth(0, m) : treeHash(sha, []);
        expect(verifyConsistency(sha, m, n, oldRoot, mth(0, n), proof)).toBe(true);
        if (m > 0 && m < n) {
          expect(verifyConsistency(sha, m, n, flip(oldRoot), mth(0, n), proof)).toBe(false);
          expect(verifyConsistency(sha, m, n, oldRoot, flip(mth(0, n)), proof)).toBe(false);
          for (let j = 0; j < proof.length; j++) {
            const bad = proof.slice();
            bad[j] = flip(bad[j]);
            expect(verifyConsistency(sha, m, n, oldRoot, mth(0, n), bad)).toBe(false);
          }
          expect(verifyConsistency(sha, m, n, oldRoot, mth(0, n), proof.slice(1))).toBe(false);
        }
      }
    }
  });

  it("names tiles as C2SP tlog-tiles does: 3-digit groups with x, .p/W for partial tiles", () => {
    expect(tilePath({ level: 0, index: 1234067, width: 256 })).toBe("tile/0/x001/x234/067");
    expect(tilePath({ level: 2, index: 0, width: 1 })).toBe("tile/2/000.p/1");
    expect(tilePath({ level: -1, index: 5, width: 17 })).toBe("tile/entries/005.p/17");
    expect(parseTilePath("tile/0/x001/x234/067")).toEqual({ level: 0, index: 1234067, width: 256 });
    expect(parseTilePath("tile/entries/000.p/255")).toEqual({ level: -1, index: 0, width: 255 });
    for (const bad of ["tile/0/1", "tile/0/x000/001", "tile/0/001.p/256", "tile/0/001.p/0", "tile/00/001", "tile/0/001.p/07", "tile/64/000", "tile/0/x01/001"]) {
      expect(() => parseTilePath(bad), bad).toThrow(/TILE_PATH/);
    }
  });

  it("frames entry bundles with big-endian uint16 lengths and refuses a cut one", () => {
    const b = encodeEntryBundle([enc.encode("ab"), new Uint8Array(0), new Uint8Array(300)]);
    expect(toHex(b.subarray(0, 4))).toBe("00026162");
    expect(decodeEntryBundle(b).map((e) => e.length)).toEqual([2, 0, 300]);
    expect(() => decodeEntryBundle(b.subarray(0, b.length - 1))).toThrow(/ENTRY_BUNDLE/);
    expect(() => encodeEntryBundle([new Uint8Array(65536)])).toThrow(/ENTRY_TOO_LARGE/);
  });
});
