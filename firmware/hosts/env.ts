// The Espruino environment the board host is built from: the interpreter's own modules and globals,
// passed in as one object. On a board the boot entry fills it from the globals; the simulator's node
// engine passes one per device (a context per device would cost gigabytes at 1,000 devices), made
// of imitations that offer only what the real interpreter offers. Types only. Espruino subset.

/** A file from E.openFile. */
export interface EspFile {
  write(s: string): void;
  read(n: number): string | undefined;
  skip(n: number): void;
  close(): void;
}

/** require("Storage"): strings in, strings out. */
export interface EspStorage {
  read(name: string, offset?: number, length?: number): string | undefined;
  readJSON(name: string, noExceptions: boolean): unknown;
  /** With offset and size: the first write (offset 0) makes a file of `size` bytes, later ones fill it. */
  write(name: string, data: string | Uint8Array, offset?: number, size?: number): boolean;
  writeJSON(name: string, data: unknown): boolean;
  erase(name: string): void;
  compact(): void;
  getFree(): number;
  /** Not on every build: free and erased bytes (erased ones come back at compaction). */
  getStats?: () => { freeBytes: number; trashBytes: number };
  list(): string[];
}

/** require("fs"), the part the host uses. */
export interface EspFs {
  readdirSync(path: string): string[] | undefined;
  statSync(path: string): { size: number } | undefined;
  unlinkSync(path: string): boolean;
  readFileSync(path: string): string | undefined;
  writeFileSync(path: string, data: string): boolean;
}

export interface EspSocket {
  on(event: string, fn: (arg: string) => void): void;
  write(s: string): void;
  end(): void;
}

export interface EspNet {
  connect(options: { host: string; port: number }, onConnect: () => void): EspSocket;
}

export interface EspCrypto {
  SHA256(data: Uint8Array): ArrayBuffer;
}

export interface EspE {
  toString(b: Uint8Array): string | undefined;
  toUint8Array(s: string): Uint8Array;
  /** The string's bytes as an ArrayBuffer, without a copy (E.toUint8Array copies byte by byte). */
  toArrayBuffer(s: string): ArrayBuffer;
  openFile(path: string, mode: string): EspFile | undefined;
  hwRand(): number;
}

/**
 * A board's own pins and peripherals (hosts/board.ts on real hardware; events in the simulator).
 * Everything here is optional: the Linux interpreter has none of it.
 */
export interface EspBoard {
  /** Call fn(name) on a press of the "record" or "marker" button. */
  watchButtons?: (fn: (name: string) => void) => void;
  led?: (pattern: string) => void;
  battery?: () => { mv: number; pct: number };
  /** A media source built from the board's microphone or camera; replaces the config's "media". */
  media?: import("../core/host.js").MediaSource;
  /** Bring the network up (Wi-Fi), then call done(error or ""). */
  network?: (wifi: { ssid: string; pass: string } | null, done: (err: string) => void) => void;
}

export interface EspruinoEnv {
  Storage: EspStorage;
  fs: EspFs | null;
  net: EspNet;
  crypto: EspCrypto;
  E: EspE;
  getTime(): number;
  setTime?: (seconds: number) => void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
  memory(): number;
  /** process.memory(gc): variables free and in all; without a garbage collection unless `gc`. */
  memInfo(gc?: boolean): { free: number; total: number };
  /** Sample the variables in use inside each socket write too (the lane's budgets; costs a read per slice). */
  probe?: boolean;
  log(line: string): void;
  board: EspBoard;
}
