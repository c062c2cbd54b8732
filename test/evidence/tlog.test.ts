// The transparency log as a monitor sees it over HTTP, without a token: a checkpoint signed with
// the station's key; tiles and entry bundles that rebuild its root; each sealed recording's
// manifest, each custody event and the audit head as leaves; proofs that check out.
import { afterEach, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { testGateway, provision, streamSealed } from "../gateway/harness.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { nodeEd25519Verify } from "../../protocol/ed25519-node.js";
import { openNote, parseVerifierKey, verifyCheckpoint } from "../../protocol/note.js";
import { decodeEntryBundle, leafHash, treeHash, verifyConsistency, verifyInclusion } from "../../protocol/merkle.js";
import { decodeLeaf, linkEventCommit, manifestNoteText } from "../../protocol/leaves.js";
import type { AuditLeaf, CustodyLeaf, Leaf, RecordingLeaf } from "../../protocol/leaves.js";
import { toHex } from "../../protocol/bytes.js";
import { createHmac } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { writeFileSync } from "node:fs";
import { GENESIS_PREV, hashRow } from "../../gateway/audit/log.js";
import type { AuditRow } from "../../gateway/audit/log.js";

const run = promisify(execFile);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

async function setup() {
  const t = await testGateway({ logIntervalMs: 0 });
  cleanups.push(t.close);
  const base = `http://127.0.0.1:${t.gw.httpPort}`;
  const token = readFileSync(join(t.dir, "admin.token"), "utf8").trim();
  return { ...t, base, token };
}

async function leavesOf(base: string, size: number): Promise<{ leaves: Leaf[]; entries: Uint8Array[] }> {
  const entries: Uint8Array[] = [];
  for (let n = 0; n * 256 < size; n++) {
    const w = Math.min(256, size - n * 256);
    const r = await fetch(`${base}/log/tile/entries/${String(n).padStart(3, "0")}${w < 256 ? `.p/${w}` : ""}`);
    expect(r.status).toBe(200);
    entries.push(...decodeEntryBundle(new Uint8Array(await r.arrayBuffer())));
  }
  return { entries, leaves: entries.map((e) => decodeLeaf(sha, e)) };
}

describe("transparency log", () => {
  it("logs each sealed recording's manifest, custody events and the audit head, served as tiles anyone can check", async () => {
    const { gw, base, token } = await setup();
    const d = await provision(gw, "BWC-TL1");
    const r1 = d.recording(1, [new Uint8Array(4000).fill(1), new Uint8Array(3000).fill(2)]);
    await streamSealed(d, r1);
    const r2 = d.recording(2, [new Uint8Array(1000).fill(3)], { prevSeal: r1.sealValue });
    await streamSealed(d, r2);
    const unit = await gw.model.addUnit("Road Transport Agency", "agency");
    await gw.model.addCase({ number: "2026-TL-1", unitId: unit.id, category: "penalty", activityKind: "seizure", windowStart: Date.now() - 3600e3, windowEnd: Date.now() + 3600e3 });
    await gw.model.link("BWC-TL1", 2, "2026-TL-1", "admin", "evidence of the seizure");
    const dl = await fetch(`${base}/api/recordings/BWC-TL1/1/media?reason=${encodeURIComponent("case review 2026-TL-1")}`, { headers: { authorization: `Bearer ${token}` } });
    expect(dl.status).toBe(200);
    await dl.arrayBuffer();
    d.client.end(true);

    // Each seal's commit already asked for a pass; this one takes the link, the download and the audit head.
    const sync = await gw.evidence.sync();
    expect(sync.size).toBeGreaterThanOrEqual(4);

    // The checkpoint, with no token, verifies under the key `admin station-key` prints.
    const cpRes = await fetch(`${base}/log/checkpoint`);
    expect(cpRes.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const vkey = gw.evidence.identity.verifierKey;
    const cp = verifyCheckpoint(sha, nodeEd25519Verify, await cpRes.text(), { log: vkey });
    expect(cp.checkpoint.size).toBe(sync.size);

    // Entries and the level-0 tile rebuild the signed root.
    const { leaves, entries } = await leavesOf(base, cp.checkpoint.size);
    const tile = new Uint8Array(await (await fetch(`${base}/log/tile/0/000.p/${cp.checkpoint.size}`)).arrayBuffer());
    const hashes = entries.map((e) => leafHash(sha, e));
    expect(toHex(tile)).toBe(hashes.map(toHex).join(""));
    expect(toHex(treeHash(sha, hashes))).toBe(toHex(cp.checkpoint.root));

    // Each recording's manifest: its blocks and seal value, as the device sealed it; the second binds the first.
    const recs = leaves.filter((l): l is RecordingLeaf => l.type === "recording");
    expect(recs.map((r) => [r.device, r.recording, r.verdict])).toEqual([["BWC-TL1", 1, "verified"], ["BWC-TL1", 2, "verified"]]);
    expect(recs[0].sealValue).toBe(toHex(r1.sealValue));
    expect(recs[1].genesis.slice(176, 240)).toBe(toHex(r1.sealValue));
    // ...and the station's signed note over it opens with the station key.
    const rec1Leaf = (await gw.evidence.tlog.leafByRef("recording:BWC-TL1/1"))!;
    const opened = openNote(rec1Leaf.note!, [parseVerifierKey(sha, vkey)], nodeEd25519Verify);
    expect(opened.text).toBe(manifestNoteText(new Uint8Array(rec1Leaf.data)));

    // Custody: the link commits to who, why and which case; the download to its audit entry.
    const custody = leaves.filter((l): l is CustodyLeaf => l.type === "custody");
    const link = custody.find((c) => c.action === "link")!;
    const ev = (await gw.model.custodyEvents("BWC-TL1", 2))[0];
    expect(link).toMatchObject({ device: "BWC-TL1", recording: 2, ref: `link:${ev.id}` });
    expect(link.commit).toBe(linkEventCommit(sha, { id: ev.id, at: ev.at, actor: ev.actor, action: ev.action, device: "BWC-TL1", recording: 2, case: "2026-TL-1", reason: "evidence of the seizure" }));
    const download = custody.find((c) => c.action === "recording.download")!;
    const entry = (await gw.audit.list({ action: "recording.download" }))[0];
    expect(download).toMatchObject({ device: "BWC-TL1", recording: 1, ref: `audit:${entry.seq}`, commit: entry.hash });

    // The audit log's head at the pass is anchored.
    const audit = leaves.filter((l): l is AuditLeaf => l.type === "audit").pop()!;
    const row = (await gw.audit.list()).find((e) => e.seq === audit.count)!;
    expect(audit.head).toBe(row.hash);
  });

  it("proves inclusion in, and consistency between, its signed checkpoints", async () => {
    const { gw, base } = await setup();
    const d = await provision(gw, "BWC-TL2");
    const r1 = d.recording(1, [new Uint8Array(100).fill(9)]);
    await streamSealed(d, r1);
    const first = await gw.evidence.sync();
    const cp1 = await gw.evidence.tlog.checkpoint();
    for (let i = 0; i < 3; i++) await gw.audit.append({ actor: "admin", action: "device.state", target: "BWC-TL2", reason: "test", details: { i } });
    await streamSealed(d, d.recording(2, [new Uint8Array(100).fill(8), new Uint8Array(50).fill(4)], { prevSeal: r1.sealValue }));
    d.client.end(true);
    const second = await gw.evidence.sync();
    expect(second.size).toBeGreaterThan(first.size);
    const cp2 = await gw.evidence.tlog.checkpoint();
    const vkey = gw.evidence.identity.verifierKey;
    verifyCheckpoint(sha, nodeEd25519Verify, cp2.note, { log: vkey });

    const proof = await gw.evidence.tlog.consistencyProof(cp1.size, cp2.size);
    expect(verifyConsistency(sha, cp1.size, cp2.size, cp1.root, cp2.root, proof)).toBe(true);
    const { entries } = await leavesOf(base, cp2.size);
    for (let i = 0; i < cp2.size; i++) {
      const p = await gw.evidence.tlog.inclusionProof(i, cp2.size);
      expect(verifyInclusion(sha, i, cp2.size, leafHash(sha, entries[i]), p, cp2.root)).toBe(true);
    }
    await expect(gw.evidence.tlog.inclusionProof(cp2.size, cp2.size)).rejects.toThrow(/PROOF_RANGE|not in a tree/);
  });

  it("answers a malformed tile path and a tile beyond the checkpoint with their reason codes", async () => {
    const { gw, base } = await setup();
    await gw.evidence.sync();
    const bad = await fetch(`${base}/log/tile/0/1`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe("TILE_PATH");
    const far = await fetch(`${base}/log/tile/0/000`);
    expect(far.status).toBe(404);
    expect(((await far.json()) as { error: string }).error).toBe("TILE_NOT_FOUND");
    expect((await fetch(`${base}/log/key`)).status).toBe(200);
  });
});

describe("admin log verify", () => {
  it("catches an audit history rewritten by someone holding the audit key, which audit verify alone passes", async () => {
    const { gw, dir } = await setup();
    for (let i = 1; i <= 5; i++) await gw.audit.append({ actor: "sup.wang", action: "recording.view", target: `BWC-X/${i}`, reason: `case review ${i}` });
    await gw.evidence.sync();
    const admin = (...a: string[]) => run(process.execPath, ["--import", "tsx", "gateway/cli.ts", ...a, "--data-dir", dir]).then((x) => ({ code: 0, out: x.stdout }), (e) => ({ code: e.code as number, out: `${e.stdout}${e.stderr}` }));
    expect(await admin("log", "verify")).toMatchObject({ code: 0, out: expect.stringMatching(/^log OK: \d+ leaves, \d+ checkpoints/) });

    // With the database and the audit key: entry 2's reason changed, the chain rehashed, the anchor re-MACed.
    await gw.db.exec("DROP TRIGGER audit_log_no_update");
    const rows = await gw.db.all<AuditRow & { hash: string }>("SELECT seq, at, actor, action, target, reason, details, prev, hash FROM audit_log ORDER BY seq");
    let prev = GENESIS_PREV;
    const heads = new Map<number, string>();
    for (const r of rows) {
      const row: AuditRow = { ...r, prev, reason: r.seq === 2 ? "curiosity" : r.reason };
      const hash = hashRow(row);
      await gw.db.run("UPDATE audit_log SET reason = ?, prev = ?, hash = ? WHERE seq = ?", [row.reason, prev, hash, r.seq]);
      heads.set(r.seq, hash);
      prev = hash;
    }
    const key = readFileSync(join(dir, "audit.key"));
    const anchor = readFileSync(join(dir, "audit.anchor"), "utf8").split("\n").filter(Boolean).map((l) => {
      const count = Number(l.split(" ")[0]);
      const head = heads.get(count)!;
      const u64 = Buffer.alloc(8);
      u64.writeBigUInt64BE(BigInt(count));
      return `${count} ${head} ${createHmac("sha256", key).update("audit-checkpoint").update(u64).update(Buffer.from(head, "hex")).digest("hex")}`;
    });
    writeFileSync(join(dir, "audit.anchor"), anchor.join("\n") + "\n");

    expect((await admin("audit", "verify")).code).toBe(0);
    const v = await admin("log", "verify");
    expect(v.code).toBe(1);
    expect(v.out).toMatch(/AUDIT_ANCHOR: leaf \d+ anchors audit entry 5 with hash [0-9a-f]{64}; the audit log has [0-9a-f]{64} there: its history up to that entry was rewritten/);
    expect(v.out).toContain("CUSTODY_CHANGED");
  });
});
