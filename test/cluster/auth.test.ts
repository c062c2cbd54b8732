// nats-server's authorization file as the workers write it (gateway/cluster/auth.ts): no login in
// clear, a bcrypt hash per user, and a hash made once per secret, kept from one sync to the next
// by the digest beside it.
import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { compareSync } from "bcryptjs";
import { DEVICE_COST, WORKER_COST, authorizationText } from "../../gateway/cluster/auth.js";

const worker = { user: "evrec-worker", password: "worker-secret-for-tests" };
const devices = Array.from({ length: 6 }, (_, i) => ({ user: `dev${i}`, password: randomBytes(32).toString("hex") }));
const key = randomBytes(32);

/** Each user's bcrypt hash in a file's text. */
const hashes = (text: string): Map<string, string> => new Map([...text.matchAll(/\{ user: "([^"]+)", password: "([^"]+)"/g)].map((m) => [m[1], m[2]]));

describe("the NATS authorization file", () => {
  it("holds a bcrypt hash of each login, never the login, and lets each device publish and subscribe only on its own subjects", async () => {
    const text = await authorizationText(worker, devices, "", key);
    for (const l of [worker, ...devices]) expect(text).not.toContain(l.password);
    const h = hashes(text);
    expect([...h.keys()]).toEqual([worker.user, ...devices.map((d) => d.user)]);
    expect(h.get(worker.user)).toMatch(new RegExp(`^\\$2b\\$${WORKER_COST}\\$`));
    expect(compareSync(worker.password, h.get(worker.user)!)).toBe(true);
    for (const d of devices) {
      expect(h.get(d.user)).toMatch(new RegExp(`^\\$2b\\$0${DEVICE_COST}\\$`));
      expect(compareSync(d.password, h.get(d.user)!)).toBe(true);
      expect(compareSync(devices[(devices.indexOf(d) + 1) % devices.length].password, h.get(d.user)!)).toBe(false);
    }
    expect(text).toContain(`{ user: "dev1", password: "${h.get("dev1")}", permissions: { publish: { allow: ["part.*.rec.dev1.up"] }, subscribe: { allow: ["rec.dev1.down", "$MQTT.sub.>"] } } }`);
  });

  it("keeps each hash while its secret is unchanged, and hashes again only what changed", async () => {
    const first = await authorizationText(worker, devices, "", key);
    // Unchanged: the same text, so nothing is written and no server reloads (a new hash has a new salt).
    expect(await authorizationText(worker, devices, first, key)).toBe(first);
    // One device rekeyed, one gone, one new: only the new secrets are hashed.
    const changed = [{ ...devices[0], password: randomBytes(32).toString("hex") }, ...devices.slice(2), { user: "dev9", password: randomBytes(32).toString("hex") }];
    const second = hashes(await authorizationText(worker, changed, first, key));
    const before = hashes(first);
    expect(second.get("dev0")).not.toBe(before.get("dev0"));
    expect(compareSync(changed[0].password, second.get("dev0")!)).toBe(true);
    expect(second.has("dev1")).toBe(false);
    for (const d of devices.slice(2)) expect(second.get(d.user)).toBe(before.get(d.user));
    expect(second.get(worker.user)).toBe(before.get(worker.user));
    expect(compareSync(changed[changed.length - 1].password, second.get("dev9")!)).toBe(true);
  });

  it("hashes again a hash edited by hand, and every hash under another digest key", async () => {
    const first = await authorizationText(worker, devices, "", key);
    const before = hashes(first);
    const edited = first.replace(before.get("dev3")!, before.get("dev4")!);
    const after = hashes(await authorizationText(worker, devices, edited, key));
    expect(after.get("dev3")).not.toBe(before.get("dev4"));
    expect(compareSync(devices[3].password, after.get("dev3")!)).toBe(true);
    expect(after.get("dev2")).toBe(before.get("dev2"));
    // A digest under another key says nothing: the workers' own key is needed to keep a hash.
    const other = hashes(await authorizationText(worker, devices, first, randomBytes(32)));
    for (const d of devices) expect(other.get(d.user)).not.toBe(before.get(d.user));
  });
});
