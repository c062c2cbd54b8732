// Scale check of the node engine's EspruinoEnv: N simulated devices in one process (default 1,000).
// Prints time and memory for: creating the envs, a boot's worth of durable writes per device
// (config and keys in Storage, a queue segment on the card), the synthetic microphone running on
// every device at real time, and a power cut then reboot of all.
//
// Usage: node --import tsx simulator/imitation/bench-env.ts [devices] [media seconds]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEnv } from "./espruino-env.js";
import type { DeviceHandle } from "./espruino-env.js";
import type { EspruinoEnv } from "../../firmware/hosts/env.js";

const N = Number(process.argv[2]) || 1000;
const MEDIA_S = process.argv[3] === undefined ? 5 : Number(process.argv[3]);
const CHUNK = 16384; // the recorder's default chunk: about 1 s of 8 kHz 16-bit audio

const root = mkdtempSync(join(tmpdir(), "bench-env-"));
const mb = (b: number) => (b / 1048576).toFixed(1) + " MB";
const rss = () => process.memoryUsage().rss;
const line = (what: string, ms: number, extra?: string) =>
  console.log(what.padEnd(44) + (ms.toFixed(0) + " ms").padStart(10) + "  " + (extra || ""));

function boot(): { env: EspruinoEnv; device: DeviceHandle }[] {
  const out = [];
  for (let i = 0; i < N; i++) out.push(createEnv({ dir: join(root, "d" + i), seed: i, media: { speed: 1 } }));
  return out;
}

try {
  const rss0 = rss();
  let t = performance.now();
  let devs = boot();
  line("create " + N + " envs", performance.now() - t, "RSS " + mb(rss()) + " (+" + mb(rss() - rss0) + ")");

  t = performance.now();
  for (const { env } of devs) {
    env.Storage.write("rec.cfg", JSON.stringify({ v: 1, host: "127.0.0.1", port: 8883, chunk: CHUNK, pad: "x".repeat(300) }));
    env.Storage.write("rec.key", JSON.stringify({ s: "ab".repeat(32), epoch: 0 }));
  }
  const storageMs = performance.now() - t;
  line("Storage.write x2 per device (fsync, rename)", storageMs, (storageMs / (2 * N)).toFixed(2) + " ms per write");

  t = performance.now();
  const seg = "q".repeat(4096);
  for (const { env } of devs) {
    const f = env.E.openFile("q0000001.000", "a");
    if (!f) throw new Error("openFile failed");
    f.write(seg);
    f.close();
  }
  const fileMs = performance.now() - t;
  line("4 KiB append + close per device (fsync)", fileMs, (fileMs / N).toFixed(2) + " ms per append");

  if (MEDIA_S > 0) {
    let chunks = 0;
    let bytes = 0;
    for (const { env } of devs) env.board.media!.start(CHUNK, (p) => { chunks++; bytes += p.length; });
    const cpu0 = process.cpuUsage();
    t = performance.now();
    await new Promise((r) => setTimeout(r, MEDIA_S * 1000));
    const wall = performance.now() - t;
    const cpu = process.cpuUsage(cpu0);
    for (const { env } of devs) env.board.media!.stop();
    line("microphone on every device, " + MEDIA_S + " s", wall,
      chunks + " chunks (" + mb(bytes) + "), CPU " + ((cpu.user + cpu.system) / 1000 / wall * 100).toFixed(1) + " % of a core, RSS " + mb(rss()));
  }

  t = performance.now();
  for (const { device } of devs) device.powerCut();
  line("power cut of all", performance.now() - t);

  t = performance.now();
  devs = boot();
  let ok = 0;
  for (const { env } of devs) if (env.Storage.readJSON("rec.cfg", true) && env.fs!.statSync("q0000001.000")!.size === 4096) ok++;
  line("reboot all (load flash) and check", performance.now() - t, ok + "/" + N + " devices kept their data, RSS " + mb(rss()));
  for (const { device } of devs) device.kill();
  if (global.gc) global.gc();
  console.log("heap used " + mb(process.memoryUsage().heapUsed) + ", RSS " + mb(rss()) + " with " + 2 * N + " envs created");
} finally {
  rmSync(root, { recursive: true, force: true });
}
