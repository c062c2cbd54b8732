// What a reason must say, as the gateway and the console's forms both judge it (protocol/text.ts).
import { describe, expect, it } from "vitest";
import { REASON_MAX, reasonProblem, reasonTooShort } from "../../protocol/text.js";

describe("a reason", () => {
  it("takes three characters, or two of Chinese; refuses less, more than the most, and control characters", () => {
    expect(reasonTooShort("ok")).toBe(true);
    expect(reasonTooShort("  ok  ")).toBe(true);
    expect(reasonTooShort("yes")).toBe(false);
    expect(reasonTooShort("同意")).toBe(false);
    expect(reasonTooShort("同")).toBe(true);
    expect(reasonProblem(undefined)?.code).toBe("REASON_REQUIRED");
    expect(reasonProblem("复核")).toBeNull();
    expect(reasonProblem("核".repeat(REASON_MAX))).toBeNull();
    expect(reasonProblem("核".repeat(REASON_MAX + 1))?.code).toBe("BAD_INPUT");
    expect(reasonProblem("line one\n\tline two")).toBeNull();
    expect(reasonProblem("clear \u001b[2J screen")).toEqual({ code: "BAD_INPUT", why: expect.stringContaining("U+001B") });
  });
});
