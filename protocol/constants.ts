// Fixed numbers of the protocol. SPEC.md is the prose; this file is the one place in code.
import { utf8 } from "./bytes.js";

/** Envelope schema version carried in every Uplink and Downlink (R-ENV-1). 2: Acks as a fixed-layout block (R-ACKB-1). */
export const SCHEMA_VERSION = 2;
/** The first schema: a gateway still answers a device that speaks it, with protobuf Acks (R-ENV-1). */
export const SCHEMA_VERSION_1 = 1;
/** Layout version of the chunk header, genesis block and seal block (R-HDR-1). */
export const LAYOUT_VERSION = 1;
/** Algorithm ids (R-HDR-2). 1: SHA-256 chain, keyed-hash tags, HMAC-SHA256 for variable input. */
export const ALG_SHA256 = 1;
/** Reserved for SM3 chain and tags; not implemented. */
export const ALG_SM3 = 2;

/** Sizes in bytes (R-HDR-3, R-GEN-1, R-SEAL-1). */
export const HEADER_LEN = 128;
export const GENESIS_LEN = 120;
export const SEAL_LEN = 128;
export const HASH_LEN = 32;
export const TAG_LEN = 32;
export const KEY_LEN = 32;
export const NONCE_LEN = 16;
export const DEVICE_ID_LEN = 16;
export const ROOT_LEN = 32;
/** Largest chunk payload a device may send (R-HDR-4). */
export const MAX_PAYLOAD = 65536;
/** Largest case tag, in UTF-8 bytes (R-MSG-4). */
export const MAX_CASE_TAG = 64;
/** Largest MQTT packet a gateway must accept; a chunk of MAX_PAYLOAD fits with room (R-TOP-4). */
export const MAX_PACKET = 69632;

/** Header flag bits (R-HDR-5). INTERRUPTED is valid only in a seal block. */
export const FLAG_PRE_EVENT = 1;
/**
 * How far above the highest recording a gateway holds of a device a recording id may lie
 * (R-ACK-7): it bounds the key steps a message can make a gateway compute before any tag is checked.
 */
export const RECORDING_WINDOW = 256;

export const FLAG_MARKER = 2;
export const FLAG_INTERRUPTED = 4;
export const CHUNK_FLAGS_MASK = FLAG_PRE_EVENT | FLAG_MARKER;

/**
 * Why a recording ended: byte 3 of its seal block (R-SEAL-5), under the seal's tag, so the cause of
 * every interruption is on record (RULES.md: the reason for every interruption is stated).
 */
export const END_UNSTATED = 0;
export const END_STOPPED = 1;
export const END_COMMAND = 2;
export const END_BATTERY_LOW = 3;
export const END_STORAGE_FULL = 4;
export const END_REBOOT = 5;
export const END_FAULT = 6;
/** The end reasons' names, by code (reports, the API, the CLI). */
export const END_REASONS = ["UNSTATED", "STOPPED", "COMMAND", "BATTERY_LOW", "STORAGE_FULL", "REBOOT", "FAULT"];

/** Media types (R-HDR-6). */
export const MEDIA_OPAQUE = 0;
export const MEDIA_PCM_8K_S16LE = 1;
export const MEDIA_VIDEO_SEGMENT = 2;
export const MEDIA_JPEG = 3;
/** The samples exactly as a 16-bit ADC reading gives them (Espruino's Waveform): 32768 is silence. */
export const MEDIA_PCM_8K_U16LE = 4;

/** The domain strings below are printable ASCII, so their UTF-8 is their ASCII (golden vectors pin the bytes). */
function dom(s: string): Uint8Array {
  return utf8(s + "\0");
}

/**
 * Domain-separation strings (R-DOM-1): ASCII, each followed by one 0x00 byte, so none is a
 * prefix of another's encoding. Marked pure, so a bundle that never uses one leaves it out (the
 * firmware holds only the ones its chain needs: each costs a board about 5 variables).
 */
export const D_STATE0 = /* @__PURE__ */ dom("ER1/state-key");
export const D_LOGIN = /* @__PURE__ */ dom("ER1/mqtt-login");
export const D_DOWNLINK_KEY = /* @__PURE__ */ dom("ER1/downlink-key");
export const D_CONTROL_KEY = /* @__PURE__ */ dom("ER1/control-key");
export const D_STATE_STEP = /* @__PURE__ */ dom("ER1/state-step");
export const D_REC_KEY = /* @__PURE__ */ dom("ER1/recording-key");
export const D_KEY_STEP = /* @__PURE__ */ dom("ER1/key-step");
export const D_GENESIS = /* @__PURE__ */ dom("ER1/genesis");
export const D_CHUNK = /* @__PURE__ */ dom("ER1/chunk");
export const D_TAG = /* @__PURE__ */ dom("ER1/chunk-tag");
export const D_SEAL = /* @__PURE__ */ dom("ER1/seal");
export const D_SEAL_TAG = /* @__PURE__ */ dom("ER1/seal-tag");
export const D_CASE_TAG = /* @__PURE__ */ dom("ER1/case-tag");
export const D_CONTROL = /* @__PURE__ */ dom("ER1/control");
export const D_DOWNLINK = /* @__PURE__ */ dom("ER1/downlink");

/** Kinds of control-tagged uplink bodies (R-CTL-2). */
export const CONTROL_HELLO = 1;
export const CONTROL_STATUS = 2;
