// What the provisioning tool does on the device, through the REPL driver: look, write a Storage
// file in pieces, read it back, hash it, erase, compact, stop and start the firmware.
// The code sent to the device is plain ES5 with Espruino's built-ins (Storage, crypto, fs).
import { createHash } from "node:crypto";
import { CONFIG_FILE, KEY_FILE } from "../protocol/device-files.js";
import { ProvisionError } from "./errors.js";
import type { Repl } from "./repl.js";

/** The firmware bundle's Storage file. */
export const BUNDLE_FILE = "rec.js";
/**
 * The boot file: Espruino runs Storage files `.boot0` ... `.boot9` at power-on (and after reset()
 * and load()), before any saved code; on the Linux interpreter too (checked by the tests).
 * eval() of the memory-mapped Storage string keeps the bundle's function code in flash
 * instead of copying it into RAM.
 */
export const BOOT_FILE = ".boot0";
export const BOOT_CODE = `eval(require("Storage").read(${JSON.stringify(BUNDLE_FILE)}));`;
/** Every file the tool writes, in the order it writes them; retire erases them all. */
export const OUR_FILES = [BUNDLE_FILE, BOOT_FILE, CONFIG_FILE, KEY_FILE];

/**
 * Raw bytes per REPL line when writing a file (--piece). 2 KiB of data make a line of a little
 * more JavaScript text; the line and the string it builds take a few hundred variables on a board
 * with about 7,000. Measured on the Linux interpreter: a round trip costs about 50 ms whatever its
 * size up to 4 KiB over TCP, while over a pty the interpreter reads about 10 KiB/s whatever the
 * piece size; so larger pieces only help on fast links.
 */
export const PIECE = 2048;

/** What the first look at the device finds. */
export interface DeviceInfo {
  /** getSerial(): the chip's serial number. */
  chipSerial: string;
  version: string;
  board: string;
  /** Our files present in Storage. */
  files: string[];
  /** The id in rec.cfg, "" when rec.cfg is there but unreadable, null when absent. */
  cfgId: string | null;
  /** The recording open in rec.key (0: none). */
  openRecording: number;
  /** Upload-queue files in the device's file system (-1: no file system to look at). */
  queueFiles: number;
  /** Storage bytes free, and bytes in erased files that a compaction gives back (-1: unknown). */
  free: number;
  trash: number;
  hasCrypto: boolean;
}

/** A Storage file name as a JS string literal. */
const q = (v: string | string[]) => JSON.stringify(v);

/**
 * Bytes as a JS string literal that survives the REPL line: printable ASCII as is, everything
 * else as \xNN, so the line holds no control characters (the line editor acts on them) and no
 * byte above 0x7e (the interpreter would read UTF-8 sequences as Unicode characters); \xNN makes
 * an 8-bit string, which Storage writes byte for byte.
 */
export function jsBytes(b: Uint8Array): string {
  let s = '"';
  for (const c of b) {
    if (c === 0x22) s += '\\"';
    else if (c === 0x5c) s += "\\\\";
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += "\\x" + (c < 16 ? "0" : "") + c.toString(16);
  }
  return s + '"';
}

export const sha256Hex = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export class Device {
  constructor(public repl: Repl) {}

  async info(): Promise<DeviceInfo> {
    return this.repl.call<DeviceInfo>(
      `var S=require("Storage"),c,k,st=S.getStats?S.getStats():null,qf=-1,cr=false;` +
      `if(S.read(${q(CONFIG_FILE)})!==undefined){try{c=JSON.parse(S.read(${q(CONFIG_FILE)}))}catch(e){}c=(c&&typeof c.id=="string")?c.id:""}else c=null;` +
      `try{k=JSON.parse(S.read(${q(KEY_FILE)}))}catch(e){k=null}` +
      // Queue segment files q<7 hex>.<3 hex> (protocol/queue-records.ts); Espruino's RegExp has no {n}.
      `try{qf=require("fs").readdirSync(".").filter(function(n){return n.length==12&&n.charAt(8)=="."&&/^q[0-9a-f]+\\.[0-9a-f]+$/i.test(n)}).length}catch(e){}` +
      `try{cr=typeof require("crypto").SHA256=="function"}catch(e){}` +
      `return {chipSerial:String(getSerial()),version:String(process.env.VERSION),board:String(process.env.BOARD),` +
      `files:S.list().filter(function(n){return ${q(OUR_FILES)}.indexOf(n)>=0}),cfgId:c,openRecording:(k&&k.open&&k.open.r)||0,queueFiles:qf,` +
      `free:st?st.freeBytes:(S.getFree?S.getFree():-1),trash:st?st.trashBytes:-1,hasCrypto:cr}`,
      { what: "the device check" });
  }

  /**
   * Write a Storage file in pieces of PIECE bytes: the first piece creates the file at its full
   * size (Storage.write(name, data, 0, size)), the others fill it in at their offsets. Each piece
   * waits for Storage.write's answer before the next is sent.
   */
  async writeFile(name: string, data: Uint8Array, progress?: (done: number, total: number) => void, piece = PIECE): Promise<void> {
    if (!data.length) throw new Error(`refusing to write an empty ${name}`);
    for (let off = 0; off < data.length; off += piece) {
      const part = data.subarray(off, Math.min(data.length, off + piece));
      const call = off === 0 ? `${q(name)},${jsBytes(part)},0,${data.length}` : `${q(name)},${jsBytes(part)},${off}`;
      const ok = await this.repl.call<boolean>(`return require("Storage").write(${call})`, { what: `writing ${name} at ${off}` });
      if (ok !== true) {
        const free = await this.repl.call<number>(`var S=require("Storage");return S.getFree?S.getFree():-1`, { what: "the free space check" }).catch(() => -1);
        throw new ProvisionError("PROVISION_WRITE", `Storage.write refused ${name} at byte ${off} of ${data.length}: Storage full? (${free} bytes free)`);
      }
      if (progress) progress(off + part.length, data.length);
    }
  }

  /** A Storage file's bytes, or null when it does not exist. */
  async readFile(name: string): Promise<Buffer | null> {
    const s = await this.repl.call<string | null>(`var d=require("Storage").read(${q(name)});return d===undefined?null:d`, { what: `reading ${name} back` });
    if (s === null) return null;
    // JSON.stringify on the device escapes every byte above 0x7e as \u00NN: one char per byte.
    return Buffer.from(s, "latin1");
  }

  /** Length and SHA-256 (hex) of a Storage file, computed on the device. */
  async hashFile(name: string): Promise<{ length: number; sha256: string } | null> {
    return this.repl.call(
      `var d=require("Storage").read(${q(name)});if(d===undefined)return null;` +
      `var h=new Uint8Array(require("crypto").SHA256(d)),s="";for(var i=0;i<h.length;i++)s+=(h[i]+256).toString(16).slice(1);` +
      `return {length:d.length,sha256:s}`,
      { what: `hashing ${name}` });
  }

  async erase(names: string[]): Promise<void> {
    if (!names.length) return;
    await this.repl.call(`var S=require("Storage");${q(names)}.forEach(function(n){S.erase(n)});return 1`, { what: "erasing " + names.join(", ") });
  }

  /**
   * Rewrite the flash without erased and overwritten files, so old key material leaves it
   * (R-FS-1). Slow on a board (seconds), hence the long timeout.
   */
  async compact(): Promise<void> {
    await this.repl.call(`require("Storage").compact();return 1`, { what: "the Storage compaction", timeoutMs: 60000 });
  }

  /**
   * Stop whatever runs (a recorder writing rec.key would race our writes): reset() clears the
   * interpreter, and with the boot file erased first nothing starts again. Then sync again.
   */
  async stopFirmware(): Promise<void> {
    await this.erase([BOOT_FILE]);
    await this.repl.raw("\x10reset()\n", "the reset that stops the firmware");
    // reset() runs once the interpreter is idle and prints a banner: let it finish first.
    await new Promise((r) => setTimeout(r, 100));
    await this.repl.quiet(200, 3000);
    await this.repl.sync(3000);
  }

  /** Start the firmware as at power-on: load() runs the boot files. The answer is not awaited. */
  async start(): Promise<void> {
    await this.repl.raw("\x10load()\n", "starting the firmware (load())");
    await new Promise((r) => setTimeout(r, 200));
  }
}
