// Recordings' media files as ingest writes them: through a handle held while the recording is in
// memory. A station that runs for months must not keep a file open per recording ever written,
// and a file that can't be written fails only the recordings that write it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join, sep } from "node:path";
import type { Gateway } from "../../gateway/gateway.js";
import { AckState } from "../../protocol/schema.js";
import type { FakeDevice, Received } from "./fake-device.js";
import { provision, streamSealed, testGateway } from "./harness.js";

let gw: Gateway;
let dir: string;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ gw, dir, close } = await testGateway({ ackIntervalMs: 0, ingestIdleMs: 400 }));
});
afterAll(() => close());

type Ack = { recording: number; state: number; cumulative: number };
const isAck = (r: number, state: number, cum: number) => (m: Received) => m.kind === "ack" && m.ok === "" && (m.body.ack as Ack).recording === r && ((m.body.ack as Ack).state || 0) === state && ((m.body.ack as Ack).cumulative || 0) === cum;
const quiet = (ms = 150) => new Promise((r) => setTimeout(r, ms));
/** This process's open files under a device's media directory. */
const mediaFds = (device: string) => readdirSync("/proc/self/fd").filter((fd) => {
  try { return readlinkSync(`/proc/self/fd/${fd}`).includes(`${sep}media${sep}${device}${sep}`); } catch { return false; }
}).length;

describe("media files", () => {
  it("keeps no file open for a recording that left memory, and writes it again when the device goes on with it", async () => {
    const d = await provision(gw, "MED-0001");
    const payloads = [randomBytes(600), randomBytes(600)];
    const recs: ReturnType<FakeDevice["recording"]>[] = [];
    for (let r = 1; r <= 5; r++) recs.push(d.recording(r, payloads, { prevSeal: recs.length ? recs[recs.length - 1].sealValue : undefined }));
    for (const rec of recs.slice(0, 4)) await streamSealed(d, rec);
    // Recording 5 left open: its start and first chunk only.
    await d.publish(recs[4].start);
    await d.publish(recs[4].chunks[0]);
    await d.waitFor(isAck(5, AckState.ACK_OPEN, 1));
    // One handle per recording in memory. On a loaded machine the first recordings may have idled
    // out already (ingestIdleMs: streaming four took more than 400 ms in a CI run, and 4 files were
    // open, not 5), and a handle is closed a moment after ingest lets its recording go: compared
    // once they agree, so a handle kept for a recording gone (or one missing) still fails.
    const counts = () => ({ inMemory: gw.ingest.held.recordings, handles: gw.media.openHandles, fds: mediaFds(d.id) });
    let seen = counts();
    for (const end = Date.now() + 2000; (seen.handles !== seen.inMemory || seen.fds !== seen.inMemory) && Date.now() < end; seen = counts()) await quiet(20);
    expect(seen).toEqual({ inMemory: seen.inMemory, handles: seen.inMemory, fds: seen.inMemory });
    // Idle past ingestIdleMs (400 ms here): every recording is released, and its file closed.
    const until = Date.now() + 5000;
    while (mediaFds(d.id) > 0 && Date.now() < until) await quiet(100);
    expect(mediaFds(d.id)).toBe(0);
    expect(gw.media.openHandles).toBe(0);
    // The device goes on with recording 5: the file is written again and the recording completes.
    await d.publish(recs[4].chunks[1]);
    await d.publish(recs[4].seal);
    await d.waitFor(isAck(5, AckState.ACK_SEALED, 2));
    expect((await gw.db.get<{ verdict: string }>("SELECT verdict FROM recordings WHERE device_id = ? AND recording_id = 5", [d.id]))!.verdict).toBe("verified");
    expect(Buffer.compare(await gw.media.read(gw.media.pathFor(d.id, 5)), Buffer.concat(payloads))).toBe(0);
    await d.end();
  });

  it("a media file that can't be written fails only its recording, unacknowledged; another device's chunk in the same batch commits; once it can be written, the resent chunk commits", async () => {
    const a = await provision(gw, "MED-0002");
    const b = await provision(gw, "MED-0003");
    const ra = a.recording(1, [randomBytes(500), randomBytes(500)]);
    const rb = b.recording(1, [randomBytes(500), randomBytes(500)]);
    // Device A's media directory is a plain file: its recording's file can't be made.
    const aDir = join(dir, "media", a.id);
    writeFileSync(aDir, "not a directory");
    gw.committer.hold();
    await a.publish(ra.start);
    await a.publish(ra.chunks[0]);
    await b.publish(rb.start);
    await b.publish(rb.chunks[0]);
    await quiet();
    gw.committer.release();
    await b.waitFor(isAck(1, AckState.ACK_OPEN, 1));
    await quiet(300);
    expect(a.received.some(isAck(1, AckState.ACK_OPEN, 1))).toBe(false);
    expect((await gw.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM chunks WHERE device_id = ?", [a.id]))!.n).toBe(0);
    // The directory can be made again; the device, never Acked, sends the recording again.
    rmSync(aDir);
    mkdirSync(aDir);
    await streamSealed(a, ra);
    await streamSealed(b, rb);
    for (const id of [a.id, b.id]) expect((await gw.db.get<{ verdict: string }>("SELECT verdict FROM recordings WHERE device_id = ? AND recording_id = 1", [id]))!.verdict).toBe("verified");
    await a.end();
    await b.end();
  });
});
