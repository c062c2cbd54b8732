// gateway/broker/slots.ts alone: who may hold the broker's connection slots, and what is closed or
// refused to keep one device's login, or one address's idle sockets, from holding them all.
import { describe, expect, it } from "vitest";
import { Slots } from "../../gateway/broker/slots.js";
import type { Slot } from "../../gateway/broker/slots.js";

function slots(maxClients: number, maxPending: number, maxSessionsPerDevice = 4) {
  const refusals: { code: string; fields: Record<string, unknown> }[] = [];
  const closed: string[] = [];
  const s = new Slots({ maxClients, maxPending, maxSessionsPerDevice }, (code, fields) => refusals.push({ code, fields }));
  const open = (remote: string, name: string) => s.open(remote, () => closed.push(name));
  return { s, refusals, closed, open };
}

/** A socket that has sent its CONNECT and logged in as `device` under `clientId`. */
function login(s: Slots, slot: Slot, device: string, clientId: string) {
  s.connecting(slot);
  return s.claim(slot, device, clientId);
}

describe("a device's sessions", () => {
  it("holds at most its limit; a take-over of a client id it holds is no new session; a freed one makes room", () => {
    const { s, open } = slots(100, 10, 3);
    const a = [0, 1, 2].map((i) => open("10.0.0.1", `a${i}`)!);
    a.forEach((slot, i) => expect(login(s, slot, "BWC-1", `BWC-1/${i}`)).toBeNull());
    const fourth = open("10.0.0.1", "a3")!;
    expect(login(s, fourth, "BWC-1", "BWC-1/3")?.sort()).toEqual(["BWC-1/0", "BWC-1/1", "BWC-1/2"]);
    // Another device is not affected.
    expect(login(s, open("10.0.0.2", "b")!, "BWC-2", "BWC-2")).toBeNull();
    // The recorder reconnecting under a client id it holds takes that session over (MQTT closes the old one).
    expect(login(s, open("10.0.0.1", "again")!, "BWC-1", "BWC-1/1")).toBeNull();
    s.free(a[0]);
    expect(login(s, fourth, "BWC-1", "BWC-1/3")).toBeNull();
    expect(s.holding()).toMatchObject({ loggedIn: 5, busiest: { device: "BWC-1", sessions: 4 } });
  });

  it("the recorder's own client id is never kept out by the others: the oldest of them is closed for it", () => {
    const { s, open, closed, refusals } = slots(100, 10, 2);
    login(s, open("10.6.6.6", "copy0")!, "BWC-1", "BWC-1/x");
    login(s, open("10.6.6.6", "copy1")!, "BWC-1", "BWC-1/y");
    expect(login(s, open("10.6.6.6", "copy2")!, "BWC-1", "BWC-1/z")).toEqual(["BWC-1/x", "BWC-1/y"]);
    expect(login(s, open("10.0.0.1", "recorder")!, "BWC-1", "BWC-1")).toBeNull();
    expect(closed).toEqual(["copy0"]);
    expect(refusals.at(-1)).toMatchObject({ code: "TOO_MANY_SESSIONS", fields: { device: "BWC-1", client: "BWC-1/x", remote: "10.6.6.6" } });
    expect(s.holding()).toMatchObject({ loggedIn: 2, busiest: { device: "BWC-1", sessions: 2 } });
    // Its reconnection takes its own session over, closing none of the others.
    expect(login(s, open("10.0.0.1", "recorder2")!, "BWC-1", "BWC-1")).toBeNull();
    expect(closed).toEqual(["copy0"]);
  });

  it("a socket closed while its login was checked claims nothing", () => {
    const { s, open } = slots(10, 5, 1);
    const slot = open("10.0.0.1", "x")!;
    s.connecting(slot);
    s.free(slot);
    expect(s.claim(slot, "BWC-1", "BWC-1")).toBeNull();
    expect(login(s, open("10.0.0.1", "y")!, "BWC-1", "BWC-1/y")).toBeNull();
    expect(s.size).toBe(1);
  });
});

describe("sockets without a CONNECT", () => {
  it("hold at most their share: past it the oldest of the address with the most is closed, not a newcomer refused", () => {
    const { s, open, closed, refusals } = slots(100, 4);
    const honest = open("10.0.0.9", "honest")!; // oldest of all, from an address with one idle socket
    for (let i = 0; i < 3; i++) open("10.6.6.6", `idle${i}`);
    expect(s.holding().awaitingConnect).toBe(4);
    open("10.6.6.6", "idle3");
    open("10.0.0.9", "honest2");
    expect(closed).toEqual(["idle0", "idle1"]);
    expect(refusals.map((r) => r.code)).toEqual(["TOO_MANY_PENDING", "TOO_MANY_PENDING"]);
    expect(refusals[0].fields).toMatchObject({ remote: "10.6.6.6", limit: 4, for: "10.6.6.6" });
    expect(s.holding().awaitingConnect).toBe(4);
    // The honest socket sends its CONNECT in time: no longer idle, never closed for room.
    s.connecting(honest);
    expect(login(s, honest, "BWC-1", "BWC-1")).toBeNull();
    expect(s.holding()).toMatchObject({ loggedIn: 1, awaitingConnect: 3 });
  });

  it("give way to a newcomer when every slot is taken; TOO_MANY_CLIENTS only when every slot holds a login, saying how", () => {
    const { s, open, closed, refusals } = slots(4, 2);
    login(s, open("10.0.0.1", "d0")!, "BWC-1", "BWC-1/a");
    login(s, open("10.0.0.1", "d1")!, "BWC-1", "BWC-1/b");
    s.connecting(open("10.0.0.1", "d2")!);
    open("10.6.6.6", "idle");
    expect(closed).toEqual([]);
    expect(s.size).toBe(4);
    const late = open("10.0.0.2", "late")!;
    expect(closed).toEqual(["idle"]);
    login(s, late, "BWC-2", "BWC-2");
    expect(open("10.6.6.6", "refused")).toBeNull();
    expect(refusals.at(-1)).toEqual({ code: "TOO_MANY_CLIENTS", fields: { remote: "10.6.6.6", limit: 4, loggedIn: 3, connecting: 1, awaitingConnect: 0, devices: 2, busiest: { device: "BWC-1", sessions: 2 }, busiestIdle: undefined } });
  });
});
