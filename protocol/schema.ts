// recorder.proto as data for the hand codec (codec.ts). Kept in step with recorder.proto by
// test/protocol/codec.test.ts, which compares both against protobufjs field by field.
// Espruino subset: a table costs less on a board than a function per message.

export const T_UINT32 = 0, T_UINT64 = 1, T_SINT64 = 2, T_BOOL = 3, T_ENUM = 4, T_STRING = 5, T_BYTES = 6, T_MESSAGE = 7;
export const F_REPEATED = 1, F_ONEOF = 2;

/** [field number, name (camelCase, as protobufjs names it), type, message type, flags, max bytes] */
export type FieldDesc = [number, string, number, string, number, number];

const NONE = "";

/** Largest bytes or string field unless a field says otherwise. */
export const DEFAULT_MAX = 1024;

/**
 * One string per message: fields separated by ";", each "number name type message flags max"
 * ("-" for no message type). Strings, not nested arrays: on a board a table of arrays costs about
 * 750 variables for as long as the code is loaded; these strings cost a tenth of that, and a
 * message type is parsed (fieldsOf) only while a message of it is encoded or decoded.
 */
export const SCHEMA_TEXT: { [name: string]: string } = {
  Uplink: "1 schema 0 - 0 0;2 hello 7 Control 2 0;3 start 7 RecordingStart 2 0;4 chunk 7 Chunk 2 0;5 seal 7 Seal 2 0;6 status 7 Control 2 0",
  Control: "1 body 6 - 0 4096;2 tag 6 - 0 64",
  Hello: "1 nonce 6 - 0 64;2 held 7 Held 1 0;3 lastSealed 0 - 0 0;4 lastSealValue 6 - 0 64;5 nextRecording 0 - 0 0;6 firmware 5 - 0 64;7 deviceTimeMs 1 - 0 0;8 uptimeMs 0 - 0 0",
  Held: "1 recording 0 - 0 0;2 firstSeq 0 - 0 0;3 lastSeq 0 - 0 0;4 sealed 3 - 0 0;5 open 3 - 0 0",
  RecordingStart: "1 genesis 6 - 0 256;2 caseTag 5 - 0 64",
  Chunk: "1 header 6 - 0 256;2 payload 6 - 0 65536;3 tag 6 - 0 64",
  Seal: "1 block 6 - 0 256;2 tag 6 - 0 64;3 caseTag 5 - 0 64",
  Status: "1 firmware 5 - 0 64;2 batteryMv 0 - 0 0;3 batteryPct 0 - 0 0;4 storageFree 1 - 0 0;5 queueDepth 0 - 0 0;6 state 4 - 0 0;7 recording 0 - 0 0;8 clockOffsetMs 2 - 0 0;9 lastError 5 - 0 128;10 downlinkRejected 0 - 0 0;11 deviceTimeMs 1 - 0 0;12 alarm 3 - 0 0",
  Downlink: "1 schema 0 - 0 0;2 counter 0 - 0 0;3 body 6 - 0 4096;4 mac 6 - 0 64",
  DownBody: "1 ack 7 Ack 2 0;2 beacon 7 TimeBeacon 2 0;3 config 7 Config 2 0;4 command 7 Command 2 0;5 revoke 7 Revoke 2 0",
  Ack: "1 recording 0 - 0 0;2 state 4 - 0 0;3 cumulative 0 - 0 0;4 selective 6 - 0 512",
  TimeBeacon: "1 timeMs 1 - 0 0;2 nonce 6 - 0 64",
  Config: "1 statusIntervalS 0 - 0 0;2 preEventS 0 - 0 0;3 chunkBytes 0 - 0 0;4 beaconIntervalS 0 - 0 0",
  Command: "1 action 4 - 0 0;2 caseTag 5 - 0 64",
  Revoke: "1 reason 5 - 0 256",
};

/** The fields of a message type, or null for an unknown type. */
export function fieldsOf(type: string): FieldDesc[] | null {
  const t = SCHEMA_TEXT[type];
  if (t === undefined) return null;
  const parts = t.split(";");
  const out: FieldDesc[] = [];
  for (let i = 0; i < parts.length; i++) {
    const f = parts[i].split(" ");
    out.push([parseInt(f[0], 10), f[1], parseInt(f[2], 10), f[3] === "-" ? NONE : f[3], parseInt(f[4], 10), parseInt(f[5], 10)]);
  }
  return out;
}

/** Every message type parsed (tests and Node tools; a board uses fieldsOf). */
export function schemaTable(): { [name: string]: FieldDesc[] } {
  const all: { [name: string]: FieldDesc[] } = {};
  const names = Object.keys(SCHEMA_TEXT);
  for (let i = 0; i < names.length; i++) all[names[i]] = fieldsOf(names[i]) as FieldDesc[];
  return all;
}

/** Enum values (recorder.proto). */
// One constant each (the bundler inlines them in the firmware), and grouped for the gateway.
export const REC_IDLE = 0, REC_RECORDING = 1, REC_STOPPED_FULL = 2, REC_NO_CONFIG = 3, REC_REVOKED = 4;
export const ACK_OPEN = 0, ACK_SEALED = 1, ACK_UNKNOWN = 2;
export const CMD_NONE = 0, CMD_START = 1, CMD_STOP = 2, CMD_SET_CASE_TAG = 3;
export const RecState = { REC_IDLE: REC_IDLE, REC_RECORDING: REC_RECORDING, REC_STOPPED_FULL: REC_STOPPED_FULL, REC_NO_CONFIG: REC_NO_CONFIG, REC_REVOKED: REC_REVOKED };
export const AckState = { ACK_OPEN: ACK_OPEN, ACK_SEALED: ACK_SEALED, ACK_UNKNOWN: ACK_UNKNOWN };
export const CommandAction = { CMD_NONE: CMD_NONE, CMD_START: CMD_START, CMD_STOP: CMD_STOP, CMD_SET_CASE_TAG: CMD_SET_CASE_TAG };
