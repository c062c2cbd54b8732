// The scrub (DESIGN §6, "stored data is checked again, not trusted"): re-hash each stored
// recording's media against its stored headers and recompute its chain from the stored
// genesis, headers and seal with the protocol's own verifier, keyed as the device keyed it. A
// value that no longer matches is storage corruption: STORAGE_CORRUPT names the recording and
// chunk, the recording is marked (listing, download, export), an audit entry records it, and
// no verdict changes: the device is never blamed for the station's disk. A derived value (a
// stored chain value, C_0, the last chain value, a seal value) whose source block the device's
// tag still vouches for is restored from that block, so a flipped cache can't fail the
// device's next genesis or make a resent chunk look like equivocation.
import { MediaUnavailableError } from "../store/media.js";
import type { MediaReader } from "../store/media.js";
import type { Db } from "../store/db.js";
import * as store from "../store/scrub.js";
import { deviceExists, recordingCount } from "../store/devices.js";
import { purgeStateOf } from "../store/retention.js";
import { GatewayError } from "../errors.js";
import type { Finding } from "../store/scrub.js";
import type { DeviceRegistry } from "../devices.js";
import type { Alarms } from "../alarms.js";
import type { AuditLog } from "../audit/log.js";
import type { Logger } from "../log.js";
import { RecordingVerifier } from "../../protocol/verify.js";
import type { ChunkResult } from "../../protocol/verify.js";
import { ChainCrypto, recordingKey, stateAt } from "../../protocol/chain.js";
import { ctEqual, wipe } from "../../protocol/bytes.js";
import { parseSeal } from "../../protocol/blocks.js";
import { severityOf } from "../../protocol/reasons.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { SEAL_LEN } from "../../protocol/constants.js";

export const STORAGE_CORRUPT = "STORAGE_CORRUPT";

/** Who the scrub's audit entries and alarm clears name. */
export const SCRUB_ACTOR = "scrub";

export interface ScrubOptions {
  /** Only this device, or this recording of it. */
  device?: string;
  recording?: number;
  /** Pace: at most this many bytes of media read per second (0 or absent: as fast as it goes). */
  bytesPerSecond?: number;
  /** Leave recordings that received something within this many ms (ingest may be writing them). */
  skipRecentMs?: number;
  /** Stop between recordings when this returns true (the gateway is closing). */
  stopped?: () => boolean;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Hears after each page of recordings how many of the total are gone through (checked or skipped). */
  progress?: (done: number, total: number) => void;
}

export interface RecordingScrub {
  device: string;
  recording: number;
  bytes: number;
  chunks: number;
  /** What this pass found damaged (repaired ones included). */
  findings: Finding[];
  /** Of those, what had not been reported before: raised as STORAGE_CORRUPT and audited. */
  fresh: Finding[];
  state: store.StorageState;
}

export interface ScrubReport {
  recordings: number;
  chunks: number;
  bytes: number;
  ms: number;
  damaged: RecordingScrub[];
}

/** Media reads in windows of up to 4 MiB: one read per window, not per chunk. */
class MediaWindow {
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  bytesRead = 0;
  constructor(private media: MediaReader, private rel: string, private size: number, private pace?: (bytes: number) => Promise<void>) {}
  async read(offset: number, length: number): Promise<Uint8Array | null> {
    if (offset + length > this.size) return null;
    if (offset < this.start || offset + length > this.start + this.buf.length) {
      const n = Math.min(Math.max(length, 4 << 20), this.size - offset);
      const got = await this.media.readRange(this.rel, offset, n);
      this.buf = got || Buffer.alloc(0);
      this.start = offset;
      this.bytesRead += this.buf.length;
      if (this.pace) await this.pace(this.buf.length);
      if (!got) return null;
    }
    return this.buf.subarray(offset - this.start, offset - this.start + length);
  }
}

/** A reason that, found in stored data, means the storage changed it (R-VER-0's forged included). */
const damage = (code: string) => severityOf(code) === "fail" || severityOf(code) === "forged";

const where = (seq: number | null) => (seq === null ? "recording" : seq === 0 ? "genesis" : seq === -1 ? "seal" : `chunk ${seq}`);

/** What a verifier reason found in stored data means for the storage. */
function describe(code: string): { what: string; text: string } {
  switch (code) {
    case "PAYLOAD_HASH": return { what: "MEDIA", text: "the stored media bytes no longer hash to the payload hash in the stored header" };
    case "PAYLOAD_LENGTH": return { what: "MEDIA", text: "the stored media is shorter than the stored header says" };
    case "TAG": return { what: "HEADER", text: "the stored header or tag no longer matches the device's tag" };
    case "CHAIN_LINK": return { what: "HEADER", text: "the stored header no longer links to the chunk before it" };
    case "HEADER_FIELD": return { what: "HEADER", text: "the stored header's fields were changed" };
    case "GENESIS_FIELD": return { what: "GENESIS", text: "the stored genesis block no longer matches its case tag or ids" };
    case "SEAL_TAG": case "SEAL_FIELD": return { what: "SEAL", text: "the stored seal block or seal tag no longer matches the device's seal tag" };
    case "SEAL_LINK": return { what: "SEAL", text: "the stored seal's last chain value no longer matches the last chunk's" };
    case "SEAL_BYTES": return { what: "SEAL", text: "the stored seal's byte total no longer matches the chunks'" };
    default: return { what: "CHAIN", text: `the stored chain no longer verifies (${code})` };
  }
}

export class Scrubber {
  /** Totals over every pass since start (the gateway's metrics), and whether one runs now. */
  readonly progress = { running: false, passes: 0, recordings: 0, bytes: 0, damaged: 0 };
  constructor(private db: Db, private media: MediaReader, private registry: DeviceRegistry, private o: { alarms?: Alarms; audit?: AuditLog; log?: Logger } = {}) {}

  /**
   * Scrub every stored recording (or those `opts` names), in (device, recording) order. A device or
   * recording named that the station does not hold is refused (UNKNOWN_DEVICE, UNKNOWN_RECORDING;
   * an erased one PURGED): a typo must not read as a clean scrub of nothing.
   */
  async run(opts: ScrubOptions = {}): Promise<ScrubReport> {
    if (opts.device !== undefined) await this.named(opts.device, opts.recording);
    const now = opts.now ?? Date.now;
    const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));
    const t0 = now();
    const report: ScrubReport = { recordings: 0, chunks: 0, bytes: 0, ms: 0, damaged: [] };
    let after: { device: string; recording: number } | null = null;
    // The pace: after each window of media read, wait until the bytes read so far are due.
    let paced = 0;
    const pacedFrom = Date.now();
    const pace = opts.bytesPerSecond ? async (n: number) => {
      paced += n;
      let due = (paced / opts.bytesPerSecond!) * 1000 - (Date.now() - pacedFrom);
      while (due > 0 && !opts.stopped?.()) {
        await sleep(Math.min(due, 500));
        due -= 500;
      }
    } : undefined;
    this.progress.running = true;
    try {
      return await this.pass(opts, report, t0, now, pace, after);
    } finally {
      this.progress.running = false;
      this.progress.passes++;
    }
  }

  /** Refuses a device, or a recording of it, the station holds nothing of. */
  private async named(device: string, recording: number | undefined): Promise<void> {
    // A device no longer registered may still have recordings here: those are scrubbed.
    if (!(await deviceExists(this.db, device)) && (await recordingCount(this.db, device)) === 0) {
      throw new GatewayError("UNKNOWN_DEVICE", `no device ${device} at this station: nothing to scrub (device list shows the station's devices)`);
    }
    if (recording === undefined) return;
    const state = await purgeStateOf(this.db, device, recording);
    if (state === undefined) throw new GatewayError("UNKNOWN_RECORDING", `no recording ${device}/${recording} at this station: nothing to scrub (recording list ${device} shows its recordings)`);
    if (state === "purged") throw new GatewayError("PURGED", `${device}/${recording} was erased by retention: no media is left to scrub (tombstones shows what remains)`);
  }

  private async pass(opts: ScrubOptions, report: ScrubReport, t0: number, now: () => number, pace: ((n: number) => Promise<void>) | undefined, after: { device: string; recording: number } | null): Promise<ScrubReport> {
    const only = { device: opts.device, recording: opts.recording };
    const total = opts.progress ? await store.recordingsToScrub(this.db, only) : 0;
    let done = 0;
    for (;;) {
      const batch = await store.recordingsAfter(this.db, after, 200, only);
      if (!batch.length) break;
      for (const r of batch) {
        after = { device: r.device_id, recording: r.recording_id };
        if (opts.stopped?.()) { report.ms = now() - t0; return report; }
        const res = await this.recording(r.device_id, r.recording_id, opts.skipRecentMs ? now() - opts.skipRecentMs : Infinity, pace);
        if (!res) continue;
        report.recordings++;
        report.chunks += res.chunks;
        report.bytes += res.bytes;
        this.progress.recordings++;
        this.progress.bytes += res.bytes;
        if (res.findings.length) { report.damaged.push(res); this.progress.damaged++; }
      }
      done += batch.length;
      // Recordings stored since the count are gone through too: the total grows with them.
      opts.progress?.(done, Math.max(done, total));
    }
    report.ms = now() - t0;
    return report;
  }

  /** Scrub one recording; null when it is skipped (gone, or received too recently to be still). */
  async recording(device: string, recording: number, quietBefore = Infinity, pace?: (bytes: number) => Promise<void>): Promise<RecordingScrub | null> {
    const stored = await store.readForScrub(this.db, device, recording);
    if (!stored || !stored.rec.genesis) return null;
    const genesis = new Uint8Array(stored.rec.genesis);
    const { rec, chunks } = stored;
    if (rec.last_received >= quietBefore) return null;
    const dev = await this.registry.get(device);
    const found: Finding[] = [];
    const repairs: Parameters<typeof store.recordScrub>[3]["repairs"] = { chain: [] };
    let mediaBytes = 0;
    // What ingest already held against the device is the device's, not the storage's.
    let known: { code: string; seq?: number }[] = [];
    try { known = JSON.parse(rec.reasons); } catch { known = []; }
    const wasKnown = (code: string, seq?: number) => known.some((k) => k.code === code && (seq === undefined || k.seq === undefined || k.seq === seq));
    const note = (seq: number | null, what: string, detail: string, repaired = false) => found.push({ seq, what, detail, repaired });

    const cc = new ChainCrypto(sha);
    const c0 = cc.genesisValue(genesis);
    if (!dev) {
      note(null, "UNVERIFIABLE", "the device is no longer registered: its keys are gone, the chain can't be rechecked");
    } else {
      const s = stateAt(sha, dev.keys.stateKey0, recording - 1);
      const k1 = recordingKey(sha, s, recording);
      wipe(s);
      const v = new RecordingVerifier<number>({ sha, deviceId: device, recordingId: recording, k1, window: 1 << 30, maxPending: 1 << 30 });
      // Whether the device's tag still vouches for a stored header: then a payload hash mismatch is the media's.
      const headerVouched = (seq: number, header: Uint8Array, tag: Uint8Array) => {
        const k = cc.keyAt(k1, seq);
        const ok = ctEqual(cc.tag(k, cc.chunkValue(header)), tag);
        wipe(k);
        return ok;
      };
      const st = v.start({ genesis, caseTag: rec.case_tag || "" });
      for (const r of st.reasons) if (damage(r.code) && !wasKnown(r.code, 0)) note(0, "GENESIS", `${describe(r.code).text} (${r.code})`);

      let size = 0;
      try {
        const n = await this.media.size(rec.media_path);
        if (n === null && chunks.length) note(null, "MEDIA_MISSING", `the media file ${rec.media_path} is missing`);
        size = n ?? 0;
      } catch (e) {
        // The store out of reach says nothing of the bytes: the pass stops here, marking nothing (run() says why).
        if (e instanceof MediaUnavailableError) throw e;
        if (chunks.length) note(null, "MEDIA_MISSING", `the media file ${rec.media_path} can't be read: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`);
      }
      const media = new MediaWindow(this.media, rec.media_path, size, pace);
      const computed = new Map<number, Uint8Array>();
      let firstLinkOk = false;
      try {
        let expect = 1;
        for (const c of chunks) {
          if (c.seq !== expect) v.skipTo(c.seq);
          const payload = await media.read(c.media_offset, c.length);
          if (!payload) {
            note(c.seq, "MEDIA", `the media file ends before chunk ${c.seq}'s ${c.length} bytes at offset ${c.media_offset}`);
            v.skipTo(c.seq + 1);
            expect = c.seq + 1;
            continue;
          }
          const res: ChunkResult<number> = v.chunk({ header: new Uint8Array(c.header), payload, tag: new Uint8Array(c.tag) }, c.seq);
          for (const l of res.linked) {
            computed.set(l.seq, l.chain);
            if (l.seq === 1) firstLinkOk = true;
          }
          if (res.status !== "linked" && res.status !== "duplicate") {
            for (const r of res.reasons) {
              // In stored data, what the tag no longer vouches for (forged, had it come over the wire) is damage too.
              if (!damage(r.code) || wasKnown(r.code, c.seq)) continue;
              if (r.code === "PAYLOAD_HASH" && !headerVouched(c.seq, new Uint8Array(c.header), new Uint8Array(c.tag))) note(c.seq, "HEADER", "the stored header (or tag) no longer matches the device's tag: its payload hash field was changed (PAYLOAD_HASH, TAG)");
              else {
                const d = describe(r.code);
                note(c.seq, d.what, `${d.text} (${r.code})`);
              }
            }
            // Go on past it: every later chunk is still checked, linked among themselves.
            v.skipTo(c.seq + 1);
          }
          expect = c.seq + 1;
        }
      } finally {
        mediaBytes = media.bytesRead;
      }
      // Derived values: each must be what its (tag-verified) source block gives.
      for (const c of chunks) {
        const want = computed.get(c.seq);
        if (want && !ctEqual(want, c.chain)) {
          note(c.seq, "CHAIN_VALUE", "the stored chain value differs from its stored header's; restored from the header, which the device's tag still verifies", true);
          repairs.chain!.push({ seq: c.seq, value: want });
        }
      }
      if (!rec.c0 || !ctEqual(c0, rec.c0)) {
        if (firstLinkOk || !chunks.length) {
          note(0, "C0", "the stored C_0 differs from the genesis block's; restored from the block", true);
          repairs.c0 = c0;
        } else note(0, "C0", "the stored C_0 differs from the genesis block's, and no chunk's tag vouches for the block");
      }
      const top = rec.linked_seq ? computed.get(rec.linked_seq) : c0;
      if (top && rec.last_chain && !ctEqual(top, rec.last_chain)) {
        note(rec.linked_seq, "LAST_CHAIN", "the stored last chain value differs from the last linked chunk's; restored from its header", true);
        repairs.lastChain = top;
      }
      if (rec.seal_block && rec.seal_tag) {
        const sr = v.seal({ block: new Uint8Array(rec.seal_block), tag: new Uint8Array(rec.seal_tag), caseTag: rec.seal_case_tag || "" });
        const z = cc.sealValue(new Uint8Array(rec.seal_block));
        let sealOk = true;
        for (const r of sr.reasons) {
          if (!damage(r.code)) continue;
          if (r.code === "SEAL_TAG" || r.code === "SEAL_FIELD") sealOk = false;
          if (wasKnown(r.code)) continue;
          note(-1, "SEAL", `${describe(r.code).text} (${r.code})`);
        }
        // A seal that failed only because a chunk before it is damaged is reported at that chunk.
        if (!rec.seal_value || !ctEqual(z, rec.seal_value)) {
          if (sealOk) {
            note(-1, "SEAL_VALUE", "the stored seal value differs from the seal block's; restored from the block, which the device's seal tag still verifies", true);
            repairs.sealValue = z;
          } else note(-1, "SEAL_VALUE", "the stored seal value differs from the seal block's, and the seal tag vouches for neither");
        }
      }
      v.destroy();
      wipe(k1);
    }
    if (rec.seal_block && rec.seal_block.length !== SEAL_LEN) note(-1, "SEAL", "the stored seal block is not 128 bytes");
    const bytes = mediaBytes;

    // Report each damaged value once: one still damaged from an earlier pass is not raised again.
    const already = await store.openFindings(this.db, device, recording);
    const fresh = found.filter((f) => f.repaired || !already.some((o) => o.seq === f.seq && o.what === f.what));
    // corrupt: evidence bytes (media, a header, a block, a tag) are damaged; repaired: only derived
    // values were, and were restored; a recording once corrupt and now whole was restored by someone.
    const state: store.StorageState = found.some((f) => !f.repaired) ? "corrupt" : found.length || rec.storage_state !== "ok" ? "repaired" : "ok";
    await store.recordScrub(this.db, device, recording, { findings: fresh, repairs, state, at: Date.now() });
    if (fresh.length) await this.raise(device, recording, fresh, state);
    return { device, recording, bytes, chunks: chunks.length, findings: found, fresh, state };
  }

  private async raise(device: string, recording: number, found: Finding[], state: store.StorageState): Promise<void> {
    const detail = found.map((f) => `${where(f.seq)}: ${f.detail}`).join("; ");
    this.o.log?.error({ code: STORAGE_CORRUPT, recording: `${device}/${recording}`, detail }, "storage corruption found by the scrub");
    await this.o.alarms?.raise(STORAGE_CORRUPT, `${device}/${recording}`, detail);
    await this.o.audit?.append({ actor: SCRUB_ACTOR, action: "storage.corrupt", target: `${device}/${recording}`, details: { state, findings: found.map((f) => ({ at: where(f.seq), what: f.what, repaired: f.repaired })) } });
  }
}

/**
 * The seal value of a device's recording that ingest may trust (hook for the pipeline, which
 * today reads the stored column): Z recomputed from the stored seal block when the device's seal
 * tag verifies it, else the stored value when the tag verifies that, else null (unknown: the
 * next genesis is then not checked against it, rather than failed on a storage fault).
 */
export async function trustedSealValue(db: Db, registry: DeviceRegistry, device: string, recording: number): Promise<Uint8Array | null> {
  const row = await store.sealOf(db, device, recording);
  if (!row || !row.seal_block || !row.seal_tag || row.seal_block.length !== SEAL_LEN) return null;
  const dev = await registry.get(device);
  if (!dev) return null;
  const cc = new ChainCrypto(sha);
  const s = stateAt(sha, dev.keys.stateKey0, recording - 1);
  const k1 = recordingKey(sha, s, recording);
  wipe(s);
  const k = cc.keyAt(k1, parseSeal(row.seal_block).lastSeq + 1);
  wipe(k1);
  try {
    const z = cc.sealValue(row.seal_block);
    if (ctEqual(cc.sealTag(k, z), row.seal_tag)) return z;
    if (row.seal_value && ctEqual(cc.sealTag(k, row.seal_value), row.seal_tag)) return new Uint8Array(row.seal_value);
    return null;
  } finally {
    wipe(k);
    cc.destroy();
  }
}
