// A partition's messages while a worker's lease renewal is overdue (gateway/cluster/held.ts): held
// in the order they came, fed in that order before anything later once a renewal lands, handed
// back in order if the lease is lost. Before, each was handed back at once with a delay, and a
// device's later messages were fed before its earlier ones came back.
import { describe, expect, it } from "vitest";
import { HeldInOrder } from "../../gateway/cluster/held.js";

describe("messages held while a lease renewal is overdue", () => {
  it("feeds what came while overdue first, in order, then what comes after", () => {
    const fed: string[] = [];
    const back: string[] = [];
    const g = new HeldInOrder<string>((m) => fed.push(m), (m) => back.push(m));
    g.offer("hello", true);
    g.offer("start", false); // the renewal is overdue from here
    g.offer("chunk 1", false);
    expect(fed).toEqual(["hello"]);
    expect(g.size).toBe(2);
    // A message that comes once the clock says fine again, before the round that renews has run,
    // still waits behind those before it.
    g.offer("chunk 2", true);
    expect(fed).toEqual(["hello", "start", "chunk 1", "chunk 2"]);
    g.offer("chunk 3", false);
    g.release(); // the renewal lands
    g.offer("seal", true);
    expect(fed).toEqual(["hello", "start", "chunk 1", "chunk 2", "chunk 3", "seal"]);
    expect(back).toEqual([]);
    expect(g.size).toBe(0);
  });

  it("hands back what it held, in order, when the lease is lost, and feeds none of it", () => {
    const fed: string[] = [];
    const back: string[] = [];
    const g = new HeldInOrder<string>((m) => fed.push(m), (m) => back.push(m));
    g.offer("chunk 4", false);
    g.offer("chunk 5", false);
    g.drop();
    g.release();
    expect(fed).toEqual([]);
    expect(back).toEqual(["chunk 4", "chunk 5"]);
  });
});
