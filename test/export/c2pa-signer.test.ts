// The C2PA signer (gateway/evidence/c2pa.ts) signs in a thread of its own: c2pa-rs signs a whole
// asset in one synchronous call, which on the gateway's own thread held its event loop (every
// device's Acks) for 0.43 s for a WAV of 64 MiB, and grew its memory for good. What it signs there
// is what c2pa-rs's reader takes as trusted; signatures of several exports at once are each their
// own; a thread that dies fails the signature it was making, with a reason, and the next one
// starts another.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { StationIdentity } from "../../gateway/evidence/identity.js";
import { signingCredentials } from "../../gateway/evidence/x509.js";
import type { SigningCredentials } from "../../gateway/evidence/x509.js";
import { C2paSigner, stopSigning } from "../../gateway/evidence/c2pa.js";
import { validateC2pa } from "../../verifier/c2pa.js";
import { C2PA_ASSERTION } from "../../protocol/bundle.js";

/** A WAV of `n` bytes of 8 kHz mono 16-bit samples. */
function wav(n: number): Buffer {
  const h = Buffer.alloc(44);
  h.write("RIFF", 0); h.writeUInt32LE(36 + n, 4); h.write("WAVE", 8); h.write("fmt ", 12); h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22); h.writeUInt32LE(8000, 24); h.writeUInt32LE(16000, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34); h.write("data", 36); h.writeUInt32LE(n, 40);
  return Buffer.concat([h, randomBytes(n)]);
}
const assertion = { device: "BWC-C1", recording: 7, sealValue: "ab".repeat(32), logIndex: 12, fromSeq: 1, toSeq: 40, excerpt: false };

describe("the C2PA signer", () => {
  let dir: string;
  let cred: SigningCredentials;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "evrec-c2pa-"));
    cred = signingCredentials(dir, StationIdentity.loadOrCreate(dir, "c2pa.example.gov.cn/station-1").identity);
  });
  afterAll(async () => {
    await stopSigning();
    rmSync(dir, { recursive: true, force: true });
  });

  it("signs in a thread of its own: the event loop turns all the while, and the signed WAV is trusted under the station's anchor", async () => {
    const signer = new C2paSigner(cred);
    const asset = wav(32 * 1048576);
    let turns = 0;
    const t = setInterval(() => turns++, 5);
    let signed: Uint8Array;
    try {
      signed = await signer.sign(asset, "audio/wav", "BWC-C1-7.wav", assertion, Date.now());
    } finally {
      clearInterval(t);
    }
    // On the gateway's thread, the whole signature (about 0.25 s for 32 MiB) passed with no turn at all.
    expect(turns).toBeGreaterThan(5);
    const v = await validateC2pa("audio/wav", signed, cred.anchorPem, C2PA_ASSERTION);
    expect(v.state).toBe("Trusted");
    expect(v.assertion).toEqual(assertion);
    // The asset given is copied, not taken: the caller still has it whole.
    expect(asset.length).toBe(44 + 32 * 1048576);
  }, 60000);

  it("signs what several exports ask for at once, each with its own manifest", async () => {
    const signer = new C2paSigner(cred);
    const asked = [1, 2, 3].map((n) => ({ ...assertion, recording: n }));
    const signed = await Promise.all(asked.map((a) => signer.sign(wav(1048576), "audio/wav", `BWC-C1-${a.recording}.wav`, a, Date.now())));
    const read = await Promise.all(signed.map((b) => validateC2pa("audio/wav", b, cred.anchorPem, C2PA_ASSERTION)));
    expect(read.map((v) => [v.state, v.assertion])).toEqual(asked.map((a) => ["Trusted", a]));
  }, 60000);

  it("says C2PA_KEY when its key can't be read, C2PA_SIGN when c2pa-rs can't take the asset", async () => {
    await expect(new C2paSigner({ ...cred, keyFile: join(dir, "no-such-key.pem") }).sign(wav(4096), "audio/wav", "BWC-C1-10.wav", assertion, Date.now()))
      .rejects.toMatchObject({ code: "C2PA_KEY", message: expect.stringMatching(/can't be read/) });
    await expect(new C2paSigner(cred).sign(randomBytes(4096), "image/jpeg", "BWC-C1-11.jpg", assertion, Date.now())).rejects.toMatchObject({ code: "C2PA_SIGN" });
  }, 60000);

  it("fails what it was signing with a reason when its thread ends, and signs what comes after in a new one", async () => {
    const signer = new C2paSigner(cred);
    const pending = signer.sign(wav(8 * 1048576), "audio/wav", "BWC-C1-8.wav", assertion, Date.now());
    await stopSigning();
    await expect(pending).rejects.toMatchObject({ code: "C2PA_STOPPED", message: expect.stringMatching(/C2PA signing stopped/) });
    // Asked while a thread ends (as when one ends idle just as an export comes): made by the next one.
    await signer.sign(wav(4096), "audio/wav", "BWC-C1-9.wav", assertion, Date.now());
    const ending = stopSigning();
    const again = signer.sign(wav(4096), "audio/wav", "BWC-C1-9.wav", assertion, Date.now());
    await ending;
    expect((await validateC2pa("audio/wav", await again, cred.anchorPem, C2PA_ASSERTION)).state).toBe("Trusted");
  }, 60000);
});
