// require("fs") and E.openFile imitated over a directory (the device's SD card), with the faults
// that matter for durability.
//
// Behaviour measured on the Linux interpreter (2v29) and reproduced:
//   - File.write(s) returns the bytes written; on a closed file or one opened "r" it writes nothing
//     and returns 0. read(n) gives at most n bytes as a binary string, undefined at end of file (and
//     for n = 0, and on a closed file). skip(n) past the end is allowed (reads then give undefined).
//   - E.openFile(missing, "r"), or "w" in a missing directory, throws
//     Error("Could not open file : UNKNOWN"); an unknown mode returns undefined.
//   - fs.readFileSync(missing) throws the same error; of an empty file it returns undefined.
//     fs.writeFileSync(path, "") creates the empty file and returns false. fs.unlinkSync(missing)
//     throws Error("Unable to delete file : UNKNOWN"). fs.statSync(missing) is undefined, else
//     {size, dir, mtime}. fs.readdirSync(missing) is undefined; it lists "." and ".." too.
//
// Durability (DESIGN.md section 4, "Durable means written"): a file's bytes are durable once the
// write calls returned AND the file was closed: close() fsyncs (and fsyncs the directory when the
// open created the file). writeFileSync/appendFileSync are open + write + close. Writes go to the OS
// at once, so a plain kill keeps them (the page cache survives a killed process); the faults model
// losing power:
//   - tearNextWrite: the next write puts only part of its bytes in the file, then power is lost.
//   - dropUnsynced: at a power cut, each file still open for writing loses what was written since
//     it was opened (its size at open is what the card kept; an open's truncation or creation is
//     taken as done).
import * as fs from "node:fs";
import * as path from "node:path";
import type { EspFile, EspFs } from "../../firmware/hosts/env.js";
import { dataBytes } from "./binary.js";
import { type Life, PowerLoss } from "./runtime.js";
import { strict } from "./strict.js";

/** Faults of a device, set at creation or at any time through `device.faults`. */
export interface Faults {
  /**
   * Tear the next file write: keep this many of its bytes (true: half), then lose power. Cleared
   * once used.
   */
  tearNextWrite?: number | boolean;
  /** At a power cut, drop the bytes written to files that were not closed since. */
  dropUnsynced?: boolean;
}

const OPEN_FAILED = "Could not open file : UNKNOWN";

/** One open file: a Node fd and what the card is sure to keep of it. */
class OpenFile {
  card: SdCard;
  file: string;
  fd: number;
  mode: string;
  pos: number;
  /** Size that survives a power cut with dropUnsynced (durable part). */
  syncedSize: number;
  created: boolean;
  closed: boolean;

  constructor(card: SdCard, file: string, mode: string) {
    this.card = card;
    this.file = file;
    this.mode = mode;
    this.created = mode !== "r" && !fs.existsSync(file);
    this.fd = fs.openSync(file, mode === "r" ? "r" : mode === "w" ? "w" : "a");
    this.pos = 0;
    this.syncedSize = mode === "a" ? fs.fstatSync(this.fd).size : 0;
    this.closed = false;
    if (mode !== "r") card.open.add(this);
  }

  write(d: string | Uint8Array): number {
    if (this.closed || this.mode === "r") return 0;
    const b = dataBytes("File.write", d);
    const tear = this.card.faults.tearNextWrite;
    if (tear !== undefined && tear !== false) {
      const keep = Math.max(0, Math.min(b.length, tear === true ? b.length >> 1 : tear));
      this.card.faults.tearNextWrite = undefined;
      this.put(b.subarray(0, keep));
      this.card.powerCut(); // the board browns out in the middle of the write
      throw new PowerLoss();
    }
    this.put(b);
    return b.length;
  }

  put(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) off += fs.writeSync(this.fd, b, off, b.length - off);
  }

  read(n: number): string | undefined {
    if (this.closed || this.mode !== "r" || !(n > 0)) return undefined;
    const b = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const k = fs.readSync(this.fd, b, got, n - got, this.pos + got);
      if (k <= 0) break;
      got += k;
    }
    if (got === 0) return undefined;
    this.pos += got;
    return b.toString("latin1", 0, got);
  }

  skip(n: number): void {
    if (!this.closed && n > 0) this.pos += n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.mode !== "r") {
        fs.fsyncSync(this.fd);
        this.card.open.delete(this);
      }
    } finally {
      fs.closeSync(this.fd);
    }
    if (this.created) this.card.syncDir();
  }

  /** Power cut: the fd goes, without the fsync that close() would do. */
  abandon(dropUnsynced: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (dropUnsynced) fs.ftruncateSync(this.fd, this.syncedSize);
    fs.closeSync(this.fd);
  }
}

/** The SD card of one device: a directory, its open files, and its faults. */
export class SdCard {
  root: string;
  life: Life;
  faults: Faults;
  open: Set<OpenFile>;
  /** Called when a torn write cuts the power (the device's powerCut, which calls back cut()). */
  powerCut: () => void;

  constructor(root: string, life: Life, faults: Faults, powerCut: () => void) {
    this.root = root;
    this.life = life;
    this.faults = faults;
    this.powerCut = powerCut;
    this.open = new Set();
    fs.mkdirSync(root, { recursive: true });
  }

  /** A path on the card; refuses one that would leave it (the firmware has no business there). */
  resolve(p: string): string {
    if (typeof p !== "string") throw new TypeError("fs: expected a path string");
    const rel = p === "." ? "" : p.replace(/^\.\//, "");
    if (path.isAbsolute(rel) || rel.split(/[\\/]/).indexOf("..") >= 0) throw new Error("simulator: path outside the SD card: " + p);
    return path.join(this.root, rel);
  }

  syncDir(): void {
    const fd = fs.openSync(this.root, "r");
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  }

  openFile(p: string, mode: string): OpenFile | undefined {
    if (mode !== "r" && mode !== "w" && mode !== "a") {
      if (mode === "r+" || mode === "w+" || mode === "a+") throw new Error("not implemented in the simulator: E.openFile mode " + mode);
      return undefined;
    }
    const file = this.resolve(p);
    try {
      return new OpenFile(this, file, mode);
    } catch {
      throw new Error(OPEN_FAILED);
    }
  }

  /** Write a whole file the way fs.writeFileSync/appendFileSync do: open, write, close. */
  writeWhole(p: string, data: unknown, mode: "w" | "a", label: string): number {
    const b = dataBytes(label, data);
    const f = this.openFile(p, mode) as OpenFile;
    try {
      f.write(b);
    } finally {
      if (!this.life.dead) f.close();
    }
    return b.length;
  }

  /** Power cut: open files lose their descriptors, and with dropUnsynced their unsynced bytes. */
  cut(dropUnsynced: boolean): void {
    for (const f of this.open) f.abandon(dropUnsynced);
    this.open.clear();
  }
}

/** The strict face of an open file. */
function fileFace(f: OpenFile, life: Life): EspFile {
  return strict("File", {
    write(s: string): number { life.check(); return f.write(s); },
    read(n: number): string | undefined { life.check(); return f.read(n); },
    skip(n: number): void { life.check(); f.skip(n); },
    close(): void { life.check(); f.close(); },
  }, { unimplemented: ["seek", "pipe"] }) as EspFile;
}

/** E.openFile for the card. */
export function openFileOn(card: SdCard): (p: string, mode: string) => EspFile | undefined {
  return (p: string, mode: string) => {
    card.life.check();
    const f = card.openFile(p, mode);
    return f ? fileFace(f, card.life) : undefined;
  };
}

/** require("fs") for the card, strict. */
export function fsModule(card: SdCard): EspFs {
  const life = card.life;
  const face = {
    readdirSync(p?: string): string[] | undefined {
      life.check();
      const dir = card.resolve(p || "");
      try {
        return [".", ".."].concat(fs.readdirSync(dir));
      } catch {
        return undefined;
      }
    },
    statSync(p: string): { size: number; dir: boolean; mtime: Date } | undefined {
      life.check();
      const file = card.resolve(p);
      try {
        const st = fs.statSync(file);
        return { size: st.size, dir: st.isDirectory(), mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000) };
      } catch {
        return undefined;
      }
    },
    unlinkSync(p: string): boolean {
      life.check();
      const file = card.resolve(p);
      try {
        fs.unlinkSync(file);
      } catch {
        throw new Error("Unable to delete file : UNKNOWN");
      }
      card.syncDir();
      return true;
    },
    readFileSync(p: string): string | undefined {
      life.check();
      const file = card.resolve(p);
      let s: string;
      try {
        s = fs.readFileSync(file, "latin1");
      } catch {
        throw new Error(OPEN_FAILED);
      }
      return s.length ? s : undefined;
    },
    writeFileSync(p: string, data: string): boolean {
      life.check();
      return card.writeWhole(p, data, "w", "fs.writeFileSync") > 0;
    },
    appendFileSync(p: string, data: string): boolean {
      life.check();
      card.writeWhole(p, data, "a", "fs.appendFileSync");
      return true;
    },
  };
  return strict("fs", face, {
    absent: ["getFree"], // on FAT builds only; feature-detected by the firmware's host
    unimplemented: ["appendFile", "mkdir", "mkdirSync", "pipe", "readFile", "readdir", "unlink", "writeFile"],
  });
}
