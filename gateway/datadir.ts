// The data directory: one gateway at a time (a lock file with its pid), and nothing in it readable
// by anyone but the station's account (directories 0700, files 0600, fixed at every start).
import { accessSync, chmodSync, constants, lstatSync, readFileSync, readdirSync, statSync, statfsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { GatewayError } from "./errors.js";
import { takePidLock } from "../protocol/pid-lock.js";
import { makeDir } from "../protocol/make-dir.js";

export const LOCK_FILE = "gateway.lock";

/** A process's start time, in clock ticks since boot (/proc/PID/stat, field 22); null if it is gone or there is no /proc. */
function startedAt(pid: number | "self"): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "PID (COMMAND) STATE PPID ...": the command may hold spaces and parentheses; field 3 on follow its last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * This process as another process on the data directory can tell it from any other (a pid used
 * again included): its host's name, its pid and its start time. Null where there is no /proc.
 */
export function processStamp(): string | null {
  const start = startedAt("self");
  return start === null ? null : JSON.stringify({ host: hostname(), pid: process.pid, start });
}

/**
 * Whether the process a stamp names (processStamp) still runs: true or false, or null when this
 * process can't tell (no stamp, another host's, no /proc here).
 */
export function stampAlive(stamp: string | null): boolean | null {
  let s: { host?: unknown; pid?: unknown; start?: unknown };
  try { s = JSON.parse(stamp ?? "null") ?? {}; } catch { return null; }
  if (s.host !== hostname() || !Number.isSafeInteger(s.pid) || typeof s.start !== "string" || startedAt("self") === null) return null;
  return startedAt(s.pid as number) === s.start;
}

/** Bytes free to this process on the disk holding `dir` (the metrics, the disk check, the admin's state). */
export function freeBytes(dir: string): number {
  const st = statfsSync(dir);
  return st.bavail * st.bsize;
}

/**
 * Take the data directory for this process: refused with DATA_DIR_LOCKED while another live
 * gateway holds it; a lock left by a process that is gone is taken over. Returns the release.
 */
export function lockDataDir(dir: string): () => void {
  const file = join(dir, LOCK_FILE);
  const lock = takePidLock(file);
  if ("release" in lock) return lock.release;
  if (lock.heldBy === process.pid) throw new GatewayError("DATA_DIR_LOCKED", `this process already runs a gateway on ${dir}`);
  if (lock.heldBy) throw new GatewayError("DATA_DIR_LOCKED", `another gateway (pid ${lock.heldBy}) is running on ${dir}; stop it first, or give this one its own --data-dir`);
  throw new GatewayError("DATA_DIR_LOCKED", `could not take the lock ${file}`);
}

/**
 * The data directory, ready to be written: made (0700) if missing and `create`, else refused
 * DATA_DIR_MISSING (the admin CLI: a mistyped path must not become a new, empty station); a path
 * that is not a directory DATA_DIR_NOT_DIR; one this process can't write (a read-only mount, its
 * permissions) DATA_DIR_UNWRITABLE. Each says what to do, in one line.
 */
export function prepareDataDir(dir: string, o: { create: boolean }): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") throw new GatewayError(code === "ENOTDIR" ? "DATA_DIR_NOT_DIR" : "DATA_DIR_UNWRITABLE", `data directory ${dir} can't be used: ${(e as Error).message}`);
    if (!o.create) throw new GatewayError("DATA_DIR_MISSING", `no data directory ${dir}: give the --data-dir the gateway runs with (a new station's is made by its first start, npm start -- --data-dir DIR)`);
    try {
      makeDir(dir, 0o700);
    } catch (e2) {
      throw new GatewayError("DATA_DIR_UNWRITABLE", `data directory ${dir} can't be made: ${(e2 as Error).message}`);
    }
    isDir = true;
  }
  if (!isDir) throw new GatewayError("DATA_DIR_NOT_DIR", `data directory ${dir} is a file, not a directory: give a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new GatewayError("DATA_DIR_UNWRITABLE", `data directory ${dir} can't be written by this process (${(e as NodeJS.ErrnoException).code}): a read-only disk, or another account's directory`);
  }
}

/** Directories 0700 and files 0600 throughout the data directory; returns the paths it fixed. */
export function tightenDataDir(dir: string): string[] {
  const fixed: string[] = [];
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    const want = st.isDirectory() ? 0o700 : 0o600;
    if ((st.mode & 0o777) !== want) {
      chmodSync(p, want);
      fixed.push(p);
    }
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(dir);
  return fixed;
}
