// The office's view of which devices are connected (gateway/cluster/presence.ts), against
// monitoring ports that answer as nats-server's /connz does: page by page, MQTT connections by
// their login only, and a node that stops answering. (office.test.ts runs it on real nats-servers.)
import { afterEach, describe, expect, it } from "vitest";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { NatsPresence } from "../../gateway/cluster/presence.js";
import { createLogger } from "../../gateway/log.js";

interface Node { server: Server; url: string; conns: { type: string; authorized_user?: string; mqtt_client?: string }[]; down: boolean; asked: string[] }

const nodes: Node[] = [];

async function node(conns: Node["conns"]): Promise<Node> {
  const n: Node = { server: createServer(), url: "", conns, down: false, asked: [] };
  n.server.on("request", (req, res) => {
    n.asked.push(req.url!);
    if (n.down) { res.writeHead(503).end(); return; }
    const q = new URL(req.url!, "http://x").searchParams;
    const offset = Number(q.get("offset")), limit = Math.min(Number(q.get("limit")), 2); // a server capped at 2 a page
    const page = n.conns.slice(offset, offset + limit);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ num_connections: page.length, total: n.conns.length, offset, limit, connections: page }));
  });
  await new Promise<void>((r) => n.server.listen(0, "127.0.0.1", r));
  n.url = `http://127.0.0.1:${(n.server.address() as { port: number }).port}`;
  nodes.push(n);
  return n;
}

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => new Promise((r) => n.server.close(r))));
});

describe("device presence from nats-server's monitoring ports", () => {
  it("counts MQTT logins on every node, page by page, and says who came and who went", async () => {
    const a = await node([
      { type: "mqtt", authorized_user: "d1", mqtt_client: "d1" },
      { type: "nats", authorized_user: "worker" }, // a worker's own connection: not a device
      { type: "mqtt", authorized_user: "d2", mqtt_client: "d9" }, // the login counts, not the client id it chose
      { type: "mqtt", mqtt_client: "d3" }, // no login shown: not counted
      { type: "mqtt", authorized_user: "d4" },
    ]);
    const b = await node([{ type: "mqtt", authorized_user: "d1" }, { type: "mqtt", authorized_user: "d5" }]);
    const changes: [string, boolean][] = [];
    const p = new NatsPresence({ urls: [a.url, b.url + "/"], intervalMs: 60000, log: createLogger("silent"), changed: (d, on) => changes.push([d, on]) });
    await p.poll();
    expect(["d1", "d2", "d3", "d4", "d5", "d9", "worker"].filter((d) => p.isOnline(d))).toEqual(["d1", "d2", "d4", "d5"]);
    expect(p.count).toBe(4);
    // Those there at the first round are not news; a later round's differences are.
    expect(changes).toEqual([]);
    expect(a.asked.map((u) => new URL(u, "http://x").searchParams.get("offset"))).toEqual(["0", "2", "4"]);
    expect(a.asked.every((u) => u.includes("auth=1") && u.includes("state=open"))).toBe(true);

    a.conns = a.conns.filter((c) => c.authorized_user !== "d1" && c.authorized_user !== "d4");
    b.conns.push({ type: "mqtt", authorized_user: "d6" });
    await p.poll();
    // d1 is still on node b; d4 went; d6 came.
    expect(changes.sort()).toEqual([["d4", false], ["d6", true]]);
    expect(p.isOnline("d1")).toBe(true);
    await p.close();
  });

  it("keeps a silent node's devices for three rounds, then shows them gone", async () => {
    const a = await node([{ type: "mqtt", authorized_user: "d1" }]);
    const b = await node([{ type: "mqtt", authorized_user: "d2" }]);
    const changes: [string, boolean][] = [];
    const p = new NatsPresence({ urls: [a.url, b.url], intervalMs: 60000, log: createLogger("silent"), changed: (d, on) => changes.push([d, on]) });
    await p.poll();
    b.down = true;
    await p.poll();
    await p.poll();
    expect([p.isOnline("d1"), p.isOnline("d2"), changes.length]).toEqual([true, true, 0]);
    await p.poll();
    expect([p.isOnline("d1"), p.isOnline("d2")]).toEqual([true, false]);
    expect(changes).toEqual([["d2", false]]);
    // It answers again: its devices are back.
    b.down = false;
    await p.poll();
    expect(changes).toEqual([["d2", false], ["d2", true]]);
    await p.close();
  });
});
