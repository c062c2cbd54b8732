// A real peer checks the log: a Go program built against Debian's golang.org/x/mod/sumdb
// (note and tlog) opens our checkpoints with the station's verifier key, reads our tiles and
// entry bundles over HTTP, computes proofs from them and checks ours. Our code is not on its
// side, so a format that is wrong anywhere fails here. The log is grown past 65,536 leaves so
// that full tiles of level 1 and a partial tile of level 2 are read too.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { generateKeyPairSync } from "node:crypto";
import { testGateway, provision, streamSealed } from "../gateway/harness.js";
import type { Gateway } from "../../gateway/gateway.js";
import { toBase64 } from "../../protocol/base64.js";
import { encodeLeaf } from "../../protocol/leaves.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { formatVerifierKey, noteKey } from "../../protocol/note.js";
import type { PendingLeaf } from "../../gateway/evidence/tlog.js";

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), "evrec-gopeer-"));
let gw: Gateway;
let close: () => Promise<void>;
let peer: string;
let base: string;
let oldCheckpoint: string;

async function runPeer(vkey: string, proofs: object): Promise<{ code: number; out: string }> {
  writeFileSync(join(work, "proofs.json"), JSON.stringify(proofs));
  try {
    const r = await run(peer, [base, vkey, oldCheckpoint, join(work, "proofs.json")], { timeout: 120000 });
    return { code: 0, out: r.stdout };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout + x.stderr };
  }
}

async function ourProofs(inclusion: [number, number][], consistency: [number, number][]) {
  return {
    inclusion: await Promise.all(inclusion.map(async ([index, size]) => ({ index, size, proof: (await gw.evidence.tlog.inclusionProof(index, size)).map(toBase64) }))),
    consistency: await Promise.all(consistency.map(async ([old, size]) => ({ old, size, proof: (await gw.evidence.tlog.consistencyProof(old, size)).map(toBase64) }))),
  };
}

beforeAll(async () => {
  // GO111MODULE=off with Debian's GOPATH: the packages come from golang-golang-x-mod-dev, not the network.
  peer = join(work, "peer");
  execFileSync("go", ["build", "-o", peer, "main.go"], {
    cwd: join(__dirname, "go-peer"), stdio: "pipe",
    env: { ...process.env, GO111MODULE: "off", GOPATH: "/usr/share/gocode", GOCACHE: join(work, "gocache"), GOFLAGS: "" },
  });
  const t = await testGateway({ logIntervalMs: 0 });
  gw = t.gw;
  close = t.close;
  base = `http://127.0.0.1:${gw.httpPort}`;
  const d = await provision(gw, "BWC-GO1");
  const r1 = d.recording(1, [new Uint8Array(2048).fill(5), new Uint8Array(100).fill(6)]);
  await streamSealed(d, r1);
  await streamSealed(d, d.recording(2, [new Uint8Array(10).fill(7)], { prevSeal: r1.sealValue }));
  d.client.end(true);
  await gw.evidence.sync();
  oldCheckpoint = join(work, "old.checkpoint");
  writeFileSync(oldCheckpoint, (await gw.evidence.tlog.checkpoint()).note);
  // Grow the log past 256^2 leaves in a few appends, each signing a checkpoint.
  let n = 0;
  for (const batch of [300, 65300, 500]) {
    const leaves: PendingLeaf[] = [];
    for (let i = 0; i < batch; i++, n++) {
      leaves.push({ ref: `test:${n}`, kind: "audit", data: encodeLeaf(sha, { type: "audit", v: 1, count: n + 1, head: (n % 256).toString(16).padStart(2, "0").repeat(32), at: 1_700_000_000_000 + n }) });
    }
    await gw.evidence.tlog.append(leaves);
  }
  await gw.evidence.sync();
}, 180000);

afterAll(async () => {
  await close?.();
  rmSync(work, { recursive: true, force: true });
});

describe("Go's sumdb/note and sumdb/tlog against our log", () => {
  it("verify our checkpoints, tiles and entries, and our inclusion and consistency proofs", async () => {
    const cp = await gw.evidence.tlog.checkpoint();
    expect(cp.size).toBeGreaterThan(65536);
    const oldSize = Number((await import("node:fs")).readFileSync(oldCheckpoint, "utf8").split("\n")[1]);
    const last = cp.size - 1;
    const proofs = await ourProofs(
      [[0, cp.size], [1, cp.size], [255, cp.size], [256, cp.size], [65535, cp.size], [65536, cp.size], [last, cp.size], [0, oldSize], [oldSize - 1, oldSize], [300, 65536]],
      [[oldSize, cp.size], [1, cp.size], [256, cp.size], [65536, cp.size], [257, 65600], [cp.size, cp.size]],
    );
    const r = await runPeer(gw.evidence.identity.verifierKey, proofs);
    expect(r.out).toMatch(/^peer: OK: checkpoints \d+ and \d+ verified; \d+ entries match the tiles/);
    expect(r.out).toContain(`${cp.size} entries match the tiles`);
    expect(r.out).toContain("10 inclusion and 6 consistency proofs of the station check out");
    expect(r.code).toBe(0);
  }, 120000);

  it("fail when a proof of ours is off by one bit, or the checkpoint is checked with another station's key", async () => {
    const cp = await gw.evidence.tlog.checkpoint();
    const proofs = await ourProofs([[65536, cp.size]], []);
    const h = Buffer.from(proofs.inclusion[0].proof[3], "base64");
    h[0] ^= 1;
    proofs.inclusion[0].proof[3] = h.toString("base64");
    const bad = await runPeer(gw.evidence.identity.verifierKey, proofs);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("peer: FAIL: the station's inclusion proof of leaf 65536");

    const other = generateKeyPairSync("ed25519").publicKey;
    const raw = new Uint8Array(Buffer.from((other.export({ format: "jwk" }) as { x: string }).x, "base64url"));
    const wrong = await runPeer(formatVerifierKey(noteKey(sha, gw.evidence.identity.name, 1, raw)), await ourProofs([], []));
    expect(wrong.code).toBe(1);
    expect(wrong.out).toContain("peer: FAIL: checkpoint does not open with the verifier key");
  }, 120000);
});
