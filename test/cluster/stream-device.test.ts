// The cluster tests' recorder must reach the next listener however its try at one ends. After a
// NATS node's loss, a surviving node can close a device's connection before its CONNACK (it could
// not make the MQTT session while a JetStream stream elected its leader); a device that waited on
// that try for ever left the cluster test waiting for its recordings until it timed out.
import { afterEach, describe, expect, it } from "vitest";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { randomBytes } from "node:crypto";
import { Aedes } from "aedes";
import { StreamDevice } from "./stream-device.js";

const servers: Server[] = [];
const closers: (() => void)[] = [];
afterEach(async () => {
  closers.splice(0).forEach((c) => c());
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

const listen = async (s: Server): Promise<number> => {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as { port: number }).port;
};

describe("a cluster test's recorder", () => {
  it("connects to the next listener when one closes its connection before the CONNACK", async () => {
    // The first listener reads the CONNECT and closes, as nats-server does when it cannot make the session.
    let tried = 0;
    const closing = await listen(createServer((s) => s.once("data", () => { tried++; s.end(); })));
    const broker = await Aedes.createBroker();
    closers.push(() => broker.close());
    const good = await listen(createServer(broker.handle));
    const d = new StreamDevice("cl-next", new Uint8Array(randomBytes(32)), [closing, good], 1, 2, 64, 0);
    try {
      // Before, this start never returned: the first try's promise was left pending.
      await d.start();
      expect(tried).toBe(1);
      expect(d.connects).toBe(1);
      expect(d.client).not.toBeNull();
    } finally {
      await d.stop();
    }
  }, 15000);
});
