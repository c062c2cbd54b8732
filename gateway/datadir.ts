// The data directory: one gateway at a time (a lock file with its pid), and nothing in it readable
// by anyone but the station's account (directories 0700, files 0600, fixed at every start).
import { chmodSync, closeSync, lstatSync, openSync, readFileSync, readdirSync, rmSync, statfsSync, writeSync } from "node:fs";
import { join } from "node:path";
import { GatewayError } from "./errors.js";

export const LOCK_FILE = "gateway.lock";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
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
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, "utf8").trim() === String(process.pid)) rmSync(file, { force: true });
        } catch { /* already gone */ }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let pid = NaN;
      try { pid = Number(readFileSync(file, "utf8").trim()); } catch { /* unreadable: stale */ }
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new GatewayError("DATA_DIR_LOCKED", `another gateway (pid ${pid}) is running on ${dir}; stop it first, or give this one its own --data-dir`);
      }
      if (pid === process.pid) throw new GatewayError("DATA_DIR_LOCKED", `this process already runs a gateway on ${dir}`);
      rmSync(file, { force: true });
    }
  }
  throw new GatewayError("DATA_DIR_LOCKED", `could not take the lock ${file}`);
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
