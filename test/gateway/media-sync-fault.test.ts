// A disk that refuses to sync a media file (fdatasync fails with EIO, as Linux reports a write the
// disk could not make, its dirty pages then dropped): the admin is told (an alarm, an error in the
// log, a counter at /metrics), and nothing acknowledged is lost: the media journal writes what it
// holds to the file again before it lets it go.
import { afterAll, describe, expect, it } from "vitest";
import { readFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { provision, streamSealed, testGateway } from "./harness.js";
import { refuseNextSync } from "../helpers/refuse-sync.js";

const { gw, dir, close } = await testGateway({ logIntervalMs: 0 });
afterAll(() => close());
/** What an operator's Prometheus reads at /metrics, as the station's admin. */
const scrape = async () => (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`, { headers: { authorization: `Bearer ${readFileSync(join(dir, "admin.token"), "utf8").trim()}` } })).text();

describe("a media file's sync the disk refuses", () => {
  it("raises MEDIA_SYNC_FAILED, counts it, and the recording's bytes are written again from the journal", async () => {
    const disk = await refuseNextSync(dir);
    const payloads = [randomBytes(3000), randomBytes(3000), randomBytes(3000)];
    let file = "";
    try {
      const d = await provision(gw, "SYNC-0001");
      await streamSealed(d, d.recording(1, payloads));
      await d.end();
      while (!disk.refused()) await new Promise((r) => setTimeout(r, 10));
      // What the kernel dropped with the refusal.
      file = join(dir, "media", gw.media.pathFor("SYNC-0001", 1));
      truncateSync(file, 0);
      await gw.checkDisk();
    } finally {
      disk.restore();
    }
    const alarms = await gw.alarms.list({ open: true });
    expect(alarms.map((a) => a.kind)).toContain("MEDIA_SYNC_FAILED");
    expect(await scrape()).toMatch(/^evrec_media_sync_failures_total 1$/m);
    // The next checkpoint (here the one before a file is removed) writes the journal's records back first.
    await gw.media.remove(gw.media.pathFor("SYNC-0001", 2));
    expect(readFileSync(file).equals(Buffer.concat(payloads))).toBe(true);
  });

  it("raises it too when a new directory's fsync is refused, and syncs its entries at the next try", async () => {
    const before = gw.media.journalStats!;
    const payloads = [randomBytes(2000), randomBytes(2000)];
    const d = await provision(gw, "SYNC-0002");
    await streamSealed(d, d.recording(1, payloads));
    await d.end();
    // The recording's new file and its device's new directory: entries the next checkpoint syncs,
    // refused this once.
    const disk = await refuseNextSync(dir, "sync");
    try {
      await expect(gw.media.remove(gw.media.pathFor("SYNC-0002", 2))).rejects.toThrow(/EIO/);
      expect(disk.refused()).toBe(1);
    } finally {
      disk.restore();
    }
    await gw.checkDisk();
    const alarm = (await gw.alarms.list({ open: true })).filter((a) => a.kind === "MEDIA_SYNC_FAILED").pop();
    expect(alarm?.detail).toMatch(/directory's fsync/);
    expect(await scrape()).toMatch(new RegExp(`^evrec_media_sync_failures_total ${before.syncFailures + 1}$`, "m"));
    // Tried again: the checkpoint passes, its records written to their files again first.
    await gw.media.remove(gw.media.pathFor("SYNC-0002", 2));
    const after = gw.media.journalStats!;
    expect(after.checkpoints).toBeGreaterThan(before.checkpoints);
    expect(after.rewritten).toBeGreaterThan(before.rewritten);
    expect(readFileSync(join(dir, "media", gw.media.pathFor("SYNC-0002", 1))).equals(Buffer.concat(payloads))).toBe(true);
  });
});
