// C2PA manifests on exported media (docs/EVIDENCE.md, SPEC.md R-EXP-8), signed with the
// station's C2PA certificate (x509.ts) through c2pa-rs built for WebAssembly
// (@contentauth/c2pa-wasm). That build leaves the signature to us: its signer callback gets the
// claim bytes and must return a whole tagged COSE_Sign1 (RFC 9052: algorithm and x5chain in the
// protected header, payload detached), padded to exactly the size reserved for it.
//
// The CBOR here is written by hand: a COSE_Sign1 is four definite-length items (two maps, a null,
// byte strings), about thirty lines, where a CBOR library would be one more dependency to audit.
import { X509Certificate, createPrivateKey, sign as nodeSign } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { initSync, WasmBuilder } from "@contentauth/c2pa-wasm";
import type { SigningCredentials } from "./x509.js";
import { pemCertificates } from "./x509.js";
import { C2PA_ASSERTION } from "../../protocol/bundle.js";

export class C2paError extends Error {
  constructor(public code: string, message: string) {
    super(message);
    this.name = "C2paError";
  }
}

let ready = false;

/** Load the WebAssembly build once. WasmBuilder.sign reads its source with FileReaderSync, which Node lacks: a stand-in reads our in-memory blob. */
function init(): void {
  if (ready) return;
  const file = createRequire(import.meta.url).resolve("@contentauth/c2pa-wasm/c2pa.wasm");
  initSync({ module: readFileSync(file) });
  const g = globalThis as unknown as { FileReaderSync?: unknown };
  if (!g.FileReaderSync) {
    g.FileReaderSync = class {
      readAsArrayBuffer(blob: MemoryBlob): ArrayBuffer {
        const b = blob.bytes;
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
      }
    };
  }
  ready = true;
}

/** What the stand-in reads: a Blob's size and slice over bytes in memory. */
class MemoryBlob {
  constructor(readonly bytes: Uint8Array) {}
  get size(): number { return this.bytes.length; }
  slice(start?: number, end?: number): MemoryBlob { return new MemoryBlob(this.bytes.subarray(start ?? 0, end ?? this.bytes.length)); }
}

// ---- CBOR (RFC 8949), only what a COSE_Sign1 needs

function head(major: number, n: number): Uint8Array {
  if (n < 24) return Uint8Array.of((major << 5) | n);
  if (n < 256) return Uint8Array.of((major << 5) | 24, n);
  if (n < 65536) return Uint8Array.of((major << 5) | 25, n >> 8, n & 255);
  return Uint8Array.of((major << 5) | 26, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}
const cat = (parts: Uint8Array[]) => Buffer.concat(parts);
const bstr = (b: Uint8Array) => cat([head(2, b.length), b]);
const tstr = (s: string) => { const b = Buffer.from(s, "utf8"); return cat([head(3, b.length), b]); };
const int = (n: number) => (n >= 0 ? head(0, n) : head(1, -1 - n));

/** COSE algorithm ids (RFC 9053) and the names c2pa-rs gives them. */
const ALGS = { ed25519: { cose: -8, name: "ed25519" }, es256: { cose: -7, name: "es256" } } as const;

export interface RecordingAssertion {
  device: string;
  recording: number;
  sealValue: string;
  logIndex: number;
  fromSeq: number;
  toSeq: number;
  excerpt: boolean;
}

/** Signs exported media with one certificate chain and its key. */
export class C2paSigner {
  private key: KeyObject;
  private alg: { cose: number; name: string };
  private protectedHeader: Uint8Array;
  private reserve: number;

  constructor(cred: SigningCredentials) {
    init();
    this.key = createPrivateKey(readFileSync(cred.keyFile));
    const t = this.key.asymmetricKeyType;
    this.alg = t === "ed25519" ? ALGS.ed25519 : t === "ec" ? ALGS.es256 : (() => { throw new C2paError("KEY_TYPE", `C2PA signing takes Ed25519 or P-256 keys, not ${t}`); })();
    const ders = pemCertificates(cred.chainPem).map((p) => new Uint8Array(new X509Certificate(p).raw));
    if (!ders.length) throw new C2paError("NO_CERTIFICATE", "no C2PA signing certificate");
    // x5chain (label 33): one certificate as a byte string, several as an array, leaf first.
    const chain = ders.length === 1 ? bstr(ders[0]) : cat([head(4, ders.length), ...ders.map(bstr)]);
    this.protectedHeader = cat([head(5, 2), int(1), int(this.alg.cose), int(33), chain]);
    this.reserve = this.protectedHeader.length + 512;
  }

  /** A COSE_Sign1 over the claim, detached payload, padded with an unprotected "pad" to exactly `reserve` bytes. */
  private cose(claim: Uint8Array): Uint8Array {
    const toBeSigned = cat([head(4, 4), tstr("Signature1"), bstr(this.protectedHeader), bstr(new Uint8Array(0)), bstr(claim)]);
    const sig = new Uint8Array(nodeSign(this.alg.name === "es256" ? "sha256" : null, toBeSigned, this.alg.name === "es256" ? { key: this.key, dsaEncoding: "ieee-p1363" } : this.key));
    const build = (pad: number | null) => cat([Uint8Array.of(0xd2), head(4, 4), bstr(this.protectedHeader),
      pad === null ? head(5, 0) : cat([head(5, 1), tstr("pad"), bstr(new Uint8Array(pad))]), Uint8Array.of(0xf6), bstr(sig)]);
    const base = build(0).length;
    // The pad's own length prefix grows with it: try the few sizes around the gap.
    for (let n = Math.max(0, this.reserve - base - 4); n <= this.reserve - base + 1; n++) {
      const out = build(n);
      if (out.length === this.reserve) return out;
    }
    throw new C2paError("COSE_SIZE", `the signature does not fit the ${this.reserve} bytes reserved for it`);
  }

  /**
   * Embed a manifest in `asset` (format "audio/wav" or "image/jpeg"): a c2pa.created action (the
   * recording was made by a recorder and kept as it was) and our assertion with the recording's ids,
   * seal value and log index. Returns the signed asset.
   */
  async sign(asset: Uint8Array, format: "audio/wav" | "image/jpeg", title: string, a: RecordingAssertion, createdAt: number): Promise<Uint8Array> {
    const manifest = {
      claim_generator_info: [{ name: "evrec-station", version: "1" }],
      title,
      format,
      assertions: [
        { label: "c2pa.actions.v2", data: { actions: [{ action: "c2pa.created", when: new Date(createdAt).toISOString(), digitalSourceType: "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture" }] } },
        { label: C2PA_ASSERTION, data: a },
      ],
    };
    const builder = WasmBuilder.fromJson(JSON.stringify(manifest));
    try {
      const signer = { alg: this.alg.name, reserveSize: this.reserve, sign: async (claim: Uint8Array) => this.cose(claim) };
      return await builder.sign(signer as never, [], format, new MemoryBlob(asset) as unknown as Blob);
    } catch (e) {
      // c2pa-wasm's errors arrive as strings.
      throw new C2paError("C2PA_SIGN", `C2PA signing of ${title} failed: ${typeof e === "string" ? e : (e as Error).message}`);
    } finally {
      builder.free();
    }
  }
}
