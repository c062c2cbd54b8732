// The device registry: provisioned devices, their state and their keys (derived from the root
// secret on demand and cached; the root is stored only encrypted, R-KEY-1).
import { GatewayError } from "./errors.js";
import { randomBytes } from "node:crypto";
import type { Db } from "./store/db.js";
import * as store from "./store/devices.js";
import type { StationKey } from "./secrets.js";
import { deriveDeviceKeys, loginPassword } from "../protocol/chain.js";
import type { DeviceKeys } from "../protocol/chain.js";
import { validDeviceId } from "../protocol/blocks.js";
import { nodeSha256 } from "../protocol/sha256-node.js";
import { ROOT_LEN } from "../protocol/constants.js";

export type DeviceState = "provisioned" | "active" | "lost" | "retired" | "revoked";

export interface Device {
  id: string;
  kind: "body" | "fixed";
  state: DeviceState;
  keys: DeviceKeys;
  password: string;
}

export class DeviceError extends GatewayError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = "DeviceError";
  }
}

export class DeviceRegistry {
  private cache = new Map<string, Device>();
  constructor(private db: Db, private station: StationKey) {}

  /** Register a device with its root secret (one is drawn if none is given). Returns the root. */
  async add(id: string, opts: { kind?: "body" | "fixed"; root?: Uint8Array; chipSerial?: string } = {}): Promise<Uint8Array> {
    if (!validDeviceId(id)) throw new DeviceError("BAD_DEVICE_ID", `device id must be 1-16 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit (SPEC R-ID-1): ${JSON.stringify(id)}`);
    const root = opts.root || randomBytes(ROOT_LEN);
    if (root.length !== ROOT_LEN) throw new DeviceError("BAD_ROOT", `root secret must be ${ROOT_LEN} bytes`);
    if (await store.deviceExists(this.db, id)) throw new DeviceError("DEVICE_EXISTS", `device ${id} is already provisioned`);
    await store.insertDevice(this.db, { id, kind: opts.kind || "body", rootEnc: this.station.seal(root, id), chipSerial: opts.chipSerial || null, createdAt: Date.now() });
    return root;
  }

  /**
   * Re-provisioning: replace a device's root secret (and chip serial) and put it back in the
   * `provisioned` state. Refused for a revoked device (un-revoking is a separate, reasoned state
   * change) and for a device with recordings: the new root restarts the chain at S_0 and recording
   * 1 (SPEC.md R-KEY), which would collide with the recordings stored under the old root, so such a
   * device is retired and its recorder provisioned under a new id. Returns the state it was in.
   */
  async rekey(id: string, root: Uint8Array, opts: { chipSerial?: string } = {}): Promise<DeviceState> {
    if (root.length !== ROOT_LEN) throw new DeviceError("BAD_ROOT", `root secret must be ${ROOT_LEN} bytes`);
    return this.db.transaction(async () => {
      const row = await store.getDevice(this.db, id);
      if (!row) throw new DeviceError("UNKNOWN_DEVICE", `no device ${id}`);
      if (row.state === "revoked") throw new DeviceError("DEVICE_REVOKED", `device ${id} is revoked; change its state with a reason before re-keying it`);
      const n = await store.recordingCount(this.db, id);
      if (n > 0) throw new DeviceError("REKEY_HAS_RECORDINGS", `device ${id} has ${n} recording(s) under its current root; a new root would restart its chain at recording 1. Retire it and provision the recorder under a new id`);
      await store.rekeyDevice(this.db, id, this.station.seal(root, id), opts.chipSerial || null);
      // The cached keys are the old root's: the next lookup derives the new ones.
      this.cache.delete(id);
      return row.state as DeviceState;
    });
  }

  /** A device with its keys, or undefined if it is not provisioned. */
  async get(id: string): Promise<Device | undefined> {
    const c = this.cache.get(id);
    if (c) return c;
    const row = await store.deviceWithRoot(this.db, id);
    if (!row) return undefined;
    const root = this.station.open(row.root_enc, row.id);
    const keys = deriveDeviceKeys(nodeSha256, root);
    root.fill(0);
    const d: Device = { id: row.id, kind: row.kind, state: row.state as DeviceState, keys, password: loginPassword(keys.login) };
    this.cache.set(id, d);
    return d;
  }

  /** Write a state change only (inside a service's transaction); noteState() after the commit. */
  async writeState(id: string, state: DeviceState): Promise<void> {
    if (!(await store.setDeviceState(this.db, id, state))) throw new DeviceError("UNKNOWN_DEVICE", `no device ${id}`);
  }

  /** After a committed state change: live sessions holding this device see the new state. */
  noteState(id: string, state: DeviceState): void {
    const c = this.cache.get(id);
    if (c) c.state = state;
  }

  /**
   * Devices whose cached state is not yet revoked but whose stored state is (another process, the
   * CLI, revoked them): their cache is brought up to date and their ids returned.
   */
  async revokedSinceCached(): Promise<string[]> {
    const out: string[] = [];
    for (const [id, d] of this.cache) {
      if (d.state === "revoked") continue;
      const row = await store.deviceState(this.db, id);
      if (row && row.state === "revoked") {
        d.state = "revoked";
        out.push(id);
      }
    }
    return out;
  }

  /**
   * A provisioned device said its first Hello: active, unless its stored state moved meanwhile
   * (another process revoked it or marked it lost; this cache had not heard yet). The state
   * stored after it, which the cache now holds.
   */
  async activate(id: string): Promise<DeviceState> {
    const state = (await store.activateDevice(this.db, id)) as DeviceState | undefined;
    if (!state) throw new DeviceError("UNKNOWN_DEVICE", `no device ${id}`);
    const c = this.cache.get(id);
    if (c) c.state = state;
    return state;
  }

  async setState(id: string, state: DeviceState): Promise<void> {
    if (!(await store.setDeviceState(this.db, id, state))) throw new DeviceError("UNKNOWN_DEVICE", `no device ${id}`);
    const c = this.cache.get(id);
    if (c) c.state = state;
  }

  /** The first `n` device ids, in id order. */
  firstIds(n: number): Promise<string[]> {
    return store.firstDeviceIds(this.db, n);
  }

  async list(): Promise<{ id: string; kind: string; state: string; last_seen: number | null }[]> {
    return (await store.listDevices(this.db)).map((d) => ({ id: d.id, kind: d.kind, state: d.state, last_seen: d.last_seen }));
  }
}

/** AES-GCM's refusal to open a box sealed under another key (node:crypto's message for it). */
export const keyRefused = (e: unknown): boolean => e instanceof Error && /unable to authenticate data/i.test(e.message);

/** How many devices' secrets are tried at start: a key that opens none of them is not the one they were sealed under. */
const KEY_PROBES = 3;

/** What is said of a station key that opens no device's secret: `remedy` says whose it is not and what to do (a station's words or a worker's). */
export const keyMismatchText = (file: string, devices: string[], remedy: string): string =>
  `the station key ${file} opens no device's secret in the registry (tried ${devices.join(", ")}): ${remedy}`;

/**
 * The key opens the registry's secrets: it is tried on the first few devices; if it opens none of
 * them, STATION_KEY_MISMATCH. (One device's secret that will not open while others do is that
 * device's, not the key's: left to the device's own lookups.) A registry with no device says nothing yet.
 */
export async function checkStationKey(registry: DeviceRegistry, keyFile: string, remedy: string): Promise<void> {
  const tried: string[] = [];
  for (const id of await registry.firstIds(KEY_PROBES)) {
    try {
      await registry.get(id);
      return;
    } catch (e) {
      if (!keyRefused(e)) throw e;
      tried.push(id);
    }
  }
  if (tried.length) throw new GatewayError("STATION_KEY_MISMATCH", keyMismatchText(keyFile, tried, remedy));
}
