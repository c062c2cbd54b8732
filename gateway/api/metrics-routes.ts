// GET /metrics: the Prometheus text format, for an admin token (a Prometheus scrape job sends it
// as a bearer token: authorization.credentials_file in its scrape config).
import type { FastifyInstance } from "fastify";
import type { Metrics } from "../metrics.js";

export function metricsRoutes(app: FastifyInstance, metrics: Metrics): void {
  app.get("/metrics", { config: { roles: ["admin"] } }, async (_req, reply) =>
    reply.header("content-type", metrics.registry.contentType).send(await metrics.text()));
}
