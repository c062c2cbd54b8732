// npm run bench:verify [-- OPTIONS] (`--help` lists them with their defaults) — a case of --mib
// MiB of audio, recorded by --devices devices and linked to one case, is exported with the admin
// CLI and verified with npm run verify, each in its own process whose peak RSS is printed; then
// verify's throughput is set against sha256sum over the same bundle, in the same run, page cache
// warm for both.
// Prints figures; passes or fails nothing (it exits 1 only if the bundle does not verify).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startGateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { FakeDevice } from "../gateway/fake-device.js";
import { benchArgs } from "./args.js";
import { onInterrupt } from "./interrupt.js";

const opts = benchArgs("bench:verify", "npm run bench:verify [-- OPTIONS]", "A case exported with the admin CLI and verified with npm run verify, each in its own process\n(time, peak RSS), verify set against sha256sum over the same bundle (test/bench/verify.bench.ts).", {
  mib: { kind: "number", default: 1024, min: 1, help: "MiB of audio in the case" },
  devices: { kind: "number", default: 4, integer: true, min: 1, help: "devices recording it" },
  "chunks-per-recording": { kind: "number", default: 64, integer: true, min: 1, help: "64 KiB chunks in each recording" },
});
const MIB = opts.mib;
const DEVICES = opts.devices;
const CHUNK = 65536;
const CHUNKS_PER_REC = opts["chunks-per-recording"];
const recsPerDevice = Math.max(1, Math.round((MIB * 1048576) / (CHUNK * CHUNKS_PER_REC * DEVICES)));

const dir = mkdtempSync(join(tmpdir(), "evrec-bench-verify-"));
const out = join(dir, "case.zip");
onInterrupt(() => rmSync(dir, { recursive: true, force: true }));
const config = { ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, diskMinFreeMb: 1, beaconIntervalS: 0, ratePerSecond: 1e6, rateBurst: 1e6, logIntervalMs: 0, scrubMibPerS: 0 };
const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;
const rss = (stderr: string) => Number(/peak-rss-kib (\d+)/.exec(stderr)?.[1] ?? 0) / 1024;

function cmd(args: string[]): { ms: number; rssMib: number; stdout: string; stderr: string; status: number } {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ["--import", "tsx", "test/bench/rss-run.ts", ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  return { ms: ms(t), rssMib: rss(r.stderr), stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

try {
  console.log(`bench:verify: recording ${DEVICES} devices × ${recsPerDevice} recordings × ${CHUNKS_PER_REC} chunks of ${CHUNK / 1024} KiB (${((DEVICES * recsPerDevice * CHUNKS_PER_REC * CHUNK) / 1048576).toFixed(0)} MiB) through the gateway...`);
  const gw = await startGateway(config, createLogger("warn"));
  const unit = await gw.model.addUnit("Bench Agency", "agency");
  await gw.model.addOfficer({ badge: "R1", name: "Reviewer", unitId: unit.id, role: "legal_reviewer" });
  await gw.model.addOfficer({ badge: "S1", name: "Approver", unitId: unit.id, role: "supervisor" });
  await gw.accounts.create("reviewer", "legal_reviewer", "R1");
  await gw.accounts.create("approver", "supervisor", "S1");
  await gw.approvals.addReleaseApprover({ name: "admin", role: "admin", officer_badge: null }, "approver", "bench");
  await gw.model.addCase({ number: "BENCH-1", unitId: unit.id, category: "compulsion", activityKind: "seizure", windowStart: Date.now() - 2 * 86400e3, windowEnd: Date.now() + 86400e3 });
  // Recordings a minute apart, all in the past (a start after its receipt is flagged and alarmed).
  const t0 = Date.now() - 86400e3;
  const payload = randomBytes(CHUNK);
  await Promise.all(Array.from({ length: DEVICES }, async (_, i) => {
    const root = randomBytes(32);
    const d = new FakeDevice(`BENCH-V${i}`, root);
    await gw.registry.add(d.id, { root });
    await gw.model.setDeviceUnit(d.id, unit.id);
    await d.connect(gw.mqttPort);
    await d.hello();
    let prev: Uint8Array | undefined;
    for (let r = 1; r <= recsPerDevice; r++) {
      const rec = d.recording(r, Array.from({ length: CHUNKS_PER_REC }, () => payload), { prevSeal: prev, startMs: t0 + r * 60e3 });
      await d.publish(rec.start);
      await Promise.all(rec.chunks.map((c) => d.publish(c)));
      await d.publish(rec.seal);
      await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { recording: number; state: number }).recording === r && (m.body.ack as { state: number }).state === 1, 120000);
      prev = rec.sealValue;
      await gw.model.link(d.id, r, "BENCH-1", "admin", "bench");
    }
    d.client.end(true);
  }));
  const a = await gw.approvals.request({ name: "reviewer", role: "legal_reviewer", officer_badge: "R1" }, { kind: "export", caseNumber: "BENCH-1", reason: "bench", hours: 2 });
  await gw.approvals.approve({ name: "approver", role: "supervisor", officer_badge: "S1" }, a.id, "bench");
  const key = gw.evidence.identity.verifierKey;
  const reviewerToken = join(dir, "reviewer.token");
  writeFileSync(reviewerToken, (await gw.accounts.issueToken("reviewer")) + "\n", { mode: 0o600 });
  await gw.close();

  const ex = cmd(["gateway/cli.ts", "export", "--case", "BENCH-1", "--reason", "bench:verify", "--out", out, "--token-file", reviewerToken, "--data-dir", dir]);
  if (ex.status !== 0) throw new Error(`export failed: ${ex.stderr}`);
  if (process.env.EVREC_MEMTRACE) console.log(ex.stderr.split("\n").filter((l) => l.startsWith("mem ")).join("\n"));
  const size = statSync(out).size;
  const mib = size / 1048576;
  console.log(`  export    ${mib.toFixed(0)} MiB bundle, ${DEVICES * recsPerDevice} recordings, in ${(ex.ms / 1000).toFixed(1)} s (${(mib / (ex.ms / 1000)).toFixed(0)} MiB/s, C2PA signing included); peak RSS ${ex.rssMib.toFixed(0)} MiB`);

  const sha256sum = () => { const t = process.hrtime.bigint(); execFileSync("sha256sum", [out]); return ms(t); };
  const verify = () => {
    const r = cmd(["verifier/cli.ts", out, "--station-key", key, "--lang", "en"]);
    if (r.status !== 0) throw new Error(`the bundle does not verify:\n${r.stdout}`);
    return r;
  };
  sha256sum(); // warm the page cache for both
  const v1 = verify();
  const c1 = sha256sum();
  const v2 = verify();
  const c2 = sha256sum();
  const rate = (t: number) => (mib / (t / 1000)).toFixed(0);
  console.log(`  verify    ${rate(v1.ms)} MiB/s, ${rate(v2.ms)} MiB/s (every check, C2PA by c2pa-rs included; process start counted); peak RSS ${Math.max(v1.rssMib, v2.rssMib).toFixed(0)} MiB`);
  console.log(`  sha256sum ${rate(c1)} MiB/s, ${rate(c2)} MiB/s (the same bundle file)`);
  console.log(`  verify / sha256sum: ${(Math.min(c1, c2) / Math.min(v1.ms, v2.ms)).toFixed(2)} (best of two each; goal at least 0.5)`);
  console.log(v1.stdout.split("\n").filter((l) => /^\s+(PASS|FAIL|WARN)/.test(l)).join("\n"));
} finally {
  if (process.env.BENCH_KEEP) console.log(`  kept in ${dir}`); else rmSync(dir, { recursive: true, force: true });
}
