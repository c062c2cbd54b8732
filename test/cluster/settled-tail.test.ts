// A cluster worker acknowledges a message to JetStream once every commit submitted before it has
// settled (`SettledTail`). What it waits on must keep nothing of the commits it waited for: a
// worker streaming for hours would otherwise grow without end (it did: a tail built as
// `Promise.allSettled([tail, p])` kept every commit's result in a nested list).
import { describe, expect, it } from "vitest";
import v8 from "node:v8";
import vm from "node:vm";
import { SettledTail } from "../../gateway/cluster/worker.js";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

describe("the tail a cluster worker's acknowledgements wait on", () => {
  it("settles only once every promise added before has, failed ones included", async () => {
    const t = new SettledTail();
    let release!: () => void, fail!: (e: Error) => void;
    t.add(new Promise<void>((r) => { release = r; }));
    t.add(new Promise<void>((_, r) => { fail = r; }));
    let done = false;
    const waited = t.settled.then(() => { done = true; });
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(done).toBe(false);
    fail(new Error("a commit that failed"));
    await waited;
    expect(done).toBe(true);
    // A promise added after the wait began is not waited for by it.
    t.add(new Promise<void>(() => undefined));
    let later = false;
    void t.settled.then(() => { later = true; });
    await new Promise((r) => setTimeout(r, 10));
    expect(later).toBe(false);
  });

  it("keeps nothing of the promises it waited for: 200,000 commits leave the heap where it was", async () => {
    const t = new SettledTail();
    const heap = () => { gc(); return process.memoryUsage().heapUsed; };
    const before = heap();
    for (let i = 0; i < 200_000; i++) {
      t.add(Promise.resolve({ seq: i }));
      if (i % 10_000 === 0) await t.settled; // as a worker's commits settle while it goes on
    }
    await t.settled;
    const grown = heap() - before;
    // The nested list of results kept about 40 MB here (about 200 bytes a commit).
    expect(grown).toBeLessThan(4 * 1024 * 1024);
  });
});
