// Debian's mosquitto_pub and mosquitto_sub as foreign MQTT clients: they carry the protocol's
// bytes to the gateway and back, and their bad input is refused with a reason while other
// devices carry on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import type { Gateway } from "../../gateway/gateway.js";
import { testGateway } from "./harness.js";
import { decode, encode, which } from "../../protocol/codec.js";
import { loginPassword } from "../../protocol/chain.js";
import { tagControl } from "../../protocol/downlink.js";
import { CONTROL_HELLO } from "../../protocol/constants.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { FakeDevice } from "./fake-device.js";

const run = promisify(execFile);
const hasMosquitto = await run("sh", ["-c", "command -v mosquitto_pub && command -v mosquitto_sub"]).then(() => true, () => false);

let gw: Gateway;
let dir: string;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ gw, dir, close } = await testGateway());
});
afterAll(() => close());

describe.skipIf(!hasMosquitto)("mosquitto_pub and mosquitto_sub against the gateway", () => {
  it("carry a Hello up and the gateway's authenticated TimeBeacon down", async () => {
    const root = randomBytes(32);
    await gw.registry.add("BWC-0401", { root });
    const d = new FakeDevice("BWC-0401", root);
    const pass = loginPassword(d.keys.login);
    const sub = spawn("mosquitto_sub", ["-h", "127.0.0.1", "-p", String(gw.mqttPort), "-u", "BWC-0401", "-P", pass, "-i", "BWC-0401/sub", "-t", "rec/BWC-0401/down", "-q", "1", "-C", "1", "-N"]);
    const out: Buffer[] = [];
    const exited = new Promise((r) => sub.once("exit", r));
    sub.stdout.on("data", (b) => out.push(b));
    await new Promise((r) => setTimeout(r, 500));
    const nonce = randomBytes(16);
    const body = encode("Hello", { nonce, firmware: "mosquitto" });
    const file = join(dir, "hello.bin");
    writeFileSync(file, encode("Uplink", { schema: 1, hello: { body, tag: tagControl(sha, d.keys.controlKey, CONTROL_HELLO, d.dev, body) } }));
    await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(gw.mqttPort), "-u", "BWC-0401", "-P", pass, "-i", "BWC-0401/pub", "-t", "rec/BWC-0401/up", "-q", "1", "-f", file]);
    await exited;
    const msg = decode("Downlink", new Uint8Array(Buffer.concat(out)));
    d.guard.open(nonce);
    expect(d.guard.check(msg.counter as number, msg.body as Uint8Array, msg.mac as Uint8Array)).toBe("");
    expect(which(decode("DownBody", msg.body as Uint8Array), "DownBody")).toBe("beacon");
  });

  it("refuse a wrong password, and refuse garbage with a reason while another device streams on", async () => {
    const root = randomBytes(32);
    await gw.registry.add("BWC-0402", { root });
    const bad = await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(gw.mqttPort), "-u", "BWC-0402", "-P", "f".repeat(64), "-t", "rec/BWC-0402/up", "-m", "x"]).then(() => null, (e) => e);
    expect(bad).not.toBeNull();
    expect(String(bad.stderr)).toMatch(/not authori[sz]ed|bad user name or password/i);
    expect(gw.broker.refusals.counts.AUTH_BAD_CREDENTIAL).toBeGreaterThanOrEqual(1);

    const other = new FakeDevice("BWC-0403", randomBytes(32));
    await gw.registry.add("BWC-0403", { root: other.root });
    await other.connect(gw.mqttPort);
    await other.hello();
    const pass = loginPassword(new FakeDevice("BWC-0402", root).keys.login);
    const garbage = join(dir, "garbage.bin");
    writeFileSync(garbage, randomBytes(5000));
    await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(gw.mqttPort), "-u", "BWC-0402", "-P", pass, "-i", "BWC-0402/garbage", "-t", "rec/BWC-0402/up", "-q", "1", "-f", garbage]);
    await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(gw.mqttPort), "-u", "BWC-0402", "-P", pass, "-i", "BWC-0402/short", "-t", "rec/BWC-0402/up", "-q", "1", "-m", "\x08\x01"]);
    await new Promise((r) => setTimeout(r, 300));
    const decodeRefusals = Object.entries(gw.broker.refusals.counts).filter(([k]) => k.startsWith("DECODE_") || k === "HELLO_REQUIRED").reduce((a, [, n]) => a + n, 0);
    expect(decodeRefusals).toBeGreaterThanOrEqual(2);
    const rec = other.recording(1, [randomBytes(2000)]);
    await other.publish(rec.start);
    await other.publish(rec.chunks[0]);
    await other.publish(rec.seal);
    await other.waitFor((m) => m.kind === "ack" && (m.body.ack as { state: number }).state === 1);
    await other.end();
  });
});
