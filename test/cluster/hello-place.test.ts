// Which Hello a worker takes for the one that began a device's session, one delivered again from
// before it, or a new one: by the stream's sequence number and the time the stream stored it.
import { describe, expect, it } from "vitest";
import { helloPlace } from "../../gateway/cluster/worker.js";

const s = 1_000_000_000n; // a second, in ns
const session = { helloSeq: 5000, helloAt: String(1_800_000_000n * s) };
const at = BigInt(session.helloAt);

describe("a Hello's place against the session's", () => {
  it("knows the session's own Hello delivered again, and an older one", () => {
    expect(helloPlace(5000, at, session)).toBe("same");
    expect(helloPlace(4990, at - 2n * s, session)).toBe("older");
  });

  it("takes a later Hello for a new one", () => {
    expect(helloPlace(5100, at + 2n * s, session)).toBe("newer");
  });

  it("takes a Hello numbered below the session's but stored after it for a new one: the stream started again (kept in memory, every node restarted)", () => {
    expect(helloPlace(12, at + 30n * s, session)).toBe("newer");
    // Numbered as the session's own was, but stored later: not the same Hello.
    expect(helloPlace(5000, at + 30n * s, session)).toBe("newer");
  });

  it("orders a record written without the time by sequence number alone", () => {
    const old = { helloSeq: 5000 };
    expect(helloPlace(5000, at, old)).toBe("same");
    expect(helloPlace(4990, at + 30n * s, old)).toBe("older");
    expect(helloPlace(5001, at, old)).toBe("newer");
  });
});
