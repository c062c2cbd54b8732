// Every single tamper a court's expert could meet gives FAIL naming the check that caught it:
// a media byte, a header, a tag, a manifest field, the manifest's signature, a proof, the
// checkpoint, a witness cosignature the verifier requires and the bundle lacks, the order of
// chunks, a removed chunk, a recording removed from a case bundle, a bundle checked against
// another station's key. An excerpt verifies against the whole recording's seal, and fails when
// a byte of its media changes. Every finding of every one reads in Chinese in a zh-CN summary,
// its times in the station's zone with the offset written out.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import yazl from "yazl";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPairSync } from "node:crypto";
import type { Server } from "node:http";
import { station, exportTo, grant, readZip, writeZip } from "./helpers.js";
import type { Station } from "./helpers.js";
import { verifyBundle as verifyOnly } from "../../verifier/verify.js";
import type { VerifyOptions } from "../../verifier/verify.js";
import { summary } from "../../verifier/i18n.js";
import type { CheckId, VerifyReport } from "../../verifier/verify.js";
import { Witness } from "../../witness/witness.js";
import { serveWitness } from "../../witness/server.js";
import { canonicalize } from "../../protocol/jcs.js";
import { formatVerifierKey, noteKey, SIG_ED25519 } from "../../protocol/note.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { CHUNK_RECORD } from "../../protocol/bundle.js";
import type { Bundle } from "../../protocol/bundle.js";

let s: Station;
let tmp: string;
let key: string;
let caseZip: string;
let excerptZip: string;
let witnessKey: string;
let server: Server;
let witDir: string;
let entries: { name: string; data: Buffer }[];
let excerpt: Bundle;

beforeAll(async () => {
  witDir = mkdtempSync(join(tmpdir(), "evrec-witness-"));
  const w = Witness.open(witDir, { name: "witness.court.example/w1" });
  const srv = await serveWitness(w, "127.0.0.1", 0);
  server = srv.server;
  witnessKey = w.verifierKey;
  s = await station({ witnesses: `http://127.0.0.1:${srv.port} ${w.verifierKey}` }, (gw) => w.addLog(gw.evidence.identity.verifierKey));
  tmp = mkdtempSync(join(tmpdir(), "evrec-tamper-"));
  key = s.gw.evidence.identity.verifierKey;
  await grant(s, { caseNumber: "C-2025-001" });
  caseZip = join(tmp, "case.zip");
  await exportTo(s, caseZip, { caseNumber: "C-2025-001" });
  entries = await readZip(caseZip);
  // An excerpt of BWC-E1/1: chunks 2 to 4 of 6, by station time.
  const row = await s.gw.db.get<{ clip_at_ms: number; start_ms: number }>("SELECT clip_at_ms, start_ms FROM recordings WHERE device_id = 'BWC-E1' AND recording_id = 1");
  const t0 = s.starts.get("BWC-E1/1")! + (row!.clip_at_ms - row!.start_ms);
  excerptZip = join(tmp, "excerpt.zip");
  excerpt = await exportTo(s, excerptZip, { recording: { device: "BWC-E1", recording: 1 }, fromMs: t0 + 1500, toMs: t0 + 3500 });
}, 90000);

afterAll(async () => {
  await s?.close();
  await new Promise<void>((r) => server?.close(() => r()));
  rmSync(tmp, { recursive: true, force: true });
  rmSync(witDir, { recursive: true, force: true });
});

/**
 * What is left of a zh-CN finding line once its check's item, its code, the file paths, numbers,
 * names of formats and what the bundle itself holds are taken out: English words there are
 * English the reader was not given in Chinese.
 */
function untranslated(line: string, f: VerifyReport["findings"][number], b: VerifyReport["bundle"]): string[] {
  let t = line.replace(f.item, " ").replace(f.code, " ");
  if (b) t = t.replaceAll(b.station.verifierKey, " ");
  t = t.replace(/--[\w-]+/g, " ").replace(/[\w.-]*\/[\w./-]*/g, " ").replace(/\b(SHA-256|ZIP|WAV|JPEG|C2PA|RFC|UTC|bundle\.json|bundle\.sig|c2pa\.created|data|base64|[a-z]+\.[a-zA-Z.]+)\b/g, " ");
  // A library's own words are quoted as such, after 原文.
  t = t.replace(/原文：.*$/, " ");
  return t.match(/[A-Za-z]{3,}/g) ?? [];
}

/** The summary in Chinese: every finding's line free of English, and its times with their offset. */
function expectChinese(r: VerifyReport): void {
  const zh = summary(r, "zh-CN", "case.zip");
  for (const f of r.findings.slice(0, 20)) {
    const line = zh.find((l) => l.includes(`）${f.code}：`) && l.includes(f.item));
    expect(line, `${f.code} in the zh-CN summary`).toBeDefined();
    expect(untranslated(line!, f, r.bundle), `${f.code}: ${line}`).toEqual([]);
  }
  expect(zh.join("\n")).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/);
}

/** Verify, and check the zh-CN summary of what was found. */
async function verifyBundle(file: string, opts: VerifyOptions): Promise<VerifyReport> {
  const r = await verifyOnly(file, opts);
  expectChinese(r);
  return r;
}

let n = 0;
/** The case bundle with `change` applied to its entries, verified with the station's and the witness's keys. */
async function tampered(change: (e: { name: string; data: Buffer }[]) => { name: string; data: Buffer }[], opts: { stationKey?: string; from?: { name: string; data: Buffer }[] } = {}): Promise<VerifyReport> {
  const copy = (opts.from ?? entries).map((e) => ({ name: e.name, data: Buffer.from(e.data) }));
  const file = join(tmp, `t${n++}.zip`);
  await writeZip(file, change(copy));
  return verifyBundle(file, { stationKey: opts.stationKey ?? key, witnesses: [witnessKey] });
}

const get = (es: { name: string; data: Buffer }[], name: string) => es.find((e) => e.name === name)!;
const failed = (r: VerifyReport) => [...new Set(r.findings.filter((f) => f.status === "FAIL").map((f) => f.check))];
function expectFail(r: VerifyReport, check: CheckId, code?: string) {
  expect(r.ok).toBe(false);
  expect(failed(r)).toContain(check);
  if (code) expect(r.findings.filter((f) => f.check === check).map((f) => f.code)).toContain(code);
}
/**
 * The ZIP at `file` with the sizes its directory and local header give entry `name` set to
 * `size` (a damaged or crafted ZIP: the deflate data says otherwise).
 */
function setEntrySize(file: string, name: string, size: number): void {
  const z = readFileSync(file);
  const eocd = z.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  let p = z.readUInt32LE(eocd + 16);
  for (let i = 0; i < z.readUInt16LE(eocd + 10); i++) {
    const n = z.readUInt16LE(p + 28), extra = z.readUInt16LE(p + 30), comment = z.readUInt16LE(p + 32);
    if (z.toString("utf8", p + 46, p + 46 + n) === name) {
      z.writeUInt32LE(size, p + 24);
      z.writeUInt32LE(size, z.readUInt32LE(p + 42) + 22);
    }
    p += 46 + n + extra + comment;
  }
  writeFileSync(file, z);
}

function editManifest(es: { name: string; data: Buffer }[], f: (b: Bundle) => void) {
  const m = get(es, "bundle.json");
  const b = JSON.parse(m.data.toString()) as Bundle;
  f(b);
  m.data = Buffer.from(canonicalize(b));
  return es;
}

describe("a case bundle", () => {
  it("as exported passes every check, its checkpoint cosigned by the witness the verifier requires", async () => {
    const r = await tampered((e) => e);
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.recordings.map((x) => x.item)).toEqual(["BWC-E1/1", "BWC-E1/2", "BWC-E2/1"]);
  });

  it("prints its times in the station's zone, each with its offset, in Chinese and in English", async () => {
    const r = await tampered((e) => e);
    // The station's zone (its config, Asia/Shanghai by default), in the signed manifest.
    expect(r.bundle!.station.timeZone).toBe(s.gw.model.opts.timeZone);
    const local = (ms: number) => new Intl.DateTimeFormat("sv-SE", { timeZone: s.gw.model.opts.timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(ms);
    const start = r.recordings[0].times!.stationStartMs;
    for (const lang of ["zh-CN", "en"] as const) {
      const text = summary(r, lang, "case.zip").join("\n");
      expect(text).toContain(`${local(r.bundle!.createdAt)} UTC+08:00`);
      expect(text).toContain(`${local(start)} UTC+08:00`);
      expect(text).toContain(`${s.gw.model.opts.timeZone}`);
      expect(text).not.toMatch(/\d\d:\d\d:\d\d(\.\d+)?Z/);
    }
    // A bundle made before the zone was recorded: UTC, said so, with +00:00.
    const old = await tampered((es) => editManifest(es, (b) => { delete b.station.timeZone; }));
    const zh = summary(old, "zh-CN", "case.zip").join("\n");
    expect(zh).toContain(`${new Date(old.bundle!.createdAt).toISOString().slice(0, 19).replace("T", " ")} UTC+00:00`);
    expect(zh).toMatch(/本包未记录执法记录站的时区/);
    // One naming a zone this computer does not know: UTC too, and the zone named.
    const odd = summary(await tampered((es) => editManifest(es, (b) => { b.station.timeZone = "Mars/Olympus"; })), "en", "case.zip").join("\n");
    expect(odd).toMatch(/Times are UTC \(UTC\+00:00\): the station's time zone the bundle names, "Mars\/Olympus", is not one this computer knows/);
    expect(odd).toContain(" UTC+00:00");
  });

  it("with one media byte changed fails the media check (and the file hash and C2PA)", async () => {
    const r = await tampered((es) => { get(es, "recordings/BWC-E1/2/media.wav").data[44 + 100] ^= 1; return es; });
    expectFail(r, "media", "PAYLOAD_HASH");
    expectFail(r, "files", "FILE_HASH");
    expectFail(r, "c2pa", "assertion.dataHash.mismatch");
  });

  it("with a header byte changed fails the device tags, and the gap it leaves is not called missing", async () => {
    const r = await tampered((es) => { get(es, "recordings/BWC-E2/1/chunks.bin").data[CHUNK_RECORD + 30] ^= 1; return es; });
    expectFail(r, "device-tags", "TAG");
    for (const g of r.findings.filter((f) => f.code === "GAP")) expect(g.detail).toMatch(/refused above \(chunk 2 refused\)/);
  });

  it("with an entry whose deflate data holds more than its directory says fails FILE_UNREADABLE, and the rest is still checked", async () => {
    const file = join(tmp, `t${n++}.zip`);
    const wav = "recordings/BWC-E1/2/media.wav";
    const size = get(entries, wav).data.length;
    await writeZip(file, entries.map((e) => (e.name === wav ? { ...e, data: Buffer.concat([e.data, Buffer.alloc(4)]), compress: true } : e)));
    setEntrySize(file, wav, size);
    const r = await verifyBundle(file, { stationKey: key, witnesses: [witnessKey] });
    expectFail(r, "files", "FILE_UNREADABLE");
    expect(r.findings.find((f) => f.code === "FILE_UNREADABLE")!.item).toBe(wav);
    // The other recordings were checked whole.
    const verdicts = Object.fromEntries(r.recordings.map((x) => [x.item, x.verdict]));
    expect([verdicts["BWC-E1/1"], verdicts["BWC-E2/1"]]).toEqual(["verified", "verified"]);
    expect(verdicts["BWC-E1/2"]).not.toBe("verified");
  });

  it("with an entry that claims more than the manifest lists is not inflated (a ZIP bomb)", async () => {
    const file = join(tmp, `t${n++}.zip`);
    const wav = "recordings/BWC-E1/2/media.wav";
    // 256 MiB of zeros, a few hundred KB deflated.
    await writeZip(file, entries.map((e) => (e.name === wav ? { ...e, data: Buffer.alloc(256 << 20), compress: true } : e)));
    const before = process.memoryUsage().arrayBuffers;
    const r = await verifyBundle(file, { stationKey: key, witnesses: [witnessKey] });
    expectFail(r, "files", "FILE_HASH");
    expect(r.findings.find((f) => f.item === wav && f.code === "FILE_HASH")!.detail).toMatch(/268435456 bytes\) is beyond the manifest's .*not read/);
    expect(r.bytes).toBeLessThan(1 << 20);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });

  it("with a tag byte changed fails the device tags", async () => {
    const r = await tampered((es) => { get(es, "recordings/BWC-E2/1/chunks.bin").data[CHUNK_RECORD * 2 + 128 + 3] ^= 1; return es; });
    expectFail(r, "device-tags", "TAG");
  });

  it("with a manifest field changed fails the manifest signature", async () => {
    const r = await tampered((es) => editManifest(es, (b) => { b.export.reason = "for the press"; }));
    expectFail(r, "manifest-signature", "MANIFEST_HASH");
  });

  it("with its signature changed fails the manifest signature", async () => {
    const r = await tampered((es) => {
      const sig = get(es, "bundle.sig");
      const t = sig.data.toString();
      const at = t.lastIndexOf(" ") + 10;
      sig.data = Buffer.from(t.slice(0, at) + (t[at] === "A" ? "B" : "A") + t.slice(at + 1));
      return es;
    });
    expectFail(r, "manifest-signature", "NOTE_BAD_SIGNATURE");
  });

  it("with a proof changed fails log inclusion", async () => {
    const r = await tampered((es) => editManifest(es, (b) => { const p = b.recordings[1].leaf.proof; p[0] = (p[0][0] === "A" ? "B" : "A") + p[0].slice(1); }));
    expectFail(r, "log-inclusion", "INCLUSION");
  });

  it("with its checkpoint changed fails the checkpoint signature", async () => {
    const r = await tampered((es) => {
      const cp = get(es, "log/checkpoint");
      const lines = cp.data.toString().split("\n");
      lines[1] = String(Number(lines[1]) + 1);
      cp.data = Buffer.from(lines.join("\n"));
      return es;
    });
    expectFail(r, "checkpoint", "NOTE_BAD_SIGNATURE");
  });

  it("without the witness cosignature the verifier requires fails the checkpoint", async () => {
    const r = await tampered((es) => {
      const cp = get(es, "log/checkpoint");
      cp.data = Buffer.from(cp.data.toString().split("\n").filter((l) => !l.includes("witness.court.example")).join("\n"));
      return es;
    });
    expectFail(r, "checkpoint", "WITNESS_QUORUM");
    // Which witness did not cosign, and how many were wanted, in Chinese as in English.
    const quorum = r.findings.find((f) => f.code === "WITNESS_QUORUM")!;
    const zh = summary(r, "zh-CN", "case.zip").find((l) => l.includes("）WITNESS_QUORUM："));
    expect(zh).toContain("要求 1 个见证方联署，可验证的 0 个；缺少 witness.court.example/w1 的联署");
    expect(summary(r, "en", "case.zip").find((l) => l.includes(quorum.code))).toContain("none from witness.court.example/w1");
  });

  it("with two chunks swapped fails the chain", async () => {
    const r = await tampered((es) => {
      const c = get(es, "recordings/BWC-E1/1/chunks.bin").data;
      const a = Buffer.from(c.subarray(CHUNK_RECORD, 2 * CHUNK_RECORD));
      c.copy(c, CHUNK_RECORD, 2 * CHUNK_RECORD, 3 * CHUNK_RECORD);
      a.copy(c, 2 * CHUNK_RECORD);
      return es;
    });
    expectFail(r, "chain", "CHUNK_ORDER");
  });

  it("with a chunk removed fails the chain", async () => {
    const r = await tampered((es) => {
      const e = get(es, "recordings/BWC-E1/1/chunks.bin");
      e.data = Buffer.concat([e.data.subarray(0, 2 * CHUNK_RECORD), e.data.subarray(3 * CHUNK_RECORD)]);
      return es;
    });
    expectFail(r, "chain", "CHUNK_ORDER");
  });

  it("with a recording removed fails: its files are missing, or the signed manifest no longer matches", async () => {
    const gone = await tampered((es) => es.filter((e) => !e.name.startsWith("recordings/BWC-E1/2/")));
    expectFail(gone, "files", "FILE_MISSING");
    const edited = await tampered((es) => editManifest(es.filter((e) => !e.name.startsWith("recordings/BWC-E1/2/")), (b) => {
      b.recordings = b.recordings.filter((r) => r.recording !== 2);
      b.files = b.files.filter((f) => !f.path.startsWith("recordings/BWC-E1/2/"));
    }));
    expectFail(edited, "manifest-signature", "MANIFEST_HASH");
  });

  it("checked against another station's key fails the manifest and checkpoint signatures", async () => {
    const pub = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }) as { x: string };
    const other = formatVerifierKey(noteKey(sha, "other.example/station", SIG_ED25519, new Uint8Array(Buffer.from(pub.x, "base64url"))));
    const r = await tampered((e) => e, { stationKey: other });
    expectFail(r, "manifest-signature", "NOTE_UNVERIFIED");
    expectFail(r, "checkpoint", "NOTE_UNVERIFIED");
    // The summary claims neither signature.
    const text = summary(r, "en", "case.zip").join("\n");
    expect(text).toMatch(/^Result: FAIL/);
    expect(text).toMatch(/The manifest, whose signature did not verify, says: exported by reviewer/);
    expect(text).toMatch(/checkpoint: the manifest names one of size \d+, but its signature did not verify/);
    expect(text).not.toMatch(/signed by the station/);
    expect(summary(r, "zh-CN", "case.zip").join("\n")).toMatch(/清单签名未通过[\s\S]*其签名未通过核验/);
  });

  it("unpacked and zipped again with its folders' entries passes; a folder's entry holding bytes fails", async () => {
    const file = join(tmp, `t${n++}.zip`);
    const dirs = [...new Set(entries.flatMap((e) => e.name.split("/").slice(0, -1).map((_, i, p) => p.slice(0, i + 1).join("/") + "/")))];
    expect(dirs).toContain("recordings/BWC-E1/1/");
    await new Promise<void>((resolve, reject) => {
      const z = new yazl.ZipFile();
      for (const d of dirs) z.addEmptyDirectory(d);
      for (const e of entries) z.addBuffer(e.data, e.name, { compress: true });
      z.end();
      z.outputStream.pipe(createWriteStream(file)).on("finish", () => resolve()).on("error", reject);
    });
    const r = await verifyBundle(file, { stationKey: key, witnesses: [witnessKey] });
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
    // A "folder" that holds bytes is a file the manifest does not list.
    const hid = join(tmp, `t${n++}.zip`);
    await writeZip(hid, [...entries, { name: "logx", data: Buffer.from("hidden") }]);
    writeFileSync(hid, Buffer.from(readFileSync(hid).toString("latin1").replaceAll("logx", "log/"), "latin1"));
    expectFail(await verifyBundle(hid, { stationKey: key, witnesses: [witnessKey] }), "files", "UNLISTED_FILE");
  });

  it("that is no bundle says why in its summary, not only in its JSON", async () => {
    const file = join(tmp, `t${n++}.zip`);
    // yazl refuses to write the name: written as another of its length, then renamed in place.
    await writeZip(file, [...entries, { name: "ab/cd/evil.txt", data: Buffer.from("x") }]);
    writeFileSync(file, Buffer.from(readFileSync(file).toString("latin1").replaceAll("ab/cd/evil.txt", "../../evil.txt"), "latin1"));
    const r = await verifyBundle(file, { stationKey: key });
    expectFail(r, "bundle", "NOT_A_BUNDLE");
    const text = summary(r, "en", "x.zip");
    expect(text[0]).toMatch(/not a readable evidence bundle/);
    expect(text.join("\n")).toMatch(/FAIL bundle format .*NOT_A_BUNDLE: .*\.\.\/\.\.\/evil\.txt/);
  });
});

describe("an excerpt", () => {
  it("holds only its range's media and every header, and verifies against the whole recording's seal", async () => {
    const es = await readZip(excerptZip);
    expect(excerpt.recordings[0].excerpt).toMatchObject({ fromSeq: 2, toSeq: 4 });
    expect(get(es, "recordings/BWC-E1/1/chunks.bin").data.length).toBe(6 * CHUNK_RECORD);
    expect(get(es, "recordings/BWC-E1/1/media.wav").data.readUInt32LE(40)).toBe(3 * 4000);
    const r = await verifyBundle(excerptZip, { stationKey: key, witnesses: [witnessKey] });
    expect(r.findings).toEqual([]);
    expect(r.recordings[0].excerpt).toEqual([2, 4]);
  });

  it("with one byte of its media changed fails", async () => {
    const r = await tampered((es) => { get(es, "recordings/BWC-E1/1/media.wav").data[44 + 4000 + 7] ^= 0x40; return es; }, { from: await readZip(excerptZip) });
    expectFail(r, "media", "PAYLOAD_HASH");
    expectFail(r, "c2pa");
  });
});
