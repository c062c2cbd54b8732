// Golden vectors (SPEC.md section 11): every SHA-256 path rebuilds every file exactly, and every
// negative case yields its verdict and reason codes.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fromHex } from "../../protocol/bytes.js";
import { allVectors } from "../../protocol/vectors/generate.js";
import { DownlinkGuard } from "../../protocol/downlink.js";
import { deviceIdBytes } from "../../protocol/blocks.js";
import { checkControl } from "../../protocol/downlink.js";
import { SHA_PATHS, codes, runHistory, runRecording } from "./helpers.js";
import type { HistoryCase, RecordingCase, DownlinkCase } from "../../protocol/vectors/negative.js";

const dir = new URL("../../protocol/vectors/", import.meta.url);
const load = (name: string) => JSON.parse(readFileSync(new URL(name, dir), "utf8"));
const negative = load("negative.json") as { recording: RecordingCase[]; history: HistoryCase[]; downlink: DownlinkCase[] };
const keys = load("keys.json");

describe.each(SHA_PATHS)("golden vectors with %s", (_name, sha) => {
  const built = allVectors(sha);
  for (const [file, data] of Object.entries(built)) {
    it(`rebuilds ${file} byte for byte`, () => {
      expect(JSON.parse(JSON.stringify(data))).toEqual(load(file));
    });
  }

  it.each(negative.recording.map((c) => [c.name, c] as const))("recording case %s yields its verdict and reasons", (_n, c) => {
    const r = runRecording(sha, c);
    expect(r.verdict).toBe(c.expect.verdict);
    for (const code of c.expect.reasons) expect(codes(r)).toContain(code);
    if (c.expect.verdict === "verified") expect(codes(r).filter((x) => !["DUPLICATE", "INTERRUPTED"].includes(x))).toEqual([]);
    // Every refusal named, and no other: junk is refused, never held against the device (R-VER-0).
    expect(r.refused.slice().sort()).toEqual(c.expect.refused.slice().sort());
  });

  it.each(negative.history.map((c) => [c.name, c] as const))("history case %s yields its verdict and reasons", (_n, c) => {
    const r = runHistory(sha, fromHex(keys.stateKey0), c);
    expect(r.verdict).toBe(c.expect.verdict);
    for (const code of c.expect.reasons) expect(codes(r)).toContain(code);
  });

  it.each(negative.downlink.map((c) => [c.name, c] as const))("downlink case %s is %s", (_n, c) => {
    const g = new DownlinkGuard(sha, fromHex(keys.downlinkKey), deviceIdBytes(keys.deviceId));
    if (c.sessionNonce) g.open(fromHex(c.sessionNonce));
    for (const m of c.acceptedBefore) expect(g.check(m.counter, fromHex(m.body), fromHex(m.mac))).toBe("");
    expect(g.check(c.message.counter, fromHex(c.message.body), fromHex(c.message.mac))).toBe(c.expect);
    expect(g.rejected).toBe(c.expect ? 1 : 0);
  });

  it("checks the control tags of Hello and Status, and refuses them under another kind", () => {
    const d = load("downlink.json");
    for (const c of d.control) {
      expect(checkControl(sha, fromHex(d.controlKey), c.kind, deviceIdBytes(d.deviceId), fromHex(c.body), fromHex(c.tag))).toBe(true);
      expect(checkControl(sha, fromHex(d.controlKey), 3 - c.kind, deviceIdBytes(d.deviceId), fromHex(c.body), fromHex(c.tag))).toBe(false);
    }
  });
});

describe("the vectors cover what SPEC.md section 11 promises", () => {
  it("has at least three recordings with pre-event, marker and an interrupted seal", () => {
    const h = load("history.json");
    expect(h.recordings.length).toBeGreaterThanOrEqual(3);
    expect(h.recordings.some((r: { seal: { interrupted: boolean } }) => r.seal.interrupted)).toBe(true);
    const flags = h.recordings.flatMap((r: { chunks: { flags: number }[] }) => r.chunks.map((c) => c.flags));
    expect(flags).toContain(1);
    expect(flags).toContain(2);
  });
  it("names every negative case the foundation issue lists", () => {
    const names = [...negative.recording, ...negative.history, ...negative.downlink].map((c) => c.name);
    for (const n of ["flipped-payload-byte", "flipped-header-byte", "swapped-chunks", "dropped-chunk", "dropped-final-chunk-no-seal",
      "dropped-recording", "wrong-key", "forged-with-later-key", "duplicate-chunk", "equivocation", "ack-bad-mac", "ack-old-nonce"]) expect(names).toContain(n);
  });
});
