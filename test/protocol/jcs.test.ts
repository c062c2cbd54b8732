// RFC 8785 canonical JSON: what the station signs and logs must have one byte form that a
// second implementation reproduces, so the RFC's own examples are the test.
import { describe, expect, it } from "vitest";
import { canonicalBytes, canonicalize } from "../../protocol/jcs.js";

describe("canonical JSON (RFC 8785)", () => {
  it("writes the RFC's sample: numbers as ECMAScript prints them, escapes as JSON.stringify, keys sorted", () => {
    const input = JSON.parse('{"numbers": [1E30, 4.50, 6, 2e-3, 0.000000000000000000000000001], "escaping": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "other": [null, true, false]}');
    const out = canonicalize(input);
    expect(out).toBe('{"escaping":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/","numbers":[1e+30,4.5,6,0.002,1e-27],"other":[null,true,false]}');
    expect(Buffer.from(canonicalBytes(input)).toString("hex")).toBe(
      "7b22657363617069" + "6e67223a22e282ac245c75303030665c6e41274" + "25c225c5c5c5c5c222f222c226e756d62657273223a5b3165" +
      "2b33302c342e352c362c302e3030322c31652d32375d2c226f74686572223a5b6e756c6c2c747275652c66616c73655d7d");
  });

  it("sorts property names by UTF-16 code units, not code points or locale (RFC 8785 3.2.3)", () => {
    const keys = ["\u20ac", "\r", "\ufb33", "1", "\ud83d\ude00", "\u0080", "\u00f6"];
    const obj: Record<string, number> = {};
    keys.forEach((k, i) => (obj[k] = i));
    const order = [...canonicalize(obj).matchAll(/"([^"]*)":/g)].map((m) => JSON.parse(`"${m[1]}"`));
    expect(order).toEqual(["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"]);
  });

  it("sorts nested objects and keeps array order", () => {
    expect(canonicalize({ b: [3, { z: 1, a: 2 }], a: { d: null, c: "x" } })).toBe('{"a":{"c":"x","d":null},"b":[3,{"a":2,"z":1}]}');
    expect(canonicalize(-0)).toBe("0");
  });

  it("refuses what JSON can't carry, naming where", () => {
    expect(() => canonicalize({ a: [1, NaN] })).toThrow(/JCS_VALUE: \$\.a\[1\]/);
    expect(() => canonicalize({ a: undefined })).toThrow(/JCS_VALUE: \$\.a: undefined/);
    expect(() => canonicalize({ t: new Date(0) })).toThrow(/JCS_VALUE: \$\.t/);
    expect(() => canonicalize({ s: "a\ud800b" })).toThrow(/lone surrogate/);
    expect(() => canonicalize(1n as unknown)).toThrow(/bigint has no JSON form/);
  });
});
