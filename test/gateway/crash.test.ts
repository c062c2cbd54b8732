// Crash safety with a real kill -9 of the gateway process while several clients have chunks in
// flight: nothing it acknowledged is lost, media files hold no uncommitted tail, and every
// recording completes verified after the restart, each chunk stored once (P4). What a power cut
// would take beside the kill, the media files' bytes not yet synced from the page cache, is taken
// by hand: the files are cut to nothing before the restart, and the media journal gives them back.
import { afterAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { openStore } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { FakeDevice } from "./fake-device.js";
import { AckState } from "../../protocol/schema.js";
import { testDb } from "../helpers/postgres.js";

const dir = mkdtempSync(join(tmpdir(), "evrec-crash-"));
// SQLite in the data directory, or on the PostgreSQL run a database of its own (--db).
const metadata = await testDb();
let child: ChildProcess | null = null;
/** What the gateway started last said on its standard output. */
let said = "";
afterAll(async () => {
  if (child) child.kill("SIGKILL");
  await metadata.drop();
  rmSync(dir, { recursive: true, force: true });
});

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});

function launch(port: number): Promise<ChildProcess> {
  const c = spawn("bin/evrec-gateway", ["--host", "127.0.0.1", "--mqtt-port", String(port), "--http-port", "0", "--data-dir", dir, ...(metadata.db ? ["--db", metadata.db] : []), "--disk-min-free-mb", "1", "--log-level", "warn",
    // Every write through the journal, however many chunks a batch holds of a recording: none is
    // then durable in place, so a power cut could take any file's bytes, as the test takes them.
    "--media-journal-max-write-kib", "4096"], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    said = "";
    c.stdout!.on("data", (b) => {
      said += String(b);
      if (said.includes("gateway: API on")) resolve(c);
    });
    c.once("exit", (code) => reject(new Error("gateway exited early: " + code)));
  });
}

const ackedUpTo = (d: FakeDevice, r: number) => Math.max(0, ...d.received.filter((m) => m.kind === "ack" && m.ok === "").map((m) => (m.body.ack as { recording: number; cumulative: number }).recording === r ? (m.body.ack as { cumulative: number }).cumulative : 0));

describe("gateway killed with SIGKILL mid-upload", () => {
  it("keeps every acknowledged chunk of several clients, and each recording finishes verified with no duplicate", async () => {
    const port = await freePort();
    const ids = ["BWC-0301", "BWC-0302", "BWC-0303"];
    const roots = ids.map(() => randomBytes(32));
    {
      const store = await openStore({ ...DEFAULTS, dataDir: dir, db: metadata.db });
      for (let i = 0; i < ids.length; i++) await store.registry.add(ids[i], { root: roots[i] });
      await store.db.close();
    }
    child = await launch(port);
    const devs = ids.map((id, i) => new FakeDevice(id, roots[i]));
    const payloads = ids.map(() => Array.from({ length: 40 }, () => randomBytes(8192)));
    const recs = devs.map((d, i) => d.recording(1, payloads[i]));
    for (let i = 0; i < devs.length; i++) {
      await devs[i].connect(port);
      await devs[i].hello();
      await devs[i].publish(recs[i].start);
    }
    // Publish without waiting for Acks, and kill the gateway while they are being committed.
    for (let n = 0; n < 30; n++) for (let i = 0; i < devs.length; i++) void devs[i].publish(recs[i].chunks[n]).catch(() => undefined);
    await devs[0].waitFor((m) => m.kind === "ack" && (m.body.ack as { cumulative: number }).cumulative >= 5, 10000);
    child.kill("SIGKILL");
    await new Promise((r) => child!.once("exit", r));
    const ackedBefore = devs.map((d) => ackedUpTo(d, 1));
    for (const d of devs) d.client.end(true);
    expect(ackedBefore[0]).toBeGreaterThanOrEqual(5);
    // The power cut's share: no media file kept a byte the kernel had not synced (this run is too
    // short and small for a journal checkpoint, so that is all of them).
    let cut = 0;
    for (const id of ids) {
      const f = join(dir, "media", id, "000001.media");
      if (existsSync(f)) { truncateSync(f, 0); cut++; }
    }
    expect(cut).toBeGreaterThan(0);

    child = await launch(port);
    const replay = said.split("\n").find((l) => l.includes("media journal: records a stop left out of their files written to them again"));
    expect(replay).toBeTruthy();
    // An operator's Prometheus reads the same count the log gave.
    const api = /gateway: API on (http:\/\/\S+)\/api/.exec(said)![1];
    const scraped = await (await fetch(`${api}/metrics`, { headers: { authorization: `Bearer ${readFileSync(join(dir, "admin.token"), "utf8").trim()}` } })).text();
    const records = (JSON.parse(replay!) as { records: number }).records;
    expect(records).toBeGreaterThan(0);
    expect(scraped).toMatch(new RegExp(`^evrec_media_journal_replayed_records ${records}$`, "m"));
    for (let i = 0; i < devs.length; i++) {
      const d = devs[i];
      d.received = [];
      await d.connect(port);
      await d.hello([{ recording: 1, firstSeq: 1, lastSeq: 40, sealed: true, open: false }]);
      const resumed = await d.waitFor((m) => m.kind === "ack");
      const stored = (resumed.body.ack as { cumulative: number }).cumulative;
      // A device whose start had not been committed before the kill (its chunks were still queued
      // when the gateway died) is answered UNKNOWN, and sends its RecordingStart again first
      // (R-ACK-2), as a recorder does.
      if (((resumed.body.ack as { state?: number }).state || 0) === AckState.ACK_UNKNOWN) await d.publish(recs[i].start);
      // Nothing the gateway acknowledged before the kill is missing after it, and no uncommitted tail.
      expect(stored).toBeGreaterThanOrEqual(ackedBefore[i]);
      const mediaFile = join(dir, "media", ids[i], "000001.media");
      if (stored) expect(statSync(mediaFile).size).toBe(stored * 8192);
      // The device resends what the Ack does not cover (and a little it does: duplicates), then seals.
      for (const c of recs[i].chunks.slice(Math.max(0, stored - 2))) await d.publish(c);
      await d.publish(recs[i].seal);
      await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { state: number }).state === 1 && (m.body.ack as { cumulative: number }).cumulative === 40, 10000);
      expect(readFileSync(mediaFile).equals(Buffer.concat(payloads[i]))).toBe(true);
      await d.end();
    }
    child.kill("SIGTERM");
    await new Promise((r) => child!.once("exit", r));
    child = null;
    const store = await openStore({ ...DEFAULTS, dataDir: dir, db: metadata.db });
    const rows = await store.db.all<{ device_id: string; verdict: string; n: number }>("SELECT r.device_id, r.verdict, (SELECT COUNT(*) FROM chunks c WHERE c.device_id = r.device_id) AS n FROM recordings r ORDER BY r.device_id");
    await store.db.close();
    expect(rows).toEqual(ids.map((id) => ({ device_id: id, verdict: "verified", n: 40 })));
  });
});
