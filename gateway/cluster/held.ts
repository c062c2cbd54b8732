// A partition's messages through a gate that keeps their order. While a worker's lease may be
// another's (its last renewal older than two thirds of a lease: it stalled, or the lease stream is
// electing its leader), what JetStream hands it is held here, neither fed nor handed back. Once a
// renewal lands, what was held is fed first, in the order it came, then what comes after; if the
// lease is lost, what was held is handed back (nak) for the next holder. Handing each message back
// at once, with a delay, as the worker did before, let a device's later messages be fed before
// the earlier ones came back: chunks ahead of their start, or of the Hello of their session.
// Held messages are not acknowledged, so JetStream's limit of messages in flight per partition
// (maxAckPending) bounds them.
export class HeldInOrder<M> {
  private held: M[] = [];
  constructor(private feed: (m: M) => void, private handBack: (m: M) => void) {}

  /** A message, fed now if `open` and nothing is held before it, else held behind what is. */
  offer(m: M, open: boolean): void {
    this.held.push(m);
    if (open) this.release();
  }

  /** The gate opens: everything held is fed, in order. */
  release(): void {
    while (this.held.length) this.feed(this.held.shift()!);
  }

  /** The lease is gone: everything held is handed back, in order. */
  drop(): void {
    const h = this.held;
    this.held = [];
    for (const m of h) this.handBack(m);
  }

  get size(): number {
    return this.held.length;
  }
}
