// Why a recording ended (R-SEAL-5) is shown with it: the API's recording list and view give the
// end reason its seal states, and an unsealed recording has none yet.
import { describe, it, expect, afterEach } from "vitest";
import { readFileSync } from "node:fs";
import { testGateway, provision, streamSealed } from "./harness.js";
import { END_BATTERY_LOW } from "../../protocol/constants.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

describe("a recording's end reason at the gateway", () => {
  it("the API lists and shows it from the seal; an open recording has none", async () => {
    const g = await testGateway();
    cleanup.push(() => g.close());
    const token = readFileSync(g.gw.adminTokenFile!, "utf8").trim();
    const get = async (path: string) => (await fetch(`http://127.0.0.1:${g.gw.httpPort}${path}`, { headers: { authorization: `Bearer ${token}` } })).json();
    const d = await provision(g.gw, "ENDR-1");
    cleanup.push(() => d.end());
    await streamSealed(d, d.recording(1, [new Uint8Array(50).fill(1)], { endReason: END_BATTERY_LOW }));
    const open = d.recording(2, [new Uint8Array(50).fill(2), new Uint8Array(50).fill(3)]);
    // A start is answered once a tagged chunk confirms it (R-VER-0): the start and chunk 1, no seal.
    await d.publish(open.start);
    await d.publish(open.chunks[0]);
    await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { recording: number }).recording === 2);
    const list = (await get("/api/recordings?device=ENDR-1")) as { recording: number; endReason: string | null }[];
    // By recording: the listing's own order (newest first) is not this test's, and two clips started
    // in the same second may come either way round.
    expect(list.map((r) => [r.recording, r.endReason]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([[1, "BATTERY_LOW"], [2, null]]);
    expect(list[0]).not.toHaveProperty("sealBlock");
    const one = (await get("/api/recordings/ENDR-1/1?reason=checking+why+it+ended")) as { endReason: string };
    expect(one.endReason).toBe("BATTERY_LOW");
  });
});
