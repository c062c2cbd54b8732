// Byte helpers shared by the gateway and the firmware bundle.
// Written in the JavaScript subset the Espruino interpreter runs (SPEC.md R-ESP-1):
// no destructuring, spread, default parameters, Map/Set, `**` or `?.`.

const HEX = "0123456789abcdef";

/** One-shot SHA-256: 32 bytes out. Injected: node:crypto on Node, crypto.SHA256 on a board. */
export type Sha256 = (data: Uint8Array) => Uint8Array;

/** An Error carrying a machine-readable reason code (reasons.ts), built the way a board can. */
export function codedError(code: string, msg: string): Error & { code: string } {
  const e = new Error(code + ": " + msg) as Error & { code: string };
  e.code = code;
  return e;
}

/** Encode an ASCII string (domain strings, device ids) as bytes; rejects non-ASCII. */
export function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 126 || c < 32) throw new Error("ascii: character " + c + " at " + i + " is not printable ASCII");
    out[i] = c;
  }
  return out;
}

/** Encode a string as UTF-8 bytes (case tags, reasons). */
export function utf8(s: string): Uint8Array {
  const tmp: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) tmp.push(c);
    else if (c < 0x800) tmp.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) tmp.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else tmp.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(tmp);
}

function hex4(n: number): string {
  return "\\u" + HEX[(n >> 12) & 15] + HEX[(n >> 8) & 15] + HEX[(n >> 4) & 15] + HEX[n & 15];
}

/**
 * Decode UTF-8 bytes; returns null when they are not well-formed UTF-8.
 * ASCII, as every MQTT topic here is (one decoded per message the device receives), takes two
 * native calls. Anything else is built as JSON escapes and parsed once: on Espruino
 * String.fromCharCode keeps only the low 8 bits, so it can't build a string of Chinese case tags.
 */
export function fromUtf8(b: Uint8Array): string | null {
  // Short inputs only: apply() passes each byte as an argument.
  if (b.length <= 256 && Math.max.apply(null, b as unknown as number[]) < 0x80) return String.fromCharCode.apply(null, b as unknown as number[]);
  let s = "";
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    let cp = -1;
    let n = 0;
    if (c < 0x80) { cp = c; n = 1; }
    else if (c >= 0xc2 && c < 0xe0) { cp = c & 31; n = 2; }
    else if (c >= 0xe0 && c < 0xf0) { cp = c & 15; n = 3; }
    else if (c >= 0xf0 && c < 0xf5) { cp = c & 7; n = 4; }
    else return null;
    if (i + n > b.length) return null;
    for (let j = 1; j < n; j++) {
      const d = b[i + j];
      if ((d & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (d & 63);
    }
    if ((n === 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (n === 4 && (cp < 0x10000 || cp > 0x10ffff))) return null;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      s += hex4(0xd800 + (cp >> 10)) + hex4(0xdc00 + (cp & 1023));
    } else s += hex4(cp);
    i += n;
  }
  return JSON.parse('"' + s + '"');
}

/** Concatenate byte arrays into one new array. */
export function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += parts[i].length;
  const out = new Uint8Array(n);
  let o = 0;
  for (let i = 0; i < parts.length; i++) {
    out.set(parts[i], o);
    o += parts[i].length;
  }
  return out;
}

/** Compare two byte arrays in time that depends only on their length (SPEC.md R-CRY-6). */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/**
 * Equal, in a time that says nothing of where two MACs differ, and without a loop per byte (a board
 * checks one MAC per downlink message, an Ack per chunk): the SHA-256 of each, compared as strings.
 * Where those first differ tells only of the hashes, from which neither MAC can be recovered.
 */
export function hashedEqual(sha: Sha256, a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && String.fromCharCode.apply(null, sha(a) as unknown as number[]) === String.fromCharCode.apply(null, sha(b) as unknown as number[]);
}

/** Overwrite key material in place (SPEC.md R-KEY-7). */
export function wipe(b: Uint8Array | null | undefined): void {
  if (b) b.fill(0);
}

/** Lowercase hex of bytes. */
export function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEX[b[i] >> 4] + HEX[b[i] & 15];
  return s;
}

/** Bytes from hex; throws on odd length or a non-hex digit. */
export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0) throw new Error("fromHex: odd length " + s.length);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = HEX.indexOf(s[2 * i].toLowerCase());
    const lo = HEX.indexOf(s[2 * i + 1].toLowerCase());
    if (hi < 0 || lo < 0) throw new Error("fromHex: bad digit near offset " + 2 * i);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Big-endian uint32 into a fresh 4-byte array. */
export function u32be(v: number): Uint8Array {
  const b = new Uint8Array(4);
  b[0] = (v >>> 24) & 255;
  b[1] = (v >>> 16) & 255;
  b[2] = (v >>> 8) & 255;
  b[3] = v & 255;
  return b;
}

/** Write an unsigned integer below 2^53 as big-endian uint64 (no BigInt on a board). */
export function setU64(dv: DataView, off: number, v: number): void {
  const hi = Math.floor(v / 4294967296);
  dv.setUint32(off, hi);
  dv.setUint32(off + 4, v - hi * 4294967296);
}

/** Read a big-endian uint64; values above 2^53 lose precision and are reported by the caller. */
export function getU64(dv: DataView, off: number): number {
  return dv.getUint32(off) * 4294967296 + dv.getUint32(off + 4);
}

/** Largest integer a double holds exactly (Number.MAX_SAFE_INTEGER is missing on Espruino). */
export const MAX_SAFE = 9007199254740991;

/** A copy with its own memory. (Node's Buffer.slice is a view: never use slice to copy.) */
export function copyBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}
