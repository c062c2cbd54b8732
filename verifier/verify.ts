// The offline verifier of export bundles (SPEC.md section 15, docs/EVIDENCE.md): it needs the
// bundle and, to know who made it, the station's note verifier key; nothing of the station, its
// database or the network. Every check is made on every item, and each failure names its check
// and item. Imports only protocol/ (and the ZIP and C2PA libraries), so it bundles into one file.
import { sha256hex, sha256hexAsync, sha256Parts } from "./hash.js";
import { openArchive } from "./zip.js";
import type { Archive } from "./zip.js";
import { validateC2pa, validateWavC2paFast } from "./c2pa.js";
import { nodeSha256 as sha } from "../protocol/sha256-node.js";
import { nodeEd25519Verify as ed } from "../protocol/ed25519-node.js";
import { canonicalize } from "../protocol/jcs.js";
import { fromBase64 } from "../protocol/base64.js";
import { ctEqual, fromHex, toHex } from "../protocol/bytes.js";
import { openNote, parseVerifierKey, verifyCheckpoint } from "../protocol/note.js";
import type { NoteKey } from "../protocol/note.js";
import { leafHash, verifyInclusion } from "../protocol/merkle.js";
import { decodeLeaf, linkEventCommit, manifestNoteText } from "../protocol/leaves.js";
import type { CustodyLeaf, RecordingLeaf } from "../protocol/leaves.js";
import { auditEntryHash } from "../protocol/audit-entry.js";
import { RecordingVerifier, WITHHELD } from "../protocol/verify.js";
import { ChainCrypto } from "../protocol/chain.js";
import { parseGenesis, parseSeal, H_LENGTH, H_SEQ } from "../protocol/blocks.js";
import { severityOf } from "../protocol/reasons.js";
import { CHUNK_RECORD, MANIFEST_PATH, SIGNATURE_PATH, BUNDLE_TYPE, BUNDLE_VERSION, C2PA_ASSERTION, bundleNoteText, flipSampleSign, jpegWithoutC2pa, riffChunks } from "../protocol/bundle.js";
import type { Bundle, BundleRecording } from "../protocol/bundle.js";
import { GENESIS_LEN, HEADER_LEN, MEDIA_PCM_8K_U16LE, SEAL_LEN, TAG_LEN } from "../protocol/constants.js";
import { knownZone } from "../protocol/time.js";
import { MESSAGES, Said, cause, render, word } from "./messages.js";
import type { Message, MessageKey } from "./messages.js";

/** The checks, in the order they are printed. */
export const CHECKS = ["bundle", "station-key", "manifest-signature", "files", "checkpoint", "log-inclusion", "chain", "device-tags", "media", "seal", "genesis-links", "custody-order", "c2pa"] as const;
export type CheckId = (typeof CHECKS)[number];
export type Status = "PASS" | "FAIL" | "WARN";

/** A problem found: `detail` in English; `message` the same in words any language renders (messages.ts). */
export interface Finding { check: CheckId; status: "FAIL" | "WARN"; item: string; code: string; detail: string; message: Message }

export interface VerifyOptions {
  /** The station's note verifier key, from its admin. Without it the bundle's own key is used (origin unproven: WARN). */
  stationKey?: string;
  /** Witness verifier keys whose cosignatures the checkpoint must carry. */
  witnesses?: string[];
  /** Let c2pa-rs hash the media itself (in WebAssembly, several times slower) instead of checking the data hash natively. */
  c2paFull?: boolean;
  onProgress?: (done: number, total: number, item: string) => void;
}

export interface VerifyReport {
  ok: boolean;
  checks: { id: CheckId; status: Status; count: number }[];
  findings: Finding[];
  bundle: Pick<Bundle, "id" | "createdAt" | "station" | "export" | "case" | "checkpoint"> | null;
  /** Each recording: `verdict` this verifier's, `station` the station's own in its signed manifest leaf (null if that leaf can't be read). */
  recordings: { item: string; chunks: number; excerpt: [number, number] | null; verdict: string; station: string | null; c2pa: string | null; bytes: number; times: BundleRecording["times"] | null }[];
  bytes: number;
}

const VERIFY_FAIL_CHECK: Record<string, CheckId> = {
  TAG: "device-tags", SEAL_TAG: "device-tags",
  PAYLOAD_HASH: "media", PAYLOAD_LENGTH: "media",
  CHAIN_LINK: "chain", HEADER_FIELD: "chain", GENESIS_FIELD: "chain", CASE_TAG_MISMATCH: "chain", START_UNCONFIRMED: "chain", EQUIVOCATION: "chain", GAP: "chain", MISSING_START: "chain", LOST_ON_DEVICE: "chain",
  SEAL_FIELD: "seal", SEAL_LINK: "seal", SEAL_BYTES: "seal", SEQ_AFTER_SEAL: "seal", MISSING_SEAL: "seal",
  GENESIS_LINK: "genesis-links",
};

class Collector {
  findings: Finding[] = [];
  counts = new Map<CheckId, number>();
  ran(check: CheckId, n = 1): void { this.counts.set(check, (this.counts.get(check) ?? 0) + n); }
  /** The station's time zone, once the manifest names one: the times in findings are read in it. */
  timeZone: string | null = null;
  fail(check: CheckId, item: string, code: string, key: MessageKey | Message, args?: Message["args"]): void { this.add("FAIL", check, item, code, key, args); }
  warn(check: CheckId, item: string, code: string, key: MessageKey | Message, args?: Message["args"]): void { this.add("WARN", check, item, code, key, args); }
  private add(status: "FAIL" | "WARN", check: CheckId, item: string, code: string, key: MessageKey | Message, args?: Message["args"]): void {
    this.ran(check, 0);
    const message = typeof key === "string" ? { key, args } : key;
    this.findings.push({ check, status, item, code, detail: render(message, { lang: "en", timeZone: this.timeZone }), message });
  }
}

const errCode = (e: unknown) => String((e as { code?: string }).code ?? "ERROR");

/** Verify the bundle at `path`. Never throws for a bad bundle: every problem is a finding. */
export async function verifyBundle(path: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const c = new Collector();
  const report: VerifyReport = { ok: false, checks: [], findings: c.findings, bundle: null, recordings: [], bytes: 0 };
  let zip: Archive;
  try {
    zip = await openArchive(path);
  } catch (e) {
    c.fail("bundle", path, "NOT_A_BUNDLE", "notZip", { cause: cause(e) });
    return finish(report, c);
  }
  return verifyArchive(zip, opts, c, report);
}

/**
 * Verify a bundle already opened as an Archive (the station console's in-browser verifier opens the
 * dropped File), or report why it could not be opened (`zip` is then the Error); closed at the end.
 */
export async function verifyOpened(zip: Archive | Error, name: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const c = new Collector();
  const report: VerifyReport = { ok: false, checks: [], findings: c.findings, bundle: null, recordings: [], bytes: 0 };
  if (zip instanceof Error) {
    c.fail("bundle", name, "NOT_A_BUNDLE", "notZip", { cause: cause(zip) });
    return finish(report, c);
  }
  return verifyArchive(zip, opts, c, report);
}

async function verifyArchive(zip: Archive, opts: VerifyOptions, c: Collector, report: VerifyReport): Promise<VerifyReport> {
  try {
    await verifyOpen(zip, opts, c, report);
  } catch (e) {
    // Each read and check reports its own failures; this is for one none foresaw, so that the
    // bundle still fails with what was found so far, and never passes.
    c.fail("bundle", "bundle", "VERIFY_ERROR", "verifyStopped", { cause: cause(e) });
  } finally {
    zip.close();
  }
  return finish(report, c);
}

function finish(report: VerifyReport, c: Collector): VerifyReport {
  report.checks = CHECKS.map((id) => {
    const fs = c.findings.filter((f) => f.check === id);
    return { id, status: fs.some((f) => f.status === "FAIL") ? "FAIL" : fs.length ? "WARN" : "PASS", count: c.counts.get(id) ?? 0 } as VerifyReport["checks"][number];
  }).filter((x) => x.count > 0 || x.status !== "PASS");
  report.ok = !c.findings.some((f) => f.status === "FAIL") && report.checks.length > 0;
  return report;
}

async function verifyOpen(zip: Archive, opts: VerifyOptions, c: Collector, report: VerifyReport): Promise<void> {
  // ---- the manifest and its signature
  if (zip.duplicates.length) c.fail("bundle", "bundle", "DUPLICATE_ENTRY", "duplicateEntries", { names: zip.duplicates.join(", ") });
  if (!zip.names.includes(MANIFEST_PATH) || !zip.names.includes(SIGNATURE_PATH)) {
    c.fail("bundle", "bundle", "NOT_A_BUNDLE", "noManifest", { manifest: MANIFEST_PATH, signature: SIGNATURE_PATH });
    return;
  }
  let b: Bundle;
  let manifestBytes: Uint8Array;
  try {
    manifestBytes = await readEntry(zip, MANIFEST_PATH);
    const text = new TextDecoder("utf-8", { fatal: true }).decode(manifestBytes);
    b = JSON.parse(text) as Bundle;
    if (canonicalize(b) !== text) throw new Said({ key: "notCanonical" });
    if (b.type !== BUNDLE_TYPE || b.v !== BUNDLE_VERSION) throw new Said({ key: "wrongType", args: { type: String(b.type), v: String(b.v), want: BUNDLE_TYPE, wantV: BUNDLE_VERSION } });
    if (!Array.isArray(b.recordings) || !Array.isArray(b.files) || !b.station || !b.checkpoint) throw new Said({ key: "fieldsMissing" });
  } catch (e) {
    c.fail("bundle", MANIFEST_PATH, errCode(e) === "FILE_UNREADABLE" ? "FILE_UNREADABLE" : "MANIFEST_MALFORMED", cause(e));
    return;
  }
  c.ran("bundle");
  if (knownZone(b.station.timeZone)) c.timeZone = b.station.timeZone;
  report.bundle = { id: b.id, createdAt: b.createdAt, station: b.station, export: b.export, case: b.case, checkpoint: b.checkpoint };

  let key: NoteKey;
  try {
    key = parseVerifierKey(sha, opts.stationKey ?? b.station.verifierKey);
  } catch (e) {
    c.fail("station-key", "station", errCode(e), "notKey", { cause: cause(e) });
    return;
  }
  if (!opts.stationKey) c.warn("station-key", "station", "KEY_FROM_BUNDLE", "keyFromBundle");
  else if (opts.stationKey !== b.station.verifierKey) c.warn("station-key", "station", "KEY_DIFFERS", "keyDiffers", { key: b.station.verifierKey });
  else c.ran("station-key");

  try {
    const n = openNote(await readEntry(zip, SIGNATURE_PATH), [key], ed);
    if (n.text !== bundleNoteText(sha256hex(manifestBytes))) c.fail("manifest-signature", MANIFEST_PATH, "MANIFEST_HASH", "manifestHash");
    else c.ran("manifest-signature");
  } catch (e) {
    c.fail("manifest-signature", SIGNATURE_PATH, errCode(e), "manifestSig", { cause: cause(e) });
  }

  // ---- the file list: every file listed, present, of its size and hash; nothing unlisted
  const listed = new Map<string, { size: number; sha256: string }>();
  for (const f of b.files) {
    if (typeof f.path !== "string" || f.path.startsWith("/") || f.path.split("/").includes("..") || listed.has(f.path)) c.fail("files", String(f.path), "BAD_PATH", "badPath");
    listed.set(f.path, { size: f.size, sha256: f.sha256 });
  }
  // Empty directory entries hold nothing (R-EXP-1): a bundle unpacked and zipped again gains them.
  const emptyDir = (n: string) => n.endsWith("/") && zip.size(n) === 0;
  for (const n of zip.names) if (!listed.has(n) && n !== MANIFEST_PATH && n !== SIGNATURE_PATH && !emptyDir(n)) c.fail("files", n, "UNLISTED_FILE", "unlisted");
  for (const [p] of listed) if (!zip.names.includes(p)) c.fail("files", p, "FILE_MISSING", "fileMissing");
  const checked = new Set<string>();
  // A large file's hash runs on the thread pool (WebCrypto's digest) while this thread checks its
  // chunks and C2PA hash: the same checks, two cores' worth of hashing instead of one. They are
  // awaited after each recording, so no more than one recording's media is held at a time.
  let hashing: Promise<void>[] = [];
  const settleHashes = async () => { const h = hashing; hashing = []; await Promise.all(h); };
  const readChecked = async (p: string): Promise<Uint8Array | null> => {
    const want = listed.get(p);
    if (!want) { c.fail("files", p, "NOT_LISTED", "notListed"); return null; }
    if (!zip.names.includes(p)) return null;
    // Its size in the ZIP's directory first: an entry much larger than the manifest lists is not
    // inflated (a few MB of deflate can claim gigabytes). One a little off is read, so that the
    // checks of what it holds say what was changed.
    const size = zip.size(p) ?? 0;
    if (size > want.size + READ_SLACK) {
      if (!checked.has(p)) { checked.add(p); c.fail("files", p, "FILE_HASH", "tooLarge", { size, want: want.size }); }
      return null;
    }
    let data: Uint8Array;
    try {
      data = await readEntry(zip, p);
    } catch (e) {
      if (!checked.has(p)) { checked.add(p); c.fail("files", p, "FILE_UNREADABLE", "unreadable", { cause: cause(e) }); }
      return null;
    }
    report.bytes += data.length;
    if (!checked.has(p)) {
      checked.add(p);
      const judge = (hex: string) => {
        if (data.length !== want.size || hex !== want.sha256) c.fail("files", p, "FILE_HASH", "fileHash", { size: data.length });
        else c.ran("files");
      };
      if (data.length < 1 << 20) judge(sha256hex(data));
      else hashing.push(sha256hexAsync(data).then(judge));
    }
    return data;
  };

  // ---- the checkpoint
  let root: Uint8Array | null = null;
  const cpData = await readChecked(b.checkpoint.path);
  if (cpData) {
    try {
      const cp = verifyCheckpoint(sha, ed, cpData, { log: key, witnesses: opts.witnesses ?? [] });
      if (cp.checkpoint.size !== b.checkpoint.size) c.fail("checkpoint", b.checkpoint.path, "CHECKPOINT_SIZE", "checkpointSize", { size: cp.checkpoint.size, want: b.checkpoint.size });
      else { root = cp.checkpoint.root; c.ran("checkpoint"); }
    } catch (e) {
      c.fail("checkpoint", b.checkpoint.path, errCode(e), "checkpointBad", { cause: cause(e) });
    }
  } else c.fail("checkpoint", b.checkpoint.path, "CHECKPOINT_MISSING", "checkpointMissing");

  const included = (item: string, what: Message, leaf: { index: number; entry: string; proof: string[] }): boolean => {
    if (!root) { c.fail("log-inclusion", item, "NO_CHECKPOINT", "noCheckpoint", { what }); return false; }
    try {
      const proof = leaf.proof.map((p) => fromBase64(p));
      if (!verifyInclusion(sha, leaf.index, b.checkpoint.size, leafHash(sha, new TextEncoder().encode(leaf.entry)), proof, root)) throw new Said({ key: "proofRoot" });
      c.ran("log-inclusion");
      return true;
    } catch (e) {
      c.fail("log-inclusion", item, "INCLUSION", "notIncluded", { what, leaf: leaf.index, cause: cause(e) });
      return false;
    }
  };

  // ---- the C2PA trust anchor the station signed
  let anchorPem: string | null = null;
  if (b.station.c2paAnchor) {
    const a = await readChecked(b.station.c2paAnchor);
    if (a && sha256hex(a) === b.station.c2paAnchorSha256) anchorPem = new TextDecoder().decode(a);
    else c.fail("c2pa", b.station.c2paAnchor, "ANCHOR", "anchor");
  }

  // ---- each recording
  const seals = new Map<string, Uint8Array>();
  let done = 0;
  for (const r of b.recordings) {
    const item = `${r.device}/${r.recording}`;
    opts.onProgress?.(done, b.recordings.length, item);
    const out = await verifyRecording(r, item, b, key, readChecked, included, anchorPem, opts, c);
    await settleHashes();
    if (out.sealValue) seals.set(item, out.sealValue);
    report.recordings.push({ item, chunks: r.chunks.count, excerpt: r.excerpt ? [r.excerpt.fromSeq, r.excerpt.toSeq] : null, verdict: out.verdict, station: out.station, c2pa: out.c2pa, bytes: out.bytes, times: r.times ?? null });
    done++;
  }
  opts.onProgress?.(done, b.recordings.length, "");

  // ---- genesis links between the bundle's recordings of one device (R-VER-9)
  for (const r of b.recordings) {
    const prev = seals.get(`${r.device}/${r.recording - 1}`);
    if (!prev) continue;
    const g = parseGenesis(fromHex(r.genesis));
    if (!ctEqual(g.prevSeal, prev)) c.fail("genesis-links", `${r.device}/${r.recording}`, "GENESIS_LINK", "genesisLink", { prev: `${r.device}/${r.recording - 1}` });
    else c.ran("genesis-links");
  }
  const ids = b.recordings.map((r) => `${r.device}/${r.recording}`);
  if (new Set(ids).size !== ids.length) c.fail("bundle", "bundle", "DUPLICATE_RECORDING", "duplicateRecording");

  // ---- the rest of the listed files (custody reports, station files, README) are hashed too
  for (const [p] of listed) if (!checked.has(p) && zip.names.includes(p)) await readChecked(p);
  await settleHashes();
}

/** How much larger than the manifest lists a file may be and still be read (and found changed). */
const READ_SLACK = 64 << 10;

type ReadChecked = (p: string) => Promise<Uint8Array | null>;

/** An entry's bytes; a damaged one (its deflate data, its sizes) rejects with what the ZIP reader found. */
async function readEntry(zip: Archive, name: string): Promise<Uint8Array> {
  try {
    return await zip.read(name);
  } catch (e) {
    throw new Said({ key: "entryUnreadable", args: { name, cause: cause(e) } }, "FILE_UNREADABLE");
  }
}
type Included = (item: string, what: Message, leaf: { index: number; entry: string; proof: string[] }) => boolean;

async function verifyRecording(r: BundleRecording, item: string, b: Bundle, key: NoteKey, read: ReadChecked, included: Included, anchorPem: string | null, opts: VerifyOptions, c: Collector): Promise<{ sealValue: Uint8Array | null; verdict: string; station: string | null; c2pa: string | null; bytes: number }> {
  const res = { sealValue: null as Uint8Array | null, verdict: "failed", station: null as string | null, c2pa: null as string | null, bytes: 0 };
  let genesis: Uint8Array, seal: Uint8Array, sealTag: Uint8Array, k1: Uint8Array;
  try {
    genesis = fromHex(r.genesis); seal = fromHex(r.seal); sealTag = fromHex(r.sealTag); k1 = fromHex(r.k1);
    if (genesis.length !== GENESIS_LEN || seal.length !== SEAL_LEN || sealTag.length !== TAG_LEN || k1.length !== 32) throw new Said({ key: "wrongSize" });
  } catch (e) {
    c.fail("bundle", item, "RECORDING_MALFORMED", "recordingMalformed", { cause: cause(e) });
    return res;
  }
  const cc = new ChainCrypto(sha);
  const z = cc.sealValue(seal);
  res.sealValue = z;

  // The manifest leaf: the station's signed note over it, its content against the blocks, its inclusion.
  try {
    const entry = new TextEncoder().encode(r.leaf.entry);
    const leaf = decodeLeaf(sha, entry) as RecordingLeaf;
    if (leaf.type !== "recording" || leaf.device !== r.device || leaf.recording !== r.recording) throw new Said({ key: "leafOther" });
    if (leaf.genesis !== r.genesis || leaf.seal !== r.seal) throw new Said({ key: "leafBlocks" });
    const n = openNote(r.leaf.note, [key], ed);
    if (n.text !== manifestNoteText(entry)) throw new Said({ key: "leafNote" });
    res.station = leaf.verdict;
    if (leaf.verdict !== "verified") c.warn("chain", item, "STATION_VERDICT", "stationVerdict", { verdict: word(leaf.verdict), reasons: leaf.reasons.join(", ") });
    included(item, { key: "whatManifest" }, r.leaf);
  } catch (e) {
    c.fail("log-inclusion", item, errCode(e) === "ERROR" ? "MANIFEST_LEAF" : errCode(e), "manifestLeaf", { cause: cause(e) });
  }

  // Chunks: every header and tag, in seq order (R-EXP-4).
  const records = await read(r.chunks.path);
  if (!records) { c.fail("chain", item, "CHUNKS_MISSING", "chunksMissing", { path: r.chunks.path }); return res; }
  if (records.length !== r.chunks.count * CHUNK_RECORD) c.fail("chain", item, "CHUNK_COUNT", "chunkCount", { path: r.chunks.path, n: records.length / CHUNK_RECORD, want: r.chunks.count });
  const count = Math.floor(records.length / CHUNK_RECORD);
  const header = (i: number) => records.subarray(i * CHUNK_RECORD, i * CHUNK_RECORD + HEADER_LEN);
  const lengthOf = (h: Uint8Array) => new DataView(h.buffer, h.byteOffset, HEADER_LEN).getUint32(H_LENGTH);
  const seqOf = (h: Uint8Array) => new DataView(h.buffer, h.byteOffset, HEADER_LEN).getUint32(H_SEQ);

  // Media: the disclosed payloads, by seq.
  const payloads = new Map<number, Uint8Array>();
  const from = r.excerpt ? r.excerpt.fromSeq : 1;
  const to = r.excerpt ? r.excerpt.toSeq : count;
  for (const m of r.media) {
    const data = await read(m.path);
    if (!data) { c.fail("media", item, "MEDIA_MISSING", "mediaUnreadable", { path: m.path }); continue; }
    res.bytes += data.length;
    if (m.fromSeq < 1 || m.toSeq > count || m.fromSeq > m.toSeq) { c.fail("media", item, "MEDIA_RANGE", "mediaClaims", { path: m.path, from: m.fromSeq, to: m.toSeq }); continue; }
    let body: Uint8Array = data;
    let riff: ReturnType<typeof riffChunks> = [];
    if (m.format === "wav") {
      try {
        riff = riffChunks(data);
        const d = riff.find((x) => x.id === "data");
        if (!d) throw new Said({ key: "noDataChunk" });
        body = data.subarray(d.offset, d.offset + d.size);
      } catch (e) { c.fail("media", item, "WAV_MALFORMED", "wavMalformed", { path: m.path, cause: cause(e) }); continue; }
    } else if (m.format === "jpeg" && m.c2pa) {
      // The frame as the camera wrote it is what its header's payload hash binds: the manifest out.
      try { body = jpegWithoutC2pa(data); } catch (e) { c.fail("media", item, "JPEG_MALFORMED", "jpegMalformed", { path: m.path, cause: cause(e) }); continue; }
    }
    let off = 0;
    for (let s = m.fromSeq; s <= m.toSeq; s++) {
      if (s > count) break;
      const len = lengthOf(header(s - 1));
      if (off + len > body.length) { c.fail("media", item, "MEDIA_SHORT", "mediaShort", { path: m.path, seq: s }); break; }
      let p = body.subarray(off, off + len);
      if (m.format === "wav" && r.mediaType === MEDIA_PCM_8K_U16LE) { p = Uint8Array.from(p); flipSampleSign(p); }
      payloads.set(s, p);
      off += len;
    }
    if (off !== body.length && off <= body.length) c.fail("media", item, "MEDIA_LENGTH", "mediaLength", { path: m.path, size: body.length, want: off });
    if (m.c2pa) {
      const fmt = m.format === "wav" ? "audio/wav" : "image/jpeg";
      const v = m.format === "wav" && !opts.c2paFull && riff.length
        ? await validateWavC2paFast(data, anchorPem, C2PA_ASSERTION, riff, sha256Parts)
        : await validateC2pa(fmt, data, anchorPem, C2PA_ASSERTION);
      res.c2pa = v.state;
      const a = v.assertion;
      if (v.state !== "Trusted") c.fail("c2pa", item, v.failures[0] ?? "C2PA_INVALID", "c2paState", { path: m.path, state: { key: v.state === "Valid" ? "c2paValid" : "c2paInvalid", args: { state: v.state } }, failures: v.failures.length ? ` (${v.failures.join(", ")})` : "" });
      else if (!a || a.device !== r.device || a.recording !== r.recording || a.sealValue !== toHex(z) || a.logIndex !== r.leaf.index || a.fromSeq !== m.fromSeq || a.toSeq !== m.toSeq) c.fail("c2pa", item, "C2PA_ASSERTION", "c2paAssertion", { path: m.path });
      else if (!v.actions.includes("c2pa.created")) c.fail("c2pa", item, "C2PA_ACTION", "c2paAction", { path: m.path });
      else c.ran("c2pa");
    }
  }
  for (let s = from; s <= to; s++) if (!payloads.has(s)) { c.fail("media", item, "MEDIA_MISSING", "chunkMediaMissing", { seq: s }); break; }
  for (const s of payloads.keys()) if (s < from || s > to) { c.fail("media", item, "MEDIA_RANGE", "chunkMediaOutside", { seq: s, from, to }); break; }

  // The chain, through the protocol's verifier, with this recording's disclosed K_1.
  const v = new RecordingVerifier<undefined>({ sha, deviceId: r.device, recordingId: r.recording, k1, window: 1 << 30, maxPending: 1 << 30 });
  const notes: { code: string; seq?: number; detail?: string }[] = [];
  const take = (x: { status: string; reasons: { code: string; seq?: number; detail?: string }[] }) => { for (const q of x.reasons) if (severityOf(q.code) === "forged" || severityOf(q.code) === "fail" || severityOf(q.code) === "reject") notes.push(q); };
  take(v.start({ genesis, caseTag: r.caseTag }));
  let ordered = true;
  for (let i = 0; i < count; i++) {
    const h = header(i);
    if (ordered && seqOf(h) !== i + 1) { ordered = false; c.fail("chain", item, "CHUNK_ORDER", "chunkOrder", { i: i + 1, path: r.chunks.path, seq: seqOf(h) }); }
    const tag = records.subarray(i * CHUNK_RECORD + HEADER_LEN, (i + 1) * CHUNK_RECORD);
    const payload = payloads.get(i + 1) ?? (i + 1 < from || i + 1 > to ? WITHHELD : new Uint8Array(0));
    take(v.chunk({ header: h, payload, tag }, undefined));
  }
  take(v.seal({ block: seal, tag: sealTag, caseTag: r.sealCaseTag }));
  take(v.finish());
  const rep = v.report();
  v.destroy();
  for (const q of rep.reasons) if (severityOf(q.code) !== "info") notes.push(q);
  const seen = new Set<string>();
  // A chunk the checks refused leaves a gap in the chain though its record is in the bundle: the
  // gap's finding says so, so that a changed chunk is not read as a missing one.
  const refused = [...new Set(notes.filter((q) => q.seq !== undefined && q.code !== "GAP").map((q) => q.seq!))].sort((x, y) => x - y);
  for (const q of notes) {
    const check = VERIFY_FAIL_CHECK[q.code] ?? "chain";
    const k = `${check}:${q.code}:${q.seq ?? ""}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const what: Message = q.code === "GAP" && refused.length ? { key: "gapRefused", args: { seqs: refused.slice(0, 10).join(", ") + (refused.length > 10 ? ", ..." : "") } } : q.code in MESSAGES ? { key: q.code as MessageKey } : { key: "otherReason", args: { code: q.code } };
    // The protocol's detail: the missing ranges of a gap, said in both languages; its words otherwise (English only).
    const detail: Message | "" = !q.detail ? "" : q.code === "GAP" ? { key: "gapRanges", args: { detail: q.detail } } : { key: "noteDetail", args: { detail: q.detail } };
    c.fail(check, item, q.code, "chainNote", { at: q.seq !== undefined ? { key: "atChunk", args: { seq: q.seq } } : "", detail, what });
  }
  if (!notes.some((q) => VERIFY_FAIL_CHECK[q.code] === "chain" || !VERIFY_FAIL_CHECK[q.code])) c.ran("chain");
  if (!notes.some((q) => VERIFY_FAIL_CHECK[q.code] === "device-tags")) c.ran("device-tags", count + 1);
  if (!notes.some((q) => VERIFY_FAIL_CHECK[q.code] === "media")) c.ran("media");
  if (!notes.some((q) => VERIFY_FAIL_CHECK[q.code] === "seal")) c.ran("seal");
  res.verdict = rep.verdict;
  const sb = parseSeal(seal);
  if (sb.lastSeq !== count) c.fail("seal", item, "SEAL_COUNT", "sealCount", { n: sb.lastSeq, count });

  // Custody: each event's commitment, its leaf and proof, and their order; this export among them.
  verifyCustody(r, item, b, included, c);
  return res;
}

function verifyCustody(r: BundleRecording, item: string, b: Bundle, included: Included, c: Collector): void {
  let lastAt = -Infinity;
  let lastLink = -1, lastLinkLeaf = -1, lastAudit = -1, lastAuditLeaf = -1;
  let exportSeen = false;
  let ok = true;
  const bad = (code: string, key: MessageKey, args?: Message["args"]) => { ok = false; c.fail("custody-order", item, code, key, args); };
  for (const e of r.custody) {
    if (e.at < lastAt) bad("CUSTODY_ORDER", "custodyLater", { action: word(e.action), at: { time: e.at } });
    lastAt = Math.max(lastAt, e.at);
    const ev = e.event as Record<string, unknown>;
    let commit: string | null = null;
    try {
      if (e.kind === "link") {
        commit = linkEventCommit(sha, { id: Number(ev.id), at: Number(ev.at), actor: String(ev.actor), action: String(ev.action), device: String(ev.device), recording: Number(ev.recording), case: String(ev.case), reason: String(ev.reason) });
        if (ev.device !== r.device || ev.recording !== r.recording || ev.at !== e.at || ev.actor !== e.actor) bad("CUSTODY_EVENT", "linkOther", { id: String(ev.id) });
        if (Number(ev.id) <= lastLink) bad("CUSTODY_ORDER", "linkOrder", { id: String(ev.id) });
        lastLink = Number(ev.id);
      } else if (e.kind === "audit") {
        const h = auditEntryHash(sha, { seq: Number(ev.seq), at: Number(ev.at), actor: String(ev.actor), action: String(ev.action), target: ev.target === null ? null : String(ev.target), reason: ev.reason === null ? null : String(ev.reason), details: ev.details === null ? null : String(ev.details), prev: String(ev.prev) });
        if (h !== ev.hash) bad("CUSTODY_EVENT", "auditHash", { seq: String(ev.seq) });
        if (ev.target !== item || ev.at !== e.at || ev.actor !== e.actor) bad("CUSTODY_EVENT", "auditOther", { seq: String(ev.seq) });
        if (Number(ev.seq) <= lastAudit) bad("CUSTODY_ORDER", "auditOrder", { seq: String(ev.seq) });
        lastAudit = Number(ev.seq);
        commit = h;
        if (ev.action === "recording.export" && ev.actor === b.export.by && ev.reason === b.export.reason && typeof ev.details === "string" && ev.details.includes(`"export":"${b.id}"`)) exportSeen = !!e.leaf;
      }
    } catch (err) {
      bad("CUSTODY_EVENT", "eventBad", { kind: word(e.kind), cause: cause(err) });
    }
    if (e.leaf && commit !== null) {
      try {
        const leaf = decodeLeaf(sha, new TextEncoder().encode(e.leaf.entry)) as CustodyLeaf;
        if (leaf.type !== "custody" || leaf.commit !== commit || leaf.device !== r.device || leaf.recording !== r.recording || leaf.at !== e.at || leaf.action !== e.action) bad("CUSTODY_LEAF", "leafNotEvent", { leaf: e.leaf.index, action: word(e.action) });
        if (e.kind === "link") { if (e.leaf.index <= lastLinkLeaf) bad("CUSTODY_ORDER", "linkLeafOrder"); lastLinkLeaf = e.leaf.index; }
        else { if (e.leaf.index <= lastAuditLeaf) bad("CUSTODY_ORDER", "auditLeafOrder"); lastAuditLeaf = e.leaf.index; }
        included(item, { key: "whatCustody", args: { action: word(e.action) } }, e.leaf);
      } catch (err) {
        bad("CUSTODY_LEAF", "leafBad", { leaf: e.leaf.index, cause: cause(err) });
      }
    }
  }
  if (!exportSeen) bad("EXPORT_UNLOGGED", "exportUnlogged");
  if (ok) c.ran("custody-order");
}
