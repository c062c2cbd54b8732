// The station's media files read and erased through the store, as scrub, export, downloads and
// retention do (the same expectations a cluster's JetStream media meets: test/cluster/media-nats).
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MediaStore } from "../../gateway/store/media.js";
import { readerContract } from "../helpers/media-reader.js";

const dir = mkdtempSync(join(tmpdir(), "evrec-media-reader-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("media files read through the store", () => {
  it("reads ranges, streams what the database vouches for, says none for a recording without media, and erases", async () => {
    const media = new MediaStore(join(dir, "media"));
    try {
      await readerContract(media, "dev-r1");
    } finally {
      await media.close();
    }
  });

  it("says MEDIA_UNAVAILABLE, not that the media is missing or damaged, when the process has no file handle left", () => {
    // A child under a limit of 64 open files opens /dev/null until the kernel says EMFILE, then reads.
    const script = join(import.meta.dirname, "media-emfile.ts");
    const r = spawnSync("bash", ["-c", `ulimit -n 64 && exec "${process.execPath}" --import tsx "${script}" "${join(dir, "emfile")}"`], { cwd: join(import.meta.dirname, "..", ".."), encoding: "utf8", timeout: 60000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { handles: number; readRange: { err?: string; message?: string }; size: { ok?: string } };
    expect(out.handles).toBeGreaterThan(0);
    expect(out.readRange).toMatchObject({ err: "MEDIA_UNAVAILABLE", message: expect.stringMatching(/dev\/000001\.media can't be read now: EMFILE/) });
    // Its size needs no handle: still known.
    expect(out.size).toEqual({ ok: "14" });
  });
});
