// A recording's media file survives a power cut once its commit is Acked only if its name does: an
// fsync of the file makes its bytes durable, not the directory entries that lead to it (POSIX;
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

/** The paths fsync'd in each step the script marked, from strace's output. */
function fsyncsByStep(trace: string): Record<string, string[]> {
  const fds = new Map<string, string>();
  const pendingOpen = new Map<string, string>();
  const steps: Record<string, string[]> = {};
  let step = "start";
  for (const raw of trace.split("\n")) {
    const m = /^(\d+)\s+(.*)$/.exec(raw);
    if (!m) continue;
    const [, pid, line] = m;
    const open = /^openat\(AT_FDCWD, "([^"]+)"/.exec(line);
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
  return steps;
}

describe.skipIf(!haveStrace)("media made durable, names and all", () => {
  it("syncs a new file's directory, and a new device directory's parent, once; a file that existed, its bytes only", () => {
    const out = join(dir, "trace");
    const r = spawnSync("strace", ["-f", "-qq", "-o", out, "-e", "trace=openat,fsync,write", process.execPath, "--import", "tsx", join(import.meta.dirname, "media-sync-steps.ts"), dir],
      { cwd: join(import.meta.dirname, "..", ".."), encoding: "utf8", timeout: 60000 });
    expect(r.status, r.stderr).toBe(0);
    const steps = fsyncsByStep(readFileSync(out, "utf8"));
    expect(steps).toEqual({
      // The device's directory is new in media/, the file new in it: the file, then both directories.
      "new-dir": ["/media/devA/000001.media", "/media", "/media/devA"],
      // A second file beside it: its directory again, not media/.
      "new-file": ["/media/devA/000002.media", "/media/devA"],
      // Its next sync, and a file a fresh store opens: the bytes only.
      again: ["/media/devA/000002.media"],
      reopened: ["/media/devA/000001.media"],
    });
  }, 90000);
});
