// The witness over HTTP (C2SP tlog-witness): POST <prefix>/add-checkpoint, and a GET of / that
// says who the witness is and what it holds. node:http, nothing else: one small process.
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { Witness } from "./witness.js";

const MAX_BODY = 64 * 1024;

export interface WitnessLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

/** Serve `w` on host:port (0: an ephemeral port); resolves with the server and its port. */
export function serveWitness(w: Witness, host: string, port: number, log?: WitnessLog): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.method === "GET" && (req.url === "/" || req.url === "")) {
      return send(200, "application/json", JSON.stringify({ name: w.key.name, verifierKey: w.verifierKey, logs: w.holdings() }) + "\n");
    }
    if (req.method !== "POST" || req.url !== "/add-checkpoint") return send(404, "text/plain; charset=utf-8", "POST /add-checkpoint\n");
    const parts: Buffer[] = [];
    let n = 0;
    req.on("data", (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        send(413, "text/plain; charset=utf-8", "request too large\n");
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on("end", () => {
      if (n > MAX_BODY) return;
      let body: string;
      try { body = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(parts)); } catch {
        log?.warn({ code: "MALFORMED", from: req.socket.remoteAddress }, "refused");
        return send(400, "text/plain; charset=utf-8", "not UTF-8\n");
      }
      w.addCheckpoint(body).then((r) => {
        if (r.status === 200) log?.info({ code: r.code, from: req.socket.remoteAddress }, "cosigned");
        else log?.warn({ code: r.code, status: r.status, from: req.socket.remoteAddress, detail: r.body.trim() }, "refused");
        send(r.status, r.contentType, r.body);
      }, (e) => send(500, "text/plain; charset=utf-8", `witness error: ${(e as Error).message}\n`));
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}
