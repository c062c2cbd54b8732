// A recording's media file survives a power cut once its commit is Acked only if its bytes and its
// name do: the file is opened O_DSYNC (each write returns once its bytes and the file's size are on
// the disk), and that makes the bytes durable, not the directory entries that lead to it (POSIX;
// ext4 happens to, other file systems need not). Checked against the kernel: the system calls the
// media store makes, traced by strace.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const haveStrace = spawnSync("sh", ["-c", "command -v strace"]).status === 0;
if (!haveStrace) console.warn("media-durable: strace is not installed (.ci/run installs it): the test is skipped");
const dir = mkdtempSync(join(tmpdir(), "evrec-media-sync-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The paths fsync'd in each step the script marked, and the media files opened for writing, each
 * with whether it was opened O_DSYNC, from strace's output.
 */
function fsyncsByStep(trace: string): { steps: Record<string, string[]>; writable: Record<string, boolean> } {
  const fds = new Map<string, string>();
  const pendingOpen = new Map<string, string>();
  const steps: Record<string, string[]> = {};
  const writable: Record<string, boolean> = {};
  let step = "start";
  for (const raw of trace.split("\n")) {
    const m = /^(\d+)\s+(.*)$/.exec(raw);
    if (!m) continue;
    const [, pid, line] = m;
    const open = /^openat\(AT_FDCWD, "([^"]+)", ([A-Z_|]+)/.exec(line);
    if (open && open[1].startsWith(dir) && open[1].endsWith(".media") && open[2].includes("O_RDWR")) {
      const rel = open[1].slice(dir.length);
      writable[rel] = (writable[rel] ?? true) && open[2].split("|").includes("O_DSYNC");
    }
    if (open) {
      const done = / = (\d+)$/.exec(line);
      if (done) fds.set(done[1], open[1]);
      else pendingOpen.set(pid, open[1]);
      continue;
    }
    const resumed = /^<\.\.\. openat resumed>.* = (\d+)$/.exec(line);
    if (resumed && pendingOpen.has(pid)) {
      fds.set(resumed[1], pendingOpen.get(pid)!);
      pendingOpen.delete(pid);
      continue;
    }
    const marker = /^write\(1, "STEP ([a-z-]+)\\n"/.exec(line);
    if (marker) { step = marker[1]; continue; }
    const sync = /^fsync\((\d+)/.exec(line);
    if (sync && fds.get(sync[1])?.startsWith(dir)) (steps[step] ||= []).push(fds.get(sync[1])!.slice(dir.length));
  }
  return { steps, writable };
}

describe.skipIf(!haveStrace)("media made durable, names and all", () => {
  it("writes media O_DSYNC, and syncs a new file's directory, and a new device directory's parent, once", () => {
    const out = join(dir, "trace");
    const r = spawnSync("strace", ["-f", "-qq", "-o", out, "-e", "trace=openat,fsync,write", process.execPath, "--import", "tsx", join(import.meta.dirname, "media-sync-steps.ts"), dir],
      { cwd: join(import.meta.dirname, "..", ".."), encoding: "utf8", timeout: 60000 });
    expect(r.status, r.stderr).toBe(0);
    const { steps, writable } = fsyncsByStep(readFileSync(out, "utf8"));
    // Every handle a media file was written through was opened O_DSYNC (the first open, and a
    // fresh store's): its writes are on the disk when they return, and need no fsync of their own.
    expect(writable).toEqual({ "/media/devA/000001.media": true, "/media/devA/000002.media": true });
    expect(steps).toEqual({
      // The device's directory is new in media/, the file new in it: both directories.
      "new-dir": ["/media", "/media/devA"],
      // A second file beside it: its directory again, not media/.
      "new-file": ["/media/devA"],
      // Its next sync, and a file a fresh store opens: nothing more (the bytes went O_DSYNC).
    });
  }, 90000);
});
