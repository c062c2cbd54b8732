// Export bundles (docs/EVIDENCE.md, SPEC.md section 15): one ZIP a court can open and anyone can
// verify offline. An export is checked and audited first (prepareExport: the items, the caller's
// right to see each, a grant, one audit entry per recording in one transaction, a log pass so the
// export's own custody events are in the checkpoint it carries); only then is the ZIP written,
// streamed file by file (writeBundle), so a refusal never leaves half a bundle and memory holds one
// recording's media at a time.
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import type { Writable } from "node:stream";
import yazl from "yazl";
import type { Db } from "../store/db.js";
import type { MediaReader } from "../store/media.js";
import type { AuditLog } from "../audit/log.js";
import type { Model } from "../model/model.js";
import { reasonProblem } from "../../protocol/text.js";
import type { DeviceRegistry } from "../devices.js";
import type { StationIdentity } from "./identity.js";
import type { TransparencyLog } from "./tlog.js";
import type { Approvals, Actor, Item } from "../services/approvals.js";
import { ApprovalError } from "../services/approvals.js";
import * as xs from "../store/export.js";
import { signingCredentials, pemCertificates } from "./x509.js";
import { C2paError, C2paSigner } from "./c2pa.js";
import { custodyEventRef, custodyEvents } from "./custody.js";
import { custodyPdf, custodyRows } from "./custody-report.js";
import type { Fact } from "./custody-report.js";
import { isoLocal } from "../../protocol/time.js";
import { bundleReadme } from "./bundle-readme.js";
import { retrievalRefusal } from "../services/recordings.js";
import { processStamp } from "../datadir.js";
import type { Caller } from "../services/context.js";
import { canonicalBytes } from "../../protocol/jcs.js";
import { toBase64 } from "../../protocol/base64.js";
import { toHex, wipe } from "../../protocol/bytes.js";
import { parseGenesis } from "../../protocol/blocks.js";
import { recordingKey, stateAt } from "../../protocol/chain.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { D_SEAL, MEDIA_JPEG, MEDIA_OPAQUE, MEDIA_PCM_8K_S16LE, MEDIA_PCM_8K_U16LE, MEDIA_VIDEO_SEGMENT } from "../../protocol/constants.js";
import {
  BUNDLE_TYPE, BUNDLE_VERSION, CHECKPOINT_PATH, CHUNK_RECORD, MANIFEST_PATH, README_PATH, SIGNATURE_PATH, bundleNoteText, flipSampleSign, recordingDir, wavHeader,
} from "../../protocol/bundle.js";
import type { Bundle, BundleCustodyEvent, BundleFile, BundleMedia, BundleRecording, BundleTimes } from "../../protocol/bundle.js";

export class ExportError extends Error {
  constructor(public code: string, message: string, public status = 400) {
    super(message);
    this.name = "ExportError";
  }
}

export interface ExportDeps {
  db: Db;
  audit: AuditLog;
  model: Model;
  registry: DeviceRegistry;
  identity: StationIdentity;
  approvals: Approvals;
  tlog: TransparencyLog;
  dataDir: string;
  media: MediaReader;
  /** One transparency log pass (Evidence.sync): the export's custody events in, a checkpoint signed and sent to witnesses. */
  sync: () => Promise<unknown>;
  now?: () => number;
}

export interface ExportRequest {
  recording?: Item;
  caseNumber?: string;
  /** An excerpt of one recording: station times, ms since the epoch. */
  fromMs?: number;
  toMs?: number;
  reason: string;
  /** The grant to use (else any live grant that covers the items). */
  grant?: number;
}

export interface ExportProgress { recordings: number; done: number; bytes: number; current: string | null }

interface PlannedItem {
  item: Item;
  row: xs.ExportRecordingRow;
  /** Chunks whose payloads go in: all, or an excerpt's. */
  fromSeq: number;
  toSeq: number;
  excerpt: { fromMs: number; toMs: number } | null;
  offsetMs: number;
  level: number;
}

/** An export that passed every check and is audited and logged: ready to be written. */
export interface PreparedExport {
  id: string;
  createdAt: number;
  actor: Actor;
  request: ExportRequest;
  grant: number;
  items: PlannedItem[];
  case: Bundle["case"];
  checkpoint: { size: number; note: string };
  auditHead: { count: number; hash: string };
  deps: ExportDeps;
}

const key = (i: Item) => `${i.device}/${i.recording}`;

function reasonOf(r: unknown): string {
  const p = reasonProblem(r);
  if (p) throw new ExportError(p.code, `an export (--reason) ${p.why}`);
  return (r as string).trim();
}

/**
 * Check an export and record it: the items exist, are sealed, stored intact and logged; the
 * caller may see each (confidentiality); a grant covers them. Refusals are audited
 * (`recording.denied`) and thrown with a code; nothing is written.
 */
export async function prepareExport(deps: ExportDeps, actor: Actor, req: ExportRequest): Promise<PreparedExport> {
  const now = deps.now ?? Date.now;
  const reason = reasonOf(req.reason);
  if (!!req.recording === (req.caseNumber !== undefined)) throw new ExportError("USAGE", "export one recording (DEVICE/N) or one case (its number)");
  if ((req.fromMs === undefined) !== (req.toMs === undefined)) throw new ExportError("USAGE", "an excerpt needs both --from and --to");
  if (req.fromMs !== undefined && !req.recording) throw new ExportError("USAGE", "an excerpt is of one recording (--recording)");
  if (req.fromMs !== undefined && !(req.toMs! > req.fromMs)) throw new ExportError("BAD_RANGE", "--to must be after --from");
  let items: Item[];
  let kase: Bundle["case"] = null;
  if (req.caseNumber !== undefined) {
    const c = await deps.model.getCase(req.caseNumber);
    items = (await xs.caseRecordings(deps.db, req.caseNumber)).map((r) => ({ device: r.device_id, recording: r.recording_id }));
    if (!items.length) throw new ExportError("CASE_EMPTY", `case ${req.caseNumber} links no recording`);
    kase = { number: c.number, unit: (await xs.unitName(deps.db, c.unitId)) ?? String(c.unitId), category: c.category, activityKind: c.activityKind, policy: c.policy, windowStart: c.windowStart, windowEnd: c.windowEnd, confidentiality: c.confidentiality };
  } else items = [req.recording!];

  const deny = async (i: Item, code: string, message: string, status = 403): Promise<never> => {
    await deps.audit.append({ actor: actor.name, action: "recording.denied", target: key(i), reason, details: { code, export: true } });
    throw new ExportError(code, message, status);
  };
  const planned: PlannedItem[] = [];
  for (const i of items) {
    const row = await xs.recordingForExport(deps.db, i.device, i.recording);
    if (!row) throw new ExportError("UNKNOWN_RECORDING", `no recording ${key(i)}`, 404);
    if (!row.genesis || !row.seal_block || !row.seal_tag) throw new ExportError("NOT_SEALED", `${key(i)} is not sealed: only sealed recordings are exported`, 409);
    if (row.purge_state === "purged") throw new ExportError("PURGED", `${key(i)} was erased when its retention ended`, 410);
    if (row.storage_state === "corrupt") throw new ExportError("STORAGE_CORRUPT", `the stored copy of ${key(i)} is damaged (admin scrub names where): it can't be exported as evidence`, 409);
    const d = await retrievalRefusal(deps.db, deps.model, { name: actor.name, role: actor.role as Caller["role"], officerBadge: actor.officer_badge }, i.device, i.recording);
    // A confidentiality refusal stands whatever the grant; a unit-scope one is what a grant is for.
    if (d && d.code === "CONFIDENTIALITY") await deny(i, d.code, `${key(i)}: ${d.message}`);
    const level = await deps.model.clipConfidentiality(i.device, i.recording);
    const offsetMs = row.clip_at_ms !== null && row.start_ms !== null ? row.clip_at_ms - row.start_ms : 0;
    let fromSeq = 1, toSeq = row.linked_seq, excerpt: PlannedItem["excerpt"] = null;
    if (req.fromMs !== undefined) {
      const r = await xs.seqRangeForTimes(deps.db, i.device, i.recording, req.fromMs - offsetMs, req.toMs! - offsetMs);
      if (r.lo === null || r.hi === null) throw new ExportError("EMPTY_RANGE", `${key(i)} has no media between ${new Date(req.fromMs).toISOString()} and ${new Date(req.toMs!).toISOString()}`);
      fromSeq = r.lo; toSeq = r.hi; excerpt = { fromMs: req.fromMs, toMs: req.toMs! };
    }
    planned.push({ item: i, row, fromSeq, toSeq, excerpt, offsetMs, level });
  }
  let grant;
  try {
    grant = await deps.approvals.grantFor(actor, "export", items, req.grant);
  } catch (e) {
    if (e instanceof ApprovalError) await deny(items[0], e.code, e.message);
    throw e;
  }
  const id = toHex(randomBytes(16));
  const createdAt = now();
  // The export, one audit entry per recording and its row among the exports made, in one
  // transaction: all or none.
  await deps.db.transaction(async () => {
    await xs.insertExport(deps.db, { id, createdAt, actor: actor.name, role: actor.role, reason, grant: grant.id, scope: req.caseNumber !== undefined ? "case" : "recording",
      target: req.caseNumber ?? key(req.recording!), items, excerpt: req.fromMs !== undefined ? { fromMs: req.fromMs, toMs: req.toMs } : null, writer: processStamp() });
    for (const p of planned) {
      await deps.audit.appendInTransaction({ actor: actor.name, action: "recording.export", target: key(p.item), reason,
        details: { export: id, grant: grant.id, case: req.caseNumber ?? null, seqs: [p.fromSeq, p.toSeq], excerpt: p.excerpt } });
    }
  });
  await deps.audit.checkpoint();
  // A log pass: the manifests, these export events and the audit head go into the log, and the
  // checkpoint the bundle carries covers them.
  await deps.sync();
  for (const p of planned) {
    if (!(await deps.tlog.leafByRef(`recording:${key(p.item)}`))) throw new ExportError("NOT_LOGGED", `${key(p.item)} has no manifest in the transparency log (its verdict is not settled yet)`, 409);
  }
  const cp = await deps.tlog.checkpoint();
  return { id, createdAt, actor, request: { ...req, reason }, grant: grant.id, items: planned, case: kase, checkpoint: { size: cp.size, note: cp.note }, auditHead: await deps.audit.head(), deps };
}

/** Writes ZIP entries one at a time, each streamed, hashing what it writes. */
class ZipSink {
  readonly zip = new yazl.ZipFile();
  readonly files: BundleFile[] = [];
  bytes = 0;
  private failed: Error | null = null;
  private onFail: ((e: Error) => void)[] = [];
  constructor(private out: Writable, private mtime: Date, private progress: () => void) {
    this.zip.outputStream.on("data", (c: Buffer) => { this.bytes += c.length; });
    const fail = (e: Error) => { if (!this.failed) { this.failed = e; for (const f of this.onFail.splice(0)) f(e); } };
    out.on("error", fail);
    out.on("close", () => fail(new ExportError("CLIENT_GONE", "the bundle's reader went away")));
    this.zip.outputStream.on("error", fail);
    this.zip.outputStream.pipe(out);
  }

  /** Add one file; resolves once the ZIP has taken all of it. `listed`: whether bundle.json lists it. */
  async put(path: string, size: number, data: Uint8Array | AsyncIterable<Uint8Array>, listed = true): Promise<void> {
    if (this.failed) throw this.failed;
    const h = createHash("sha256");
    let n = 0;
    // yazl keeps every entry (with its stream) until the ZIP ends: the stream must not hold the
    // data after it has gone out, or an export holds the whole bundle in memory. The generator
    // takes the data from `held` and drops it when done.
    let held: Uint8Array | AsyncIterable<Uint8Array> | null = data;
    const src = Readable.from((async function* () {
      const d = held!;
      held = null;
      if (d instanceof Uint8Array) { h.update(d); n += d.length; yield Buffer.from(d.buffer, d.byteOffset, d.length); return; }
      for await (const c of d) { h.update(c); n += c.length; yield Buffer.from(c.buffer, c.byteOffset, c.length); }
    })(), { objectMode: false });
    this.zip.addReadStream(src, path, { compress: false, mtime: this.mtime, size });
    await new Promise<void>((resolve, reject) => {
      src.once("end", resolve);
      src.once("error", reject);
      this.onFail.push(reject);
    });
    if (n !== size) throw new ExportError("EXPORT_FAILED", `${path}: wrote ${n} bytes, expected ${size}`, 500);
    if (listed) this.files.push({ path, size, sha256: h.digest("hex") });
    this.progress();
  }

  async end(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.out.once("finish", resolve);
      this.onFail.push(reject);
    });
    this.zip.end();
    await done;
  }
}

/** A recording's media bytes, all of them or the export fails: a bundle never holds less than its rows say. */
async function readRange(media: MediaReader, rel: string, offset: number, length: number): Promise<Buffer> {
  const b = await media.readRange(rel, offset, length);
  if (!b) throw new ExportError("MEDIA_SHORT", `${rel} holds fewer than the ${offset + length} bytes its rows name`, 500);
  return b;
}

/** Every chunk of a recording, in seq order, a page at a time. */
async function* chunks(db: Db, device: string, recording: number): AsyncGenerator<xs.ExportChunkRow> {
  let after = 0;
  for (;;) {
    const page = await xs.chunkPage(db, device, recording, after, 2000);
    for (const c of page) yield c;
    if (page.length < 2000) return;
    after = page[page.length - 1].seq;
  }
}

/**
 * Write the bundle of a prepared export to `out` (a file or an HTTP response), calling `onProgress`
 * after each file. Resolves with the bundle's manifest once the ZIP is complete.
 */
export async function writeBundle(p: PreparedExport, out: Writable, onProgress?: (x: ExportProgress) => void): Promise<Bundle> {
  const { deps } = p;
  const progress: ExportProgress = { recordings: p.items.length, done: 0, bytes: 0, current: null };
  const sink = new ZipSink(out, new Date(p.createdAt), () => { progress.bytes = sink.bytes; onProgress?.(progress); });
  const cred = signingCredentials(deps.dataDir, deps.identity);
  const signer = new C2paSigner(cred);
  const recordings: BundleRecording[] = [];
  for (const it of p.items) {
    progress.current = key(it.item);
    recordings.push(await writeRecording(p, it, sink, signer));
    progress.done++;
    onProgress?.(progress);
  }
  const chain = pemCertificates(cred.chainPem).join("");
  await sink.put("station/c2pa-chain.pem", Buffer.byteLength(chain), Buffer.from(chain));
  let anchorSha: string | null = null;
  if (cred.anchorPem) {
    await sink.put("station/c2pa-anchor.pem", Buffer.byteLength(cred.anchorPem), Buffer.from(cred.anchorPem));
    anchorSha = createHash("sha256").update(Buffer.from(cred.anchorPem)).digest("hex");
  }
  await sink.put(CHECKPOINT_PATH, Buffer.byteLength(p.checkpoint.note), Buffer.from(p.checkpoint.note));
  const readme = bundleReadme({ id: p.id, station: deps.identity.name, verifierKey: deps.identity.verifierKey, anchorSha256: anchorSha, createdAt: p.createdAt, timeZone: deps.model.opts.timeZone, by: p.actor.name, reason: p.request.reason, recordings: p.items.map((x) => key(x.item)) });
  await sink.put(README_PATH, Buffer.byteLength(readme), Buffer.from(readme));
  const bundle: Bundle = {
    type: BUNDLE_TYPE, v: BUNDLE_VERSION, id: p.id, createdAt: p.createdAt,
    station: { name: deps.identity.name, verifierKey: deps.identity.verifierKey, c2paChain: "station/c2pa-chain.pem", c2paAnchor: cred.anchorPem ? "station/c2pa-anchor.pem" : null, c2paAnchorSha256: anchorSha, timeZone: deps.model.opts.timeZone },
    export: { by: p.actor.name, role: p.actor.role, reason: p.request.reason, grant: p.grant, scope: p.request.caseNumber !== undefined ? "case" : "recording", target: p.request.caseNumber ?? key(p.request.recording!) },
    auditHead: p.auditHead,
    checkpoint: { path: CHECKPOINT_PATH, size: p.checkpoint.size },
    case: p.case,
    recordings,
    files: sink.files.slice().sort((a, b) => (a.path < b.path ? -1 : 1)),
  };
  const manifest = canonicalBytes(bundle);
  await sink.put(MANIFEST_PATH, manifest.length, manifest, false);
  const sig = deps.identity.signNote(bundleNoteText(createHash("sha256").update(manifest).digest("hex")));
  await sink.put(SIGNATURE_PATH, Buffer.byteLength(sig), Buffer.from(sig), false);
  await sink.end();
  progress.bytes = sink.bytes;
  progress.current = null;
  onProgress?.(progress);
  return bundle;
}

/** Where the station keeps the bundle of an export it made (data directory, exports/ID.zip). */
export function keptBundleFile(dataDir: string, id: string): string {
  if (!/^[0-9a-f]{32}$/.test(id)) throw new ExportError("UNKNOWN_EXPORT", `no export ${JSON.stringify(id)}`, 404);
  return join(dataDir, "exports", `${id}.zip`);
}

/**
 * Write a prepared export's bundle to `out` (a response, a file; null: only kept) and keep a copy
 * in the data directory, so the one who made it can download the very same bytes again while its
 * grant is in force; then record the bundle's size and SHA-256 among the exports made. A reader
 * that goes away stops nothing: the kept copy is completed. A failure marks the export failed.
 */
export async function writeAndKeep(p: PreparedExport, out: Writable | null, onProgress?: (x: ExportProgress) => void): Promise<{ bundle: Bundle; bytes: number; sha256: string }> {
  const { deps } = p;
  const file = keptBundleFile(deps.dataDir, p.id);
  await mkdir(join(deps.dataDir, "exports"), { recursive: true, mode: 0o700 });
  const partial = file + ".partial";
  const kept = createWriteStream(partial, { flags: "wx", mode: 0o600 });
  const keptDone = new Promise<void>((resolve, reject) => { kept.once("finish", resolve); kept.once("error", reject); });
  const tee = new PassThrough();
  const h = createHash("sha256");
  let n = 0;
  tee.on("data", (c: Buffer) => { h.update(c); n += c.length; });
  tee.pipe(kept);
  // The reader has the whole bundle (or went away) before this resolves: a file is complete when the CLI renames it.
  const outDone = out ? new Promise<void>((resolve) => { out.once("finish", resolve); out.once("close", resolve); }) : Promise.resolve();
  if (out) tee.pipe(out);
  const done = (state: "done" | "failed", sha: string | null) => xs.finishExport(deps.db, p.id, { state, bytes: state === "done" ? n : null, sha256: sha, kept: state === "done" ? `${p.id}.zip` : null, at: (deps.now ?? Date.now)() });
  try {
    const bundle = await writeBundle(p, tee, onProgress);
    await keptDone;
    await outDone;
    const fh = await open(partial, "r");
    try { await fh.sync(); } finally { await fh.close(); }
    await rename(partial, file);
    const sha256 = h.digest("hex");
    await done("done", sha256);
    return { bundle, bytes: n, sha256 };
  } catch (e) {
    tee.destroy();
    kept.destroy();
    await rm(partial, { force: true });
    await done("failed", null).catch(() => undefined);
    throw e;
  }
}

const MEDIA_FORMAT: Record<number, BundleMedia["format"]> = { [MEDIA_PCM_8K_S16LE]: "wav", [MEDIA_PCM_8K_U16LE]: "wav", [MEDIA_JPEG]: "jpeg", [MEDIA_VIDEO_SEGMENT]: "segment", [MEDIA_OPAQUE]: "bin" };
const EXT: Record<BundleMedia["format"], string> = { wav: "wav", jpeg: "jpg", segment: "seg", bin: "bin" };

async function writeRecording(p: PreparedExport, it: PlannedItem, sink: ZipSink, signer: C2paSigner): Promise<BundleRecording> {
  const { deps } = p;
  const { device, recording } = it.item;
  const row = it.row;
  const dir = recordingDir(device, recording);
  const genesis = new Uint8Array(row.genesis!);
  const mediaType = parseGenesis(genesis).media;
  const format = MEDIA_FORMAT[mediaType] ?? "bin";

  // chunks.bin: every chunk's header and tag, whatever the excerpt (R-EXP-4).
  const count = row.linked_seq;
  let seq = 0;
  const rows: { seq: number; length: number; offset: number; time: number; duration: number; received: number }[] = [];
  await sink.put(dir + "chunks.bin", count * CHUNK_RECORD, (async function* () {
    for await (const c of chunks(deps.db, device, recording)) {
      if (c.seq !== ++seq) throw new ExportError("CHUNKS_MISSING", `${key(it.item)}: chunk ${seq} is not stored`, 409);
      rows.push({ seq: c.seq, length: c.length, offset: c.media_offset, time: c.time_ms, duration: c.duration_ms, received: c.received_at });
      yield Buffer.concat([c.header, c.tag]);
    }
    if (seq !== count) throw new ExportError("CHUNKS_MISSING", `${key(it.item)} has ${seq} chunks stored, ${count} verified`, 409);
  })());

  const leafRow = (await deps.tlog.leafByRef(`recording:${key(it.item)}`))!;
  const leaf = { index: leafRow.idx, entry: Buffer.from(leafRow.data).toString("utf8"), note: leafRow.note ?? "", proof: (await deps.tlog.inclusionProof(leafRow.idx, p.checkpoint.size)).map(toBase64) };
  const sealValue = toHex(sha(Buffer.concat([D_SEAL, row.seal_block!])));

  // The media: the chunks in range, as the device sent them (PCM framed as WAV), C2PA where the format allows.
  const media: BundleMedia[] = [];
  const inRange = rows.filter((r) => r.seq >= it.fromSeq && r.seq <= it.toSeq);
  const assertion = { device, recording, sealValue, logIndex: leaf.index, fromSeq: it.fromSeq, toSeq: it.toSeq, excerpt: !!it.excerpt };
  const recordedAt = (row.clip_at_ms ?? row.start_ms ?? row.first_received);
  if (inRange.length && format === "wav") {
    const first = inRange[0], last = inRange[inRange.length - 1];
    const data = await readRange(deps.media, row.media_path, first.offset, last.offset + last.length - first.offset);
    if (mediaType === MEDIA_PCM_8K_U16LE) flipSampleSign(data);
    const wav = Buffer.concat([wavHeader(data.length), data, data.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
    const signed = await signer.sign(wav, "audio/wav", `${device}-${recording}.wav`, assertion, recordedAt);
    const path = dir + `media.${EXT.wav}`;
    await sink.put(path, signed.length, signed);
    media.push({ path, format, fromSeq: it.fromSeq, toSeq: it.toSeq, c2pa: true });
  } else if (inRange.length && format === "bin") {
    const first = inRange[0], last = inRange[inRange.length - 1];
    const data = await readRange(deps.media, row.media_path, first.offset, last.offset + last.length - first.offset);
    const path = dir + "media.bin";
    await sink.put(path, data.length, data);
    media.push({ path, format, fromSeq: it.fromSeq, toSeq: it.toSeq, c2pa: false });
  } else {
    // Segments and frames: one file per chunk, as the camera wrote it; a JPEG frame carries C2PA.
    for (const r of inRange) {
      const data = await readRange(deps.media, row.media_path, r.offset, r.length);
      let bytes: Uint8Array = data;
      let c2pa = false;
      if (format === "jpeg") {
        try {
          bytes = await signer.sign(data, "image/jpeg", `${device}-${recording}-${r.seq}.jpg`, { ...assertion, fromSeq: r.seq, toSeq: r.seq }, recordedAt);
          c2pa = true;
        } catch (e) {
          // A frame c2pa-rs can't parse goes as written, marked unsigned; a key that can't sign, or
          // signing that stopped, fails the export as it would a WAV's.
          if (!(e instanceof C2paError && e.code === "C2PA_SIGN")) throw e;
          bytes = data;
        }
      }
      const path = dir + `media/${String(r.seq).padStart(6, "0")}.${EXT[format]}`;
      await sink.put(path, bytes.length, bytes);
      media.push({ path, format, fromSeq: r.seq, toSeq: r.seq, c2pa });
    }
  }

  // Custody: links, accesses and exports (proven in the log), approvals (station records).
  const custody = await custodyEvents(deps.db, deps.model, deps.approvals, it.item);
  for (const e of custody) {
    const ref = custodyEventRef(e);
    if (ref) e.leaf = await leafFor(p, ref);
  }

  const officerRow = await xs.clipOfficer(deps.db, device, recordedAt);
  // Officer metadata as far as the confidentiality level allows (DESIGN.md section 2).
  const officer = !officerRow ? null : it.level >= 3 ? { badge: "withheld", name: "withheld", unit: "withheld" } : it.level === 2 ? { ...officerRow, name: "withheld" } : officerRow;
  const firstRow = inRange[0] ?? rows[0];
  const lastRow = inRange[inRange.length - 1] ?? rows[rows.length - 1];
  const deviceStart = firstRow ? firstRow.time : row.start_ms ?? 0;
  const times: BundleTimes = {
    deviceStartMs: deviceStart,
    deviceEndMs: lastRow ? lastRow.time + lastRow.duration : row.end_ms ?? deviceStart,
    stationStartMs: deviceStart + it.offsetMs,
    notBeforeMs: row.beacon_sent_ms,
    notAfterMs: firstRow ? firstRow.received : row.first_received,
    errorMs: row.beacon_sent_ms !== null ? (firstRow ? firstRow.received : row.first_received) - row.beacon_sent_ms : null,
    basis: row.beacon_sent_ms !== null
      ? "device time corrected by the device's clock offset (from its beacons); the start lies between the sending of the time beacon its genesis carries (notBeforeMs) and the station's receipt (notAfterMs); errorMs is that interval's width"
      : "device time corrected by the device's clock offset (from its beacons); the start can be no later than the station received it (notAfterMs); its genesis carries no beacon the station knows, so no lower bound is given",
    flag: row.time_flag,
  };
  // Each fact's label in Chinese and English (the PDF shows both where it can draw Chinese).
  const reportFacts: Fact[] = [
    ["记录", "Recording", key(it.item)], ["导出", "Export", `${p.id} by ${p.actor.name}: ${p.request.reason}`],
    ["录制时间（站方时间）", "Recorded (station time)", isoLocal(times.stationStartMs, deps.model.opts.timeZone)], ["民警", "Officer", officer ? `${officer.name} (${officer.badge}), ${officer.unit}` : "-"],
    ["案件", "Case", p.case ? p.case.number : "-"], ["站方判定", "Verdict", row.verdict], ["封存值", "Seal value", sealValue], ["日志条目", "Log leaf", `${leaf.index} in checkpoint of size ${p.checkpoint.size}`],
  ];
  const report = { recording: key(it.item), export: p.id, generatedAt: isoLocal(p.createdAt, deps.model.opts.timeZone), events: custodyRows(custody, deps.model.opts.timeZone) };
  const json = Buffer.from(JSON.stringify(report, null, 1) + "\n");
  await sink.put(dir + "custody.json", json.length, json);
  const pdf = await custodyPdf(`${key(it.item)}`, reportFacts, report.events, p.createdAt);
  await sink.put(dir + "custody.pdf", pdf.length, pdf);

  const k1 = recordingK1(await deps.registry.get(device), recording);
  const out: BundleRecording = {
    device, recording, mediaType,
    genesis: toHex(genesis), caseTag: row.case_tag ?? "", seal: toHex(row.seal_block!), sealTag: toHex(row.seal_tag!), sealCaseTag: row.seal_case_tag ?? "",
    k1: toHex(k1),
    chunks: { path: dir + "chunks.bin", count },
    media,
    excerpt: it.excerpt ? { fromSeq: it.fromSeq, toSeq: it.toSeq, fromMs: it.excerpt.fromMs, toMs: it.excerpt.toMs } : null,
    leaf,
    custody,
    custodyReport: { json: dir + "custody.json", pdf: dir + "custody.pdf" },
    times,
    verdict: row.verdict,
    officer,
  };
  wipe(k1);
  return out;
}

function recordingK1(dev: Awaited<ReturnType<DeviceRegistry["get"]>>, recording: number): Uint8Array {
  if (!dev) throw new ExportError("DEVICE_UNKNOWN", "the device is no longer registered: its recording keys can't be derived", 409);
  const s = stateAt(sha, dev.keys.stateKey0, recording - 1);
  const k1 = recordingKey(sha, s, recording);
  wipe(s);
  return k1;
}

async function leafFor(p: PreparedExport, ref: string): Promise<BundleCustodyEvent["leaf"]> {
  const l = await p.deps.tlog.leafByRef(ref);
  if (!l || l.idx >= p.checkpoint.size) return null;
  return { index: l.idx, entry: Buffer.from(l.data).toString("utf8"), proof: (await p.deps.tlog.inclusionProof(l.idx, p.checkpoint.size)).map(toBase64) };
}
