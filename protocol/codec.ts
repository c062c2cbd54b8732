// Hand-written protobuf (proto3) codec for recorder.proto, small enough for a board:
// protobufjs is too big for one. Byte-for-byte equal to protobufjs (R-ENV-3): fields in
// ascending number order, proto3 defaults omitted, oneof members written when set.
// Decoding never throws anything but a CodecError with a reason code (R-ENV-5).
// Espruino subset.
import { fieldsOf, schemaText, DEFAULT_MAX, F_ONEOF, F_REPEATED, T_BOOL, T_BYTES, T_ENUM, T_MESSAGE, T_SINT64, T_STRING, T_UINT32 } from "./schema.js";
import type { FieldDesc } from "./schema.js";
import { MAX_SAFE, codedError, fromUtf8, utf8 } from "./bytes.js";
import { SCHEMA_VERSION } from "./constants.js";

/** A decoding or encoding failure with its reason code (reasons.ts). */
export interface CodecError extends Error {
  code: string;
}

const fail: (code: string, msg: string) => CodecError = codedError;

export type Obj = { [k: string]: unknown };

const MAX_SINT = 4503599627370495;

function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) { v = Math.floor(v / 128); n++; }
  return n;
}

function zigzag(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1;
}

function wireType(t: number): number {
  return t === T_STRING || t === T_BYTES || t === T_MESSAGE ? 2 : 0;
}

function checkNumber(d: FieldDesc, v: unknown): number {
  const n = v as number;
  // sint64 stays within ±(2^52 - 1) so its zigzag form fits a double exactly (R-ENV-4).
  const max = d[2] === T_UINT32 || d[2] === T_ENUM ? 4294967295 : d[2] === T_SINT64 ? MAX_SINT : MAX_SAFE;
  const min = d[2] === T_SINT64 ? -MAX_SINT : 0;
  if (typeof n !== "number" || n !== Math.floor(n) || n > max || n < min) throw fail("ENCODE_VALUE", d[1] + " must be an integer in [" + min + ", " + max + "], got " + n);
  return n;
}

// A field's value as the bytes/number the wire carries, or null when proto3 omits it.
function wireValue(d: FieldDesc, v: unknown): number | Uint8Array | Obj | null {
  if (v === undefined || v === null) return null;
  const t = d[2];
  const oneof = (d[4] & F_ONEOF) !== 0;
  if (t === T_MESSAGE) return v as Obj;
  if (t === T_BYTES) {
    if (!(v instanceof Uint8Array)) throw fail("ENCODE_VALUE", d[1] + " must be a Uint8Array");
    return v.length === 0 && !oneof ? null : v;
  }
  if (t === T_STRING) {
    if (typeof v !== "string") throw fail("ENCODE_VALUE", d[1] + " must be a string");
    return v.length === 0 && !oneof ? null : utf8(v);
  }
  if (t === T_BOOL) return v ? 1 : null;
  const n = checkNumber(d, v);
  if (n === 0) return null;
  return t === T_SINT64 ? zigzag(n) : n;
}

function fieldSize(d: FieldDesc, w: number | Uint8Array | Obj): number {
  const key = varintSize(d[0] * 8);
  if (typeof w === "number") return key + varintSize(w);
  const n = w instanceof Uint8Array ? w.length : sizeOf(d[3], w);
  return key + varintSize(n) + n;
}

/** Encoded size of a message object of the named type. */
export function sizeOf(type: string, obj: Obj): number {
  const fields = fieldsOf(type) as FieldDesc[];
  let n = 0;
  for (let i = 0; i < fields.length; i++) {
    const d = fields[i];
    const v = obj[d[1]];
    if (d[4] & F_REPEATED) {
      const arr = (v || []) as unknown[];
      for (let j = 0; j < arr.length; j++) n += fieldSize(d, arr[j] as Obj);
      continue;
    }
    const w = wireValue(d, v);
    if (w !== null) n += fieldSize(d, w);
  }
  return n;
}

function putVarint(buf: Uint8Array, p: number, v: number): number {
  while (v >= 128) {
    buf[p++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  buf[p++] = v;
  return p;
}

function putField(buf: Uint8Array, p: number, d: FieldDesc, w: number | Uint8Array | Obj): number {
  p = putVarint(buf, p, d[0] * 8 + wireType(d[2]));
  if (typeof w === "number") return putVarint(buf, p, w);
  if (w instanceof Uint8Array) {
    p = putVarint(buf, p, w.length);
    buf.set(w, p);
    return p + w.length;
  }
  p = putVarint(buf, p, sizeOf(d[3], w));
  return writeInto(d[3], w, buf, p);
}

function writeInto(type: string, obj: Obj, buf: Uint8Array, p: number): number {
  const fields = fieldsOf(type) as FieldDesc[];
  for (let i = 0; i < fields.length; i++) {
    const d = fields[i];
    const v = obj[d[1]];
    if (d[4] & F_REPEATED) {
      const arr = (v || []) as unknown[];
      for (let j = 0; j < arr.length; j++) p = putField(buf, p, d, arr[j] as Obj);
      continue;
    }
    const w = wireValue(d, v);
    if (w !== null) p = putField(buf, p, d, w);
  }
  return p;
}

/** Encode a message object of the named type (two passes: size, then write in place). */
export function encode(type: string, obj: Obj): Uint8Array {
  if (schemaText(type) === undefined) throw fail("ENCODE_TYPE", "unknown message type " + type);
  const buf = new Uint8Array(sizeOf(type, obj));
  writeInto(type, obj, buf, 0);
  return buf;
}

// ---- decoding ----

interface Reader {
  b: Uint8Array;
  p: number;
}

function readVarint(r: Reader, end: number): number {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (r.p >= end) throw fail("DECODE_TRUNCATED", "varint runs past the end at byte " + r.p);
    const c = r.b[r.p++];
    v += (c & 127) * mul;
    if (c < 128) {
      if (v > MAX_SAFE) throw fail("DECODE_VARINT_RANGE", "varint above 2^53 at byte " + r.p);
      return v;
    }
    mul *= 128;
  }
  throw fail("DECODE_VARINT_TOO_LONG", "varint longer than 10 bytes at byte " + r.p);
}

function skip(r: Reader, wt: number, end: number): void {
  if (wt === 0) readVarint(r, end);
  else if (wt === 1) r.p += 8;
  else if (wt === 5) r.p += 4;
  else if (wt === 2) {
    const n = readVarint(r, end); // not `r.p += readVarint(...)`: that reads r.p before the call moves it
    r.p += n;
  }
  else throw fail("DECODE_WIRE_TYPE", "wire type " + wt + " at byte " + r.p);
  if (r.p > end) throw fail("DECODE_TRUNCATED", "field runs past the end");
}

/** Proto3 defaults of a message's fields (parsed once by the caller: fieldsOf splits strings). */
function defaults(fields: FieldDesc[]): Obj {
  const o: Obj = {};
  for (let i = 0; i < fields.length; i++) {
    const d = fields[i];
    if (d[4] & F_REPEATED) o[d[1]] = [];
    else if (d[4] & F_ONEOF) continue;
    else if (d[2] === T_STRING) o[d[1]] = "";
    else if (d[2] === T_BYTES) o[d[1]] = new Uint8Array(0);
    else if (d[2] === T_BOOL) o[d[1]] = false;
    else if (d[2] !== T_MESSAGE) o[d[1]] = 0;
  }
  return o;
}

function findField(fields: FieldDesc[], no: number): FieldDesc | null {
  for (let i = 0; i < fields.length; i++) if (fields[i][0] === no) return fields[i];
  return null;
}

function readMessage(type: string, r: Reader, end: number, depth: number): Obj {
  if (depth > 8) throw fail("DECODE_DEPTH", "messages nested too deep");
  const fields = fieldsOf(type) as FieldDesc[];
  const o = defaults(fields);
  while (r.p < end) {
    const key = readVarint(r, end);
    const no = Math.floor(key / 8);
    const wt = key % 8;
    if (no === 0) throw fail("DECODE_FIELD_NUMBER", "field number 0 in " + type);
    const d = findField(fields, no);
    if (!d) { skip(r, wt, end); continue; }
    if (wt !== wireType(d[2])) throw fail("DECODE_WIRE_TYPE", type + "." + d[1] + " has wire type " + wt);
    let v: unknown;
    if (wt === 0) {
      const n = readVarint(r, end);
      if (d[2] === T_BOOL) v = n !== 0;
      else if (d[2] === T_SINT64) v = n % 2 === 0 ? n / 2 : -(n + 1) / 2;
      else {
        if ((d[2] === T_UINT32 || d[2] === T_ENUM) && n > 4294967295) throw fail("DECODE_VARINT_RANGE", type + "." + d[1] + " above 2^32");
        v = n;
      }
    } else {
      const len = readVarint(r, end);
      const stop = r.p + len;
      if (stop > end) throw fail("DECODE_TRUNCATED", type + "." + d[1] + " declares " + len + " bytes, " + (end - r.p) + " remain");
      if (d[2] === T_MESSAGE) v = readMessage(d[3], r, stop, depth + 1);
      else {
        const max = d[5] || DEFAULT_MAX;
        if (len > max) throw fail("DECODE_FIELD_SIZE", type + "." + d[1] + " is " + len + " bytes, at most " + max);
        const bytes = r.b.subarray(r.p, stop);
        if (d[2] === T_STRING) {
          const s = fromUtf8(bytes);
          if (s === null) throw fail("DECODE_UTF8", type + "." + d[1] + " is not UTF-8");
          v = s;
        } else v = bytes;
      }
      r.p = stop;
    }
    if (d[4] & F_REPEATED) (o[d[1]] as unknown[]).push(v);
    else {
      if (d[4] & F_ONEOF) for (let i = 0; i < fields.length; i++) if (fields[i][4] & F_ONEOF) delete o[fields[i][1]];
      o[d[1]] = v;
    }
  }
  return o;
}

/**
 * Decode bytes as the named message type. Scalars absent on the wire get their proto3
 * defaults; unset messages and oneof members stay undefined. Bytes are views into `b`.
 */
export function decode(type: string, b: Uint8Array): Obj {
  // Known without parsing it: readMessage parses it, once (a board decodes one per Ack).
  if (schemaText(type) === undefined) throw fail("DECODE_TYPE", "unknown message type " + type);
  if (!(b instanceof Uint8Array)) throw fail("DECODE_INPUT", "input is not bytes");
  // A Node Buffer becomes a plain Uint8Array view first.
  if (b.constructor !== Uint8Array) b = new Uint8Array(b.buffer, b.byteOffset, b.length);
  return readMessage(type, { b: b, p: 0 }, b.length, 0);
}

/** The oneof member that is set, or "" (R-ENV-2). */
export function which(obj: Obj, type: string): string {
  const fields = fieldsOf(type) as FieldDesc[];
  for (let i = 0; i < fields.length; i++) if ((fields[i][4] & F_ONEOF) && obj[fields[i][1]] !== undefined) return fields[i][1];
  return "";
}

/**
 * The bytes of an Uplink carrying a Chunk, split around the payload so a board can send
 * prefix, payload and suffix as three socket writes without copying the payload (R-MSG-5).
 * prefix ‖ payload ‖ suffix equals encode("Uplink", {schema: 1, chunk: {header, payload, tag}}).
 */
/** The last frame's lengths and bytes: chunks of one recording mostly share their lengths. */
let lastFrame: { h: number; n: number; t: number; p: Uint8Array; o: number; s: Uint8Array } | null = null;

export function chunkFrame(header: Uint8Array, payloadLength: number, tag: Uint8Array): { prefix: Uint8Array; suffix: Uint8Array } {
  const hl = header.length, tl = tag.length, c = lastFrame;
  if (c && c.h === hl && c.n === payloadLength && c.t === tl) {
    // Same lengths as the last frame: copy it and put this header and tag in. On a board two
    // native copies cost less than the varint helpers' calls (DESIGN.md section 7).
    const prefix = new Uint8Array(c.p), suffix = new Uint8Array(c.s);
    prefix.set(header, c.o);
    suffix.set(tag, suffix.length - tl);
    return { prefix: prefix, suffix: suffix };
  }
  const inner = (hl ? 1 + varintSize(hl) + hl : 0) + (payloadLength ? 1 + varintSize(payloadLength) + payloadLength : 0) + (tl ? 1 + varintSize(tl) + tl : 0);
  const prefix = new Uint8Array(2 + 1 + varintSize(inner) + (hl ? 1 + varintSize(hl) + hl : 0) + (payloadLength ? 1 + varintSize(payloadLength) : 0));
  prefix[0] = 0x08;
  prefix[1] = SCHEMA_VERSION;
  prefix[2] = 0x22;
  let p = putVarint(prefix, 3, inner), o = 0;
  if (hl) {
    prefix[p++] = 0x0a;
    o = p = putVarint(prefix, p, hl);
    prefix.set(header, p);
    p += hl;
  }
  if (payloadLength) {
    prefix[p++] = 0x12;
    putVarint(prefix, p, payloadLength);
  }
  const suffix = new Uint8Array(tl ? 1 + varintSize(tl) + tl : 0);
  if (tl) {
    suffix[0] = 0x1a;
    suffix.set(tag, putVarint(suffix, 1, tl));
  }
  // Kept as the pattern for the next frame: the caller only reads them (they are published as is).
  lastFrame = { h: hl, n: payloadLength, t: tl, p: prefix, o: o, s: suffix };
  return { prefix: prefix, suffix: suffix };
}

/**
 * A Downlink as every encoder here writes it (R-ENV-3): schema, counter, body and a 32-byte MAC, in
 * that order, each present, with one-byte keys. Read in a few statements, without the schema table:
 * the generic decoder cost a board-sized interpreter about 16 ms per message (running from flash),
 * more than everything else an Ack does. null for any other shape: the caller decodes it the
 * general way, which also names what is wrong. The body and MAC are views into `b`.
 */
export function readDownlink(b: Uint8Array): { schema: number; counter: number; body: Uint8Array; mac: Uint8Array } | null {
  const n = b.length;
  if (n < 40 || b[0] !== 0x08 || b[1] > 127 || b[2] !== 0x10) return null;
  let p = 3, c = 0, mul = 1, x = 128;
  while (x > 127) {
    if (p >= n || mul > 268435456) return null; // a uint32 takes at most 5 bytes
    x = b[p++];
    c += (x & 127) * mul;
    mul *= 128;
  }
  if (c > 4294967295 || b[p++] !== 0x1a) return null;
  x = b[p++];
  let len = x & 127;
  if (x > 127) {
    x = b[p++];
    if (x > 127) return null;
    len += x * 128;
  }
  const end = p + len;
  if (len > 4096 || end + 34 !== n || b[end] !== 0x22 || b[end + 1] !== 0x20) return null;
  return { schema: b[1], counter: c, body: b.subarray(p, end), mac: b.subarray(end + 2) };
}
