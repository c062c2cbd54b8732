// recorder.proto as data for the hand codec (codec.ts). Kept in step with recorder.proto by
// test/protocol/codec.test.ts, which compares both against protobufjs field by field.
// Espruino subset: a table costs less on a board than a function per message.

export const T_UINT32 = 0, T_UINT64 = 1, T_SINT64 = 2, T_BOOL = 3, T_ENUM = 4, T_STRING = 5, T_BYTES = 6, T_MESSAGE = 7;
export const F_REPEATED = 1, F_ONEOF = 2;

/** [field number, name (camelCase, as protobufjs names it), type, message type, flags, max bytes] */
export type FieldDesc = [number, string, number, string, number, number];

const NONE = "";
const U = T_UINT32, U64 = T_UINT64, S64 = T_SINT64, B = T_BOOL, E = T_ENUM, S = T_STRING, Y = T_BYTES, M = T_MESSAGE;
const R = F_REPEATED, O = F_ONEOF;

/** Largest bytes or string field unless a field says otherwise. */
export const DEFAULT_MAX = 1024;

export const SCHEMA: { [name: string]: FieldDesc[] } = {
  Uplink: [
    [1, "schema", U, NONE, 0, 0],
    [2, "hello", M, "Control", O, 0],
    [3, "start", M, "RecordingStart", O, 0],
    [4, "chunk", M, "Chunk", O, 0],
    [5, "seal", M, "Seal", O, 0],
    [6, "status", M, "Control", O, 0],
  ],
  Control: [
    [1, "body", Y, NONE, 0, 4096],
    [2, "tag", Y, NONE, 0, 64],
  ],
  Hello: [
    [1, "nonce", Y, NONE, 0, 64],
    [2, "held", M, "Held", R, 0],
    [3, "lastSealed", U, NONE, 0, 0],
    [4, "lastSealValue", Y, NONE, 0, 64],
    [5, "nextRecording", U, NONE, 0, 0],
    [6, "firmware", S, NONE, 0, 64],
    [7, "deviceTimeMs", U64, NONE, 0, 0],
    [8, "uptimeMs", U, NONE, 0, 0],
  ],
  Held: [
    [1, "recording", U, NONE, 0, 0],
    [2, "firstSeq", U, NONE, 0, 0],
    [3, "lastSeq", U, NONE, 0, 0],
    [4, "sealed", B, NONE, 0, 0],
    [5, "open", B, NONE, 0, 0],
  ],
  RecordingStart: [
    [1, "genesis", Y, NONE, 0, 256],
    [2, "caseTag", S, NONE, 0, 64],
  ],
  Chunk: [
    [1, "header", Y, NONE, 0, 256],
    [2, "payload", Y, NONE, 0, 65536],
    [3, "tag", Y, NONE, 0, 64],
  ],
  Seal: [
    [1, "block", Y, NONE, 0, 256],
    [2, "tag", Y, NONE, 0, 64],
    [3, "caseTag", S, NONE, 0, 64],
  ],
  Status: [
    [1, "firmware", S, NONE, 0, 64],
    [2, "batteryMv", U, NONE, 0, 0],
    [3, "batteryPct", U, NONE, 0, 0],
    [4, "storageFree", U64, NONE, 0, 0],
    [5, "queueDepth", U, NONE, 0, 0],
    [6, "state", E, NONE, 0, 0],
    [7, "recording", U, NONE, 0, 0],
    [8, "clockOffsetMs", S64, NONE, 0, 0],
    [9, "lastError", S, NONE, 0, 128],
    [10, "downlinkRejected", U, NONE, 0, 0],
    [11, "deviceTimeMs", U64, NONE, 0, 0],
    [12, "alarm", B, NONE, 0, 0],
  ],
  Downlink: [
    [1, "schema", U, NONE, 0, 0],
    [2, "counter", U, NONE, 0, 0],
    [3, "body", Y, NONE, 0, 4096],
    [4, "mac", Y, NONE, 0, 64],
  ],
  DownBody: [
    [1, "ack", M, "Ack", O, 0],
    [2, "beacon", M, "TimeBeacon", O, 0],
    [3, "config", M, "Config", O, 0],
    [4, "command", M, "Command", O, 0],
    [5, "revoke", M, "Revoke", O, 0],
  ],
  Ack: [
    [1, "recording", U, NONE, 0, 0],
    [2, "state", E, NONE, 0, 0],
    [3, "cumulative", U, NONE, 0, 0],
    [4, "selective", Y, NONE, 0, 512],
  ],
  TimeBeacon: [
    [1, "timeMs", U64, NONE, 0, 0],
    [2, "nonce", Y, NONE, 0, 64],
  ],
  Config: [
    [1, "statusIntervalS", U, NONE, 0, 0],
    [2, "preEventS", U, NONE, 0, 0],
    [3, "chunkBytes", U, NONE, 0, 0],
    [4, "beaconIntervalS", U, NONE, 0, 0],
  ],
  Command: [
    [1, "action", E, NONE, 0, 0],
    [2, "caseTag", S, NONE, 0, 64],
  ],
  Revoke: [
    [1, "reason", S, NONE, 0, 256],
  ],
};

/** Enum values (recorder.proto). */
export const RecState = { REC_IDLE: 0, REC_RECORDING: 1, REC_STOPPED_FULL: 2, REC_NO_CONFIG: 3, REC_REVOKED: 4 };
export const AckState = { ACK_OPEN: 0, ACK_SEALED: 1, ACK_UNKNOWN: 2 };
export const CommandAction = { CMD_NONE: 0, CMD_START: 1, CMD_STOP: 2, CMD_SET_CASE_TAG: 3 };
