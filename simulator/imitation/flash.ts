// require("Storage") imitated: Espruino's journaling flash file system, in the same on-disk format
// as the Linux interpreter's `espruino.flash`, so one device directory can be opened by either.
//
// Measured on the Linux interpreter (2v29), and reproduced here:
//   - 256 KiB. Each file takes a 32-byte header (u32 little-endian size, then the name in 28 bytes,
//     NUL-padded) and its data padded to 4 bytes with 0xFF; free space starts at 0xFFFFFFFF.
//   - Files are only appended. An overwrite appends a new copy; an erase zeroes the name of the old
//     one. Both keep occupying space until compact(), so getFree() does not grow on erase.
//   - Writing the same bytes a file already holds writes nothing.
//   - A write that does not fit compacts first if that would make room (it prints "Compacting...");
//     otherwise it throws Error("Unable to find or create file"), and the file it was replacing is
//     already erased: a failed overwrite loses the old content.
//   - A zero-length write throws Error("Can't create zero length file").
//   - Names longer than 28 characters are silently cut to 28 (two long names can collide).
//   - readJSON of a missing file is undefined; of bad JSON, undefined with noExceptions, else throws.
//   - writeJSON writes Espruino's JSON: keys that are identifiers or integers unquoted, chars above
//     126 as \u00XX; its own JSON.parse reads that back.
//   - A truncated image is accepted (the rest reads as erased flash), so only the used part is saved.
//
// Persistence: every change rewrites the used part of the image to a temporary file, fsyncs it and
// renames it over `espruino.flash` (then fsyncs the directory): a change is whole or absent after a
// crash. A file written in parts (offset, size) is torn between parts as on a board; a single
// write is not torn here.
import * as fs from "node:fs";
import * as path from "node:path";
import type { EspStorage } from "../../firmware/hosts/env.js";
import { binaryOf, dataBytes } from "./binary.js";
import type { Life } from "./runtime.js";
import { maxArgs, strict } from "./strict.js";

export const FLASH_BYTES = 262144;
/** The file the Linux interpreter keeps Storage in, in its working directory (and so the imitation). */
export const FLASH_FILE = "espruino.flash";
const HEADER = 32;
const NAME_MAX = 28;
const EMPTY = 0xffffffff;

interface Entry {
  name: string;
  /** The file's bytes as a binary string (what read() returns). */
  data: string;
  live: boolean;
}

const padded = (n: number): number => (n + 3) & ~3;
/** Still erased flash (0xFF) from `at` for `n` bytes. */
const erased = (data: string, at: number, n: number): boolean => {
  for (let i = at; i < at + n; i++) if (data.charCodeAt(i) !== 0xff) return false;
  return true;
};
const footprint = (e: Entry): number => HEADER + padded(e.data.length);

/** The flash model: entries in flash order, live or erased. */
export class Flash {
  file: string;
  capacity: number;
  entries: Entry[];
  used: number;
  life: Life;

  constructor(file: string, capacity: number, life: Life) {
    this.file = file;
    this.capacity = capacity;
    this.life = life;
    this.entries = [];
    this.used = 0;
    this.load();
  }

  /** Reads an image written by this class or by the interpreter (full size or truncated). */
  load(): void {
    let img: Buffer;
    try {
      img = fs.readFileSync(this.file);
    } catch {
      return;
    }
    let off = 0;
    while (off + HEADER <= Math.min(img.length, this.capacity)) {
      const word = img.readUInt32LE(off);
      if (word === EMPTY) break;
      const size = word & 0xffffff; // the top byte holds flags (0 for files written by Storage.write)
      let end = off + 4;
      while (end < off + HEADER && img[end] !== 0) end++;
      const name = img.toString("latin1", off + 4, end);
      const data = img.toString("latin1", off + HEADER, Math.min(img.length, off + HEADER + size));
      this.entries.push({ name, data, live: img[off + 4] !== 0 });
      off += HEADER + padded(size);
    }
    this.used = off;
  }

  /** The used part of the image, byte for byte as the interpreter lays it out. */
  image(): Buffer {
    const img = Buffer.alloc(this.used, 0xff);
    let off = 0;
    for (const e of this.entries) {
      img.writeUInt32LE(e.data.length, off);
      img.fill(0, off + 4, off + HEADER);
      if (e.live) img.write(e.name, off + 4, NAME_MAX, "latin1");
      img.write(e.data, off + HEADER, e.data.length, "latin1");
      off += footprint(e);
    }
    return img;
  }

  persist(): void {
    const tmp = this.file + ".tmp";
    const fd = fs.openSync(tmp, "w");
    try {
      const img = this.image();
      let off = 0;
      while (off < img.length) off += fs.writeSync(fd, img, off, img.length - off);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    const dfd = fs.openSync(path.dirname(this.file), "r");
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  }

  find(name: string): Entry | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      if (e.live && e.name === name) return e;
    }
    return undefined;
  }

  trash(): number {
    let n = 0;
    for (const e of this.entries) if (!e.live) n += footprint(e);
    return n;
  }

  compactNow(): void {
    this.life.log("Compacting...");
    this.entries = this.entries.filter((e) => e.live);
    this.used = 0;
    for (const e of this.entries) this.used += footprint(e);
  }

  /**
   * Storage.write: see the header for the rules this follows. With `offset` and `size`, as
   * Espruino: a write at offset 0 makes a file of `size` bytes, erased (0xFF), unless one of that
   * size is still erased there; every write then fills its range, which must still be erased.
   * Between two such writes the file reads 0xFF where it is not yet written, as after a power cut.
   */
  write(rawName: string, data: string, offset = 0, size = 0): boolean {
    if (!size) size = data.length;
    if (size === 0) throw new Error("Can't create zero length file");
    const name = this.nameOf(rawName);
    let e = this.find(name);
    if (offset === 0 && !(e && e.data.length === size && erased(e.data, 0, size))) {
      if (e && e.data === data) return true;
      if (e) e.live = false;
      const entry: Entry = { name, data: "\xff".repeat(size), live: true };
      const need = footprint(entry);
      if (this.capacity - this.used < need) {
        if (this.capacity - this.used + this.trash() >= need) this.compactNow();
        else {
          if (e) this.persist();
          throw new Error("Unable to find or create file");
        }
      }
      this.entries.push(entry);
      this.used += need;
      e = entry;
    }
    if (!e) throw new Error("Unable to find or create file");
    if (offset + data.length > e.data.length) throw new Error("Too much data for file size");
    if (!erased(e.data, offset, data.length)) throw new Error("File already written with different data");
    e.data = e.data.slice(0, offset) + data + e.data.slice(offset + data.length);
    this.persist();
    return true;
  }

  erase(name: string): void {
    const e = this.find(this.nameOf(name));
    if (!e) return;
    e.live = false;
    this.persist();
  }

  nameOf(name: string): string {
    if (typeof name !== "string" || name.length === 0) throw new TypeError("Storage: expected a file name");
    if (name.length <= NAME_MAX) return name;
    this.life.log("Storage: name '" + name + "' cut to " + NAME_MAX + " characters (as Espruino does)");
    return name.substr(0, NAME_MAX);
  }
}

/** Espruino's JSON.stringify, as writeJSON stores it (see the header). */
export function espruinoJson(v: unknown): string | undefined {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean": return String(v);
    case "number": return isFinite(v) ? String(v) : "null";
    case "string": return quote(v);
    case "undefined": case "function": case "symbol": return undefined;
    case "bigint": throw new TypeError("BigInt is not on Espruino");
  }
  const o = v as { toJSON?: () => unknown };
  if (typeof o.toJSON === "function") return espruinoJson(o.toJSON());
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    const items = Array.prototype.map.call(v, (x: unknown) => { const s = espruinoJson(x); return s === undefined ? "null" : s; });
    return "[" + items.join(",") + "]";
  }
  const parts: string[] = [];
  for (const k of Object.keys(v as object)) {
    const s = espruinoJson((v as Record<string, unknown>)[k]);
    if (s === undefined) continue;
    parts.push((/^[A-Za-z_$][A-Za-z0-9_$]*$|^(0|[1-9][0-9]*)$/.test(k) ? k : quote(k)) + ":" + s);
  }
  return "{" + parts.join(",") + "}";
}

function quote(s: string): string {
  let out = "\"";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += "\\\"";
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c < 0x20 || c > 0x7e) out += "\\u" + c.toString(16).toUpperCase().padStart(4, "0");
    else out += s[i];
  }
  return out + "\"";
}

/** JSON.parse, plus the unquoted keys Espruino's writeJSON produces (its own parser accepts them). */
export function espruinoParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return JSON.parse(quoteKeys(text));
  }
}

/** `{a:1,2:[x]}` to `{"a":1,"2":[x]}`; leaves strings and values alone. */
function quoteKeys(text: string): string {
  let out = "";
  let prev = ""; // the last character copied that is not white space
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "\"") {
      // Copy a string literal whole, escapes included.
      let j = i + 1;
      while (j < text.length && text[j] !== "\"") j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      prev = "\"";
      i = j + 1;
    } else if ((prev === "{" || prev === ",") && /[A-Za-z_$0-9]/.test(c)) {
      // A bare word right after `{` or `,`: a key if a colon follows (else a value such as `true`).
      let j = i;
      while (j < text.length && /[A-Za-z0-9_$.+-]/.test(text[j])) j++;
      const word = text.slice(i, j);
      let k = j;
      while (k < text.length && /\s/.test(text[k])) k++;
      out += text[k] === ":" ? "\"" + word + "\"" : word;
      prev = word[word.length - 1];
      i = j;
    } else {
      out += c;
      if (!/\s/.test(c)) prev = c;
      i++;
    }
  }
  return out;
}

/** The require("Storage") face of a Flash, strict (see strict.ts). */
export function storageModule(flash: Flash): EspStorage {
  const life = flash.life;
  const face = {
    read(name: string, offset?: number, length?: number): string | undefined {
      life.check();
      maxArgs("Storage.read", 3, arguments.length);
      const e = flash.find(flash.nameOf(name));
      if (!e) return undefined;
      if (offset === undefined) return e.data;
      return e.data.substr(offset, length === undefined ? e.data.length : length);
    },
    readJSON(name: string, noExceptions?: boolean): unknown {
      life.check();
      const e = flash.find(flash.nameOf(name));
      if (!e) return undefined;
      try {
        return espruinoParse(e.data);
      } catch (err) {
        if (noExceptions) return undefined;
        throw err;
      }
    },
    readArrayBuffer(name: string): ArrayBuffer | undefined {
      life.check();
      const e = flash.find(flash.nameOf(name));
      if (!e) return undefined;
      const b = Buffer.from(e.data, "latin1");
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
    },
    write(name: string, data: string | Uint8Array, offset?: number, size?: number): boolean {
      life.check();
      maxArgs("Storage.write", 4, arguments.length);
      return flash.write(name, binaryOf(dataBytes("Storage.write", data)), offset || 0, size || 0);
    },
    writeJSON(name: string, data: unknown): boolean {
      life.check();
      const text = espruinoJson(data);
      return flash.write(name, text === undefined ? "undefined" : binaryOf(dataBytes("Storage.writeJSON", text)));
    },
    erase(name: string): void {
      life.check();
      flash.erase(name);
    },
    eraseAll(): void {
      life.check();
      flash.entries = [];
      flash.used = 0;
      flash.persist();
    },
    compact(): void {
      life.check();
      flash.compactNow();
      flash.persist();
    },
    getFree(): number {
      life.check();
      return flash.capacity - flash.used;
    },
    getStats() {
      life.check();
      let fileBytes = 0, fileCount = 0, trashBytes = 0, trashCount = 0;
      for (const e of flash.entries) {
        if (e.live) { fileBytes += footprint(e); fileCount++; } else { trashBytes += footprint(e); trashCount++; }
      }
      return { totalBytes: flash.capacity, freeBytes: flash.capacity - flash.used, fileBytes, fileCount, trashBytes, trashCount };
    },
    list(filter?: RegExp | string): string[] {
      life.check();
      maxArgs("Storage.list", 1, arguments.length);
      const names: string[] = [];
      for (const e of flash.entries) {
        if (!e.live) continue;
        if (filter instanceof RegExp ? filter.test(e.name) : filter === undefined || e.name.indexOf(filter) >= 0) names.push(e.name);
      }
      return names;
    },
  };
  return strict("Storage", face, { unimplemented: ["hash", "open", "optimise"] });
}
