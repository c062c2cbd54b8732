// A disk that refuses a write, as Linux reports it to a process: the next fdatasync (or fsync, as
// a directory is synced) of any file handle fails with EIO, once (the kernel has then dropped the
// file's dirty pages, which a test takes by hand: it cuts the file). Every FileHandle's method,
// patched on their shared prototype until restore().
import { fstatSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";

/** The prototype every FileHandle shares, where its methods live (found through a probe file in `scratchDir`). */
export async function fileHandleMethods(scratchDir: string): Promise<Record<"datasync" | "sync", () => Promise<void>>> {
  const probe = await open(join(scratchDir, ".refuse-sync-probe"), "w");
  await probe.close();
  return Object.getPrototypeOf(probe) as Record<"datasync" | "sync", () => Promise<void>>;
}

/**
 * The next `call` refused. An fsync ("sync") is refused only on a directory's handle: the one a
 * test means is the media store's of a directory, and another component's file (the audit log's
 * anchor, say) syncing at that moment must not take the refusal in its place.
 */
export async function refuseNextSync(scratchDir: string, call: "datasync" | "sync" = "datasync"): Promise<{ refused: () => number; restore: () => void }> {
  const proto = await fileHandleMethods(scratchDir);
  const real = proto[call];
  let calls = 0;
  proto[call] = function (this: { fd: number }) {
    if (calls || (call === "sync" && !fstatSync(this.fd).isDirectory())) return real.call(this);
    calls++;
    return Promise.reject(Object.assign(new Error(`EIO: i/o error, f${call}`), { code: "EIO" }));
  };
  return { refused: () => calls, restore: () => { proto[call] = real; } };
}
