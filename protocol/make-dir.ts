// Making a directory a person named, with the directories above it. Node's recursive mkdirSync
// loops for ever where a directory exists but refuses a new entry with ENOENT (under /proc, say:
// `--data-dir /proc/x`): it takes ENOENT for a missing parent, finds the parent there, and tries
// again. This makes one level at a time, from the deepest one that exists, so every refusal is
// thrown at once as the file system says it. The gateway's data directory and the witness's state
// are made here. Node only.
import { mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * Make `dir` and the missing directories above it (each with `mode`); nothing if it exists.
 * Returns the first directory made, as mkdirSync's recursive form does, or undefined. A refusal
 * is thrown with the file system's code (ENOTDIR where a file stands in the way, EACCES, EROFS,
 * ENOENT where an existing directory takes no new entry), its message naming the directory.
 */
export function makeDir(dir: string, mode = 0o777): string | undefined {
  const missing: string[] = [];
  for (let p = resolve(dir); ; p = dirname(p)) {
    try {
      if (statSync(p).isDirectory()) break;
      throw Object.assign(new Error(`ENOTDIR: ${p} is a file, not a directory`), { code: "ENOTDIR" });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p, { mode });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // Made by another process meanwhile: as good, provided it is a directory (the next level, or the caller, finds out).
      if (err.code === "EEXIST") continue;
      // Its parent is there (just found or made), so ENOENT is not a missing parent: say what it is.
      if (err.code === "ENOENT") err.message = `ENOENT: ${dirname(p)} takes no new directory (a special file system?), mkdir '${p}'`;
      throw err;
    }
  }
  return missing[0];
}
