// A disk that refuses a write, as Linux reports it to a process: the next fdatasync of any file
// handle fails with EIO, once (the kernel has then dropped the file's dirty pages, which the test
// takes by hand: it cuts the file). Every FileHandle's datasync, patched on their shared prototype
// until restore().
import { open } from "node:fs/promises";
import { join } from "node:path";

export async function refuseNextDatasync(scratchDir: string): Promise<{ refused: () => number; restore: () => void }> {
  const probe = await open(join(scratchDir, ".refuse-sync-probe"), "w");
  const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
  await probe.close();
  const real = proto.datasync;
  let calls = 0;
  proto.datasync = function (this: unknown) {
    if (calls++) return real.call(this);
    return Promise.reject(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
  };
  return { refused: () => Math.min(calls, 1), restore: () => { proto.datasync = real; } };
}
