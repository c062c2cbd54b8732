// GET /metrics: the Prometheus text format, for an admin token (a Prometheus scrape job sends it
// as a bearer token: authorization.credentials_file in its scrape config).
import type { FastifyInstance } from "fastify";
import type { Metrics } from "../metrics.js";
import { callerOf } from "./server.js";
import { requireRole } from "../services/context.js";

export function metricsRoutes(app: FastifyInstance, metrics: Metrics): void {
  app.get("/metrics", { schema: { description: "Prometheus metrics (text format): chunks and bytes committed, commit latency and phases, sessions, refusals, disk, scrub; an admin token" } }, async (req, reply) => {
    requireRole(callerOf(req), ["admin"], "metrics");
    return reply.header("content-type", metrics.registry.contentType).send(await metrics.text());
  });
}
