// HMAC-SHA256 against RFC 4231 on both Node SHA-256 paths; tags compare in constant time.
import { describe, expect, it } from "vitest";
import { fromHex, toHex, ctEqual, hashedEqual } from "../../protocol/bytes.js";
import { nodeSha256 } from "../../protocol/sha256-node.js";
import { Hmac, hmacSha256 } from "../../protocol/hmac.js";
import { hmacCases } from "../../protocol/vectors/rfc4231.js";
import { SHA_PATHS } from "./helpers.js";

describe.each(SHA_PATHS)("HMAC-SHA256 with %s", (_n, sha) => {
  it.each(hmacCases.map((c) => [c.case, c] as const))("matches RFC 4231 test case %i", (_i, c) => {
    const mac = hmacSha256(sha, fromHex(c.key), fromHex(c.data));
    expect(toHex(mac.subarray(0, c.truncate || 32))).toBe(c.mac);
  });
  it("gives the same MAC whichever way the message is split into parts", () => {
    const c = hmacCases[6];
    const data = fromHex(c.data);
    const h = new Hmac(sha, fromHex(c.key));
    for (let cut = 0; cut <= data.length; cut += 7) expect(toHex(h.mac([data.subarray(0, cut), data.subarray(cut)]))).toBe(c.mac);
  });
  it("wipes its pads on destroy", () => {
    const h = new Hmac(sha, fromHex(hmacCases[0].key));
    h.destroy();
    expect(h.ipad.every((b) => b === 0) && h.opad.every((b) => b === 0)).toBe(true);
  });
});

describe("constant-time comparison", () => {
  it("tells equal from unequal at every position and length", () => {
    const a = fromHex("00112233445566778899aabbccddeeff");
    expect(ctEqual(a, a.slice())).toBe(true);
    for (let i = 0; i < a.length; i++) {
      const b = a.slice();
      b[i] ^= 0x80;
      expect(ctEqual(a, b)).toBe(false);
    }
    expect(ctEqual(a, a.subarray(0, 15))).toBe(false);
  });

  it("the hashed comparison a board uses for downlink MACs tells them apart the same way", () => {
    const a = new Uint8Array(32).map((_, i) => i * 7);
    expect(hashedEqual(nodeSha256, a, a.slice())).toBe(true);
    for (let i = 0; i < a.length; i++) for (const bit of [0x01, 0x80]) {
      const b = a.slice();
      b[i] ^= bit;
      expect(hashedEqual(nodeSha256, a, b)).toBe(false);
    }
    expect(hashedEqual(nodeSha256, a, a.subarray(0, 31))).toBe(false);
    expect(hashedEqual(nodeSha256, new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});
