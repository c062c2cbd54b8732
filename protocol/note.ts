// Signed notes (C2SP signed-note), transparency log checkpoints (C2SP tlog-checkpoint) and
// witness cosignatures (C2SP tlog-cosignature, Ed25519 "cosignature/v1"): SPEC.md section 14.
// Sans-IO: SHA-256 and Ed25519 are injected (node:crypto on the gateway and the offline
// verifier, any RFC 8032 implementation in a browser). Errors carry a reason code.
import type { Sha256 } from "./bytes.js";
import { codedError, concat } from "./bytes.js";
import { fromBase64, toBase64 } from "./base64.js";
import { HASH_SIZE } from "./merkle.js";

/** Verify an RFC 8032 Ed25519 signature: 32-byte public key, message, 64-byte signature. */
export type Ed25519Verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/** Signature type bytes (C2SP signed-note): Ed25519 note signatures, timestamped Ed25519 cosignatures. */
export const SIG_ED25519 = 0x01;
export const SIG_COSIGNATURE_V1 = 0x04;

/** A public key as a note verifier knows it. */
export interface NoteKey {
  name: string;
  type: number;
  /** The 4-byte key id, as an unsigned integer. */
  keyId: number;
  publicKey: Uint8Array;
}

/** One signature line of a note: the key name, the key id, and the signature bytes after the id. */
export interface NoteSignature {
  name: string;
  keyId: number;
  signature: Uint8Array;
  line: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });
const SPACES = /[\p{Z}\t\n\v\f\r\u0085]/u;
const MAX_SIGNATURES = 100;

/** A key name: non-empty, no Unicode space, no plus sign. */
export function validKeyName(name: string): boolean {
  return typeof name === "string" && name.length > 0 && !SPACES.test(name) && !name.includes("+");
}

/** key ID = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], big-endian. */
export function noteKeyId(sha: Sha256, name: string, type: number, publicKey: Uint8Array): number {
  const h = sha(concat([enc.encode(name), new Uint8Array([0x0a, type]), publicKey]));
  return ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
}

/** A key for a name, type and 32-byte Ed25519 public key. */
export function noteKey(sha: Sha256, name: string, type: number, publicKey: Uint8Array): NoteKey {
  if (!validKeyName(name)) throw codedError("NOTE_KEY", "key name must be non-empty, without spaces or '+': " + JSON.stringify(name));
  if (type !== SIG_ED25519 && type !== SIG_COSIGNATURE_V1) throw codedError("NOTE_KEY", "signature type " + type + " is not supported (1 Ed25519, 4 cosignature/v1)");
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw codedError("NOTE_KEY", "an Ed25519 public key is 32 bytes");
  return { name, type, keyId: noteKeyId(sha, name, type, publicKey), publicKey };
}

const hex8 = (n: number) => n.toString(16).padStart(8, "0");

/** The verifier key string `name+keyid+base64(type ‖ public key)` (what Go's note.NewVerifier reads). */
export function formatVerifierKey(k: NoteKey): string {
  return k.name + "+" + hex8(k.keyId) + "+" + toBase64(concat([new Uint8Array([k.type]), k.publicKey]));
}

/** Parse and check a verifier key string; NOTE_KEY with the reason when it is not one. */
export function parseVerifierKey(sha: Sha256, vkey: string): NoteKey {
  if (typeof vkey !== "string") throw codedError("NOTE_KEY", "a verifier key is a string");
  const a = vkey.indexOf("+");
  const b = a < 0 ? -1 : vkey.indexOf("+", a + 1);
  if (a < 0 || b < 0) throw codedError("NOTE_KEY", "a verifier key is name+keyid+key");
  const name = vkey.slice(0, a);
  const id = vkey.slice(a + 1, b);
  if (!/^[0-9a-f]{8}$/.test(id)) throw codedError("NOTE_KEY", "the key id is 8 lowercase hex digits");
  let raw: Uint8Array;
  try { raw = fromBase64(vkey.slice(b + 1)); } catch (e) { throw codedError("NOTE_KEY", "the key is not base64"); }
  if (raw.length !== 33) throw codedError("NOTE_KEY", "the key is a type byte and 32 bytes of Ed25519 public key");
  const k = noteKey(sha, name, raw[0], raw.subarray(1));
  if (k.keyId !== parseInt(id, 16)) throw codedError("NOTE_KEY", "the key id does not match the name and key");
  return k;
}

/** The signature line `— name base64(keyid ‖ signature)\n`. */
export function signatureLine(name: string, keyId: number, signature: Uint8Array): string {
  const id = new Uint8Array([(keyId >>> 24) & 255, (keyId >>> 16) & 255, (keyId >>> 8) & 255, keyId & 255]);
  return "\u2014 " + name + " " + toBase64(concat([id, signature])) + "\n";
}

/** Sign a note text (ending in a newline) with one Ed25519 key: the text, a blank line, the signature line. */
export function signNote(text: string, key: NoteKey, sign: (message: Uint8Array) => Uint8Array): string {
  if (!text.endsWith("\n")) throw codedError("NOTE_MALFORMED", "a note text ends with a newline");
  checkNoteChars(text);
  return text + "\n" + signatureLine(key.name, key.keyId, sign(enc.encode(text)));
}

function checkNoteChars(s: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) throw codedError("NOTE_MALFORMED", "control character " + c + " at " + i);
  }
}

/** Split a signed note into its text and signature lines; NOTE_MALFORMED when it is not one. */
export function parseNote(note: string | Uint8Array): { text: string; signatures: NoteSignature[] } {
  let s: string;
  if (typeof note === "string") s = note;
  else {
    try { s = dec.decode(note); } catch (e) { throw codedError("NOTE_MALFORMED", "not UTF-8"); }
  }
  checkNoteChars(s);
  const split = s.lastIndexOf("\n\n");
  if (split < 0) throw codedError("NOTE_MALFORMED", "no blank line before the signatures");
  const text = s.slice(0, split + 1);
  const sigs = s.slice(split + 2);
  if (!sigs.length || !sigs.endsWith("\n")) throw codedError("NOTE_MALFORMED", "the signature block must end with a newline");
  const signatures: NoteSignature[] = [];
  for (const line of sigs.slice(0, -1).split("\n")) {
    if (!line.startsWith("\u2014 ")) throw codedError("NOTE_MALFORMED", "a signature line starts with an em dash and a space");
    const rest = line.slice(2);
    const sp = rest.indexOf(" ");
    const name = sp < 0 ? rest : rest.slice(0, sp);
    const b64 = sp < 0 ? "" : rest.slice(sp + 1);
    let raw: Uint8Array;
    try { raw = fromBase64(b64); } catch (e) { throw codedError("NOTE_MALFORMED", "signature of " + JSON.stringify(name) + " is not base64"); }
    if (!validKeyName(name) || raw.length < 5) throw codedError("NOTE_MALFORMED", "malformed signature line");
    if (signatures.length >= MAX_SIGNATURES) throw codedError("NOTE_MALFORMED", "more than " + MAX_SIGNATURES + " signatures");
    signatures.push({ name, keyId: ((raw[0] << 24) | (raw[1] << 16) | (raw[2] << 8) | raw[3]) >>> 0, signature: raw.subarray(4), line: line + "\n" });
  }
  return { text, signatures };
}

/**
 * Open a note with Ed25519 note keys (type 1): signatures of unknown keys are ignored, a
 * signature of a known key that fails is NOTE_BAD_SIGNATURE, and a note that no known key
 * signed is NOTE_UNVERIFIED (as C2SP signed-note and Go's note.Open say).
 */
export function openNote(note: string | Uint8Array, keys: NoteKey[], verify: Ed25519Verify): { text: string; signatures: NoteSignature[]; verifiedBy: NoteKey[] } {
  const n = parseNote(note);
  const msg = enc.encode(n.text);
  const verifiedBy: NoteKey[] = [];
  for (const s of n.signatures) {
    const k = keys.find((x) => x.type === SIG_ED25519 && x.name === s.name && x.keyId === s.keyId);
    if (!k || verifiedBy.includes(k)) continue;
    if (s.signature.length !== 64 || !verify(k.publicKey, msg, s.signature)) throw codedError("NOTE_BAD_SIGNATURE", "the signature of " + k.name + " does not verify");
    verifiedBy.push(k);
  }
  if (!verifiedBy.length) throw codedError("NOTE_UNVERIFIED", "no signature by a known key");
  return { text: n.text, signatures: n.signatures, verifiedBy };
}

/** A transparency log checkpoint: origin, tree size and RFC 6962 root hash (C2SP tlog-checkpoint). */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  /** Extension lines; this log writes none. */
  extensions: string[];
}

/** The note text of a checkpoint. */
export function formatCheckpoint(c: Checkpoint): string {
  if (!c.origin || c.origin.includes("\n")) throw codedError("CHECKPOINT_MALFORMED", "the origin is one non-empty line");
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw codedError("CHECKPOINT_MALFORMED", "the tree size is a non-negative integer");
  if (c.root.length !== HASH_SIZE) throw codedError("CHECKPOINT_MALFORMED", "the root hash is 32 bytes");
  for (const e of c.extensions) if (!e || e.includes("\n")) throw codedError("CHECKPOINT_MALFORMED", "extension lines are non-empty single lines");
  return [c.origin, String(c.size), toBase64(c.root)].concat(c.extensions).join("\n") + "\n";
}

/** Parse a checkpoint's note text strictly; CHECKPOINT_MALFORMED with the reason. */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith("\n")) throw codedError("CHECKPOINT_MALFORMED", "the text ends with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw codedError("CHECKPOINT_MALFORMED", "a checkpoint has at least three lines");
  for (const l of lines) if (!l.length) throw codedError("CHECKPOINT_MALFORMED", "empty line in the checkpoint");
  if (!/^(0|[1-9][0-9]{0,15})$/.test(lines[1]) || !Number.isSafeInteger(Number(lines[1]))) throw codedError("CHECKPOINT_MALFORMED", "the tree size is decimal without leading zeroes");
  let root: Uint8Array;
  try { root = fromBase64(lines[2]); } catch (e) { throw codedError("CHECKPOINT_MALFORMED", "the root hash is not base64"); }
  if (root.length !== HASH_SIZE) throw codedError("CHECKPOINT_MALFORMED", "the root hash is 32 bytes");
  return { origin: lines[0], size: Number(lines[1]), root, extensions: lines.slice(3) };
}

/** The message a cosignature/v1 signs: `cosignature/v1\ntime <t>\n` and the checkpoint's note text. */
export function cosignatureMessage(timestamp: number, text: string): Uint8Array {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw codedError("COSIGNATURE", "timestamp must be a non-negative integer of seconds");
  return enc.encode("cosignature/v1\ntime " + timestamp + "\n" + text);
}

function u64be(n: number): Uint8Array {
  const b = new Uint8Array(8);
  const hi = Math.floor(n / 4294967296);
  const lo = n - hi * 4294967296;
  b[0] = hi >>> 24; b[1] = (hi >>> 16) & 255; b[2] = (hi >>> 8) & 255; b[3] = hi & 255;
  b[4] = lo >>> 24; b[5] = (lo >>> 16) & 255; b[6] = (lo >>> 8) & 255; b[7] = lo & 255;
  return b;
}

/** A witness's cosignature line over a checkpoint text (C2SP tlog-cosignature, Ed25519). */
export function cosignatureLine(key: NoteKey, timestamp: number, text: string, sign: (message: Uint8Array) => Uint8Array): string {
  if (key.type !== SIG_COSIGNATURE_V1) throw codedError("COSIGNATURE", "a cosignature key has type 4");
  return signatureLine(key.name, key.keyId, concat([u64be(timestamp), sign(cosignatureMessage(timestamp, text))]));
}

/** Check one cosignature line's signature by `key` over `text`; its timestamp (seconds), or null if it does not verify. */
export function checkCosignature(key: NoteKey, text: string, s: NoteSignature, verify: Ed25519Verify): number | null {
  if (key.type !== SIG_COSIGNATURE_V1 || s.name !== key.name || s.keyId !== key.keyId || s.signature.length !== 72) return null;
  const b = s.signature;
  const hi = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  const lo = ((b[4] << 24) | (b[5] << 16) | (b[6] << 8) | b[7]) >>> 0;
  if (hi >= 0x200000) return null;
  const t = hi * 4294967296 + lo;
  return verify(key.publicKey, cosignatureMessage(t, text), b.subarray(8)) ? t : null;
}

export interface CheckpointCheck {
  checkpoint: Checkpoint;
  text: string;
  /** Witnesses whose cosignature verified, with the time each cosigned (seconds since the epoch). */
  cosigned: { name: string; timestamp: number }[];
}

/**
 * Verify a signed checkpoint: signed by the log's key (its name must equal the origin), and, if
 * witnesses are named, cosigned by at least `quorum` of them (default: all named). Codes:
 * NOTE_*, CHECKPOINT_MALFORMED, CHECKPOINT_ORIGIN, WITNESS_QUORUM.
 */
export function verifyCheckpoint(sha: Sha256, verify: Ed25519Verify, note: string | Uint8Array, opts: { log: NoteKey | string; witnesses?: (NoteKey | string)[]; quorum?: number }): CheckpointCheck {
  const logKey = typeof opts.log === "string" ? parseVerifierKey(sha, opts.log) : opts.log;
  if (logKey.type !== SIG_ED25519) throw codedError("NOTE_KEY", "a log key has type 1 (Ed25519)");
  const n = openNote(note, [logKey], verify);
  const checkpoint = parseCheckpoint(n.text);
  if (checkpoint.origin !== logKey.name) throw codedError("CHECKPOINT_ORIGIN", "checkpoint of log " + JSON.stringify(checkpoint.origin) + ", key of " + JSON.stringify(logKey.name));
  const witnesses = (opts.witnesses || []).map((w) => (typeof w === "string" ? parseVerifierKey(sha, w) : w));
  const cosigned: { name: string; timestamp: number }[] = [];
  for (const w of witnesses) {
    for (const s of n.signatures) {
      if (s.name !== w.name || s.keyId !== w.keyId) continue;
      const t = checkCosignature(w, n.text, s, verify);
      if (t === null) throw codedError("NOTE_BAD_SIGNATURE", "the cosignature of witness " + w.name + " does not verify");
      cosigned.push({ name: w.name, timestamp: t });
      break;
    }
  }
  const quorum = opts.quorum === undefined ? witnesses.length : opts.quorum;
  if (cosigned.length < quorum) {
    const missing = witnesses.filter((w) => !cosigned.some((c) => c.name === w.name)).map((w) => w.name);
    // Its values beside the words, so a reader in another language is told the same (the verifier's zh-CN).
    const values = { n: cosigned.length, quorum: quorum, missing: missing.length ? missing.join(", ") : "—" };
    throw Object.assign(codedError("WITNESS_QUORUM", cosigned.length + " of the " + quorum + " witness cosignatures required" + (missing.length ? "; none from " + missing.join(", ") : "")), { values: values });
  }
  return { checkpoint, text: n.text, cosigned };
}
