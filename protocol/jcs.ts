// RFC 8785 JSON Canonicalization Scheme: the one byte form of a JSON value that the station
// signs and logs (SPEC.md R-LOG-2). Property names sorted by their UTF-16 code units, no
// whitespace, strings and numbers serialised as ECMAScript's JSON.stringify does (which is
// what RFC 8785 adopts). Not part of the firmware bundle: plain modern JavaScript.
import { codedError } from "./bytes.js";

/** The canonical text of `value` (RFC 8785). Throws JCS_VALUE on what JSON can't carry. */
export function canonicalize(value: unknown): string {
  return write(value, "$");
}

/** The canonical UTF-8 bytes of `value`. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalize(value));
}

function bad(path: string, why: string): Error {
  return codedError("JCS_VALUE", path + ": " + why);
}

function write(v: unknown, path: string): string {
  if (v === null) return "null";
  if (v === true) return "true";
  if (v === false) return "false";
  if (typeof v === "number") {
    // RFC 8785 3.2.2.3: NaN and the infinities have no JSON form; -0 is written as 0.
    if (!Number.isFinite(v)) throw bad(path, "number " + String(v) + " has no JSON form");
    return JSON.stringify(v);
  }
  if (typeof v === "string") return str(v, path);
  if (Array.isArray(v)) {
    const parts: string[] = [];
    for (let i = 0; i < v.length; i++) parts.push(write(v[i], path + "[" + i + "]"));
    return "[" + parts.join(",") + "]";
  }
  if (typeof v === "object") {
    if (typeof (v as { toJSON?: unknown }).toJSON === "function") throw bad(path, "objects with toJSON (dates, buffers) must be converted first");
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) throw bad(path, "only plain objects and arrays");
    // Default string order compares UTF-16 code units, as RFC 8785 3.2.3 requires.
    const keys = Object.keys(v).sort();
    const parts: string[] = [];
    for (const k of keys) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined) throw bad(path + "." + k, "undefined has no JSON form");
      parts.push(str(k, path + "." + k) + ":" + write(x, path + "." + k));
    }
    return "{" + parts.join(",") + "}";
  }
  throw bad(path, typeof v + " has no JSON form");
}

function str(s: string, path: string): string {
  // RFC 8785 3.2.2.2 serialises strings as JSON.stringify does, but a lone surrogate is not
  // Unicode text: refused rather than escaped.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) throw bad(path, "lone surrogate at " + i);
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) throw bad(path, "lone surrogate at " + i);
  }
  return JSON.stringify(s);
}
