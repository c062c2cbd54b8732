// Media kept in a JetStream stream reads back as the station's files would: writes land at their
// offsets whatever their order, a write replayed after a crash changes nothing, a cut at reopening
// stays cut, and a batch larger than one NATS message is split and joined again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsCluster, NATS_BIN } from "./nats-cluster.js";
import { NatsMediaStore } from "../../gateway/store/media-nats.js";
import { readerContract } from "../helpers/media-reader.js";

const WORKER = { user: "w", pass: "media-test" };

describe.skipIf(!existsSync(NATS_BIN))("media in a JetStream stream", () => {
  let dir: string;
  let nats: NatsCluster;
  let nc: NatsConnection;
  let media: NatsMediaStore;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "evrec-media-nats-"));
    nats = new NatsCluster(dir, 4, WORKER);
    await nats.start(1);
    nc = await connect({ servers: nats.servers, user: WORKER.user, pass: WORKER.pass });
    media = await NatsMediaStore.open(nc, { stream: "EVREC_MEDIA", replicas: 1 });
  });

  afterAll(async () => {
    if (nc) await nc.close().catch(() => undefined);
    if (nats) await nats.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reads back writes made out of order, replayed, and larger than one message", async () => {
    const rel = media.pathFor("cam-7", 3);
    const a = randomBytes(4096), b = randomBytes(4096), big = randomBytes(1300 * 1024);
    await media.writev(rel, 4096, [b]);
    await media.writev(rel, 0, [a]);
    await media.writev(rel, 4096, [b]); // a batch replayed after a crash: the same bytes again
    await media.writev(rel, 8192, [big.subarray(0, 700000), big.subarray(700000)]);
    expect(Buffer.compare(await media.read(rel), Buffer.concat([a, b, big]))).toBe(0);
    // Another recording of another device is apart from it.
    await media.writev(media.pathFor("cam.8", 3), 0, [b]);
    expect(Buffer.compare(await media.read(media.pathFor("cam.8", 3)), b)).toBe(0);
    expect((await media.read(rel)).length).toBe(8192 + big.length);
  });

  it("keeps a cut to the length the database vouches for, and later writes after it", async () => {
    const rel = media.pathFor("cam-9", 1);
    const a = randomBytes(10000), c = randomBytes(3000);
    await media.writev(rel, 0, [a]);
    expect(await media.trimTo(rel, 6000)).toBe(4000);
    expect(await media.trimTo(rel, 6000)).toBe(0);
    await media.writev(rel, 6000, [c]);
    expect(Buffer.compare(await media.read(rel), Buffer.concat([a.subarray(0, 6000), c]))).toBe(0);
  });

  it("reads ranges, streams what the database vouches for, says none for a recording without media, and erases, as the station's files do", async () => {
    await readerContract(media, "cam-r1");
  });

  it("reads a recording larger than it holds a message at a time: the same bytes every way, and a download cut short if the recording is erased under it", async () => {
    const small = await NatsMediaStore.open(nc, { stream: "EVREC_MEDIA", replicas: 1, holdBytes: 64 * 1024 });
    await readerContract(small, "cam-s1");
    const rel = small.pathFor("cam-s2", 1);
    const parts = Array.from({ length: 12 }, () => randomBytes(100 * 1024));
    // Appended, one replayed, a gap later filled, then cut at a reopening and written on.
    for (let i = 0; i < 8; i++) if (i !== 5) await small.writev(rel, i * 102400, [parts[i]]);
    await small.writev(rel, 3 * 102400, [parts[3]]);
    await small.writev(rel, 5 * 102400, [parts[5]]);
    expect(await small.trimTo(rel, 6 * 102400 + 777)).toBe(102400 - 777 + 102400);
    await small.writev(rel, 6 * 102400 + 777, [parts[8]]);
    const want = Buffer.concat([...parts.slice(0, 6), parts[6].subarray(0, 777), parts[8]]);
    // The store that holds it whole and the one that fetches each message again agree with the file's bytes.
    expect(Buffer.compare(await media.read(rel), want)).toBe(0);
    expect(Buffer.compare(await small.read(rel), want)).toBe(0);
    expect(await small.size(rel)).toBe(want.length);
    for (const [at, n] of [[0, 10], [102390, 20], [6 * 102400 + 700, 200], [want.length - 5, 5], [1000, 500000]]) {
      expect(Buffer.compare((await small.readRange(rel, at, n))!, want.subarray(at, at + n)), `range ${at}+${n}`).toBe(0);
    }
    expect(await small.readRange(rel, want.length - 5, 6)).toBeNull();
    const parts2: Buffer[] = [];
    for await (const p of small.readStream(rel, want.length - 1000)) parts2.push(p as Buffer);
    expect(Buffer.compare(Buffer.concat(parts2), want.subarray(0, want.length - 1000))).toBe(0);
    // A hole no write reached (a write past the end, as a file allows) streams as zeros.
    const holed = small.pathFor("cam-s3", 1);
    const h1 = randomBytes(70000), h2 = randomBytes(90000);
    await small.writev(holed, 0, [h1]);
    await small.writev(holed, 1500000, [h2]);
    const holedWant = Buffer.concat([h1, Buffer.alloc(1500000 - 70000), h2]);
    const got: Buffer[] = [];
    for await (const p of small.readStream(holed, holedWant.length)) got.push(p as Buffer);
    expect(Buffer.compare(Buffer.concat(got), holedWant)).toBe(0);
    expect(Buffer.compare(await media.read(holed), holedWant)).toBe(0);
    // Erased (retention) while a download reads it: the download fails, never gives other bytes.
    const s = small.readStream(rel, want.length);
    const it = s[Symbol.asyncIterator]();
    const first = await it.next();
    expect(Buffer.compare(first.value as Buffer, want.subarray(0, (first.value as Buffer).length))).toBe(0);
    await small.remove(rel);
    await expect((async () => { for (;;) if ((await it.next()).done) return; })()).rejects.toThrow(/cam-s2\/000001\.media changed while it was read/);
  });

  it("keeps a reader's layout while the recording is unchanged, and reads it again once another writer cut and rewrote it", async () => {
    const reader = await NatsMediaStore.open(nc, { stream: "EVREC_MEDIA", replicas: 1 });
    // Messages the reader fetches from the stream, counted.
    const direct = (reader as unknown as { jsm: { direct: { getMessage: (...a: unknown[]) => Promise<unknown> } } }).jsm.direct;
    const getMessage = direct.getMessage.bind(direct);
    let fetched = 0;
    direct.getMessage = (...a: unknown[]) => { fetched++; return getMessage(...a); };
    const rel = media.pathFor("cam-k1", 1);
    const a = randomBytes(3000), b = randomBytes(3000), c = randomBytes(3000);
    await media.writev(rel, 0, [a]);
    await media.writev(rel, 3000, [b]);
    expect(Buffer.compare((await reader.readRange(rel, 0, 6000))!, Buffer.concat([a, b]))).toBe(0);
    const once = fetched;
    expect(once).toBeGreaterThan(0);
    // Read again after the layout's first seconds, the recording unchanged: not replayed.
    await new Promise((r) => setTimeout(r, 2200));
    expect(Buffer.compare((await reader.readRange(rel, 1000, 4000))!, Buffer.concat([a, b]).subarray(1000, 5000))).toBe(0);
    expect(fetched).toBe(once);
    // Another process (a worker reopening the recording) cuts its tail and writes other bytes there.
    await media.trimTo(rel, 3000);
    await media.writev(rel, 3000, [c]);
    await new Promise((r) => setTimeout(r, 2200));
    expect(Buffer.compare((await reader.readRange(rel, 3000, 3000))!, c)).toBe(0);
    expect(fetched).toBeGreaterThan(once);
  });

  it("reads a recording never written as empty", async () => {
    expect((await media.read(media.pathFor("nobody", 1))).length).toBe(0);
    // Streamed: none asked, none given; more asked, an error naming what it holds.
    const none: Buffer[] = [];
    for await (const p of media.readStream(media.pathFor("nobody", 1), 0)) none.push(p as Buffer);
    expect(none).toEqual([]);
    await expect((async () => { for await (const _ of media.readStream(media.pathFor("nobody", 1), 10)) void _; })()).rejects.toThrow(/holds 0 bytes, 10 expected/);
  });

  it("says MEDIA_UNAVAILABLE when JetStream can't be asked (its connection gone): nothing is said of the bytes", async () => {
    const a = media.pathFor("cam-7", 3), b = media.pathFor("cam.8", 3);
    const nc2 = await connect({ servers: nats.servers, user: WORKER.user, pass: WORKER.pass });
    const other = await NatsMediaStore.open(nc2, { stream: "EVREC_MEDIA", replicas: 1 });
    const whole = (await media.read(a)).length;
    expect(await other.size(a)).toBe(whole);
    await nc2.close();
    await expect(other.size(b)).rejects.toMatchObject({ code: "MEDIA_UNAVAILABLE", message: expect.stringMatching(/did not answer \(read cam\.8\/000003\.media\)/) });
    await expect(other.readRange(b, 0, 16)).rejects.toMatchObject({ code: "MEDIA_UNAVAILABLE" });
    await expect(other.remove(a)).rejects.toMatchObject({ code: "MEDIA_UNAVAILABLE" });
    // Nothing was erased.
    expect((await media.read(a)).length).toBe(whole);
  });
});
