// Every reason code of the protocol, with its effect (SPEC.md section 10). One table, one place.

/**
 * fail: a check failed; the recording's verdict is `failed` (evidence of tampering).
 * gap: something is missing; the verdict is `incomplete` unless something failed.
 * info: recorded with the verdict, changes nothing.
 * reject: a message is refused and not acknowledged; no verdict changes (decoding, admission, flow).
 * forged: a message that can't be attributed to the device (its tag does not verify, or what the
 *   tag covers does not match the rest of it): refused, kept as evidence and alarmed
 *   (FORGED_MESSAGE); no verdict changes (R-VER-0).
 */
export type Severity = "fail" | "gap" | "info" | "reject" | "forged";

export const REASONS: { [code: string]: { severity: Severity; rule: string; text: string } } = {
  // verdict reasons (R-VER)
  PAYLOAD_HASH: { severity: "forged", rule: "R-VER-3", text: "SHA-256 of the payload differs from the payload hash in its tagged header" },
  PAYLOAD_LENGTH: { severity: "forged", rule: "R-VER-3", text: "payload length differs from the length field of its tagged header" },
  HEADER_FIELD: { severity: "fail", rule: "R-VER-2", text: "header names another device or recording, or a seq of 0, or flags not allowed in a chunk" },
  CHAIN_LINK: { severity: "fail", rule: "R-VER-4", text: "header's previous chain value differs from the chain value of the chunk before" },
  TAG: { severity: "forged", rule: "R-VER-5", text: "chunk tag does not match under the recording's key" },
  GENESIS_FIELD: { severity: "fail", rule: "R-VER-1", text: "genesis block names another device or recording, or its case tag hash does not match the case tag" },
  GENESIS_LINK: { severity: "fail", rule: "R-VER-1", text: "genesis does not bind the seal value of the device's previous recording" },
  EQUIVOCATION: { severity: "fail", rule: "R-VER-6", text: "two different, validly tagged messages for the same seq (or two different seals)" },
  SEAL_TAG: { severity: "forged", rule: "R-VER-7", text: "seal tag does not match under the recording's key" },
  CASE_TAG_MISMATCH: { severity: "forged", rule: "R-GEN-3", text: "the case tag beside a genesis or seal block does not hash to the block's case tag hash" },
  START_UNCONFIRMED: { severity: "forged", rule: "R-VER-1", text: "a start that no tagged message of the device binds, where another start is confirmed" },
  SEAL_FIELD: { severity: "fail", rule: "R-VER-7", text: "seal block names another device or recording, has unknown flags, or its case tag hash does not match" },
  SEAL_LINK: { severity: "fail", rule: "R-VER-7", text: "seal's last chain value differs from the chain value of its last chunk" },
  SEAL_BYTES: { severity: "fail", rule: "R-VER-7", text: "seal's byte total differs from the sum of the chunk payloads" },
  SEQ_AFTER_SEAL: { severity: "fail", rule: "R-VER-7", text: "a chunk with a seq above the seal's last seq" },
  GAP: { severity: "gap", rule: "R-VER-8", text: "chunks missing: the detail lists the seq ranges" },
  MISSING_SEAL: { severity: "gap", rule: "R-VER-8", text: "no seal received" },
  MISSING_START: { severity: "gap", rule: "R-VER-8", text: "chunks received without the recording's start" },
  RECORDING_MISSING: { severity: "gap", rule: "R-VER-9", text: "recording ids skipped in the device's history" },
  LOST_ON_DEVICE: { severity: "info", rule: "R-VER-10", text: "the device no longer holds the missing parts: incomplete is final" },
  DUPLICATE: { severity: "info", rule: "R-VER-6", text: "the same message again, byte for byte: acknowledged again, stored once" },
  INTERRUPTED: { severity: "info", rule: "R-SEAL-4", text: "sealed as interrupted after a device reboot" },
  TIME_REGRESSION: { severity: "info", rule: "R-TIME-3", text: "device time went backwards between chunks (clock reset)" },
  // message rejections: decoding (R-ENV-5)
  DECODE_TRUNCATED: { severity: "reject", rule: "R-ENV-5", text: "message ends inside a field" },
  DECODE_VARINT_TOO_LONG: { severity: "reject", rule: "R-ENV-5", text: "varint longer than 10 bytes" },
  DECODE_VARINT_RANGE: { severity: "reject", rule: "R-ENV-5", text: "integer out of its field's range" },
  DECODE_WIRE_TYPE: { severity: "reject", rule: "R-ENV-5", text: "wire type not valid for the field, or a group" },
  DECODE_FIELD_NUMBER: { severity: "reject", rule: "R-ENV-5", text: "field number 0" },
  DECODE_FIELD_SIZE: { severity: "reject", rule: "R-ENV-5", text: "bytes or string field above its limit" },
  DECODE_UTF8: { severity: "reject", rule: "R-ENV-5", text: "string field is not UTF-8" },
  DECODE_DEPTH: { severity: "reject", rule: "R-ENV-5", text: "messages nested too deep" },
  DECODE_EMPTY: { severity: "reject", rule: "R-ENV-2", text: "envelope carries no message" },
  DECODE_TYPE: { severity: "reject", rule: "R-ENV-5", text: "unknown message type asked of the decoder" },
  DECODE_INPUT: { severity: "reject", rule: "R-ENV-5", text: "input is not bytes" },
  SCHEMA_VERSION: { severity: "reject", rule: "R-ENV-1", text: "envelope schema version not supported" },
  LAYOUT_VERSION: { severity: "reject", rule: "R-HDR-1", text: "header, genesis or seal layout version not supported" },
  UNSUPPORTED_ALG: { severity: "reject", rule: "R-HDR-2", text: "algorithm id not supported" },
  BLOCK_SIZE: { severity: "reject", rule: "R-VER-2", text: "header, genesis, seal, tag or nonce of the wrong size" },
  PAYLOAD_TOO_LARGE: { severity: "reject", rule: "R-HDR-4", text: "payload above 65536 bytes" },
  CASE_TAG_TOO_LONG: { severity: "reject", rule: "R-MSG-4", text: "case tag above 64 bytes" },
  // message rejections: flow (R-ACK)
  SEQ_OUT_OF_WINDOW: { severity: "reject", rule: "R-ACK-5", text: "seq too far ahead of the verified chain; send earlier chunks first" },
  BUFFER_FULL: { severity: "reject", rule: "R-ACK-5", text: "out-of-order buffer full; resend later" },
  RECORDING_WINDOW: { severity: "reject", rule: "R-ACK-7", text: "recording id 0, or beyond the window above the device's highest recording known to the gateway" },
  NO_START: { severity: "reject", rule: "R-ACK-2", text: "a seal before the gateway holds the recording's start: answered ACK_UNKNOWN, sent again after the start" },
  UNSTARTED_DROPPED: { severity: "reject", rule: "R-ACK-5", text: "chunks buffered for a recording whose start did not come in time, dropped unacknowledged" },
  // admission (R-ADM), gateway side
  AUTH_UNKNOWN_DEVICE: { severity: "reject", rule: "R-ADM-1", text: "MQTT username is not a provisioned device" },
  AUTH_BAD_CREDENTIAL: { severity: "reject", rule: "R-ADM-1", text: "MQTT password does not match the device's login credential" },
  AUTH_DEVICE_STATE: { severity: "reject", rule: "R-ADM-1", text: "device is retired" },
  REVOKED: { severity: "reject", rule: "R-REV-1", text: "device revoked: only Hello accepted, answered with Revoke" },
  ACL_TOPIC: { severity: "reject", rule: "R-TOP-2", text: "publish or subscribe outside the device's own topics" },
  ACL_QOS: { severity: "reject", rule: "R-TOP-3", text: "QoS 2 or retained publish" },
  PACKET_TOO_LARGE: { severity: "reject", rule: "R-TOP-4", text: "MQTT packet above the size limit" },
  MQTT_MALFORMED: { severity: "reject", rule: "R-TOP-5", text: "not MQTT 3.1.1: connection closed" },
  MQTT_VERSION: { severity: "reject", rule: "R-TOP-5", text: "another MQTT protocol version: connection closed" },
  CONNECT_TIMEOUT: { severity: "reject", rule: "R-TOP-5", text: "no CONNECT in time: connection closed" },
  KEEPALIVE_TIMEOUT: { severity: "reject", rule: "R-TOP-5", text: "logged in, silent for 1.5 keep-alive periods: connection closed" },
  DRAIN_TIMEOUT: { severity: "reject", rule: "R-TOP-5", text: "what the gateway wrote not read for 30 s: connection closed" },
  TOO_MANY_CLIENTS: { severity: "reject", rule: "R-ADM-2", text: "client limit reached" },
  TOO_MANY_SESSIONS: { severity: "reject", rule: "R-ADM-2", text: "sessions of one device's login at once" },
  TOO_MANY_PENDING: { severity: "reject", rule: "R-ADM-2", text: "connections not logged in yet, at once" },
  RATE_LIMITED: { severity: "reject", rule: "R-ADM-3", text: "device above its message rate" },
  CONTROL_TAG: { severity: "reject", rule: "R-CTL-3", text: "Hello or Status tag does not match the control key" },
  HELLO_REQUIRED: { severity: "reject", rule: "R-MSG-1", text: "a message before this connection's Hello" },
  DISK_LOW: { severity: "reject", rule: "R-ACK-6", text: "gateway disk below its threshold: not acknowledged" },
  STORE_FAILED: { severity: "reject", rule: "R-ACK-1", text: "gateway could not commit: not acknowledged" },
  // downlink, device side (R-DL)
  DOWNLINK_MAC: { severity: "reject", rule: "R-DL-4", text: "downlink MAC does not match under this connection's nonce" },
  DOWNLINK_REPLAY: { severity: "reject", rule: "R-DL-5", text: "downlink counter not above the last accepted one" },
  DOWNLINK_NO_SESSION: { severity: "reject", rule: "R-DL-4", text: "downlink message before Hello on this connection" },
};

export type ReasonCode = keyof typeof REASONS;

/** One reason found, with where and what. */
export interface Reason {
  code: string;
  seq?: number;
  recording?: number;
  detail?: string;
}

/** The severity of a reason code; unknown codes count as failures. */
export function severityOf(code: string): Severity {
  const r = REASONS[code];
  return r ? r.severity : "fail";
}
