// Device credentials and topic permissions for nats-server, made from the device registry: one
// user per device that may connect (its id and login secret, as the station's admission checks),
// allowed to publish only its own uplink (after the partition mapping) and to subscribe only to its
// own downlink. Written atomically; then every listed nats-server is told to reload (SIGHUP), which
// also closes the connections of users no longer in the file (a revoked device).
//
// The file holds no login in clear: each password is a bcrypt hash, which nats-server 2.9 checks
// at every connect. Hashing is slow by design, so a hash is made once per secret: next to each user
// the file keeps a digest (HMAC-SHA-256 under a key derived from the station key, which every worker
// has and the NATS nodes need not) of the user, its secret and its hash, and the next sync keeps a
// hash whose digest still matches. The cache is the file itself, so it survives a worker's restart
// and the auth lease moving to another worker; a digest without the key can't test a guessed secret
// faster than bcrypt can; and a hash edited by hand, or of another cost, is simply made again.
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { getRounds, hash } from "bcryptjs";
import type { Logger } from "../log.js";

/** A user of nats-server and its secret, as the workers know it. */
export interface Login {
  user: string;
  password: string;
}

/**
 * bcrypt costs. A device's secret is 256 bits derived from its root (R-KEY-2): no number of
 * guesses finds it, whatever the cost, so the cost only buys CPU spent by nats-server on every
 * device connect, multiplied in a reconnect storm; devices get the lowest bcrypt has (docs/SCALE.md
 * has the measured figures). The workers' own secret is an operator's choice, and the workers
 * connect seldom: it gets the cost nats-server's own tooling uses.
 */
export const DEVICE_COST = 4;
export const WORKER_COST = 11;

const q = (s: string) => JSON.stringify(s);
const QUOTED = String.raw`"(?:[^"\\]|\\.)*"`;
const DIGEST_LINE = new RegExp(String.raw`^\s*# login (${QUOTED}) ([0-9a-f]{64})$`);
const USER_LINE = new RegExp(String.raw`^\s*\{ user: (${QUOTED}), password: (${QUOTED})`);

const digestOf = (key: Uint8Array, user: string, password: string, hashed: string): Buffer =>
  createHmac("sha256", key).update(JSON.stringify([user, password, hashed])).digest();

/** The hashes of an authorization file, with their digests, by user. */
function hashesIn(text: string): Map<string, { hash: string; digest: Buffer }> {
  const out = new Map<string, { hash: string; digest: Buffer }>();
  let digest: { user: string; digest: Buffer } | null = null;
  for (const line of text.split("\n")) {
    const d = DIGEST_LINE.exec(line);
    if (d) { digest = { user: JSON.parse(d[1]) as string, digest: Buffer.from(d[2], "hex") }; continue; }
    const u = USER_LINE.exec(line);
    if (u && digest && JSON.parse(u[1]) === digest.user) out.set(digest.user, { hash: JSON.parse(u[2]) as string, digest: digest.digest });
    digest = null;
  }
  return out;
}

/** A login's hash: the previous file's if its digest says it was made from this secret at this cost, else a new one. */
async function hashed(l: Login, cost: number, previous: Map<string, { hash: string; digest: Buffer }>, key: Uint8Array): Promise<{ hash: string; digest: string }> {
  const p = previous.get(l.user);
  if (p && getRounds(p.hash) === cost && timingSafeEqual(p.digest, digestOf(key, l.user, l.password, p.hash))) return { hash: p.hash, digest: p.digest.toString("hex") };
  const h = await hash(l.password, cost);
  return { hash: h, digest: digestOf(key, l.user, l.password, h).toString("hex") };
}

/**
 * The authorization block: the workers' user with every permission, then the devices, each
 * password a bcrypt hash (made afresh only for a secret `previous`, the file as it is, has no hash
 * of). `$MQTT.sub.>` is where nats-server 2.9 delivers a QoS 1 subscription on the client's behalf;
 * it must be allowed (2.12 allows it implicitly).
 */
export async function authorizationText(worker: Login, devices: Login[], previous: string, digestKey: Uint8Array): Promise<string> {
  const old = hashesIn(previous);
  const lines = [
    "# Written by the gateway workers from the device registry; changes here are overwritten.",
    "# Passwords are bcrypt hashes; each \"# login\" line lets the workers keep a hash while its secret is unchanged.",
    "authorization {",
    "  users = [",
  ];
  const w = await hashed(worker, WORKER_COST, old, digestKey);
  lines.push(`    # login ${q(worker.user)} ${w.digest}`, `    { user: ${q(worker.user)}, password: ${q(w.hash)} }`);
  // One at a time: each hash yields to the event loop as it goes, so lease rounds and commits go on.
  for (const d of devices) {
    const h = await hashed(d, DEVICE_COST, old, digestKey);
    lines.push(`    # login ${q(d.user)} ${h.digest}`,
      `    { user: ${q(d.user)}, password: ${q(h.hash)}, permissions: { publish: { allow: [${q(`part.*.rec.${d.user}.up`)}] }, subscribe: { allow: [${q(`rec.${d.user}.down`)}, "$MQTT.sub.>"] } } }`);
  }
  lines.push("  ]", "}", "");
  return lines.join("\n");
}

/** The file as it is now ("" if there is none yet). */
export function readAuthorization(file: string): string {
  try { return readFileSync(file, "utf8"); } catch { return ""; }
}

/** A device id NATS can carry: "." separates subject tokens, so an id with one can't be a topic's middle token. */
export const natsSafeId = (id: string) => /^[A-Za-z0-9_-]+$/.test(id);

/**
 * Write the file if its text changed and signal the servers. Returns whether it changed. A pid
 * file that can't be read or a server that is gone is logged, not fatal: the next sync tries again.
 */
export function syncAuthorization(file: string, text: string, pidFiles: string[], log: Logger): boolean {
  if (readAuthorization(file) === text) return false;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
  for (const pf of pidFiles) {
    try {
      const pid = Number(readFileSync(pf, "utf8").trim());
      if (!Number.isInteger(pid) || pid <= 0) throw new Error("no pid in it");
      process.kill(pid, "SIGHUP");
    } catch (e) {
      log.warn({ code: "NATS_RELOAD", pidFile: pf, err: (e as Error).message }, "nats-server not told to reload its authorization");
    }
  }
  return true;
}
