// Espruino's binary strings: one char per byte (0..255). A string holding any char above 255 is a
// Unicode string on Espruino and is stored, written and sent as its UTF-8 bytes (measured on the
// Linux interpreter: Storage.write("u", "\u00e9\u4e2d") stores 5 bytes, E.toUint8Array("\u4e2dA")
// gives [228, 184, 173, 65]).

const WIDE = /[^\x00-\xff]/;

/** The bytes Espruino would store or send for `s`. Shares no memory with other buffers. */
export function bytesOf(s: string): Buffer {
  return WIDE.test(s) ? Buffer.from(s, "utf8") : Buffer.from(s, "latin1");
}

/**
 * A plain Uint8Array over memory of its own: Node's small Buffers live in a shared pool, so a
 * `new Uint8Array(b.buffer)` on one would see other data; on Espruino the buffer is exact. Also keeps
 * Buffer methods (toString("hex"), equals...) out of the firmware's reach.
 */
export function ownBytes(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

/** A binary string of the bytes (latin1), as Espruino's E.toString gives it. */
export function binaryOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString("latin1");
}

/** Bytes of whatever Espruino's data-taking APIs accept: string, typed array, ArrayBuffer. */
export function dataBytes(label: string, d: unknown): Buffer {
  if (typeof d === "string") return bytesOf(d);
  if (d instanceof ArrayBuffer) return Buffer.from(d);
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  // The Linux interpreter hits an internal assertion and exits on e.g. a number: refuse loudly.
  throw new TypeError(label + ": expected a string or bytes, got " + (d === null ? "null" : typeof d));
}
