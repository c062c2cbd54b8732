// What the gateway's API sends that its web console reads, as types both sides compile against
// (the console talks to the gateway over HTTP only, so the contract lives here, not in either).
// Types only: nothing here runs.
import type { AlarmSaid } from "./alarm-details.js";

/** What changed at the gateway, as it happens: a device heard from or gone, a recording committed, an alarm raised or cleared. */
export type LiveEvent =
  | { type: "device"; id: string; at: number; online: boolean; lastSeen: number; status?: Record<string, unknown> }
  | { type: "recording"; device: string; recording: number; at: number }
  | { type: "alarm"; kind: string; subject: string; at: number };

/**
 * A live event as the event stream sends it to a caller: a recording's ids go to an admin only,
 * everyone else is told "something new" (their page asks again through its scoped listing).
 */
export type SentEvent = LiveEvent | { type: "recording"; at: number };

/** What a gateway says of itself to its admin (GET /api/system; /api/health to an admin's token). */
export interface GatewayState {
  /** A station takes devices in itself; a region's office reads what its cluster's workers took in. */
  kind: "station" | "region";
  /** A station's MQTT port. */
  mqttPort?: number;
  /** A station's device connections now: how many, how many stopped being read (backpressure), the bytes they hold. */
  sessions?: { connections: number; paused: number; backlogBytes: number };
  /** A station's ingest since start: chunks committed, duplicates, refused, failed, forged, Acks... */
  ingest?: Record<string, number>;
  /** A station's refusals since start, by reason code. */
  refusals?: Record<string, number>;
  /**
   * The data directory's disk: bytes free, and a station's minimum (below it, `low`, nothing is
   * acknowledged; a region's office acknowledges nothing, so it has none).
   */
  disk: { freeBytes: number; minFreeBytes: number | null; low: boolean };
  /**
   * A region: its NATS servers, each partition's worker (null: none) since when, the workers alive
   * with the partitions each holds (none: standing by, as when there are more workers than partitions;
   * null: not read yet), devices connected (null: not known).
   */
  cluster?: {
    natsServers: string;
    partitions: { partition: number; holder: string | null; since: number }[];
    workers: { name: string; partitions: number[] }[] | null;
    devicesOnline: number | null;
  };
  /** The background scrub: whether a pass runs now, and totals since start. */
  scrub: { running: boolean; passes: number; recordings: number; bytes: number; damaged: number };
}

/** GET /api/system: the state, and when it was read. */
export type SystemAnswer = GatewayState & { at: number };

/** What an approval lets its requester do: export recordings, or view them. */
export type ApprovalKind = "export" | "view";
export type ApprovalState = "pending" | "approved" | "denied";

/**
 * A request to export or view recordings (GET /api/approvals), asked by one account and decided
 * by another; an approved one is valid until `validUntil`.
 */
export interface Approval {
  id: number;
  kind: ApprovalKind;
  requester: string;
  reason: string;
  caseNumber: string | null;
  items: { device: string; recording: number }[];
  /** How long a grant lasts once approved. */
  hours: number;
  requestedAt: number;
  state: ApprovalState;
  decidedBy: string | null;
  decidedAt: number | null;
  decisionReason: string | null;
  validUntil: number | null;
}

/**
 * An alarm (GET /api/alarms): one open per kind and subject, `count` its repeats; cleared by an
 * account with a reason.
 */
export interface Alarm {
  id: number;
  kind: string;
  subject: string;
  /** Its words in English, as the log has them. */
  detail: string;
  /** The same as a key and values, for a reader's language (protocol/alarm-details.ts); null for an alarm raised with words only. */
  said: AlarmSaid | null;
  count: number;
  first_at: number;
  last_at: number;
  cleared_at: number | null;
  cleared_by: string | null;
  clear_reason: string | null;
}

export type UnitLevel = "region" | "city" | "county" | "agency";

/** A unit of the enforcement model (GET /api/units): its parent, level, and its own fleet ratio (null: the station's). */
export interface Unit { id: number; parentId: number | null; name: string; level: UnitLevel; fleetRatio: number | null }
