// A camera's recording (MEDIA_JPEG) exported: each frame a file of its own, as the camera wrote it,
// carrying a C2PA manifest signed by the station where c2pa-rs can parse the frame, and marked
// unsigned where it can't; the offline verifier passes the bundle, and c2pa-rs's reader trusts each
// signed frame under the station's anchor. The frames are real JPEGs, encoded by Chromium.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { station, exportTo, grant, readZip } from "./helpers.js";
import type { Station } from "./helpers.js";
import { provision, streamSealed } from "../gateway/harness.js";
import { browserOrSkip, launch } from "../console/browser.js";
import { verifyBundle } from "../../verifier/verify.js";
import { validateC2pa } from "../../verifier/c2pa.js";
import { C2PA_ASSERTION, jpegWithoutC2pa } from "../../protocol/bundle.js";
import { MEDIA_JPEG } from "../../protocol/constants.js";

const HAVE_BROWSER = browserOrSkip();

describe.skipIf(!HAVE_BROWSER)("a camera's recording exported", () => {
  let s: Station;
  let tmp: string;
  const frames: Buffer[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "evrec-jpeg-"));
    const browser = await launch();
    try {
      const page = await browser.newPage({ viewport: { width: 96, height: 64 } });
      for (const colour of ["#c0392b", "#27ae60", "#2c3e50"]) {
        await page.setContent(`<body style="margin:0;background:${colour}"><p style="color:white;font:12px sans-serif">BWC-J1</p></body>`);
        frames.push(await page.screenshot({ type: "jpeg", quality: 80 }));
      }
    } finally {
      await browser.close();
    }
    s = await station();
  }, 60000);

  afterAll(async () => {
    await s?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("takes the manifest out of a signed frame only: a frame never signed comes back as it is, a file that is no JPEG is refused", () => {
    for (const f of frames) expect(Buffer.from(jpegWithoutC2pa(f)).equals(f)).toBe(true);
    expect(() => jpegWithoutC2pa(randomBytes(100))).toThrow(/not a JPEG/);
    expect(() => jpegWithoutC2pa(frames[0].subarray(0, 40))).toThrow(/runs past the end|ends before/);
  });

  it("keeps each frame as the camera wrote it, signed where c2pa-rs can parse it, and verifies offline", async () => {
    const unit = (await s.gw.db.get<{ unit_id: number }>("SELECT unit_id FROM devices WHERE id = 'BWC-E1'"))!.unit_id;
    const d = await provision(s.gw, "BWC-J1");
    await s.gw.model.setDeviceUnit("BWC-J1", unit);
    // Three frames, then one that is not a JPEG at all (a camera's write cut short).
    const junk = randomBytes(3000);
    await streamSealed(d, d.recording(1, [...frames, junk], { media: MEDIA_JPEG }));
    await s.gw.evidence.sync();
    await grant(s, { items: [{ device: "BWC-J1", recording: 1 }] });
    const file = join(tmp, "camera.zip");
    const b = await exportTo(s, file, { recording: { device: "BWC-J1", recording: 1 } });

    expect(b.recordings[0].media.map((m) => [m.path, m.format, m.fromSeq, m.c2pa])).toEqual([
      ["recordings/BWC-J1/1/media/000001.jpg", "jpeg", 1, true],
      ["recordings/BWC-J1/1/media/000002.jpg", "jpeg", 2, true],
      ["recordings/BWC-J1/1/media/000003.jpg", "jpeg", 3, true],
      ["recordings/BWC-J1/1/media/000004.jpg", "jpeg", 4, false],
    ]);
    const r = await verifyBundle(file, { stationKey: s.gw.evidence.identity.verifierKey });
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);

    const entries = await readZip(file);
    const entry = (n: number) => entries.find((e) => e.name === `recordings/BWC-J1/1/media/00000${n}.jpg`)!.data;
    const anchor = entries.find((e) => e.name === "station/c2pa-anchor.pem")!.data.toString();
    for (const n of [1, 2, 3]) {
      const v = await validateC2pa("image/jpeg", entry(n), anchor, C2PA_ASSERTION);
      expect({ n, state: v.state }).toEqual({ n, state: "Trusted" });
      expect(v.assertion).toMatchObject({ device: "BWC-J1", recording: 1, fromSeq: n, toSeq: n });
    }
    // Each signed frame is the camera's with the manifest's segments added, nothing else changed;
    // the frame c2pa-rs could not parse goes as it was written.
    for (const n of [1, 2, 3]) {
      expect(entry(n).length).toBeGreaterThan(frames[n - 1].length);
      expect(Buffer.from(jpegWithoutC2pa(entry(n))).equals(frames[n - 1])).toBe(true);
    }
    expect(entry(4).equals(junk)).toBe(true);
    await d.end();
  }, 60000);
});
