// The simulator's fault proxy: the network faults a scenario applies between a device and the
// gateway must be faults a real network makes. TCP delays; it never reorders a stream's bytes.
import { afterEach, describe, expect, it } from "vitest";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { FaultProxy } from "../../simulator/proxy.js";
import { mqttUpstreams } from "../../simulator/run.js";

const cleanup: (() => void)[] = [];
afterEach(() => { for (const c of cleanup.splice(0)) c(); });

/** A server that records what it receives; a proxy in front of it; a client connected through it. */
async function rig() {
  let got = "";
  const server = net.createServer((c) => { c.on("data", (d) => { got += d.toString(); }); c.on("error", () => {}); });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const proxy = new FaultProxy("127.0.0.1", (server.address() as AddressInfo).port);
  const port = await proxy.listen();
  const client = net.connect(port, "127.0.0.1");
  client.setNoDelay(true);
  await new Promise<void>((r) => client.once("connect", () => r()));
  cleanup.push(() => { client.destroy(); void proxy.close(); server.close(); });
  return { proxy, client, got: () => got };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("the fault proxy", () => {
  it("delays a stream without reordering it, even when the delay drops while data waits", async () => {
    const { proxy, client, got } = await rig();
    await sleep(50);
    proxy.delayMs = 300;
    client.write("first,");
    await sleep(50);
    proxy.delayMs = 100;
    client.write("second,");
    await sleep(50);
    proxy.delayMs = 0;
    client.write("third.");
    await sleep(100);
    expect(got()).toBe(""); // all three wait behind the first
    const end = Date.now() + 2000;
    while (got().length < 19 && Date.now() < end) await sleep(20);
    expect(got()).toBe("first,second,third.");
  });

  it("passes data straight through when there is no delay", async () => {
    const { client, got } = await rig();
    client.write("now");
    const end = Date.now() + 2000;
    while (!got() && Date.now() < end) await sleep(5);
    expect(got()).toBe("now");
  });

  it("in front of a region's nodes: a connection goes to the next when one refuses, its first bytes whole, and the next connection to the one that answered", async () => {
    // A port nothing listens on (a node killed), then two live ones, each recording what it gets.
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const got = ["", ""];
    const live = await Promise.all([0, 1].map(async (i) => {
      const s = net.createServer((c) => { c.on("data", (d) => { got[i] += d.toString(); }); c.on("error", () => {}); });
      await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
      return s;
    }));
    const proxy = new FaultProxy("127.0.0.1", deadPort, live.map((s) => ({ host: "127.0.0.1", port: (s.address() as AddressInfo).port })));
    const port = await proxy.listen();
    const clients: net.Socket[] = [];
    cleanup.push(() => { for (const c of clients) c.destroy(); void proxy.close(); for (const s of live) s.close(); });
    const send = async (text: string) => {
      const c = net.connect(port, "127.0.0.1");
      clients.push(c);
      await new Promise<void>((r) => c.once("connect", () => r()));
      c.write(text); // at once: the proxy is still dialling
    };
    await send("CONNECT-1");
    for (const end = Date.now() + 2000; got[0] !== "CONNECT-1" && Date.now() < end;) await sleep(10);
    expect(got).toEqual(["CONNECT-1", ""]);
    await send("CONNECT-2");
    for (const end = Date.now() + 2000; got[0] !== "CONNECT-1CONNECT-2" && Date.now() < end;) await sleep(10);
    expect(got).toEqual(["CONNECT-1CONNECT-2", ""]);
  });
});

describe("--gateway", () => {
  it("takes one gateway or a region's nodes, and refuses what is not mqtt://host:port with SIM_USAGE", () => {
    expect(mqttUpstreams("mqtt://10.0.0.2:1884")).toEqual([{ host: "10.0.0.2", port: 1884 }]);
    expect(mqttUpstreams("mqtt://n1:1883, mqtt://n2")).toEqual([{ host: "n1", port: 1883 }, { host: "n2", port: 1883 }]);
    expect(() => mqttUpstreams("10.0.0.2:1883")).toThrow(/^SIM_USAGE: --gateway: "10.0.0.2:1883" is not mqtt:\/\/host:port/);
    expect(() => mqttUpstreams("mqtt://n1:1883,http://n2:8080")).toThrow(/"http:\/\/n2:8080"/);
  });
});
