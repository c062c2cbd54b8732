// Device credentials and topic permissions for nats-server, made from the device registry: one
// user per device that may connect (its id and login secret, as the station's admission checks),
// allowed to publish only its own uplink (after the partition mapping) and to subscribe only to its
// own downlink. Written atomically; then every listed nats-server is told to reload (SIGHUP), which
// also closes the connections of users no longer in the file (a revoked device).
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Logger } from "../log.js";

export interface DeviceLogin {
  id: string;
  password: string;
}

/**
 * The authorization block: the workers' user with every permission, then the devices. `$MQTT.sub.>`
 * is where nats-server 2.9 delivers a QoS 1 subscription on the client's behalf; it must be allowed
 * (2.12 allows it implicitly).
 */
export function authorizationText(worker: { user: string; pass: string }, devices: DeviceLogin[]): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    "# Written by the gateway workers from the device registry; changes here are overwritten.",
    "authorization {",
    "  users = [",
    `    { user: ${q(worker.user)}, password: ${q(worker.pass)} }`,
  ];
  for (const d of devices) {
    lines.push(`    { user: ${q(d.id)}, password: ${q(d.password)}, permissions: { publish: { allow: [${q(`part.*.rec.${d.id}.up`)}] }, subscribe: { allow: [${q(`rec.${d.id}.down`)}, "$MQTT.sub.>"] } } }`);
  }
  lines.push("  ]", "}", "");
  return lines.join("\n");
}

/** A device id NATS can carry: "." separates subject tokens, so an id with one can't be a topic's middle token. */
export const natsSafeId = (id: string) => /^[A-Za-z0-9_-]+$/.test(id);

/**
 * Write the file if its text changed and signal the servers. Returns whether it changed. A pid
 * file that can't be read or a server that is gone is logged, not fatal: the next sync tries again.
 */
export function syncAuthorization(file: string, text: string, pidFiles: string[], log: Logger): boolean {
  let old = "";
  try { old = readFileSync(file, "utf8"); } catch { /* first write */ }
  if (old === text) return false;
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
