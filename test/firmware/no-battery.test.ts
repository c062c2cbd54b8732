// A board with no battery sensor (the Linux interpreter, a board without a `bat` pin): the Espruino
// host (hosts/espruino.ts, on the simulator's imitation of the interpreter's APIs) reads no battery,
// the recorder's Status carries no battery field, info() shows "-", and the station checks the
// device out, noting the battery unknown; a device whose battery reads 10 % is still refused.
import { describe, it, expect, afterEach } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import protobuf from "protobufjs";
import { decode } from "../../protocol/codec.js";
import { Recorder } from "../../firmware/core/recorder.js";
import type { RecorderOptions } from "../../firmware/core/recorder.js";
import { espruinoHost } from "../../firmware/hosts/espruino.js";
import { createEnv } from "../../simulator/imitation/espruino-env.js";
import type { Caller } from "../../gateway/services/index.js";
import { GatewayError } from "../../gateway/errors.js";
import { testGateway } from "../gateway/harness.js";
import { provisionKv, until, MemKv } from "./fake-host.js";

const FAST: Partial<RecorderOptions> = { helloWaitMs: 300, tickMs: 100, resendMs: 1500, backoffMin: 100, backoffMax: 400, reserve: 4096 };
const ADMIN: Caller = { name: "admin", role: "admin", officerBadge: null };
const Status = protobuf.loadSync(new URL("../../protocol/recorder.proto", import.meta.url).pathname).lookupType("evrec.v1.Status");

type Gw = Awaited<ReturnType<typeof testGateway>>;
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

/**
 * A recorder on the Espruino host over an imitation env, provisioned for `id` at the gateway, with
 * a battery sensor reading `batteryPct`, or none (as env.board is on the Linux interpreter: {}).
 * Returns it once its Hello is answered, with the fields its next Status carries on the wire.
 */
async function device(g: Gw, id: string, batteryPct: number | null) {
  const root = new Uint8Array(randomBytes(32));
  await g.gw.registry.add(id, { root });
  const dir = mkdtempSync(join(tmpdir(), "evrec-nobat-"));
  const { env, device: handle } = createEnv({ dir, name: id, seed: randomBytes(4).readUInt32LE(0), media: false, batteryPct: batteryPct ?? 100 });
  if (batteryPct === null) delete env.board.battery;
  const kv = new MemKv();
  provisionKv(kv, id, root, g.gw.mqttPort);
  for (const [name, text] of kv.files) env.Storage.write(name, text);
  const host = espruinoHost(env);
  const rec = new Recorder(host, FAST);
  expect(rec.start()).toBe("");
  cleanup.push(() => { rec.halt(); handle.kill(); rmSync(dir, { recursive: true, force: true }); });
  await until(() => rec.up.ready, `${id}'s Hello answered`);
  /** Send a Status now; the names of the fields it carries on the wire, and once the gateway has it. */
  const heartbeat = async (): Promise<string[]> => {
    const m = rec.mqtt!;
    const publish = m.publish;
    let body: Uint8Array | null = null;
    m.publish = function (topic, payload, qos) {
      const up = decode("Uplink", payload) as { status?: { body: Uint8Array } };
      if (up.status) body = up.status.body.slice();
      return publish.call(this, topic, payload, qos);
    };
    const before = (await g.gw.db.get<{ s: string | null }>("SELECT last_status AS s FROM devices WHERE id = ?", [id]))?.s;
    try { rec.up.heartbeat(); } finally { m.publish = publish; }
    expect(body).not.toBeNull();
    await until(async () => (await g.gw.db.get<{ s: string | null }>("SELECT last_status AS s FROM devices WHERE id = ?", [id]))?.s !== before, `${id}'s Status stored`);
    // protobufjs without defaults: only the fields present on the wire.
    return Object.keys(Status.toObject(Status.decode(body!), { defaults: false, longs: Number }));
  };
  return { host, rec, heartbeat };
}

describe("a board without a battery sensor", () => {
  it("reports no battery (not 0 %): none in its Status, '-' in info(), and the station checks it out noting the battery unknown, while a 10 % battery is refused", async () => {
    const g = await testGateway();
    cleanup.push(() => g.close());
    const s = g.gw.services.model;
    const unit = await s.addUnit(ADMIN, "Patrol", "agency");
    for (const badge of ["T002", "T003"]) await s.addOfficer(ADMIN, { badge, name: "Officer " + badge, unitId: unit.id, role: "enforcement", certNo: "ZF-" + badge, certValidFrom: "2020-01-01", certValidTo: "2099-12-31" });

    const bare = await device(g, "BWC-N001", null);
    expect(bare.host.battery()).toBeUndefined();
    const fields = await bare.heartbeat();
    expect(fields).toContain("firmware");
    expect(fields).not.toContain("batteryMv");
    expect(fields).not.toContain("batteryPct");
    expect(bare.rec.info().battery).toBe("-");
    const a = await s.checkOut(ADMIN, "BWC-N001", { badge: "T002" });
    expect(a.warnings.join(" ")).toContain("BATTERY_UNKNOWN");
    expect(a.warnings.join(" ")).not.toContain("BATTERY_LOW");

    const flat = await device(g, "BWC-N002", 10);
    expect(flat.host.battery()).toMatchObject({ pct: 10 });
    expect(await flat.heartbeat()).toEqual(expect.arrayContaining(["batteryMv", "batteryPct"]));
    expect(flat.rec.info().battery).toMatch(/^\d+ mV 10%$/);
    const e = await s.checkOut(ADMIN, "BWC-N002", { badge: "T003" }).catch((x) => x);
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).code).toBe("CHECKOUT_BATTERY");
    expect((e as GatewayError).message).toContain("battery 10 %, below 20 %");
  });
});
