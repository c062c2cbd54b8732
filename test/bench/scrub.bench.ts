// npm run bench:scrub — the scrub's throughput over stored media (re-hash every payload against
// its stored header, recompute the chain, check every tag and seal) against `sha256sum` over
// the same media files, in the same run, with the page cache warm for both. Prints figures;
// passes or fails nothing. `-- --help` lists its options (how much, from how many devices).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { openStore, startGateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { Scrubber } from "../../gateway/evidence/scrub.js";
import { FakeDevice } from "../gateway/fake-device.js";
import { benchArgs } from "./args.js";
import { onInterrupt } from "./interrupt.js";

const opts = benchArgs("bench:scrub", "npm run bench:scrub [-- OPTIONS]", "The scrub's throughput over stored media against sha256sum over the same files, the page cache\nwarm for both (test/bench/scrub.bench.ts says how).", {
  mib: { kind: "number", default: 256, min: 1, help: "MiB of 64 KiB chunks stored, then scrubbed" },
  devices: { kind: "number", default: 4, integer: true, min: 1, help: "devices recording them" },
});
const MIB = opts.mib;
const DEVICES = opts.devices;
const CHUNK = 65536;
const CHUNKS_PER_REC = 64;
const recsPerDevice = Math.max(1, Math.round((MIB * 1048576) / (CHUNK * CHUNKS_PER_REC * DEVICES)));

const dir = mkdtempSync(join(tmpdir(), "evrec-bench-scrub-"));
const config = { ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, diskMinFreeMb: 1, beaconIntervalS: 0, ratePerSecond: 1e6, rateBurst: 1e6, logIntervalMs: 0, scrubMibPerS: 0 };
onInterrupt(() => rmSync(dir, { recursive: true, force: true }));
try {
  console.log(`bench:scrub: storing ${DEVICES} devices × ${recsPerDevice} recordings × ${CHUNKS_PER_REC} chunks of ${CHUNK / 1024} KiB through the gateway...`);
  const gw = await startGateway(config, createLogger("warn"));
  const payload = randomBytes(CHUNK);
  await Promise.all(Array.from({ length: DEVICES }, async (_, i) => {
    const root = randomBytes(32);
    const d = new FakeDevice(`BENCH-S${i}`, root);
    await gw.registry.add(d.id, { root });
    await d.connect(gw.mqttPort);
    await d.hello();
    let prev: Uint8Array | undefined;
    for (let r = 1; r <= recsPerDevice; r++) {
      // The same payload bytes in every chunk: what is measured is hashing, not the generator.
      const rec = d.recording(r, Array.from({ length: CHUNKS_PER_REC }, () => payload), { prevSeal: prev });
      await d.publish(rec.start);
      await Promise.all(rec.chunks.map((c) => d.publish(c)));
      await d.publish(rec.seal);
      await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { recording: number; state: number }).recording === r && (m.body.ack as { state: number }).state === 1, 60000);
      prev = rec.sealValue;
    }
    d.client.end(true);
  }));
  await gw.close();

  const store = await openStore(config);
  const mediaDir = join(dir, "media");
  // Each device's directory of media files; the media journal's files (.journal-N) lie beside them.
  const devices = readdirSync(mediaDir, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith("."));
  const files = devices.flatMap((dev) => readdirSync(join(mediaDir, dev.name)).map((f) => join(mediaDir, dev.name, f)));
  const sha256sum = () => {
    const t = process.hrtime.bigint();
    execFileSync("sha256sum", files, { maxBuffer: 64 << 20 });
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const scrub = async () => {
    const t = process.hrtime.bigint();
    const r = await new Scrubber(store.db, store.media, store.registry).run();
    if (r.damaged.length) throw new Error(`scrub found damage in a fresh store: ${JSON.stringify(r.damaged[0])}`);
    return { ms: Number(process.hrtime.bigint() - t) / 1e6, bytes: r.bytes, chunks: r.chunks, recordings: r.recordings };
  };
  sha256sum(); // warm the page cache for both
  const s1 = await scrub();
  const c1 = sha256sum();
  const s2 = await scrub();
  const c2 = sha256sum();
  const mib = s1.bytes / 1048576;
  const rate = (ms: number) => (mib / (ms / 1000)).toFixed(0);
  console.log(`bench:scrub: ${s1.recordings} recordings, ${s1.chunks} chunks, ${mib.toFixed(0)} MiB of media in ${files.length} files (page cache warm)`);
  console.log(`  scrub      ${rate(s1.ms)} MiB/s, ${rate(s2.ms)} MiB/s   (payload hash, chain value, tag and key step per chunk; seal; stored values compared)`);
  console.log(`  sha256sum  ${rate(c1)} MiB/s, ${rate(c2)} MiB/s   (the same files)`);
  console.log(`  scrub / sha256sum: ${(Math.min(c1, c2) / Math.min(s1.ms, s2.ms)).toFixed(2)} (best of two each)`);
  await store.db.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
