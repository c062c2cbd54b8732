// The messages of recorder.proto as TypeScript types, and a decode that returns them, so that no
// consumer casts what the codec gives back (Node side: the gateway, tools and tests). The codec
// (codec.ts) stays untyped because the firmware carries it: a board has no use for types and every
// byte of it is in flash. Field names are the codec's (camelCase of the proto's); scalars absent on
// the wire carry their proto3 defaults, so only messages and oneof members are optional.
import { decode } from "./codec.js";

export interface Control { body: Uint8Array; tag: Uint8Array }
export interface StartMsg { genesis: Uint8Array; caseTag: string }
export interface ChunkMsg { header: Uint8Array; payload: Uint8Array; tag: Uint8Array }
export interface SealMsg { block: Uint8Array; tag: Uint8Array; caseTag: string }

/** Exactly one of hello, start, chunk, seal, status is set (R-ENV-2). */
export interface Uplink {
  schema: number;
  hello?: Control;
  start?: StartMsg;
  chunk?: ChunkMsg;
  seal?: SealMsg;
  status?: Control;
}

export interface Held { recording: number; firstSeq: number; lastSeq: number; sealed: boolean; open: boolean }

export interface Hello {
  nonce: Uint8Array;
  held: Held[];
  lastSealed: number;
  lastSealValue: Uint8Array;
  nextRecording: number;
  firmware: string;
  deviceTimeMs: number;
  uptimeMs: number;
}

export interface Status {
  firmware: string;
  batteryMv: number;
  batteryPct: number;
  storageFree: number;
  queueDepth: number;
  state: number;
  recording: number;
  clockOffsetMs: number;
  lastError: string;
  downlinkRejected: number;
  deviceTimeMs: number;
  alarm: boolean;
}

export interface Downlink { schema: number; counter: number; body: Uint8Array; mac: Uint8Array }
export interface Ack { recording: number; state: number; cumulative: number; selective: Uint8Array; settled: number }
export interface TimeBeacon { timeMs: number; nonce: Uint8Array }
export interface Config { statusIntervalS: number; preEventS: number; chunkBytes: number; beaconIntervalS: number }
export interface Command { action: number; caseTag: string }
export interface Revoke { reason: string }

/** Exactly one member is set. */
export interface DownBody {
  ack?: Ack;
  beacon?: TimeBeacon;
  config?: Config;
  command?: Command;
  revoke?: Revoke;
  ackBlock?: Uint8Array;
}

/** Every message type by its name in recorder.proto. */
export interface Messages {
  Uplink: Uplink;
  Control: Control;
  Hello: Hello;
  Held: Held;
  RecordingStart: StartMsg;
  Chunk: ChunkMsg;
  Seal: SealMsg;
  Status: Status;
  Downlink: Downlink;
  DownBody: DownBody;
  Ack: Ack;
  TimeBeacon: TimeBeacon;
  Config: Config;
  Command: Command;
  Revoke: Revoke;
}

/** Decode bytes as a message of the named type (codec.ts decode, its errors included), typed. */
export function decodeAs<K extends keyof Messages>(type: K, b: Uint8Array): Messages[K] {
  return decode(type, b) as unknown as Messages[K];
}

/** The Uplink's member that is set (R-ENV-2), or "" for none. */
export function uplinkKind(up: Uplink): "hello" | "start" | "chunk" | "seal" | "status" | "" {
  return up.hello ? "hello" : up.start ? "start" : up.chunk ? "chunk" : up.seal ? "seal" : up.status ? "status" : "";
}
