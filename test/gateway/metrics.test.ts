// GET /metrics: what an operator's Prometheus scrapes: commits, their latency, refusals by code,
// connections, backlogs, disk free, scrub progress, the media journal; refused without an admin token.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Gateway } from "../../gateway/gateway.js";
import { provision, streamSealed, testGateway } from "./harness.js";

let gw: Gateway;
let dir: string;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ gw, dir, close } = await testGateway({ logIntervalMs: 0 }));
});
afterAll(() => close());

const scrape = (token?: string) => fetch(`http://127.0.0.1:${gw.httpPort}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
const value = (text: string, name: string) => {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
};

describe("Prometheus metrics", () => {
  it("count committed chunks and bytes, time each commit, and count refusals by reason code", async () => {
    const token = readFileSync(join(dir, "admin.token"), "utf8").trim();
    const d = await provision(gw, "MET-0001");
    await streamSealed(d, d.recording(1, [randomBytes(1000), randomBytes(2000), randomBytes(3000)]));
    await d.publish(new Uint8Array([0xff, 0x01])); // garbage: refused with a decode reason
    await new Promise((r) => setTimeout(r, 200));
    const res = await scrape(token);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/plain/);
    const t = await res.text();
    expect(value(t, "evrec_chunks_committed_total")).toBe(3);
    expect(value(t, "evrec_bytes_committed_total")).toBe(6000);
    expect(value(t, "evrec_commit_latency_seconds_count")).toBe(3);
    expect(t).toMatch(/^evrec_refusals_total\{code="DECODE_[A-Z_]+"\} 1$/m);
    expect(value(t, "evrec_connections")).toBe(1);
    expect(value(t, "evrec_disk_free_bytes")).toBeGreaterThan(0);
    expect(t).toMatch(/^evrec_scrub_passes \d+$/m);
    // Every byte went through the media journal (each write well under its largest), in at least
    // one of its own writes; nothing was left by a stop before this one.
    expect(value(t, "evrec_media_journal_bytes_total")).toBe(6000);
    expect(value(t, "evrec_media_journal_records_total")).toBeGreaterThanOrEqual(1);
    expect(value(t, "evrec_media_journal_writes_total")).toBeGreaterThanOrEqual(1);
    expect(value(t, "evrec_media_journal_writes_total")).toBeLessThanOrEqual(value(t, "evrec_media_journal_records_total"));
    expect(value(t, "evrec_media_journal_replayed_records")).toBe(0);
    expect(t).toMatch(/^evrec_media_journal_checkpoints_total \d+$/m);
    expect(t).toMatch(/^evrec_media_file_syncs_total \d+$/m);
    await d.end();
  });

  it("leave out the media journal's where the gateway keeps none", async () => {
    const other = await testGateway({ logIntervalMs: 0, mediaJournalMb: 0 });
    try {
      const token = readFileSync(join(other.dir, "admin.token"), "utf8").trim();
      const t = await (await fetch(`http://127.0.0.1:${other.gw.httpPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
      expect(t).toMatch(/^evrec_disk_free_bytes /m);
      expect(t).not.toMatch(/evrec_media_journal_|evrec_media_file_syncs/);
    } finally {
      await other.close();
    }
  });

  it("are refused without an admin token", async () => {
    expect((await scrape()).status).toBe(401);
  });
});
