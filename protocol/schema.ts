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
 * One string per message: fields separated by ";", numbered 1, 2, 3... in that order, each
 * "name type max flags", or "name 7 Message flags" for a message field; a missing max or flags is 0.
 * Strings, not nested arrays: on a board a table of arrays costs about 750 variables for as long as
 * the code is loaded. And returned by a function, not kept in an object: the firmware keeps its
 * functions as text in flash until they are called (firmware/build/overlay.ts), so the strings cost
 * variables only while a message of that type is encoded or decoded (about 85 fewer after boot on a
 * board-sized interpreter than as an object of strings). Short, because every byte is in the firmware.
 */
export function schemaText(type: string): string | undefined {
  switch (type) {
    case "Uplink": return "schema 0;hello 7 Control 2;start 7 RecordingStart 2;chunk 7 Chunk 2;seal 7 Seal 2;status 7 Control 2";
    case "Control": return "body 6 4096;tag 6 64";
    case "Hello": return "nonce 6 64;held 7 Held 1;lastSealed 0;lastSealValue 6 64;nextRecording 0;firmware 5 64;deviceTimeMs 1;uptimeMs 0";
    case "Held": return "recording 0;firstSeq 0;lastSeq 0;sealed 3;open 3";
    case "RecordingStart": return "genesis 6 256;caseTag 5 64";
    case "Chunk": return "header 6 256;payload 6 65536;tag 6 64";
    case "Seal": return "block 6 256;tag 6 64;caseTag 5 64";
    case "Status": return "firmware 5 64;batteryMv 0;batteryPct 0;storageFree 1;queueDepth 0;state 4;recording 0;clockOffsetMs 2;lastError 5 128;downlinkRejected 0;deviceTimeMs 1;alarm 3";
    case "Downlink": return "schema 0;counter 0;body 6 4096;mac 6 64";
    case "DownBody": return "ack 7 Ack 2;beacon 7 TimeBeacon 2;config 7 Config 2;command 7 Command 2;revoke 7 Revoke 2;ackBlock 6 528 2";
    case "Ack": return "recording 0;state 4;cumulative 0;selective 6 512;settled 0";
    case "TimeBeacon": return "timeMs 1;nonce 6 64";
    case "Config": return "statusIntervalS 0;preEventS 0;chunkBytes 0;beaconIntervalS 0";
    case "Command": return "action 4;caseTag 5 64";
    case "Revoke": return "reason 5 256";
  }
  return undefined;
}

/** Every message type of recorder.proto (tests and Node tools). */
export const MESSAGE_TYPES = ["Uplink", "Control", "Hello", "Held", "RecordingStart", "Chunk", "Seal", "Status", "Downlink", "DownBody",
  "Ack", "TimeBeacon", "Config", "Command", "Revoke"];

// The firmware's build defines EVREC_BOARD (scripts/espruino-gate.mjs). A board parses a type's
// fields each time it needs them (above: the strings cost variables only while in use); Node keeps
// them once parsed, as parsing them again on every message was about 3 % of a loaded gateway's
// main thread.
declare const EVREC_BOARD: boolean | undefined;
const parsed: { [type: string]: FieldDesc[] | null } | null = typeof EVREC_BOARD === "undefined" ? Object.create(null) : null;

/** The fields of a message type, or null for an unknown type (the same array every call, on Node: do not change it). */
export function fieldsOf(type: string): FieldDesc[] | null {
  if (!parsed) return parseFields(type);
  const known = parsed[type];
  return known !== undefined ? known : (parsed[type] = parseFields(type));
}

function parseFields(type: string): FieldDesc[] | null {
  const t = schemaText(type);
  if (t === undefined) return null;
  const parts = t.split(";");
  const out: FieldDesc[] = [];
  for (let i = 0; i < parts.length; i++) {
    // Unary plus, not parseInt: a call fewer per number (the schema holds only decimal digits).
    const f = parts[i].split(" "), ty = +f[1], m = ty === T_MESSAGE;
    out.push([i + 1, f[0], ty, m ? f[2] : NONE, +(f[3] || 0), m ? 0 : +(f[2] || 0)]);
  }
  return out;
}

/** Every message type parsed (tests and Node tools; a board uses fieldsOf). */
export function schemaTable(): { [name: string]: FieldDesc[] } {
  const all: { [name: string]: FieldDesc[] } = {};
  const names = MESSAGE_TYPES;
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
