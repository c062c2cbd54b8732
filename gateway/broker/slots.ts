// Who holds the broker's connection slots (R-ADM-2, P5): sockets still awaiting their CONNECT,
// logins being checked, and each device's sessions. One device's login, or a stranger's idle
// sockets, must not keep the other devices out:
//   - a device's login holds at most `maxSessionsPerDevice` sessions at once (its own client id,
//     and `<id>/<suffix>` ones: a tool or a test beside the recorder); one more is refused at
//     CONNECT, TOO_MANY_SESSIONS, naming the device. A CONNECT under a client id the device already
//     holds takes that session over (MQTT does), so it is no new one. The recorder's own client id
//     (the device id) is never kept out by the others: at the limit, the oldest of them is closed
//     for it (logged TOO_MANY_SESSIONS too), so a copy of its login can't lock the recorder out.
//   - sockets that have sent no CONNECT hold at most `maxPending` slots; past that, or when every
//     slot is taken and some are idle, the oldest idle socket of the address holding the most idle
//     ones is closed to make room (TOO_MANY_PENDING). A device's socket is idle for a round trip;
//     one that sends nothing holds its slot only until a newer one needs it, not for the whole
//     CONNECT timeout.
//   - TOO_MANY_CLIENTS then means every slot holds a login (or one being checked), and its log
//     line says how they are held and which device holds the most.

export interface SlotLimits {
  /** All sockets at once. */
  maxClients: number;
  /** Sockets that have not sent a CONNECT yet, at once (at least 1). */
  maxPending: number;
  /** Sessions one device's login holds at once (at least 1). */
  maxSessionsPerDevice: number;
}

/** A slot's fields as the refusals log them. */
type Fields = Record<string, unknown>;

export interface Slot {
  readonly remote: string;
  /** awaiting: no CONNECT yet; connecting: its login is being checked; in: a device's session. */
  state: "awaiting" | "connecting" | "in" | "closed";
  device?: string;
  clientId?: string;
  /** Close the socket (the slot is freed at once; its close event later changes nothing). */
  readonly close: () => void;
}

export class Slots {
  private all = new Set<Slot>();
  /** Idle sockets, oldest first, and the same by remote address. */
  private awaiting = new Set<Slot>();
  private awaitingBy = new Map<string, Set<Slot>>();
  /** Each device's sessions. */
  private devices = new Map<string, Set<Slot>>();

  constructor(readonly limits: SlotLimits, private refused: (code: string, fields: Fields) => void) {}

  /** The default share of the slots idle sockets may hold: a quarter. */
  static pendingShare(maxClients: number): number {
    return Math.max(1, Math.floor(maxClients / 4));
  }

  get size(): number {
    return this.all.size;
  }

  /**
   * A new socket: a slot for it (an idle socket closed first, if it needs that one), or null: every
   * slot holds a login, refused TOO_MANY_CLIENTS.
   */
  open(remote: string | undefined, close: () => void): Slot | null {
    const from = remote || "?";
    const l = this.limits;
    if (this.awaiting.size >= Math.max(1, l.maxPending) || (this.all.size >= l.maxClients && this.awaiting.size)) {
      const idle = this.idlest();
      this.refused("TOO_MANY_PENDING", { remote: idle.remote, awaitingConnect: this.awaiting.size, limit: Math.max(1, l.maxPending), for: from, detail: "closed the oldest socket without CONNECT of the address holding the most, to make room" });
      this.free(idle);
      idle.close();
    }
    if (this.all.size >= l.maxClients) {
      this.refused("TOO_MANY_CLIENTS", { remote: from, limit: l.maxClients, ...this.holding() });
      return null;
    }
    const slot: Slot = { remote: from, state: "awaiting", close };
    this.all.add(slot);
    this.awaiting.add(slot);
    let mine = this.awaitingBy.get(from);
    if (!mine) this.awaitingBy.set(from, (mine = new Set()));
    mine.add(slot);
    return slot;
  }

  /** Its CONNECT arrived: no longer idle. */
  connecting(slot: Slot): void {
    if (slot.state !== "awaiting") return;
    this.unawait(slot);
    slot.state = "connecting";
  }

  /**
   * Its login is the device's (credentials checked): a session of that device, or, at the device's
   * limit, the client ids of the sessions it already holds (refuse it).
   */
  claim(slot: Slot, device: string, clientId: string): string[] | null {
    if (slot.state === "closed") return null; // gone while its login was checked: aedes drops it
    let mine = this.devices.get(device);
    const limit = Math.max(1, this.limits.maxSessionsPerDevice);
    const others = new Set<string>();
    for (const s of mine || []) if (s.clientId !== clientId && s !== slot) others.add(s.clientId!);
    if (others.size >= limit && clientId === device) {
      // The recorder itself: the oldest other sessions make room (a Set keeps them oldest first).
      for (const s of [...mine!]) {
        if (others.size < limit) break;
        if (s.clientId === clientId || !others.delete(s.clientId!)) continue;
        this.refused("TOO_MANY_SESSIONS", { device, client: s.clientId, remote: s.remote, limit, detail: "closed to make room for the device's own client id" });
        for (const t of [...mine!]) if (t.clientId === s.clientId) { this.free(t); t.close(); }
      }
      mine = this.devices.get(device);
    }
    if (others.size >= limit) return [...others];
    this.unawait(slot);
    slot.state = "in";
    slot.device = device;
    slot.clientId = clientId;
    if (!mine) this.devices.set(device, (mine = new Set()));
    mine.add(slot);
    return null;
  }

  /** The socket closed (or was closed): its slot is free. */
  free(slot: Slot): void {
    if (slot.state === "closed") return;
    this.all.delete(slot);
    this.unawait(slot);
    if (slot.device) {
      const mine = this.devices.get(slot.device);
      if (mine) {
        mine.delete(slot);
        if (!mine.size) this.devices.delete(slot.device);
      }
    }
    slot.state = "closed";
  }

  /** How the slots are held: logged in, logins being checked, idle; the device holding the most. */
  holding(): { loggedIn: number; connecting: number; awaitingConnect: number; devices: number; busiest?: { device: string; sessions: number }; busiestIdle?: { remote: string; sockets: number } } {
    let loggedIn = 0;
    let busiest: { device: string; sessions: number } | undefined;
    for (const [device, s] of this.devices) {
      loggedIn += s.size;
      if (!busiest || s.size > busiest.sessions) busiest = { device, sessions: s.size };
    }
    let busiestIdle: { remote: string; sockets: number } | undefined;
    for (const [remote, s] of this.awaitingBy) if (!busiestIdle || s.size > busiestIdle.sockets) busiestIdle = { remote, sockets: s.size };
    return { loggedIn, connecting: this.all.size - loggedIn - this.awaiting.size, awaitingConnect: this.awaiting.size, devices: this.devices.size, busiest, busiestIdle };
  }

  /** The oldest idle socket of the address holding the most idle ones. */
  private idlest(): Slot {
    let most: Set<Slot> | undefined;
    for (const s of this.awaitingBy.values()) if (!most || s.size > most.size) most = s;
    return most!.values().next().value!;
  }

  private unawait(slot: Slot): void {
    if (!this.awaiting.delete(slot)) return;
    const mine = this.awaitingBy.get(slot.remote);
    if (mine) {
      mine.delete(slot);
      if (!mine.size) this.awaitingBy.delete(slot.remote);
    }
  }
}
