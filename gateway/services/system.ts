// What a gateway says of itself to its admin (GET /api/system, the console's System page, and
// /api/health to an admin's token): a station's broker and ingest, a region office's cluster
// (which worker holds each partition, how many devices are connected), and both's scrub.
import type { Caller, ServiceContext } from "./context.js";
import { requireRole } from "./context.js";
import { GatewayError } from "../errors.js";
import type { GatewayState, SystemAnswer } from "../../protocol/gateway-api.js";

export type { GatewayState };

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
  state(caller: Caller): SystemAnswer {
    requireRole(caller, ["admin"], "reading the gateway's state");
    const g = this.ctx.deps.gateway;
    // The admin CLI's services run beside no gateway: nothing to say.
    if (!g) throw new GatewayError("NO_GATEWAY", "this process runs no gateway: ask the running gateway (GET /api/system)");
    return { at: this.ctx.now(), kind: g.kind, ...g.state() };
  }
}
