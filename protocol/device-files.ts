// The recorder's two Storage files, a contract between the firmware (which parses them at every boot),
// the provisioning tool (which writes them) and the simulator (firmware/README.md, "Config files").
// Espruino subset.
//
//   rec.cfg  what the device is and where it uploads. Written at provisioning, read-only after.
//     { "v": 1, "id": "BWC-0001", "host": "10.0.0.2", "port": 1883,
//       "login": <64 hex: L>, "dl": <64 hex: K_dl>, "ctl": <64 hex: K_ctl>,
//       "chunk": 16384, "pre": 5, "status": 60, "case": "",
//       "wifi": { "ssid": "...", "pass": "..." },                          (boards with Wi-Fi)
//       "pins": { "rec": "BTN1", "mark": "B3", "mic": "A5", "bat": "A1", "led": ["LED1","LED2"] },
//       "media": "mic" | "file:<name>" }                                   (default "mic")
//   rec.key  the chain state (SPEC.md R-KEY-4..6, R-FS-1/2). Rewritten at each recording's start and
//     seal, each time followed by a Storage compaction so the old key leaves the flash.
//     { "v": 1, "j": <epoch: S_j is held>, "s": <64 hex: S_j>, "next": <next recording id = j + 1>,
//       "ls": <last sealed recording id, 0 if none>, "lz": <64 hex: its seal value Z, "" if none>,
//       "open": null | { "r", "k1" (64 hex: K_1 of the open recording), "g" (240 hex: genesis block),
//                        "c0" (64 hex), "case" (case tag in force), "sc" (case tag at start),
//                        "t0" (start, device ms) } }
// Keys are stored as hex: Storage files are strings, JSON keeps them readable by `Storage.readJSON`.
import { fromHex } from "./bytes.js";
import { validDeviceId } from "./blocks.js";
import { MAX_PAYLOAD } from "./constants.js";

export const CONFIG_FILE = "rec.cfg";
export const KEY_FILE = "rec.key";
export const CONFIG_VERSION = 1;

/** Defaults for the optional fields (the chunk size is the measured choice: firmware/README.md). */
export const DEFAULT_CHUNK = 8192;
export const DEFAULT_PRE_EVENT_S = 5;
export const DEFAULT_STATUS_S = 60;
export const MIN_CHUNK = 1024;

export interface Pins {
  rec?: string;
  mark?: string;
  mic?: string;
  bat?: string;
  led?: string[];
}

/** rec.cfg, parsed and checked. */
export interface RecorderConfig {
  v: number;
  id: string;
  host: string;
  port: number;
  login: string;
  dl: string;
  ctl: string;
  chunk: number;
  pre: number;
  status: number;
  case: string;
  wifi: { ssid: string; pass: string } | null;
  pins: Pins;
  media: string;
}

export interface OpenState {
  r: number;
  k1: string;
  g: string;
  c0: string;
  case: string;
  /** The case tag the start carried (the genesis binds it); `case` may change later (Command). */
  sc?: string;
  t0: number;
}

/** rec.key, parsed and checked. */
export interface KeyState {
  v: number;
  j: number;
  s: string;
  next: number;
  ls: number;
  lz: string;
  open: OpenState | null;
}

const isHex = function (s: unknown, bytes: number): boolean {
  if (typeof s !== "string" || s.length !== bytes * 2) return false;
  for (let i = 0; i < s.length; i++) if ("0123456789abcdef".indexOf(s.charAt(i)) < 0) return false;
  return true;
};

const isUint = function (n: unknown, max: number): boolean {
  return typeof n === "number" && n >= 0 && n <= max && Math.floor(n) === n;
};

/**
 * Check a parsed rec.cfg. Returns "" when valid, else a reason code with the field:
 * CONFIG_MISSING, CONFIG_VERSION, CONFIG_FIELD:<name>.
 */
export function checkConfig(c: unknown): string {
  if (!c || typeof c !== "object") return "CONFIG_MISSING";
  const o = c as { [k: string]: unknown };
  if (o.v !== CONFIG_VERSION) return "CONFIG_VERSION";
  if (typeof o.id !== "string" || !validDeviceId(o.id)) return "CONFIG_FIELD:id";
  if (typeof o.host !== "string" || !o.host.length || o.host.length > 253) return "CONFIG_FIELD:host";
  if (!isUint(o.port, 65535) || !o.port) return "CONFIG_FIELD:port";
  if (!isHex(o.login, 32)) return "CONFIG_FIELD:login";
  if (!isHex(o.dl, 32)) return "CONFIG_FIELD:dl";
  if (!isHex(o.ctl, 32)) return "CONFIG_FIELD:ctl";
  if (o.chunk !== undefined && (!isUint(o.chunk, MAX_PAYLOAD) || (o.chunk as number) < MIN_CHUNK)) return "CONFIG_FIELD:chunk";
  if (o.pre !== undefined && !isUint(o.pre, 600)) return "CONFIG_FIELD:pre";
  if (o.status !== undefined && (!isUint(o.status, 86400) || !o.status)) return "CONFIG_FIELD:status";
  if (o.case !== undefined && (typeof o.case !== "string" || o.case.length > 64)) return "CONFIG_FIELD:case";
  if (o.wifi !== undefined && o.wifi !== null) {
    const w = o.wifi as { [k: string]: unknown };
    if (typeof w !== "object" || typeof w.ssid !== "string" || typeof w.pass !== "string") return "CONFIG_FIELD:wifi";
  }
  if (o.pins !== undefined && (typeof o.pins !== "object" || o.pins === null)) return "CONFIG_FIELD:pins";
  if (o.media !== undefined && typeof o.media !== "string") return "CONFIG_FIELD:media";
  return "";
}

/** rec.cfg with defaults filled in (call after checkConfig returned ""). */
export function withDefaults(c: { [k: string]: unknown }): RecorderConfig {
  return {
    v: c.v as number,
    id: c.id as string,
    host: c.host as string,
    port: c.port as number,
    login: c.login as string,
    dl: c.dl as string,
    ctl: c.ctl as string,
    chunk: c.chunk !== undefined ? (c.chunk as number) : DEFAULT_CHUNK,
    pre: c.pre !== undefined ? (c.pre as number) : DEFAULT_PRE_EVENT_S,
    status: c.status !== undefined ? (c.status as number) : DEFAULT_STATUS_S,
    case: c.case !== undefined ? (c.case as string) : "",
    wifi: c.wifi ? (c.wifi as { ssid: string; pass: string }) : null,
    pins: c.pins ? (c.pins as Pins) : {},
    media: c.media !== undefined ? (c.media as string) : "mic",
  };
}

/** Check a parsed rec.key: "" when valid, else KEYS_MISSING, KEYS_VERSION or KEYS_FIELD:<name>. */
export function checkKeys(k: unknown): string {
  if (!k || typeof k !== "object") return "KEYS_MISSING";
  const o = k as { [k: string]: unknown };
  if (o.v !== CONFIG_VERSION) return "KEYS_VERSION";
  if (!isUint(o.j, 4294967294)) return "KEYS_FIELD:j";
  if (!isHex(o.s, 32)) return "KEYS_FIELD:s";
  if (o.next !== (o.j as number) + 1) return "KEYS_FIELD:next";
  if (!isUint(o.ls, 4294967295) || (o.ls as number) >= (o.next as number)) return "KEYS_FIELD:ls";
  if (o.ls ? !isHex(o.lz, 32) : o.lz !== "") return "KEYS_FIELD:lz";
  if (o.open !== null) {
    const p = o.open as { [k: string]: unknown };
    if (!p || typeof p !== "object" || p.r !== (o.next as number) - 1 || !isHex(p.k1, 32) || !isHex(p.g, 120) ||
      !isHex(p.c0, 32) || typeof p.case !== "string" || typeof p.t0 !== "number") return "KEYS_FIELD:open";
  }
  return "";
}

/** The key file a freshly provisioned device starts with: S_0, epoch 0, recording 1 next. */
export function initialKeys(stateKey0Hex: string): KeyState {
  return { v: CONFIG_VERSION, j: 0, s: stateKey0Hex, next: 1, ls: 0, lz: "", open: null };
}

/** Bytes of a hex key field (checked before). */
export function keyBytes(hex: string): Uint8Array {
  return fromHex(hex);
}
