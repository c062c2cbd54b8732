// Standard base64 (RFC 4648 section 4, with padding), strict: signed notes, checkpoints and
// cosignatures carry their hashes and signatures this way. No Buffer, so a browser runs it too.
import { codedError } from "./bytes.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const INDEX: Record<string, number> = {};
for (let i = 0; i < ALPHABET.length; i++) INDEX[ALPHABET[i]] = i;

/** Base64 of bytes, padded. */
export function toBase64(b: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  if (i + 1 === b.length) {
    const n = b[i] << 16;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + "==";
  } else if (i + 2 === b.length) {
    const n = (b[i] << 16) | (b[i + 1] << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + "=";
  }
  return out;
}

/**
 * Bytes of padded base64. Refuses (BASE64) anything but the one canonical spelling: other
 * characters, missing padding, or non-zero bits in the last character's unused part, so
 * that one value never has two encodings inside a signed text.
 */
export function fromBase64(s: string): Uint8Array {
  if (typeof s !== "string" || s.length % 4 !== 0) throw codedError("BASE64", "length is not a multiple of 4");
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const last = i + 4 === s.length;
    const v: number[] = [];
    for (let j = 0; j < 4; j++) {
      const ch = s[i + j];
      if (ch === "=" && last && j >= 4 - pad) { v.push(0); continue; }
      const x = INDEX[ch];
      if (x === undefined) throw codedError("BASE64", "character " + JSON.stringify(ch) + " at " + (i + j));
      v.push(x);
    }
    const n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    if (last && pad === 2 && (n & 0xffff) !== 0) throw codedError("BASE64", "non-canonical final character");
    if (last && pad === 1 && (n & 0xff) !== 0) throw codedError("BASE64", "non-canonical final character");
    out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}
