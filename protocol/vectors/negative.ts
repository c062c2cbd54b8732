// Negative (and tricky positive) vectors: each names the messages a verifier receives, in order,
// and the verdict and reason codes it must produce (SPEC.md section 9).
import type { Sha256 } from "../bytes.js";
import { fromHex, toHex } from "../bytes.js";
import { deriveDeviceKeys, recordingKey } from "../chain.js";
import { deviceIdBytes } from "../blocks.js";
import { ChainWriter } from "../writer.js";
import { DownlinkSigner } from "../downlink.js";
import { encode } from "../codec.js";
import { AckState } from "../schema.js";
import { MEDIA_PCM_8K_S16LE } from "../constants.js";
import { DEVICE, HISTORY, ROOT_HEX, buildHistory, detBytes } from "./build.js";
import type { VRecording } from "./build.js";

type Hex = string;
export type Event =
  | { type: "start"; genesis: Hex; caseTag: string }
  | { type: "chunk"; header: Hex; payload: Hex; tag: Hex }
  | { type: "seal"; block: Hex; tag: Hex; caseTag: string };

export interface RecordingCase {
  scope: "recording";
  name: string;
  description: string;
  recordingId: number;
  k1: Hex;
  prevSeal: Hex | null;
  events: Event[];
  /**
   * `reasons`: codes the verdict lists. `refused`: codes of messages refused on the way, forged
   * ones above all (R-VER-0): they change no verdict, and an offline check names each of them.
   */
  expect: { verdict: "verified" | "incomplete" | "failed"; reasons: string[]; refused: string[] };
}
export interface HistoryCase {
  scope: "history";
  name: string;
  description: string;
  recordings: { recordingId: number; events: Event[] }[];
  claimedLastSealed?: number;
  expect: { verdict: "verified" | "incomplete" | "failed"; reasons: string[] };
}
export interface DownlinkCase {
  name: string;
  description: string;
  sessionNonce: Hex | null;
  acceptedBefore: { counter: number; body: Hex; mac: Hex }[];
  message: { counter: number; body: Hex; mac: Hex };
  expect: string;
}

function events(r: VRecording): Event[] {
  const ev: Event[] = [{ type: "start", genesis: r.start.genesis, caseTag: r.start.caseTag }];
  for (const c of r.chunks) ev.push({ type: "chunk", header: c.header, payload: c.payload, tag: c.tag });
  ev.push({ type: "seal", block: r.seal.block, tag: r.seal.tag, caseTag: r.seal.caseTag });
  return ev;
}

function flip(hex: Hex, byte: number): Hex {
  const b = fromHex(hex);
  b[byte] ^= 0x01;
  return toHex(b);
}

/** Chunks re-made by a writer holding key `k1` (a device's own key, or a forger's). */
function remade(sha: Sha256, r: VRecording, k1: Uint8Array, upto: number, payloadFor: (seq: number, orig: Uint8Array) => Uint8Array): Event[] {
  const w = new ChainWriter(sha, deviceIdBytes(DEVICE), r.recordingId, k1, 0, fromHex(r.start.c0), 0);
  const out: Event[] = [];
  for (const c of r.chunks.slice(0, upto)) {
    const hdr = fromHex(c.header);
    const payload = payloadFor(c.seq, fromHex(c.payload));
    const o = w.chunk(payload, c.flags, MEDIA_PCM_8K_S16LE, c.timeMs, c.durationMs, new DataView(hdr.buffer).getUint32(40), hdr.subarray(80, 96));
    out.push({ type: "chunk", header: toHex(o.header), payload: toHex(payload), tag: toHex(o.tag) });
  }
  w.destroy();
  return out;
}

export function buildNegative(sha: Sha256): { recording: RecordingCase[]; history: HistoryCase[]; downlink: DownlinkCase[] } {
  const h = buildHistory(sha, ROOT_HEX, HISTORY);
  const r1 = h[0];
  const base = events(r1);
  const rc = (name: string, description: string, ev: Event[], verdict: RecordingCase["expect"]["verdict"], reasons: string[], rec?: VRecording, prevSeal?: Hex | null, refused: string[] = []): RecordingCase => {
    const r = rec || r1;
    return { scope: "recording", name, description, recordingId: r.recordingId, k1: r.k1, prevSeal: prevSeal === undefined ? "00".repeat(32) : prevSeal, events: ev, expect: { verdict, reasons, refused } };
  };
  // A message that is not the device's is refused and missed: the recording is incomplete, with
  // the loss final (the bundle, or the device, holds nothing more), and the refusal named.
  const forged = (name: string, description: string, ev: Event[], refused: string[], reasons: string[] = ["GAP", "LOST_ON_DEVICE"]) =>
    rc(name, description, ev, "incomplete", reasons, undefined, undefined, refused);
  const rec: RecordingCase[] = [];
  rec.push(rc("intact", "recording 1 as sent", base, "verified", []));
  rec.push(rc("reordered-delivery", "chunks 2 and 3 arrive in the opposite order: buffered, then linked", [base[0], base[1], base[3], base[2], base[4], base[5]], "verified", []));
  rec.push(rc("start-after-chunks", "the start arrives after the chunks", [base[1], base[2], base[3], base[4], base[0], base[5]], "verified", []));
  {
    const ev = base.slice();
    const c = ev[2] as Extract<Event, { type: "chunk" }>;
    ev[2] = { ...c, payload: flip(c.payload, 7) };
    rec.push(forged("flipped-payload-byte", "one bit of chunk 2's payload flipped: the payload no longer matches its tagged header", ev, ["PAYLOAD_HASH"]));
  }
  {
    const ev = base.slice();
    const c = ev[2] as Extract<Event, { type: "chunk" }>;
    ev[2] = { ...c, header: flip(c.header, 31) };
    rec.push(forged("flipped-header-byte", "one bit of chunk 2's device time flipped", ev, ["TAG"]));
  }
  {
    const ev = base.slice();
    const c = ev[2] as Extract<Event, { type: "chunk" }>;
    ev[2] = { ...c, header: flip(c.header, 100) };
    rec.push(forged("flipped-prev-byte", "one bit of chunk 2's previous chain value flipped", ev, ["TAG"]));
  }
  {
    const ev = base.slice();
    const a = ev[2] as Extract<Event, { type: "chunk" }>, b = ev[3] as Extract<Event, { type: "chunk" }>;
    const ha = fromHex(a.header), hb = fromHex(b.header);
    const sa = ha.slice(24, 28), sb = hb.slice(24, 28);
    ha.set(sb, 24); hb.set(sa, 24);
    ev[2] = { ...b, header: toHex(hb) };
    ev[3] = { ...a, header: toHex(ha) };
    rec.push(forged("swapped-chunks", "chunks 2 and 3 exchange places, their seq fields rewritten to fit", ev, ["TAG", "TAG"]));
  }
  {
    const ev = base.slice();
    const a = ev[2] as Extract<Event, { type: "chunk" }>, b = ev[3] as Extract<Event, { type: "chunk" }>;
    ev[2] = { ...a, payload: b.payload };
    ev[3] = { ...b, payload: a.payload };
    rec.push(forged("swapped-payloads", "the payloads of chunks 2 and 3 exchanged", ev, ["PAYLOAD_HASH", "PAYLOAD_HASH"]));
  }
  rec.push(rc("dropped-chunk", "chunk 2 never arrives and the device no longer holds it", [base[0], base[1], base[3], base[4], base[5]], "incomplete", ["GAP", "LOST_ON_DEVICE"]));
  rec.push(rc("dropped-final-chunk-no-seal", "the last chunk and the seal never arrive", base.slice(0, 4), "incomplete", ["MISSING_SEAL"]));
  rec.push(rc("dropped-start", "the start never arrives", base.slice(1), "incomplete", ["MISSING_START"]));
  {
    const other = buildHistory(sha, "11".repeat(32), HISTORY.slice(0, 1))[0];
    rec.push(forged("wrong-key", "recording 1 as made by a device with another root secret", [base[0], ...events(other).slice(1, 5)], ["TAG", "TAG", "TAG", "TAG"], ["MISSING_START", "MISSING_SEAL", "LOST_ON_DEVICE"]));
  }
  {
    // The attacker seizes the device during recording 3: it holds S_3 and recording 3's K_1.
    // Its best try at rewriting chunk 2 of recording 1: derive "recording 1's key" from what it has.
    const r3 = h[2];
    const forgedK = recordingKey(sha, fromHex(r3.nextStateKey), 1);
    const forgedLater = remade(sha, r1, forgedK, 2, (seq, p) => (seq === 2 ? detBytes(4242, p.length) : p));
    rec.push(forged("forged-with-later-key", "chunk 2 of recording 1 rewritten and re-tagged with a key derived from the state seized during recording 3", [base[0], base[1], forgedLater[1], base[3], base[4], base[5]], ["TAG"]));
    const forgedK1 = remade(sha, r1, fromHex(r3.k1), 2, (seq, p) => (seq === 2 ? detBytes(4243, p.length) : p));
    rec.push(forged("forged-with-open-recording-key", "chunk 2 of recording 1 re-tagged with the seized K_1 of recording 3", [base[0], base[1], forgedK1[1], base[3], base[4], base[5]], ["TAG"]));
  }
  rec.push(rc("duplicate-chunk", "chunk 2 arrives twice, byte for byte", [base[0], base[1], base[2], base[2], base[3], base[4], base[5]], "verified", ["DUPLICATE"]));
  {
    const eq = remade(sha, r1, fromHex(r1.k1), 2, (seq, p) => (seq === 2 ? detBytes(5151, p.length) : p));
    rec.push(rc("equivocation", "the device signs two different chunks 2", [base[0], base[1], base[2], eq[1], base[3], base[4], base[5]], "failed", ["EQUIVOCATION"]));
  }
  {
    const ev = base.slice();
    const s = ev[5] as Extract<Event, { type: "seal" }>;
    ev[5] = { ...s, block: flip(s.block, 27) };
    rec.push(forged("seal-last-seq-changed", "the seal's last seq rewritten from 4 to 5", ev, ["SEAL_TAG"], ["MISSING_SEAL", "LOST_ON_DEVICE"]));
  }
  {
    const extra = remade(sha, r1, fromHex(r1.k1), 4, (_seq, p) => p);
    const w = new ChainWriter(sha, deviceIdBytes(DEVICE), 1, fromHex(r1.k1), 4, fromHex(r1.chunks[3].chain), 1544);
    const o = w.chunk(detBytes(6000, 50), 0, MEDIA_PCM_8K_S16LE, r1.chunks[3].timeMs + 400, 100, 9000, new Uint8Array(16));
    const ev5: Event = { type: "chunk", header: toHex(o.header), payload: toHex(detBytes(6000, 50)), tag: toHex(o.tag) };
    w.destroy();
    rec.push(rc("chunk-after-seal", "a device-signed chunk 5 after a seal whose last seq is 4", [base[0], ...extra, base[5], ev5], "failed", ["SEQ_AFTER_SEAL"]));
  }
  rec.push(rc("interrupted", "recording 2, sealed as interrupted after a reboot", events(h[1]), "verified", ["INTERRUPTED"], h[1], r1.seal.value));
  rec.push(rc("pre-event-and-marker", "recording 3, with pre-event chunks and a marker", events(h[2]), "verified", [], h[2], h[1].seal.value));
  rec.push(rc("empty-recording", "recording 4: started and sealed with no chunk", events(h[3]), "verified", [], h[3], h[2].seal.value));
  rec.push(rc("genesis-link-broken", "recording 2 checked against a previous seal value it does not bind", events(h[1]), "failed", ["GENESIS_LINK"], h[1], h[0].chunks[0].chain));
  {
    const ev = events(h[2]);
    const st = ev[0] as Extract<Event, { type: "start" }>;
    ev[0] = { ...st, caseTag: "2026-INS-0010" };
    rec.push(rc("case-tag-changed", "recording 3's start carries a case tag that the genesis does not hash: refused, the chunks wait for a start", ev, "incomplete", ["MISSING_START"], h[2], h[1].seal.value, ["CASE_TAG_MISMATCH"]));
  }

  // R-VER-0: junk from someone holding only the device's login changes no verdict.
  {
    const c2 = base[2] as Extract<Event, { type: "chunk" }>;
    const junk: Event = { ...c2, payload: toHex(detBytes(777, 64)) };
    rec.push(rc("junk-chunk-after-seal", "a copy of chunk 2's tagged header and tag with another payload, after the seal: refused, the recording stays verified", [...base, junk], "verified", [], undefined, undefined, ["PAYLOAD_LENGTH"]));
    const badTag: Event = { ...c2, tag: flip(c2.tag, 0) };
    rec.push(rc("junk-tag-after-seal", "chunk 2 again with a tag that does not verify, after the seal: refused, verified stays", [...base, badTag], "verified", [], undefined, undefined, ["TAG"]));
    const s5 = base[5] as Extract<Event, { type: "seal" }>;
    const badSeal: Event = { ...s5, block: flip(s5.block, 40) };
    rec.push(rc("junk-seal-after-seal", "a second seal with its byte total changed and the old tag: refused, verified stays", [...base, badSeal], "verified", [], undefined, undefined, ["SEAL_TAG"]));
  }
  {
    // A start made up by someone with the login (no key): whichever arrives first, chunk 1's tag picks the device's.
    const st = base[0] as Extract<Event, { type: "start" }>;
    const fake: Event = { ...st, genesis: flip(st.genesis, 30) };
    rec.push(rc("forged-start-first", "a made-up start arrives before the device's: the device's is confirmed by chunk 1, the other refused", [fake, ...base], "verified", [], undefined, undefined, ["START_UNCONFIRMED"]));
    rec.push(rc("forged-start-after", "a made-up start after the chunks: refused, the recording stays verified", [...base, fake], "verified", [], undefined, undefined, ["START_UNCONFIRMED"]));
  }
  {
    const ev = base.slice();
    const s5 = ev[5] as Extract<Event, { type: "seal" }>;
    ev[5] = { ...s5, caseTag: "2026-FAKE-1" };
    rec.push(rc("seal-case-tag-changed", "the seal arrives with a case tag its block does not hash: refused, the seal is missing", ev, "incomplete", ["MISSING_SEAL"], undefined, undefined, ["CASE_TAG_MISMATCH"]));
  }

  const hist = (name: string, description: string, recs: VRecording[], verdict: HistoryCase["expect"]["verdict"], reasons: string[], claimed?: number): HistoryCase =>
    ({ scope: "history", name, description, recordings: recs.map((r) => ({ recordingId: r.recordingId, events: events(r) })), claimedLastSealed: claimed, expect: { verdict, reasons } });
  const history: HistoryCase[] = [
    hist("history-intact", "all four recordings", h, "verified", [], 4),
    hist("dropped-recording", "recording 2 removed from the history", [h[0], h[2], h[3]], "incomplete", ["RECORDING_MISSING"], 4),
    hist("dropped-latest-recording", "recording 4 removed; the device's Hello says 4 is sealed", [h[0], h[1], h[2]], "incomplete", ["RECORDING_MISSING"], 4),
  ];
  {
    // Recording 2 made again by the device's own keys, but binding something other than recording 1's seal.
    const bad = buildHistory(sha, ROOT_HEX, HISTORY.slice(0, 2), { 2: detBytes(31337, 32) });
    history.push(hist("genesis-not-bound", "recording 2's genesis binds a value other than recording 1's seal", [h[0], bad[1], h[2], h[3]], "failed", ["GENESIS_LINK"], 4));
  }

  // Downlink (R-DL): one connection with nonce N2; an older connection had nonce N1.
  const kd = deriveDeviceKeys(sha, fromHex(ROOT_HEX)).downlinkKey;
  const dev = deviceIdBytes(DEVICE);
  const n1 = detBytes(701, 16), n2 = detBytes(702, 16);
  const ackBody = encode("DownBody", { ack: { recording: 3, state: AckState.ACK_SEALED, cumulative: 5 } });
  const old = new DownlinkSigner(sha, kd, dev, n1);
  const oldMsg = old.sign(ackBody);
  const cur = new DownlinkSigner(sha, kd, dev, n2);
  const m1 = cur.sign(encode("DownBody", { ack: { recording: 3, state: AckState.ACK_OPEN, cumulative: 2 } }));
  const m1body = encode("DownBody", { ack: { recording: 3, state: AckState.ACK_OPEN, cumulative: 2 } });
  const m2 = cur.sign(ackBody);
  old.destroy(); cur.destroy();
  const hx = (c: number, b: Uint8Array, m: Uint8Array) => ({ counter: c, body: toHex(b), mac: toHex(m) });
  const badMac = m2.mac.slice(); badMac[0] ^= 1;
  const forgedBody = encode("DownBody", { ack: { recording: 3, state: AckState.ACK_SEALED, cumulative: 500 } });
  const downlink: DownlinkCase[] = [
    { name: "ack-valid", description: "an Ack with a good MAC and the next counter", sessionNonce: toHex(n2), acceptedBefore: [hx(1, m1body, m1.mac)], message: hx(2, ackBody, m2.mac), expect: "" },
    { name: "ack-bad-mac", description: "an Ack whose MAC has one bit flipped", sessionNonce: toHex(n2), acceptedBefore: [hx(1, m1body, m1.mac)], message: hx(2, ackBody, badMac), expect: "DOWNLINK_MAC" },
    { name: "ack-forged-body", description: "an Ack claiming more than was stored, with the MAC of another Ack", sessionNonce: toHex(n2), acceptedBefore: [hx(1, m1body, m1.mac)], message: hx(2, forgedBody, m2.mac), expect: "DOWNLINK_MAC" },
    { name: "ack-old-nonce", description: "an Ack MAC'd for an earlier connection's nonce, replayed on this one", sessionNonce: toHex(n2), acceptedBefore: [], message: hx(oldMsg.counter, ackBody, oldMsg.mac), expect: "DOWNLINK_MAC" },
    { name: "ack-replayed-counter", description: "a valid Ack delivered again within the connection", sessionNonce: toHex(n2), acceptedBefore: [hx(1, m1body, m1.mac), hx(2, ackBody, m2.mac)], message: hx(2, ackBody, m2.mac), expect: "DOWNLINK_REPLAY" },
    { name: "ack-before-hello", description: "an Ack before the device has sent Hello on this connection", sessionNonce: null, acceptedBefore: [], message: hx(1, m1body, m1.mac), expect: "DOWNLINK_NO_SESSION" },
  ];
  return { recording: rec, history, downlink };
}
