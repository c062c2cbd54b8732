// What a gateway says of itself to its admin (GET /api/system, the console's System page, and
// /api/health to an admin's token): a station's broker and ingest, a region office's cluster
// (which worker holds each partition, how many devices are connected), and both's scrub.
import type { Caller, ServiceContext } from "./context.js";
import { requireRole } from "./context.js";
import { GatewayError } from "../errors.js";

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

/** What a gateway's assembly tells the service layer of itself: what it is, and its state on request. */
export interface GatewayFacts {
  kind: GatewayState["kind"];
  state: () => Omit<GatewayState, "kind">;
}

export class SystemService {
  constructor(private ctx: ServiceContext) {}

  /** What this gateway is (the console's title says it to anyone signed in); null where none runs. */
  get kind(): GatewayState["kind"] | null {
    return this.ctx.deps.gateway?.kind ?? null;
  }

  /** The gateway's state now; `at` when it was read. */
  state(caller: Caller): GatewayState & { at: number } {
    requireRole(caller, ["admin"], "reading the gateway's state");
    const g = this.ctx.deps.gateway;
    // The admin CLI's services run beside no gateway: nothing to say.
    if (!g) throw new GatewayError("NO_GATEWAY", "this process runs no gateway: ask the running gateway (GET /api/system)");
    return { at: this.ctx.now(), kind: g.kind, ...g.state() };
  }
}
