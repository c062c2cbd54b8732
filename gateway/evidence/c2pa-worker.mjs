// The C2PA signer's own thread (c2pa.ts starts one for the process). c2pa-rs built for WebAssembly
// (@contentauth/c2pa-wasm) signs a whole asset in one synchronous call, 0.43 s for a WAV of 64 MiB
// on a 2-core machine, and its memory grows to hold the asset several times over and never
// shrinks (a process that had signed a two-hour recording kept 1.1 GB). Here, neither stops the
// gateway's event loop (its devices' Acks), and the memory goes when the thread ends, idle.
// Plain JavaScript, not TypeScript: it is loaded as a file by a Worker, whatever loader (tsx,
// vitest) runs the process that starts it (store/sqlite-worker.mjs does the same).
//
// workerData: { module (c2pa-rs's, compiled), assertionLabel }. Messages in: { id, keyFile (its
// name), keyPem, chain (the certificates' DER, leaf first), asset, format, title, assertion,
// createdAt }; out: { id, ok: true, signed } (its buffer transferred) or { id, ok: false, code,
// message }: the code C2PA_SIGN where c2pa-rs refused the asset, C2PA_KEY or KEY_TYPE for the
// key, COSE_SIZE.
//
// That build leaves the signature to us: its signer callback gets the claim bytes and must return
// a whole tagged COSE_Sign1 (RFC 9052: algorithm and x5chain in the protected header, payload
// detached), padded to exactly the size reserved for it. The CBOR is written by hand: a COSE_Sign1
// is four definite-length items (two maps, a null, byte strings), about thirty lines, where a CBOR
// library would be one more dependency to audit.
import { parentPort, workerData } from "node:worker_threads";
import { createPrivateKey, sign as nodeSign } from "node:crypto";
import { initSync, WasmBuilder } from "@contentauth/c2pa-wasm";

class SignError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// The module compiled once by the process (c2pa.ts), its code shared by every thread.
initSync({ module: workerData.module });
// WasmBuilder.sign reads its source with FileReaderSync, which Node lacks: a stand-in reads our in-memory blob.
globalThis.FileReaderSync ??= class {
  readAsArrayBuffer(blob) {
    const b = blob.bytes;
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
  }
};

/** What the stand-in reads: a Blob's size and slice over bytes in memory. */
class MemoryBlob {
  constructor(bytes) { this.bytes = bytes; }
  get size() { return this.bytes.length; }
  slice(start, end) { return new MemoryBlob(this.bytes.subarray(start ?? 0, end ?? this.bytes.length)); }
}

// ---- CBOR (RFC 8949), only what a COSE_Sign1 needs

function head(major, n) {
  if (n < 24) return Uint8Array.of((major << 5) | n);
  if (n < 256) return Uint8Array.of((major << 5) | 24, n);
  if (n < 65536) return Uint8Array.of((major << 5) | 25, n >> 8, n & 255);
  return Uint8Array.of((major << 5) | 26, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}
const cat = (parts) => Buffer.concat(parts);
const bstr = (b) => cat([head(2, b.length), b]);
const tstr = (s) => { const b = Buffer.from(s, "utf8"); return cat([head(3, b.length), b]); };
const int = (n) => (n >= 0 ? head(0, n) : head(1, -1 - n));

/** COSE algorithm ids (RFC 9053) and the names c2pa-rs gives them. */
const ALGS = { ed25519: { cose: -8, name: "ed25519" }, es256: { cose: -7, name: "es256" } };

/** The key and chain a signature is made with, prepared once while they stay the same. */
let prepared = null;
function credentials(keyFile, pem, chain) {
  const same = prepared && prepared.pem === pem && prepared.chain.length === chain.length && prepared.chain.every((d, i) => Buffer.compare(d, chain[i]) === 0);
  if (same) return prepared;
  let key;
  try { key = createPrivateKey(pem); } catch (e) { throw new SignError("C2PA_KEY", `the C2PA signing key ${keyFile} is not a private key: ${e && e.message}`); }
  const t = key.asymmetricKeyType;
  const alg = t === "ed25519" ? ALGS.ed25519 : t === "ec" ? ALGS.es256 : null;
  if (!alg) throw new SignError("KEY_TYPE", `C2PA signing takes Ed25519 or P-256 keys, not ${t}`);
  // x5chain (label 33): one certificate as a byte string, several as an array, leaf first.
  const x5chain = chain.length === 1 ? bstr(chain[0]) : cat([head(4, chain.length), ...chain.map(bstr)]);
  const protectedHeader = cat([head(5, 2), int(1), int(alg.cose), int(33), x5chain]);
  return (prepared = { pem, chain, key, alg, protectedHeader, reserve: protectedHeader.length + 512 });
}

/** A COSE_Sign1 over the claim, detached payload, padded with an unprotected "pad" to exactly `reserve` bytes. */
function cose(claim, { key, alg, protectedHeader, reserve }) {
  const toBeSigned = cat([head(4, 4), tstr("Signature1"), bstr(protectedHeader), bstr(new Uint8Array(0)), bstr(claim)]);
  const sig = new Uint8Array(nodeSign(alg.name === "es256" ? "sha256" : null, toBeSigned, alg.name === "es256" ? { key, dsaEncoding: "ieee-p1363" } : key));
  const build = (pad) => cat([Uint8Array.of(0xd2), head(4, 4), bstr(protectedHeader),
    pad === null ? head(5, 0) : cat([head(5, 1), tstr("pad"), bstr(new Uint8Array(pad))]), Uint8Array.of(0xf6), bstr(sig)]);
  const base = build(0).length;
  // The pad's own length prefix grows with it: try the few sizes around the gap.
  for (let n = Math.max(0, reserve - base - 4); n <= reserve - base + 1; n++) {
    const out = build(n);
    if (out.length === reserve) return out;
  }
  throw new SignError("COSE_SIZE", `the signature does not fit the ${reserve} bytes reserved for it`);
}

/** Embed a manifest in the asset: a c2pa.created action and our assertion (c2pa.ts says what it holds). */
async function sign({ keyFile, keyPem, chain, asset, format, title, assertion, createdAt }) {
  const cred = credentials(keyFile, keyPem, chain);
  const manifest = {
    claim_generator_info: [{ name: "evrec-station", version: "1" }],
    title,
    format,
    assertions: [
      { label: "c2pa.actions.v2", data: { actions: [{ action: "c2pa.created", when: new Date(createdAt).toISOString(), digitalSourceType: "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture" }] } },
      { label: workerData.assertionLabel, data: assertion },
    ],
  };
  const builder = WasmBuilder.fromJson(JSON.stringify(manifest));
  try {
    return await builder.sign({ alg: cred.alg.name, reserveSize: cred.reserve, sign: async (claim) => cose(claim, cred) }, [], format, new MemoryBlob(asset));
  } catch (e) {
    if (e instanceof SignError) throw e;
    // c2pa-wasm's errors arrive as strings.
    throw new SignError("C2PA_SIGN", `C2PA signing of ${title} failed: ${typeof e === "string" ? e : e && e.message}`);
  } finally {
    builder.free();
  }
}

// One asset at a time, whatever exports send them: the memory is one signature's.
let turn = Promise.resolve();
parentPort.on("message", (m) => {
  turn = turn.then(() => sign(m)).then((signed) => {
    const out = signed.byteOffset === 0 && signed.byteLength === signed.buffer.byteLength ? signed : new Uint8Array(signed);
    parentPort.postMessage({ id: m.id, ok: true, signed: out }, [out.buffer]);
  }, (e) => parentPort.postMessage({ id: m.id, ok: false, code: e instanceof SignError ? e.code : "C2PA_SIGN", message: String(e && e.message) }));
});
