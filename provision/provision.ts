// Provisioning and retiring a recorder: the steps, their order, and what is undone when a step
// fails. The CLI (cli.ts) parses arguments and prints; tests call these functions directly.
//
// Order, so that nothing is left half-done:
//   1. everything that only reads: the bundle file, the gateway (admin token, unit), the device
//      (does it answer? is it already provisioned?), the gateway again (is the id taken? may it be
//      re-keyed?). A refusal here changes nothing.
//   2. the device: bundle, boot file, rec.cfg, rec.key, each read back and compared.
//   3. the gateway: one call registers the id with the new root (or re-keys it, with --force).
//      This is the commit point. If it fails, the device is put back: the files it had before are
//      restored (their keys are the ones the gateway still holds), files it did not have are
//      erased, and the flash is compacted so the new keys leave it.
//      If the link to the device went away (PROVISION_LINK_LOST), nothing can be put back: the
//      error says so, and what the device may hold; the gateway was not changed either way.
// Registering first and undoing it on the gateway would need a way to delete a device there,
// which an evidence system should not offer; the device is the side that can be undone.
import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { CONFIG_FILE, CONFIG_VERSION, KEY_FILE, checkConfig, checkKeys, initialKeys } from "../protocol/device-files.js";
import { deriveDeviceKeys, loginPassword } from "../protocol/chain.js";
import { toHex } from "../protocol/bytes.js";
import { nodeSha256 } from "../protocol/sha256-node.js";
import { ROOT_LEN } from "../protocol/constants.js";
import { BOOT_CODE, BOOT_FILE, BUNDLE_FILE, Device, OUR_FILES, PIECE, sha256Hex } from "./device.js";
import type { DeviceInfo } from "./device.js";
import { ProvisionError } from "./errors.js";
import { GatewayClient } from "./gateway-client.js";
import { LinkLostError, Repl, openLink } from "./repl.js";

export interface Options {
  /** Serial device path, or tcp://host:port. */
  port: string;
  /** The device id (its MQTT username), e.g. BWC-0001. */
  serial: string;
  /** The gateway's API base URL and an admin token. */
  gateway: string;
  token: string;
  /** Unit name or id the device is issued to. */
  unit?: string;
  /** Where the recorder uploads (MQTT). Required to provision, unused to retire. */
  broker?: { host: string; port: number };
  force: boolean;
  bundle: string;
  chunk: number;
  pre: number;
  wifi?: { ssid: string; pass: string };
  /** rec.cfg "media": "mic" or "file:<name>[:<speed>]"; absent: the firmware's default. */
  media?: string;
  baud: number;
  /** Audit reason for a re-key or a retirement. */
  reason?: string;
  /** Start the firmware (load()) when done. */
  start: boolean;
  /** Bytes per REPL line when writing files. */
  piece?: number;
}

/** Where progress goes (the CLI prints it; tests collect it). */
export interface Reporter {
  (line: string): void;
}

export interface ProvisionSummary {
  serial: string;
  chipSerial: string;
  board: string;
  firmwareVersion: string;
  broker: string;
  gateway: string;
  unit: string | null;
  chunk: number;
  pre: number;
  media: string | null;
  bundle: string;
  bundleBytes: number;
  bundleMs: number;
  written: string[];
  verified: string[];
  registered: "new" | "rekeyed";
  /** The id the device held before, when it differs from `serial` (still registered at the gateway). */
  previousId: string | null;
  started: boolean;
  /** Failures after the registration (which stands). */
  warnings: string[];
  ms: number;
}

export interface RetireSummary {
  serial: string;
  chipSerial: string;
  gatewayState: string;
  erased: string[];
  ms: number;
}

/** The bundle's bytes; a missing or empty file is PROVISION_NO_BUNDLE. */
export function readBundle(path: string): Buffer {
  let b: Buffer;
  try {
    if (!statSync(path).isFile()) throw new Error("not a file");
    b = readFileSync(path);
  } catch {
    throw new ProvisionError("PROVISION_NO_BUNDLE", `bundle not found: ${path}: run npm run build:firmware (or give --bundle FILE)`);
  }
  if (!b.length) throw new ProvisionError("PROVISION_NO_BUNDLE", `bundle ${path} is empty: run npm run build:firmware`);
  return b;
}

/** rec.cfg for these options and keys, checked with the firmware's own checkConfig. */
export function buildConfig(o: Options, keys: { login: string; dl: string; ctl: string }): Record<string, unknown> {
  const cfg: Record<string, unknown> = {
    v: CONFIG_VERSION, id: o.serial, host: o.broker ? o.broker.host : "", port: o.broker ? o.broker.port : 0,
    login: keys.login, dl: keys.dl, ctl: keys.ctl, chunk: o.chunk, pre: o.pre, case: "",
  };
  if (o.wifi) cfg.wifi = { ssid: o.wifi.ssid, pass: o.wifi.pass };
  if (o.media !== undefined) cfg.media = o.media;
  const bad = checkConfig(cfg);
  if (bad) throw new ProvisionError("PROVISION_USAGE", `the config would be refused by the firmware: ${bad} (check --serial, --broker, --chunk, --pre, --wifi-*, --media)`);
  return cfg;
}

const UNSET_KEY = "0".repeat(64);

/** Connect and check that an Espruino REPL answers; returns the device and what it holds. */
async function connect(o: Options): Promise<{ dev: Device; info: DeviceInfo }> {
  const link = await openLink(o.port, { baud: o.baud });
  const repl = new Repl(link);
  const dev = new Device(repl);
  try {
    await repl.sync();
    return { dev, info: await dev.info() };
  } catch (e) {
    await repl.close().catch(() => undefined);
    throw e;
  }
}

export async function provision(o: Options, say: Reporter = () => undefined): Promise<ProvisionSummary> {
  const t0 = Date.now();
  // 1. Everything that only reads. Arguments and the bundle first: no port is opened for a typo.
  if (!o.broker) throw new ProvisionError("PROVISION_USAGE", "--broker host:port is required to provision");
  buildConfig(o, { login: UNSET_KEY, dl: UNSET_KEY, ctl: UNSET_KEY });
  const bundle = readBundle(o.bundle);
  // The token and the unit before the port is even opened.
  const gw = new GatewayClient(o.gateway, o.token);
  const admin = await gw.checkAdmin();
  const unit = o.unit !== undefined ? await gw.findUnit(o.unit) : undefined;

  const { dev, info } = await connect(o);
  const repl = dev.repl;
  try {
    say(`device on ${repl.name}: Espruino ${info.version} (${info.board}), chip ${info.chipSerial}`);
    if (!info.hasCrypto) throw new ProvisionError("PROVISION_UNSUPPORTED", `this board's firmware has no crypto.SHA256, which the recorder needs`);
    // What the device holds decides before what the gateway knows: the message names its serial.
    if (info.cfgId !== null && !o.force) {
      const what = info.cfgId ? `serial ${info.cfgId}` : "an unreadable rec.cfg";
      throw new ProvisionError("PROVISION_ALREADY", `the device is already provisioned (${what}); nothing changed. Re-provision it with --force, or retire it with --retire`);
    }

    const existing = await gw.device(o.serial);
    if (existing && !o.force) throw new ProvisionError("PROVISION_ID_TAKEN", `${o.serial} is already registered at the gateway (state ${existing.state}); nothing changed. Give another --serial, or --force to re-key it`);
    if (existing && existing.state === "revoked") throw new ProvisionError("PROVISION_REVOKED", `${o.serial} is revoked at the gateway; nothing changed. Re-keying does not lift a revocation: change its state there first, with a reason`);
    if (existing) {
      const n = await gw.recordingCount(o.serial);
      if (n > 0) throw new ProvisionError("PROVISION_HAS_RECORDINGS", `${o.serial} has ${n} recording(s) at the gateway; a new root would restart its chain at recording 1. Nothing changed. Retire ${o.serial} and provision this recorder under a new --serial`);
    }
    const need = bundle.length + BOOT_CODE.length + 2048;
    if (!info.files.length && info.free >= 0 && info.trash >= 0 && need > info.free + info.trash) {
      throw new ProvisionError("PROVISION_STORAGE_FULL", `the device's Storage has ${info.free + info.trash} bytes to give, the bundle and config need about ${need}; nothing changed`);
    }
    say(`gateway ${o.gateway}: token of ${admin}; ${existing ? `${o.serial} registered (state ${existing.state}): it will be re-keyed` : `${o.serial} is new`}${unit ? `; unit ${unit.id} ${unit.name}` : ""}`);

    // What to put back if the gateway refuses: the files the device had (their keys are the ones
    // the gateway still holds, when it holds any).
    const before = new Map<string, Buffer | null>();
    for (const f of OUR_FILES) before.set(f, info.files.includes(f) && f !== BUNDLE_FILE ? await dev.readFile(f) : null);

    // 2. The device. Keys are derived here and go nowhere but into the two files and the one
    // registering call; nothing prints them.
    const root = randomBytes(ROOT_LEN);
    const keys = deriveDeviceKeys(nodeSha256, root);
    const cfgText = Buffer.from(JSON.stringify(buildConfig(o, { login: loginPassword(keys.login), dl: toHex(keys.downlinkKey), ctl: toHex(keys.controlKey) })), "latin1");
    const keyText = Buffer.from(JSON.stringify(initialKeys(toHex(keys.stateKey0))), "latin1");
    for (const k of [keys.stateKey0, keys.login, keys.downlinkKey, keys.controlKey]) k.fill(0);
    const written: string[] = [];
    const verified: string[] = [];
    /** Files this run began to write (a write cut short may have left part of one), and whether it stopped the firmware. */
    const begun: string[] = [];
    let stopped = false;
    let bundleMs = 0;
    try {
      if (info.files.includes(BOOT_FILE) || info.files.includes(BUNDLE_FILE)) {
        // Inside the try: stopping erases the boot file, which a rollback puts back.
        say("stopping the firmware running on the device (boot file erased, reset())");
        stopped = true;
        await dev.stopFirmware();
      }
      const tb = Date.now();
      let shown = 0;
      begun.push(BUNDLE_FILE);
      await dev.writeFile(BUNDLE_FILE, bundle, (done, total) => {
        const pct = Math.floor((done * 100) / total);
        if (pct >= shown + 10 || done === total) {
          shown = pct - (pct % 10);
          const s = (Date.now() - tb) / 1000;
          say(`bundle ${BUNDLE_FILE}: ${done}/${total} bytes (${pct} %), ${s > 0 ? Math.round(done / 1024 / s) : 0} KiB/s`);
        }
      }, o.piece || PIECE);
      written.push(BUNDLE_FILE);
      const h = await dev.hashFile(BUNDLE_FILE);
      bundleMs = Date.now() - tb;
      if (!h || h.length !== bundle.length || h.sha256 !== sha256Hex(bundle)) {
        throw new ProvisionError("PROVISION_READBACK", `${BUNDLE_FILE} on the device differs from ${o.bundle} (device: ${h ? h.length + " bytes" : "missing"}, file: ${bundle.length} bytes)`);
      }
      verified.push(`${BUNDLE_FILE} (SHA-256)`);
      for (const [name, data] of [[CONFIG_FILE, cfgText], [KEY_FILE, keyText], [BOOT_FILE, Buffer.from(BOOT_CODE, "latin1")]] as const) {
        begun.push(name);
        await dev.writeFile(name, data, undefined, o.piece || PIECE);
        written.push(name);
        const back = await dev.readFile(name);
        if (!back || !back.equals(data)) throw new ProvisionError("PROVISION_READBACK", `${name} read back from the device differs from what was written (${back ? back.length : 0} of ${data.length} bytes)`);
        verified.push(name);
      }
      // What the firmware will parse at boot, checked by the firmware's own rules.
      const cfgBad = checkConfig(JSON.parse(cfgText.toString("latin1")));
      const keyBad = checkKeys(JSON.parse(keyText.toString("latin1")));
      if (cfgBad || keyBad) throw new ProvisionError("PROVISION_READBACK", `the written files fail the firmware's checks: ${cfgBad || keyBad}`);

      // 3. The commit point.
      const rootHex = toHex(root);
      root.fill(0);
      if (existing) await gw.rekey(o.serial, rootHex, info.chipSerial, o.reason || "re-provisioned with the provisioning tool", unit ? unit.id : undefined);
      else await gw.register(o.serial, rootHex, info.chipSerial, unit ? unit.id : undefined);
      say(`gateway: ${o.serial} ${existing ? "re-keyed" : "registered"}`);
    } catch (e) {
      root.fill(0);
      const err = e instanceof ProvisionError ? e : new ProvisionError("PROVISION_FAILED", (e as Error).message);
      if (repl.linkLost) {
        // Nothing can be sent: no rollback to try. The gateway was not changed (the commit point
        // is the last step); say what the device may hold, as an interrupted run leaves it.
        const head = err instanceof LinkLostError ? err.fact : `${err.message}. Then the link to ${repl.name} went away`;
        err.message = `${head}. ${linkLostState(o, !!existing, info, before, begun, stopped)}`;
        throw err;
      }
      const undo = await rollback(dev, before, info.files, say).then(() => null, (re: Error) => re);
      if (undo instanceof LinkLostError) {
        err.message += `. Putting the device back FAILED, the link being gone: ${undo.fact}. It may hold part of this run's files, with keys the gateway does not know; the gateway was not changed. Reconnect the board and run again with --force, or --retire`;
      } else if (undo) {
        err.message += `. Putting the device back FAILED (${undo.message}): it may hold keys the gateway does not know; run again with --force, or --retire`;
      } else {
        err.message += `. The device was put back as it was${before.get(CONFIG_FILE) ? " (its previous config and keys)" : " (nothing of this run left on it)"}; the gateway was not changed`;
      }
      throw err;
    }

    // Registered: from here a failure is not a reason to undo anything, only to say so.
    // The old key file (with --force) and any earlier attempt leave the flash now (R-FS-1).
    const warnings: string[] = [];
    let started = false;
    try {
      await dev.compact();
      if (o.start) {
        await dev.start();
        started = true;
      }
    } catch (e) {
      const why = e instanceof LinkLostError ? e.fact : (e as Error).message;
      warnings.push(`provisioned and registered, but the last step failed (${why}): power-cycle the board; its flash is compacted at its first recording`);
    }
    return {
      serial: o.serial, chipSerial: info.chipSerial, board: info.board, firmwareVersion: info.version,
      broker: `${o.broker.host}:${o.broker.port}`, gateway: o.gateway, unit: unit ? `${unit.id} ${unit.name}` : null,
      chunk: o.chunk, pre: o.pre, media: o.media ?? null, bundle: o.bundle, bundleBytes: bundle.length, bundleMs, written, verified,
      registered: existing ? "rekeyed" : "new", previousId: info.cfgId && info.cfgId !== o.serial ? info.cfgId : null,
      started, warnings, ms: Date.now() - t0,
    };
  } finally {
    await repl.close().catch(() => undefined);
  }
}

/**
 * What a provisioning run cut off from its device by a lost link says after the loss: that the
 * device could not be put back, what it may hold (README, "an interrupted run"), that the gateway
 * was not changed, and how to go on: with --force when the device holds a config (its old one, or
 * one this run began to write), which a plain run would refuse (PROVISION_ALREADY).
 */
function linkLostState(o: Options, registered: boolean, info: DeviceInfo, before: Map<string, Buffer | null>, begun: string[], stopped: boolean): string {
  const holds: string[] = [];
  const newKeys = begun.includes(CONFIG_FILE) || begun.includes(KEY_FILE);
  if (begun.length) holds.push(`part of what this run wrote (${begun.join(", ")})${newKeys ? ", with keys the gateway does not know" : ""}`);
  if (before.get(CONFIG_FILE) && !newKeys) holds.push(`its previous config${info.cfgId ? ` (${info.cfgId})` : ""} and keys, unchanged`);
  if (stopped && before.get(BOOT_FILE)) holds.push(`its firmware stopped (${BOOT_FILE} erased: it does not start the recorder at power-on)`);
  const force = info.cfgId !== null || begun.includes(CONFIG_FILE);
  return `The device could not be put back: the link is gone. It may hold ${holds.length ? holds.join("; ") : "nothing of this run"}. ` +
    `The gateway was not changed (${o.serial} ${registered ? "keeps its old root" : "is not registered"}). ` +
    `Reconnect the board and run again${force ? " with --force" : ""}`;
}

/**
 * Put the device's files back as they were before this run: restore what it had, erase what it
 * did not have, compact so the new keys leave the flash, and restart the firmware it had.
 * A bundle it had stays replaced by the new one (it carries no keys, and the old one was not kept).
 */
async function rollback(dev: Device, before: Map<string, Buffer | null>, had: string[], say: Reporter): Promise<void> {
  say("putting the device back as it was");
  const erase = OUR_FILES.filter((f) => !had.includes(f));
  await dev.erase(erase);
  for (const [name, data] of before) if (data) await dev.writeFile(name, data);
  await dev.compact();
  if (before.get(BOOT_FILE)) await dev.start();
}

export async function retire(o: Options, say: Reporter = () => undefined): Promise<RetireSummary> {
  const t0 = Date.now();
  const gw = new GatewayClient(o.gateway, o.token);
  await gw.checkAdmin();
  const known = await gw.device(o.serial);
  if (!known && !o.force) throw new ProvisionError("PROVISION_UNKNOWN_DEVICE", `${o.serial} is not registered at the gateway; nothing changed. To wipe the device anyway, add --force`);

  const { dev, info } = await connect(o);
  const repl = dev.repl;
  try {
    say(`device on ${repl.name}: Espruino ${info.version} (${info.board}), chip ${info.chipSerial}, holds ${info.cfgId === null ? "no config" : info.cfgId ? `serial ${info.cfgId}` : "an unreadable rec.cfg"}`);
    if (info.cfgId !== null && info.cfgId !== o.serial && !o.force) {
      throw new ProvisionError("PROVISION_WRONG_DEVICE", `the device holds serial ${info.cfgId || "(unreadable rec.cfg)"}, not ${o.serial}; nothing changed. Check the device, or add --force`);
    }
    // Evidence not yet at the gateway: retiring now would lock it out (a retired device may not log in).
    if (!o.force && (info.openRecording || info.queueFiles > 0)) {
      throw new ProvisionError("PROVISION_EVIDENCE", `the device still holds evidence not acknowledged by the gateway (${info.openRecording ? `recording ${info.openRecording} open` : ""}${info.openRecording && info.queueFiles > 0 ? ", " : ""}${info.queueFiles > 0 ? `${info.queueFiles} upload-queue files` : ""}); nothing changed. Let it upload first, or add --force (queue files on its card are left in place)`);
    }
    // The gateway first: from here the device's keys open nothing, whatever happens to the wipe.
    let state = known ? known.state : "unknown";
    if (known && known.state !== "retired" && known.state !== "revoked") {
      await gw.setState(o.serial, "retired", o.reason || "retired with the provisioning tool");
      state = "retired";
      say(`gateway: ${o.serial} retired`);
    } else if (known) say(`gateway: ${o.serial} is ${known.state}: left so`);
    if (info.files.length) {
      try {
        if (info.files.includes(BOOT_FILE) || info.files.includes(BUNDLE_FILE)) await dev.stopFirmware();
        await dev.erase(OUR_FILES);
        await dev.compact();
      } catch (e) {
        // The gateway's side is done and stays so; the wipe is what a second run finishes.
        if (e instanceof LinkLostError) e.message = `${e.fact}. ${known ? `${o.serial} is ${state} at the gateway; the` : "The"} board may still hold some of its files (${info.files.join(", ")}): reconnect it and run --retire again${o.force ? " with --force" : ""}`;
        throw e;
      }
      const after = await dev.info();
      if (after.files.length) throw new ProvisionError("PROVISION_WRITE", `the device still holds ${after.files.join(", ")} after erasing; run --retire again`);
    }
    say(`device: ${info.files.length ? "erased " + info.files.join(", ") : "held none of the recorder's files"}`);
    return { serial: o.serial, chipSerial: info.chipSerial, gatewayState: state, erased: info.files, ms: Date.now() - t0 };
  } finally {
    await repl.close().catch(() => undefined);
  }
}
