// The console: what an admin reads and runs at the board's REPL (firmware/README.md, Console).
// info() never prints key material. Espruino subset.
import { toHex } from "../../protocol/bytes.js";
import { MIN_CHUNK } from "../../protocol/device-files.js";
import type { Recorder } from "./recorder.js";
import { loadConfig } from "./recovery.js";
import { FIRMWARE_VERSION } from "./uplink.js";

/** What an admin sees with info() at the REPL. No key material. */
export function info(rec: Recorder): { [k: string]: unknown } {
  const h = rec.hw;
  const k = rec.keys;
  const c = rec.cfg;
  const b = h.battery();
  return {
    firmware: FIRMWARE_VERSION, device: c ? c.id : "(not provisioned)", state: stateName(rec.state),
    recording: rec.writer ? rec.writer.recordingId : 0, nextRecording: k ? k.next : 0, lastSealed: k ? k.ls : 0,
    broker: c ? c.host + ":" + c.port : "", link: rec.up.online ? "up" : "down", queueDepth: rec.queue.depth(),
    queueBytes: rec.queue.bytes(), storeFree: h.store.free(), flashFree: h.kv.free(), chunkBytes: rec.chunkLen,
    preEventS: rec.preS, caseTag: rec.nextTag, clockOffsetMs: rec.clockOffset, battery: b ? b.mv + " mV " + b.pct + "%" : "-",
    alarm: rec.alarm, lastError: rec.lastError, downlinkRejected: rec.guard ? rec.guard.rejected : 0,
    downlinkMacInRow: rec.up.macRow % 4,
    chunks: rec.stats.chunks, published: rec.stats.published, acks: rec.stats.acked, memory: h.memory(), memoryPeak: h.memPeak(),
  };
}

/**
 * The state's name, by RecState (recorder.proto), as info() and the console's refusals say it. A
 * string split when asked, not an array kept from boot: the console is rare, variables are not.
 */
export function stateName(state: number): string {
  return "idle,recording,storage full,no config,revoked".split(",")[state];
}

/** Checks an admin runs at the REPL: hashing, config, keys, storage, media. Returns "PASS" or the failures. */
export function selftest(rec: Recorder): string {
  const h = rec.hw;
  const bad: string[] = [];
  const abc = new Uint8Array([97, 98, 99]);
  if (toHex(h.sha(abc)).substr(0, 16) !== "ba7816bf8f01cfea") bad.push("SHA256");
  if (!rec.cfg) bad.push(loadConfig(rec) || "CONFIG");
  const probe = new Uint8Array([1, 2, 3, 4]);
  const tmp = "selftest.tmp";
  h.store.remove(tmp);
  const wrote = h.store.append(tmp, [probe]);
  const back = wrote ? h.store.read(tmp, 0, 4) : null;
  h.store.remove(tmp);
  if (!back || back[3] !== 4) bad.push("STORE_RW");
  if (h.store.free() < rec.o.reserve + 4 * (rec.chunkLen || MIN_CHUNK)) bad.push("STORE_FULL");
  if (h.kv.free() < 4096) bad.push("FLASH_LOW");
  if (h.media.media === undefined) bad.push("MEDIA");
  const out = bad.length ? "FAIL " + bad.join(" ") : "PASS";
  rec.log("selftest: " + out);
  return out;
}
