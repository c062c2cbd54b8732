// The transparency log over HTTP, read-only and without a token (C2SP tlog-tiles, SPEC.md
// R-LOG-8): /log/checkpoint, /log/tile/<L>/<N>[.p/<W>], /log/tile/entries/<N>[.p/<W>], so any
// monitor can mirror it and Go's sumdb/tlog can read it. /log/key gives the verifier key for
// convenience; a verifier takes the key it trusts from elsewhere (admin station-key).
import { gzipSync } from "node:zlib";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { TransparencyLog } from "../evidence/tlog.js";
import { parseTilePath } from "../../protocol/merkle.js";

export function logRoutes(app: FastifyInstance, tlog: TransparencyLog, verifierKey: string): void {
  // A refusal is logged with its code and path (a path that climbs out, ../../etc/passwd, is someone probing).
  const fail = (req: FastifyRequest, reply: FastifyReply, status: number, code: string, message: string) => {
    req.log.warn({ code, url: req.url }, "refused");
    return reply.status(status).header("content-type", "application/json; charset=utf-8").send({ error: code, message });
  };

  app.get("/log/checkpoint", { config: { open: true }, schema: { description: "the latest signed checkpoint (C2SP tlog-tiles)" } }, async (_req, reply) => {
    const cp = await tlog.checkpoint();
    return reply.header("content-type", "text/plain; charset=utf-8").header("cache-control", "no-cache, max-age=0").send(cp.note);
  });

  app.get("/log/key", { config: { open: true }, schema: { description: "the verifier key" } }, async (_req, reply) => reply.header("content-type", "text/plain; charset=utf-8").send(verifierKey + "\n"));

  app.get("/log/tile/*", { config: { open: true }, schema: { description: "tiles and entry bundles (C2SP tlog-tiles)" } }, async (req: FastifyRequest<{ Params: { "*": string } }>, reply) => {
    let t;
    try {
      t = parseTilePath("tile/" + req.params["*"]);
    } catch (e) {
      return fail(req, reply, 400, "TILE_PATH", (e as Error).message.replace(/^TILE_PATH: /, ""));
    }
    const body = await tlog.tile(t);
    if (!body) return fail(req, reply, 404, "TILE_NOT_FOUND", `no such tile in the log's latest checkpoint: ${req.params["*"]}`);
    reply.header("content-type", "application/octet-stream").header("cache-control", "public, max-age=31536000, immutable");
    // Entry bundles are text: compressed when the client takes gzip (C2SP tlog-tiles SHOULD).
    if (t.level === -1 && /\bgzip\b/.test(String(req.headers["accept-encoding"] || ""))) return reply.header("content-encoding", "gzip").send(gzipSync(body));
    return reply.send(Buffer.from(body.buffer, body.byteOffset, body.length));
  });
}
