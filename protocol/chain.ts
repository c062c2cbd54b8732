// Chain, tag and key-derivation primitives (SPEC.md R-KEY, R-CHN, R-TAG, R-SEAL).
// Written once for the gateway, the offline verifier and the firmware: Espruino subset,
// SHA-256 injected. Buffers that hold a domain string are built once and reused, so each
// primitive is one copy and one native hash.
import type { Sha256 } from "./bytes.js";
import { concat, copyBytes, toHex, u32be, wipe, utf8 } from "./bytes.js";
import {
  D_CASE_TAG, D_CHUNK, D_CONTROL_KEY, D_DOWNLINK_KEY, D_GENESIS, D_KEY_STEP, D_LOGIN, D_REC_KEY, D_SEAL,
  D_SEAL_TAG, D_STATE0, D_STATE_STEP, D_TAG, HASH_LEN, HEADER_LEN, KEY_LEN, ROOT_LEN, SEAL_LEN, GENESIS_LEN,
  MAX_CASE_TAG,
} from "./constants.js";

function prefixed(domain: Uint8Array, rest: number): Uint8Array {
  const b = new Uint8Array(domain.length + rest);
  b.set(domain);
  return b;
}

/** The static keys a device holds, derived from its root secret (R-KEY-1..4). */
export interface DeviceKeys {
  stateKey0: Uint8Array;
  login: Uint8Array;
  downlinkKey: Uint8Array;
  controlKey: Uint8Array;
}

/** Hash primitives of the chain, with their domain buffers allocated once. */
export class ChainCrypto {
  sha: Sha256;
  hbuf: Uint8Array;
  header: Uint8Array;
  tbuf: Uint8Array;
  kbuf: Uint8Array;
  constructor(sha: Sha256) {
    this.sha = sha;
    // D_CHUNK ‖ header: the firmware writes its header straight into `header` (R-CHN-2).
    this.hbuf = prefixed(D_CHUNK, HEADER_LEN);
    this.header = this.hbuf.subarray(D_CHUNK.length);
    this.tbuf = prefixed(D_TAG, KEY_LEN + HASH_LEN);
    this.kbuf = prefixed(D_KEY_STEP, KEY_LEN);
  }
  /** C_i = SHA-256(D_CHUNK ‖ header_i) (R-CHN-2). */
  chunkValue(header: Uint8Array): Uint8Array {
    if (header !== this.header) this.header.set(header);
    return this.sha(this.hbuf);
  }
  /**
   * tag_i = SHA-256(D_TAG ‖ K_i ‖ C_i) (R-TAG-1). The copy of K_i left in the buffer is the
   * caller's live key; the next step overwrites it and destroy() wipes it. (A ranged fill per
   * chunk costs about three native hashes' worth of interpreter time on a board.)
   */
  tag(k: Uint8Array, c: Uint8Array): Uint8Array {
    const t = this.tbuf;
    t.set(k, D_TAG.length);
    t.set(c, D_TAG.length + KEY_LEN);
    return this.sha(t);
  }
  /**
   * K_{i+1} = SHA-256(D_KEY_STEP ‖ K_i) (R-TAG-2). K_i is overwritten in the buffer by K_{i+1},
   * which the caller holds anyway: no old key stays behind. The caller wipes its own K_i.
   */
  keyStep(k: Uint8Array): Uint8Array {
    const b = this.kbuf;
    b.set(k, D_KEY_STEP.length);
    const out = this.sha(b);
    b.set(out, D_KEY_STEP.length);
    return out;
  }
  /** Wipe the key material the buffers hold (R-KEY-7). */
  destroy(): void {
    this.tbuf.fill(0, D_TAG.length);
    this.kbuf.fill(0, D_KEY_STEP.length);
  }
  /** K_n from K_1 by n-1 steps; intermediate keys are wiped. */
  keyAt(k1: Uint8Array, n: number): Uint8Array {
    let k = copyBytes(k1);
    for (let i = 1; i < n; i++) {
      const next = this.keyStep(k);
      wipe(k);
      k = next;
    }
    return k;
  }
  /** C_0 = SHA-256(D_GENESIS ‖ genesis block) (R-GEN-2). */
  genesisValue(block: Uint8Array): Uint8Array {
    return this.sha(concat([D_GENESIS, block]));
  }
  /** Z = SHA-256(D_SEAL ‖ seal block) (R-SEAL-2). */
  sealValue(block: Uint8Array): Uint8Array {
    return this.sha(concat([D_SEAL, block]));
  }
  /** seal tag = SHA-256(D_SEAL_TAG ‖ K_{n+1} ‖ Z) (R-SEAL-3). */
  sealTag(k: Uint8Array, z: Uint8Array): Uint8Array {
    const b = concat([D_SEAL_TAG, k, z]);
    const out = this.sha(b);
    wipe(b);
    return out;
  }
  /** Case tag hash: zeros for no tag, else SHA-256(D_CASE_TAG ‖ UTF-8(tag)) (R-GEN-3). */
  caseTagHash(tag: string): Uint8Array {
    if (!tag) return new Uint8Array(HASH_LEN);
    const b = utf8(tag);
    if (b.length > MAX_CASE_TAG) throw new Error("case tag longer than " + MAX_CASE_TAG + " bytes");
    return this.sha(concat([D_CASE_TAG, b]));
  }
}

/** Derive the device's static keys and S_0 from its root secret (R-KEY-1..4). */
export function deriveDeviceKeys(sha: Sha256, root: Uint8Array): DeviceKeys {
  if (root.length !== ROOT_LEN) throw new Error("root secret must be " + ROOT_LEN + " bytes, got " + root.length);
  return {
    stateKey0: sha(concat([D_STATE0, root])),
    login: sha(concat([D_LOGIN, root])),
    downlinkKey: sha(concat([D_DOWNLINK_KEY, root])),
    controlKey: sha(concat([D_CONTROL_KEY, root])),
  };
}

/** The MQTT password of a device: lowercase hex of its login key (R-KEY-2). */
export function loginPassword(login: Uint8Array): string {
  return toHex(login);
}

/** S_{j+1} = SHA-256(D_STATE_STEP ‖ S_j) (R-KEY-5). The caller wipes S_j. */
export function stateStep(sha: Sha256, s: Uint8Array): Uint8Array {
  return sha(concat([D_STATE_STEP, s]));
}

/** S_j from S_0 by j steps (the gateway's view; a device only ever steps forward once). */
export function stateAt(sha: Sha256, s0: Uint8Array, epoch: number): Uint8Array {
  let s = copyBytes(s0);
  for (let i = 0; i < epoch; i++) {
    const n = stateStep(sha, s);
    wipe(s);
    s = n;
  }
  return s;
}

/** K_1 of recording r = SHA-256(D_REC_KEY ‖ S_{r-1} ‖ u32be(r)) (R-KEY-6). */
export function recordingKey(sha: Sha256, stateKey: Uint8Array, recordingId: number): Uint8Array {
  const b = concat([D_REC_KEY, stateKey, u32be(recordingId)]);
  const k = sha(b);
  wipe(b);
  return k;
}

/** Check a block length before hashing it; shared by writer and verifier. */
export function blockLengthOk(kind: "genesis" | "seal" | "header", b: Uint8Array): boolean {
  return b.length === (kind === "genesis" ? GENESIS_LEN : kind === "seal" ? SEAL_LEN : HEADER_LEN);
}
