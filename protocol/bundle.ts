// The export bundle (SPEC.md section 15, docs/EVIDENCE.md): one ZIP that the station writes and
// anyone verifies offline. This file is the format's one definition in code: names, the
// manifest's shape, the chunk record layout and the WAV framing, shared by the station's
// exporter and the offline verifier. Sans-IO.
import { HEADER_LEN, TAG_LEN } from "./constants.js";
import { concat } from "./bytes.js";

export const BUNDLE_TYPE = "evrec-export";
export const BUNDLE_VERSION = 1;
/** First line of the signed note over the manifest's hash (R-EXP-2). */
export const BUNDLE_NOTE_HEADER = "evrec/export-bundle/v1";
export const MANIFEST_PATH = "bundle.json";
export const SIGNATURE_PATH = "bundle.sig";
export const CHECKPOINT_PATH = "log/checkpoint";
export const README_PATH = "README.txt";
/** One chunk in chunks.bin: its 128-byte header then its 32-byte tag (R-EXP-4). */
export const CHUNK_RECORD = HEADER_LEN + TAG_LEN;
/** The label of the station's own C2PA assertion (R-EXP-8). */
export const C2PA_ASSERTION = "cn.evrec.recording";

/** The note text the station signs for a bundle: the header line and the manifest's SHA-256 in hex. */
export function bundleNoteText(manifestSha256Hex: string): string {
  return BUNDLE_NOTE_HEADER + "\n" + manifestSha256Hex + "\n";
}

/** Where a recording's files live in the bundle. */
export function recordingDir(device: string, recording: number): string {
  return "recordings/" + device + "/" + recording + "/";
}

export interface BundleFile { path: string; size: number; sha256: string }

/** A leaf of the transparency log with its inclusion proof in the bundle's checkpoint (base64 hashes). */
export interface BundleLeaf { index: number; entry: string; proof: string[] }

/**
 * A custody event disclosed in full (R-LOG-4): a link or unlink from the custody trail, or an
 * audit entry (view, download, denial, export, hold...). `leaf` is null for an event the
 * checkpoint does not cover, and for station records that are not log leaves (approvals).
 */
export interface BundleCustodyEvent {
  kind: "link" | "audit" | "approval";
  at: number;
  actor: string;
  action: string;
  reason: string;
  /** link: {id, at, actor, action, device, recording, case, reason}; audit: the entry's stored fields and hash; approval: the request. */
  event: Record<string, unknown>;
  leaf: BundleLeaf | null;
}

export interface BundleMedia {
  path: string;
  /** wav: PCM chunks (media types 1 and 4) as one WAV; jpeg, segment, bin: one file per chunk as written. */
  format: "wav" | "jpeg" | "segment" | "bin";
  /** The chunks whose payloads it holds, in seq order. */
  fromSeq: number;
  toSeq: number;
  /** Whether it carries a C2PA manifest signed with the station's certificate. */
  c2pa: boolean;
}

export interface BundleTimes {
  /** The device's own times (R-HDR-3, R-SEAL-1): start of chunk 1 (or of the excerpt) and end. */
  deviceStartMs: number;
  deviceEndMs: number;
  /** The start in station time: device time corrected by the device's clock offset. */
  stationStartMs: number;
  /** What the station can vouch for: the start lies in [notBeforeMs, notAfterMs]; errorMs is that span's width. */
  notBeforeMs: number | null;
  notAfterMs: number;
  errorMs: number | null;
  /** How the bounds were found, in words. */
  basis: string;
  /** Why the station doubted the device's time, if it did. */
  flag: string | null;
}

export interface BundleRecording {
  device: string;
  recording: number;
  /** R-HDR-6 media type of the recording. */
  mediaType: number;
  /** Genesis and seal blocks, seal tag (hex) and the case tags beside them. */
  genesis: string;
  caseTag: string;
  seal: string;
  sealTag: string;
  sealCaseTag: string;
  /** This recording's K_1 (R-KEY-6), disclosed: it reveals this recording's chunk keys and nothing else. */
  k1: string;
  chunks: { path: string; count: number };
  media: BundleMedia[];
  /** Set when only some chunks' payloads are disclosed (R-EXP-6). */
  excerpt: { fromSeq: number; toSeq: number; fromMs: number; toMs: number } | null;
  /** The manifest leaf (R-LOG-3), the station's signed note over it, and its inclusion proof. */
  leaf: BundleLeaf & { note: string };
  custody: BundleCustodyEvent[];
  custodyReport: { json: string; pdf: string };
  times: BundleTimes;
  verdict: string;
  officer: { badge: string; name: string; unit: string } | null;
}

export interface Bundle {
  type: typeof BUNDLE_TYPE;
  v: typeof BUNDLE_VERSION;
  id: string;
  createdAt: number;
  /** `timeZone`: the station's IANA time zone, in which its people read times (bundles made before it was recorded lack it). */
  station: { name: string; verifierKey: string; c2paChain: string; c2paAnchor: string | null; c2paAnchorSha256: string | null; timeZone?: string };
  export: { by: string; role: string; reason: string; grant: number; scope: "recording" | "case"; target: string };
  auditHead: { count: number; hash: string };
  checkpoint: { path: string; size: number };
  case: { number: string; unit: string; category: string; activityKind: string; policy: string; windowStart: number; windowEnd: number; confidentiality: number } | null;
  recordings: BundleRecording[];
  files: BundleFile[];
}

/** A canonical 44-byte header of a mono 16-bit 8 kHz PCM WAV with `dataBytes` of samples (R-EXP-7). */
export function wavHeader(dataBytes: number, sampleRate = 8000): Uint8Array {
  const b = new Uint8Array(44);
  const dv = new DataView(b.buffer);
  const tag = (o: number, s: string) => { for (let i = 0; i < 4; i++) b[o + i] = s.charCodeAt(i); };
  tag(0, "RIFF"); dv.setUint32(4, 36 + dataBytes + (dataBytes & 1), true); tag(8, "WAVE");
  tag(12, "fmt "); dv.setUint32(16, 16, true); dv.setUint16(20, 1, true); dv.setUint16(22, 1, true);
  dv.setUint32(24, sampleRate, true); dv.setUint32(28, sampleRate * 2, true); dv.setUint16(32, 2, true); dv.setUint16(34, 16, true);
  tag(36, "data"); dv.setUint32(40, dataBytes, true);
  return b;
}

/** The top-level chunks of a RIFF file: id, offset of its data and its size. Throws on a malformed file. */
export function riffChunks(b: Uint8Array): { id: string; offset: number; size: number }[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const id = (o: number) => String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]);
  if (b.length < 12 || id(0) !== "RIFF" || id(8) !== "WAVE") throw new Error("not a RIFF WAVE file");
  const end = Math.min(b.length, 8 + dv.getUint32(4, true));
  const out: { id: string; offset: number; size: number }[] = [];
  for (let p = 12; p + 8 <= end;) {
    const size = dv.getUint32(p + 4, true);
    if (p + 8 + size > end) throw new Error("RIFF chunk " + JSON.stringify(id(p)) + " runs past the end of the file");
    out.push({ id: id(p), offset: p + 8, size });
    p += 8 + size + (size & 1);
  }
  return out;
}

/**
 * A JPEG with the C2PA manifest store that signing embedded in it taken out again (R-EXP-7): the
 * APP11 segments that carry it as JUMBF (ISO 19566-5: "JP", the box instance number, the packet's
 * sequence number, then the superbox), found by its first packet's superbox being labelled
 * "c2pa", and every later packet of that box instance. What is left is the frame as the camera
 * wrote it, byte for byte: every other segment as it was, and everything from the start of scan on
 * copied as it is. Throws on a file that is not a JPEG, or whose segments run past its end.
 */
export function jpegWithoutC2pa(b: Uint8Array): Uint8Array {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) throw new Error("not a JPEG file");
  const u32 = (o: number) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  const ascii = (o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));
  const keep: Uint8Array[] = [b.subarray(0, 2)];
  const manifests = new Set<number>();
  let p = 2;
  for (;;) {
    if (p + 2 > b.length) throw new Error("the file ends before its start of scan");
    if (b[p] !== 0xff) throw new Error(`no marker at byte ${p}`);
    const marker = b[p + 1];
    if (marker === 0xff) { keep.push(b.subarray(p, p + 1)); p++; continue; } // a fill byte
    if (marker === 0xda || marker === 0xd9) break; // start of scan, or end of image: the rest as it is
    if (p + 4 > b.length) throw new Error(`the segment at byte ${p} runs past the end of the file`);
    const end = p + 2 + ((b[p + 2] << 8) | b[p + 3]);
    if (end < p + 4 || end > b.length) throw new Error(`the segment at byte ${p} runs past the end of the file`);
    let drop = false;
    // APP11 with "JP": box instance (2 bytes), packet sequence (4), then the superbox (LBox, "jumb"),
    // whose first box is its description (LBox, "jumd", a 16-byte type, toggles, then its label).
    if (marker === 0xeb && end - p >= 12 && ascii(p + 4, 2) === "JP") {
      const instance = (b[p + 6] << 8) | b[p + 7];
      const box = p + 12;
      if (u32(p + 8) === 1 && end - box >= 42 && ascii(box + 4, 4) === "jumb" && ascii(box + 12, 4) === "jumd" && (b[box + 32] & 0x02) && ascii(box + 33, 5) === "c2pa\0") manifests.add(instance);
      drop = manifests.has(instance);
    }
    if (!drop) keep.push(b.subarray(p, end));
    p = end;
  }
  keep.push(b.subarray(p));
  return concat(keep);
}

/**
 * Flip bit 15 of each little-endian 16-bit sample in place: media type 4 (unsigned, as the ADC
 * gave it) to type 1 (signed) for a WAV, and back (R-HDR-6). Word-wise where aligned.
 */
export function flipSampleSign(b: Uint8Array): void {
  let i = 0;
  if (b.byteOffset % 4 === 0) {
    const w = new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2);
    // Little-endian words: bytes 1 and 3 hold the high halves of two samples.
    const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    const mask = le ? 0x80008000 : 0x00800080;
    for (let k = 0; k < w.length; k++) w[k] ^= mask;
    i = w.length * 4;
  }
  for (i += 1; i < b.length; i += 2) b[i] ^= 0x80;
}
