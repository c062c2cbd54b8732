// One process at a time on a directory: a lock file made exclusively, holding the pid of the
// process that made it. A lock whose process is gone (killed, the machine restarted) is taken
// over. The station's gateway takes its data directory so, and a witness its state: two witnesses
// on one state would each cosign from their own copy, so a split view could get both halves
// cosigned. Node has no advisory file lock (flock) of its own, hence a pid file.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";

/** Whether a process runs (one this process may not signal counts as running). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Take `file` as this process's lock: its release, or the pid of the live process that holds it
 * (this process's own when it holds it already). Anything but a lock held (a directory that can't
 * be written) is thrown as the file system says it.
 */
export function takePidLock(file: string): { release: () => void } | { heldBy: number } {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return {
        release: () => {
          try {
            if (readFileSync(file, "utf8").trim() === String(process.pid)) rmSync(file, { force: true });
          } catch { /* already gone */ }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let pid = NaN;
      try { pid = Number(readFileSync(file, "utf8").trim()); } catch { /* unreadable: stale */ }
      if (Number.isSafeInteger(pid) && pid > 0 && (pid === process.pid || pidAlive(pid))) return { heldBy: pid };
      rmSync(file, { force: true });
    }
  }
  // Taken over twice and made again by another process each time: held, by whom is not known.
  return { heldBy: 0 };
}
