// Signed notes, checkpoints and cosignatures as C2SP specifies them: a key id computed as the
// spec says, a note anyone can open with the verifier key, and every way a note can be wrong
// refused with its reason code.
import { describe, expect, it } from "vitest";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { nodeEd25519Verify as verify } from "../../protocol/ed25519-node.js";
import {
  SIG_COSIGNATURE_V1, SIG_ED25519, cosignatureLine, formatCheckpoint, formatVerifierKey, noteKey, openNote, parseCheckpoint,
  parseNote, parseVerifierKey, signNote, verifyCheckpoint,
} from "../../protocol/note.js";

function keypair(name: string, type = SIG_ED25519) {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = new Uint8Array(Buffer.from((publicKey.export({ format: "jwk" }) as { x: string }).x, "base64url"));
  return { key: noteKey(sha, name, type, raw), sign: (m: Uint8Array) => new Uint8Array(sign(null, m, privateKey)) };
}

const root = new Uint8Array(32).fill(7);

describe("signed notes", () => {
  it("computes the key id as the first 4 bytes of SHA-256(name ‖ 0x0A ‖ type ‖ key) and writes name+id+base64(type ‖ key)", () => {
    const k = keypair("example.com/log");
    const h = createHash("sha256").update("example.com/log\n").update(Buffer.from([1])).update(k.key.publicKey).digest();
    expect(k.key.keyId).toBe(h.readUInt32BE(0));
    const v = formatVerifierKey(k.key);
    expect(v).toBe(`example.com/log+${h.subarray(0, 4).toString("hex")}+${Buffer.concat([Buffer.from([1]), k.key.publicKey]).toString("base64")}`);
    expect(parseVerifierKey(sha, v)).toEqual(k.key);
  });

  it("refuses verifier keys that are malformed or whose id does not match", () => {
    const v = formatVerifierKey(keypair("a.example/x").key);
    expect(() => parseVerifierKey(sha, v.replace("+", "++"))).toThrow(/NOTE_KEY/);
    expect(() => parseVerifierKey(sha, "b" + v)).toThrow(/NOTE_KEY: the key id does not match/);
    expect(() => parseVerifierKey(sha, v.slice(0, -4))).toThrow(/NOTE_KEY/);
    expect(() => noteKey(sha, "has space", 1, new Uint8Array(32))).toThrow(/NOTE_KEY/);
  });

  it("opens a note signed by a known key, ignores unknown signers, refuses a changed text or a note nobody known signed", () => {
    const a = keypair("a.example/log");
    const b = keypair("b.example/other");
    const note = signNote("hello\nworld\n", a.key, a.sign);
    expect(note).toMatch(/^hello\nworld\n\n\u2014 a\.example\/log [A-Za-z0-9+/]+=*\n$/);
    expect(openNote(note, [a.key], verify).text).toBe("hello\nworld\n");
    const both = note + signNote("hello\nworld\n", b.key, b.sign).split("\n\n")[1];
    expect(openNote(both, [a.key], verify).verifiedBy.map((k) => k.name)).toEqual(["a.example/log"]);
    expect(() => openNote(note.replace("world", "World"), [a.key], verify)).toThrow(/NOTE_BAD_SIGNATURE/);
    expect(() => openNote(note, [b.key], verify)).toThrow(/NOTE_UNVERIFIED/);
    expect(() => parseNote("no signatures\n")).toThrow(/NOTE_MALFORMED/);
    expect(() => parseNote("text\n\n\u2014 a.example/log AAAA\n")).toThrow(/NOTE_MALFORMED/);
    expect(() => parseNote("te\u0007xt\n\n" + note.split("\n\n")[1])).toThrow(/NOTE_MALFORMED: control character/);
  });
});

describe("checkpoints and cosignatures", () => {
  it("writes origin, size and base64 root on three lines and parses only that form back", () => {
    const text = formatCheckpoint({ origin: "example.com/log", size: 20852163, root, extensions: [] });
    expect(text).toBe(`example.com/log\n20852163\n${Buffer.from(root).toString("base64")}\n`);
    expect(parseCheckpoint(text)).toEqual({ origin: "example.com/log", size: 20852163, root, extensions: [] });
    for (const bad of ["o\n01\nAAAA\n", "o\n1\n" + Buffer.from(root).toString("base64"), "o\n-1\n" + Buffer.from(root).toString("base64") + "\n", "o\n1\nAAAA\n", "o\n1\n\n"]) {
      expect(() => parseCheckpoint(bad), JSON.stringify(bad)).toThrow(/CHECKPOINT_MALFORMED/);
    }
  });

  it("verifies a checkpoint with its witnesses' cosignatures and refuses one short of the required witnesses", () => {
    const log = keypair("example.com/log");
    const w1 = keypair("w1.example/witness", SIG_COSIGNATURE_V1);
    const w2 = keypair("w2.example/witness", SIG_COSIGNATURE_V1);
    const text = formatCheckpoint({ origin: "example.com/log", size: 5, root, extensions: [] });
    const cosigned = signNote(text, log.key, log.sign) + cosignatureLine(w1.key, 1_700_000_000, text, w1.sign);
    const r = verifyCheckpoint(sha, verify, cosigned, { log: formatVerifierKey(log.key), witnesses: [formatVerifierKey(w1.key)] });
    expect(r.checkpoint.size).toBe(5);
    expect(r.cosigned).toEqual([{ name: "w1.example/witness", timestamp: 1_700_000_000 }]);
    expect(() => verifyCheckpoint(sha, verify, cosigned, { log: log.key, witnesses: [w1.key, w2.key] })).toThrow(/WITNESS_QUORUM: 1 of the 2 .* none from w2\.example\/witness/);
    expect(verifyCheckpoint(sha, verify, cosigned, { log: log.key, witnesses: [w1.key, w2.key], quorum: 1 }).cosigned).toHaveLength(1);
    // A cosignature over another size is a bad signature of a known witness, not a missing one.
    const other = formatCheckpoint({ origin: "example.com/log", size: 6, root, extensions: [] });
    const forged = signNote(text, log.key, log.sign) + cosignatureLine(w1.key, 1_700_000_000, other, w1.sign);
    expect(() => verifyCheckpoint(sha, verify, forged, { log: log.key, witnesses: [w1.key] })).toThrow(/NOTE_BAD_SIGNATURE: the cosignature of witness w1/);
    const wrongOrigin = signNote(formatCheckpoint({ origin: "evil.example/log", size: 5, root, extensions: [] }), log.key, log.sign);
    expect(() => verifyCheckpoint(sha, verify, wrongOrigin, { log: log.key })).toThrow(/CHECKPOINT_ORIGIN/);
  });
});
