// Builds every golden vector from fixed inputs with the SHA-256 path it is given.
// generate.ts writes the result to the JSON files beside it; the tests rebuild it with each
// SHA-256 path (node:crypto, a pure-JavaScript SHA-256, the real interpreter) and compare.
import type { Sha256 } from "../bytes.js";
import { fromHex, toHex, wipe } from "../bytes.js";
import { ChainCrypto, deriveDeviceKeys, loginPassword, recordingKey, stateStep } from "../chain.js";
import { deviceIdBytes, encodeAckBlock } from "../blocks.js";
import { ChainWriter, genesisFor } from "../writer.js";
import { DownlinkSigner, tagControl } from "../downlink.js";
import { encode } from "../codec.js";
import {
  CONTROL_HELLO, CONTROL_STATUS, END_COMMAND, END_REBOOT, END_STOPPED, FLAG_INTERRUPTED, FLAG_MARKER, FLAG_PRE_EVENT, HASH_LEN, MEDIA_PCM_8K_S16LE, NONCE_LEN, SCHEMA_VERSION,
} from "../constants.js";
import { AckState, CommandAction, RecState } from "../schema.js";

export const DEVICE = "BWC-0042";
export const ROOT_HEX = "6a1f3c9e0b7d2a4f8c1e5d3b9a7f0c2e4d6b8a1c3e5f7092b4d6f8a0c2e4f618";
const T0 = 1764043200000; // 2025-11-25T04:00:00Z

/** Deterministic bytes from a label: xorshift32, independent of the SHA-256 under test. */
export function detBytes(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 255;
  }
  return out;
}

export interface ChunkSpec { size: number; flags: number; beacon: number; durationMs: number }
export interface RecordingSpec { id: number; caseTag: string; sealCaseTag: string; preEventMs: number; chunks: ChunkSpec[]; interrupted: boolean; endReason: number }

/** The device history the vectors describe. */
export const HISTORY: RecordingSpec[] = [
  { id: 1, caseTag: "2026-PEN-0117", sealCaseTag: "2026-PEN-0117", preEventMs: 0, interrupted: false, endReason: END_STOPPED,
    chunks: [{ size: 320, flags: 0, beacon: 0, durationMs: 1000 }, { size: 512, flags: 0, beacon: 1, durationMs: 1000 },
      { size: 512, flags: FLAG_MARKER, beacon: 1, durationMs: 1000 }, { size: 200, flags: 0, beacon: 2, durationMs: 400 }] },
  { id: 2, caseTag: "", sealCaseTag: "2026-CMP-0031", preEventMs: 0, interrupted: true, endReason: END_REBOOT,
    chunks: [{ size: 256, flags: 0, beacon: 2, durationMs: 1000 }, { size: 256, flags: 0, beacon: 2, durationMs: 1000 },
      { size: 100, flags: 0, beacon: 3, durationMs: 390 }] },
  { id: 3, caseTag: "2026-INS-0009", sealCaseTag: "2026-INS-0009", preEventMs: 2000, interrupted: false, endReason: END_COMMAND,
    chunks: [{ size: 400, flags: FLAG_PRE_EVENT, beacon: 3, durationMs: 1000 }, { size: 400, flags: FLAG_PRE_EVENT, beacon: 3, durationMs: 1000 },
      { size: 400, flags: FLAG_MARKER, beacon: 3, durationMs: 1000 }, { size: 400, flags: 0, beacon: 4, durationMs: 1000 },
      { size: 64, flags: 0, beacon: 4, durationMs: 160 }] },
  { id: 4, caseTag: "执法-2026-0001", sealCaseTag: "执法-2026-0001", preEventMs: 0, interrupted: false, endReason: END_STOPPED, chunks: [] },
];

function beaconNonce(i: number): Uint8Array {
  return i === 0 ? new Uint8Array(NONCE_LEN) : detBytes(9000 + i, NONCE_LEN);
}

type Hex = string;
export interface VChunk { seq: number; flags: number; timeMs: number; durationMs: number; payload: Hex; header: Hex; chain: Hex; key: Hex; tag: Hex }
export interface VRecording {
  recordingId: number; stateKey: Hex; nextStateKey: Hex; k1: Hex;
  start: { genesis: Hex; caseTag: string; c0: Hex; startMs: number; preEventMs: number };
  chunks: VChunk[];
  seal: { block: Hex; tag: Hex; value: Hex; key: Hex; caseTag: string; interrupted: boolean; endReason: number };
}

/** Build the device history with a given SHA-256 and, optionally, a different root (wrong-key cases). */
export function buildHistory(sha: Sha256, rootHex: string, specs: RecordingSpec[], prevOverride?: { [id: number]: Uint8Array }): VRecording[] {
  const keys = deriveDeviceKeys(sha, fromHex(rootHex));
  const dev = deviceIdBytes(DEVICE);
  const cc = new ChainCrypto(sha);
  let s = keys.stateKey0;
  let prevSeal: Uint8Array = new Uint8Array(HASH_LEN);
  let t = T0;
  const out: VRecording[] = [];
  for (const r of specs) {
    const k1 = recordingKey(sha, s, r.id);
    const next = stateStep(sha, s);
    const start = t;
    const g = genesisFor(cc, dev, { recordingId: r.id, startMs: start, preEventMs: r.preEventMs, uptimeMs: 5000 * r.id, media: MEDIA_PCM_8K_S16LE,
      caseTag: r.caseTag, beacon: beaconNonce(r.chunks.length ? r.chunks[0].beacon : 4), prevSeal: (prevOverride && prevOverride[r.id]) || prevSeal });
    const w = new ChainWriter(sha, dev, r.id, k1, 0, g.c0, 0);
    const chunks: VChunk[] = [];
    let ct = start - r.preEventMs;
    r.chunks.forEach((c, i) => {
      const payload = detBytes(r.id * 100 + i + 1, c.size);
      const key = toHex(w.key);
      const o = w.chunk(payload, c.flags, MEDIA_PCM_8K_S16LE, ct, c.durationMs, 5000 * r.id + (ct - start + r.preEventMs), beaconNonce(c.beacon));
      chunks.push({ seq: o.seq, flags: c.flags, timeMs: ct, durationMs: c.durationMs, payload: toHex(payload), header: toHex(o.header), chain: toHex(o.chain), key, tag: toHex(o.tag) });
      ct += c.durationMs;
    });
    const sealKey = toHex(w.key);
    const sl = w.seal(r.interrupted ? FLAG_INTERRUPTED : 0, ct, 5000 * r.id + (ct - start + r.preEventMs), cc.caseTagHash(r.sealCaseTag), beaconNonce(r.chunks.length ? r.chunks[r.chunks.length - 1].beacon : 4), r.endReason);
    w.destroy();
    out.push({
      recordingId: r.id, stateKey: toHex(s), nextStateKey: toHex(next), k1: toHex(k1),
      start: { genesis: toHex(g.block), caseTag: r.caseTag, c0: toHex(g.c0), startMs: start, preEventMs: r.preEventMs },
      chunks,
      seal: { block: toHex(sl.block), tag: toHex(sl.tag), value: toHex(sl.value), key: sealKey, caseTag: r.sealCaseTag, interrupted: r.interrupted, endReason: r.endReason },
    });
    wipe(s);
    s = next;
    prevSeal = sl.value;
    t = ct + 60000;
  }
  return out;
}

/** Key derivations from the root secret (R-KEY). */
export function buildKeys(sha: Sha256) {
  const k = deriveDeviceKeys(sha, fromHex(ROOT_HEX));
  const states: Hex[] = [toHex(k.stateKey0)];
  let s = k.stateKey0;
  for (let j = 1; j <= 4; j++) {
    s = stateStep(sha, s);
    states.push(toHex(s));
  }
  return {
    deviceId: DEVICE, root: ROOT_HEX,
    stateKey0: toHex(k.stateKey0), login: toHex(k.login), mqttUsername: DEVICE, mqttPassword: loginPassword(k.login),
    downlinkKey: toHex(k.downlinkKey), controlKey: toHex(k.controlKey),
    stateKeys: states,
    recordingKeys: [1, 2, 3, 4].map((r) => ({ recordingId: r, k1: toHex(recordingKey(sha, fromHex(states[r - 1]), r)) })),
  };
}

/** The messages of recorder.proto with the encodings every encoder must produce (R-ENV-3). */
export function messageSamples(): { type: string; name: string; value: Record<string, unknown> }[] {
  const b = (seed: number, n: number) => detBytes(seed, n);
  return [
    { type: "Hello", name: "hello", value: { nonce: b(1, 16), held: [{ recording: 3, firstSeq: 2, lastSeq: 5, sealed: true, open: false }, { recording: 4, firstSeq: 0, lastSeq: 0, sealed: false, open: true }], lastSealed: 3, lastSealValue: b(2, 32), nextRecording: 5, firmware: "evrec-fw 0.1.0", deviceTimeMs: T0 + 1234567, uptimeMs: 98765 } },
    { type: "Status", name: "status", value: { firmware: "evrec-fw 0.1.0", batteryMv: 3912, batteryPct: 81, storageFree: 5368709120, queueDepth: 7, state: RecState.REC_RECORDING, recording: 4, clockOffsetMs: -1530, lastError: "", downlinkRejected: 2, deviceTimeMs: T0 + 99, alarm: false } },
    { type: "Status", name: "status-alarm", value: { firmware: "x", storageFree: 0, queueDepth: 4000, state: RecState.REC_STOPPED_FULL, clockOffsetMs: 86400000, lastError: "STORAGE_FULL", alarm: true } },
    { type: "RecordingStart", name: "start", value: { genesis: b(3, 120), caseTag: "2026-PEN-0117" } },
    { type: "Chunk", name: "chunk", value: { header: b(4, 128), payload: b(5, 300), tag: b(6, 32) } },
    { type: "Seal", name: "seal", value: { block: b(7, 128), tag: b(8, 32), caseTag: "执法-2026-0001" } },
    { type: "Uplink", name: "uplink-chunk", value: { schema: SCHEMA_VERSION, chunk: { header: b(4, 128), payload: b(5, 300), tag: b(6, 32) } } },
    { type: "Uplink", name: "uplink-hello", value: { schema: SCHEMA_VERSION, hello: { body: b(9, 40), tag: b(10, 32) } } },
    { type: "Uplink", name: "uplink-start", value: { schema: SCHEMA_VERSION, start: { genesis: b(3, 120), caseTag: "" } } },
    { type: "Uplink", name: "uplink-seal", value: { schema: SCHEMA_VERSION, seal: { block: b(7, 128), tag: b(8, 32), caseTag: "" } } },
    { type: "Uplink", name: "uplink-status", value: { schema: SCHEMA_VERSION, status: { body: b(11, 20), tag: b(12, 32) } } },
    { type: "Ack", name: "ack", value: { recording: 3, state: AckState.ACK_OPEN, cumulative: 41, selective: new Uint8Array([0b00000101, 0x80]) } },
    { type: "Ack", name: "ack-sealed", value: { recording: 2, state: AckState.ACK_SEALED, cumulative: 3, selective: new Uint8Array(0) } },
    { type: "Ack", name: "ack-unknown-rec0", value: { recording: 0, state: AckState.ACK_UNKNOWN, cumulative: 0 } },
    { type: "TimeBeacon", name: "beacon", value: { timeMs: T0 + 5000, nonce: b(13, 16) } },
    { type: "Config", name: "config", value: { statusIntervalS: 30, preEventS: 10, chunkBytes: 16384, beaconIntervalS: 60 } },
    { type: "Command", name: "command-start", value: { action: CommandAction.CMD_START, caseTag: "2026-PEN-0200" } },
    { type: "Command", name: "command-stop", value: { action: CommandAction.CMD_STOP } },
    { type: "Revoke", name: "revoke", value: { reason: "device reported lost, then tampered" } },
    { type: "DownBody", name: "downbody-ack", value: { ack: { recording: 1, state: AckState.ACK_SEALED, cumulative: 4 } } },
    { type: "DownBody", name: "downbody-revoke-empty", value: { revoke: {} } },
    { type: "DownBody", name: "downbody-ack-block", value: { ackBlock: encodeAckBlock({ recording: 1, state: AckState.ACK_SEALED, cumulative: 4 }) } },
    { type: "DownBody", name: "downbody-ack-block-selective", value: { ackBlock: encodeAckBlock({ recording: 70000, state: AckState.ACK_OPEN, cumulative: 300, selective: new Uint8Array([0b00000101, 0x80]), settled: 305 }) } },
    { type: "Downlink", name: "downlink", value: { schema: SCHEMA_VERSION, counter: 7, body: b(14, 12), mac: b(15, 32) } },
  ];
}

/** Downlink messages of one connection with their MACs, and control tags (R-DL, R-CTL). */
export function buildDownlink(sha: Sha256) {
  const k = deriveDeviceKeys(sha, fromHex(ROOT_HEX));
  const dev = deviceIdBytes(DEVICE);
  const nonce = detBytes(777, NONCE_LEN);
  const signer = new DownlinkSigner(sha, k.downlinkKey, dev, nonce);
  const bodies: { name: string; body: Record<string, unknown> }[] = [
    { name: "ack", body: { ack: { recording: 1, state: AckState.ACK_SEALED, cumulative: 4 } } },
    { name: "ack-selective", body: { ack: { recording: 3, state: AckState.ACK_OPEN, cumulative: 1, selective: new Uint8Array([0b101]) } } },
    { name: "beacon", body: { beacon: { timeMs: T0 + 61000, nonce: detBytes(9001, 16) } } },
    { name: "config", body: { config: { statusIntervalS: 30, chunkBytes: 16384 } } },
    { name: "command", body: { command: { action: CommandAction.CMD_SET_CASE_TAG, caseTag: "2026-PEN-0117" } } },
    { name: "revoke", body: { revoke: { reason: "revoked by admin" } } },
    // Schema 2: the Acks as fixed-layout blocks (R-ACKB-1).
    { name: "ack-block", body: { ackBlock: encodeAckBlock({ recording: 1, state: AckState.ACK_SEALED, cumulative: 4 }) } },
    { name: "ack-block-selective", body: { ackBlock: encodeAckBlock({ recording: 3, state: AckState.ACK_OPEN, cumulative: 1, selective: new Uint8Array([0b101]) }) } },
  ];
  const messages = bodies.map((x) => {
    const body = encode("DownBody", x.body);
    const s = signer.sign(body);
    return { name: x.name, counter: s.counter, body: toHex(body), mac: toHex(s.mac), envelope: toHex(encode("Downlink", { schema: SCHEMA_VERSION, counter: s.counter, body, mac: s.mac })) };
  });
  signer.destroy();
  const helloBody = encode("Hello", { nonce, lastSealed: 4, lastSealValue: detBytes(5, 32), nextRecording: 5, firmware: "evrec-fw 0.1.0", deviceTimeMs: T0, uptimeMs: 1000 });
  const statusBody = encode("Status", { firmware: "evrec-fw 0.1.0", batteryPct: 80, queueDepth: 3, state: RecState.REC_IDLE });
  return {
    deviceId: DEVICE, downlinkKey: toHex(k.downlinkKey), controlKey: toHex(k.controlKey), helloNonce: toHex(nonce), messages,
    control: [
      { kind: CONTROL_HELLO, name: "hello", body: toHex(helloBody), tag: toHex(tagControl(sha, k.controlKey, CONTROL_HELLO, dev, helloBody)) },
      { kind: CONTROL_STATUS, name: "status", body: toHex(statusBody), tag: toHex(tagControl(sha, k.controlKey, CONTROL_STATUS, dev, statusBody)) },
    ],
  };
}
