// Witnesses (C2SP tlog-witness, cosignature/v1): the gateway sends each new checkpoint to the
// witnesses it is configured with; a witness cosigns one only with a consistency proof from the
// last checkpoint it cosigned. So when the log is rewritten behind a checkpoint a witness has
// seen, the witness refuses, the admin is alarmed, and a verifier that requires the witness's
// cosignature rejects the rewritten log's checkpoints.
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import { testGateway, provision, streamSealed } from "../gateway/harness.js";
import { Witness } from "../../witness/witness.js";
import { serveWitness } from "../../witness/server.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { nodeEd25519Verify } from "../../protocol/ed25519-node.js";
import { formatCheckpoint, parseNote, verifyCheckpoint } from "../../protocol/note.js";
import { toBase64 } from "../../protocol/base64.js";
import { leafHash } from "../../protocol/merkle.js";
import { StationIdentity } from "../../gateway/evidence/identity.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

async function startWitness(dir = mkdtempSync(join(tmpdir(), "evrec-witness-")), name = "witness.court.example/w1") {
  const w = Witness.open(dir, { name });
  const { server, port } = await serveWitness(w, "127.0.0.1", 0);
  cleanups.push(() => new Promise<void>((r) => (server as Server).close(() => r())));
  return { w, dir, url: `http://127.0.0.1:${port}` };
}

async function post(url: string, body: string) {
  const r = await fetch(url + "/add-checkpoint", { method: "POST", body });
  return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
}

describe("witnesses", () => {
  it("cosign each consistent checkpoint, and a verifier can require their cosignature", async () => {
    const wit = await startWitness();
    cleanups.push(() => rmSync(wit.dir, { recursive: true, force: true }));
    const { gw, close } = await testGateway({ logIntervalMs: 0, witnesses: `${wit.url} ${wit.w.verifierKey}` });
    cleanups.push(close);
    wit.w.addLog(gw.evidence.identity.verifierKey);
    const d = await provision(gw, "BWC-W1");
    const r1 = d.recording(1, [new Uint8Array(500).fill(1)]);
    await streamSealed(d, r1);

    // A seal's commit starts a log pass of its own (Evidence.recordingSealed), which may send the
    // checkpoint before this one: whichever pass sent it, the witness holds this size, cosigned.
    const first = await gw.evidence.sync();
    expect(first.witnesses.filter((w) => w.status !== "cosigned")).toEqual([]);
    expect(wit.w.latest(gw.evidence.identity.name)!.size).toBe(first.size);
    const base = `http://127.0.0.1:${gw.httpPort}`;
    const note = await (await fetch(`${base}/log/checkpoint`)).text();
    expect(parseNote(note).signatures.map((s) => s.name)).toEqual([gw.evidence.identity.name, "witness.court.example/w1"]);
    const ok = verifyCheckpoint(sha, nodeEd25519Verify, note, { log: gw.evidence.identity.verifierKey, witnesses: [wit.w.verifierKey] });
    expect(ok.cosigned[0].name).toBe("witness.court.example/w1");
    // A verifier that requires a witness that never cosigned refuses the checkpoint.
    const other = Witness.open(mkdtempSync(join(tmpdir(), "evrec-witness-")), { name: "witness.other.example/w2" });
    cleanups.push(() => rmSync(other.dir, { recursive: true, force: true }));
    expect(() => verifyCheckpoint(sha, nodeEd25519Verify, note, { log: gw.evidence.identity.verifierKey, witnesses: [wit.w.verifierKey, other.verifierKey] })).toThrow(/WITNESS_QUORUM/);

    // The log grows; the witness cosigns again, from a consistency proof, and now holds the new size.
    await streamSealed(d, d.recording(2, [new Uint8Array(300).fill(2), new Uint8Array(20).fill(3)], { prevSeal: r1.sealValue }));
    d.client.end(true);
    const second = await gw.evidence.sync();
    expect(second.size).toBeGreaterThan(first.size);
    expect(second.witnesses.filter((w) => w.status !== "cosigned")).toEqual([]);
    expect(wit.w.latest(gw.evidence.identity.name)!.size).toBe(second.size);
    expect(parseNote(await (await fetch(`${base}/log/checkpoint`)).text()).signatures.map((s) => s.name)).toEqual([gw.evidence.identity.name, "witness.court.example/w1"]);
    // Nothing new: nothing is sent again.
    expect((await gw.evidence.sync()).witnesses).toEqual([]);
  });

  it("refuses a log rewritten behind a checkpoint it has seen: the admin is alarmed and the new checkpoint goes uncosigned", async () => {
    const wit = await startWitness();
    cleanups.push(() => rmSync(wit.dir, { recursive: true, force: true }));
    const { gw, close } = await testGateway({ logIntervalMs: 0, witnesses: `${wit.url} ${wit.w.verifierKey}` });
    cleanups.push(close);
    wit.w.addLog(gw.evidence.identity.verifierKey);
    const d = await provision(gw, "BWC-W2");
    await streamSealed(d, d.recording(1, [new Uint8Array(500).fill(1)]));
    d.client.end(true);
    const seen = await gw.evidence.sync();
    expect(seen.witnesses[0].status).toBe("cosigned");

    // Someone with the database rewrites the first leaf (the recording's manifest) and lets the
    // station sign on: every later checkpoint commits to the rewritten history.
    await gw.db.exec("DROP TRIGGER tlog_leaves_no_update");
    const forged = new TextEncoder().encode('{"type":"audit","v":1,"count":1,"head":"' + "0".repeat(64) + '","at":0}');
    await gw.db.run("UPDATE tlog_leaves SET data = ?, hash = ? WHERE idx = 0", [forged, leafHash(sha, forged)]);
    await gw.audit.append({ actor: "admin", action: "device.state", target: "BWC-W2", reason: "after the rewrite" });
    const after = await gw.evidence.sync();
    expect(after.size).toBeGreaterThan(seen.size);
    expect(after.witnesses[0]).toMatchObject({ status: "refused", code: "WITNESS_INCONSISTENT" });
    expect((after.witnesses[0] as { detail: string }).detail).toMatch(/HTTP 422: the consistency proof .* does not verify/);
    const alarms = await gw.alarms.list({ open: true });
    expect(alarms).toEqual([expect.objectContaining({ kind: "WITNESS_INCONSISTENT", subject: "witness.court.example/w1" })]);
    expect(wit.w.latest(gw.evidence.identity.name)!.size).toBe(seen.size);
    const note = (await gw.evidence.tlog.checkpoint()).note;
    expect(() => verifyCheckpoint(sha, nodeEd25519Verify, note, { log: gw.evidence.identity.verifierKey, witnesses: [wit.w.verifierKey] })).toThrow(/WITNESS_QUORUM/);
  });

  it("answers as C2SP tlog-witness says: 409 with its size for a stale or different checkpoint, 404 for an unknown log, 403 for a bad signature, and remembers across restarts", async () => {
    const wit = await startWitness();
    cleanups.push(() => rmSync(wit.dir, { recursive: true, force: true }));
    const dir = mkdtempSync(join(tmpdir(), "evrec-wlog-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = StationIdentity.loadOrCreate(dir, "log.example/a").identity;
    wit.w.addLog(log.verifierKey);
    const root = randomBytes(32);
    const cp = (size: number, r: Uint8Array, by = log) => by.signNote(formatCheckpoint({ origin: by.name, size, root: r, extensions: [] }));

    const first = await post(wit.url, `old 0\n\n${cp(5, root)}`);
    expect(first.status).toBe(200);
    expect(first.text).toMatch(/^\u2014 witness\.court\.example\/w1 [A-Za-z0-9+/=]+\n$/);
    // The same size with another root: a split view.
    const split = await post(wit.url, `old 5\n\n${cp(5, randomBytes(32))}`);
    expect(split).toMatchObject({ status: 409, type: "text/x.tlog.size", text: "5\n" });
    // A log that pretends the witness saw nothing (a rollback).
    expect(await post(wit.url, `old 0\n\n${cp(7, randomBytes(32))}`)).toMatchObject({ status: 409, text: "5\n" });
    // A proof that does not lead from the held root.
    expect((await post(wit.url, `old 5\n${toBase64(randomBytes(32))}\n\n${cp(9, randomBytes(32))}`)).status).toBe(422);
    const stranger = StationIdentity.loadOrCreate(mkdtempSync(join(dir, "s-")), "log.example/b").identity;
    expect((await post(wit.url, `old 0\n\n${cp(1, root, stranger)}`)).status).toBe(404);
    const impostor = StationIdentity.loadOrCreate(mkdtempSync(join(dir, "i-")), "log.example/a").identity;
    expect((await post(wit.url, `old 5\n\n${cp(5, root, impostor)}`)).status).toBe(403);
    expect((await post(wit.url, `old 9\n\n${cp(5, root)}`)).status).toBe(400);
    expect((await post(wit.url, "garbage")).status).toBe(400);

    // Restarted, it still holds size 5 for this log.
    const again = Witness.open(wit.dir);
    again.addLog(log.verifierKey);
    expect(again.verifierKey).toBe(wit.w.verifierKey);
    expect(again.latest("log.example/a")!.size).toBe(5);
    expect((await again.addCheckpoint(`old 0\n\n${cp(6, root)}`))).toMatchObject({ status: 409, body: "5\n" });
  });
});

describe("npm run witness", () => {
  /** A witness process; `url` once it listens, `exit` with its code and what it printed if it stops. */
  const cli = (...args: string[]) => {
    const p = spawn(process.execPath, ["--import", "tsx", "witness/main.ts", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    cleanups.push(() => { p.kill("SIGTERM"); });
    let out = "";
    let err = "";
    p.stderr.on("data", (b: Buffer) => { err += b.toString(); });
    const exit = new Promise<{ code: number | null; out: string; err: string }>((res) => p.on("exit", (code) => res({ code, out, err })));
    const url = new Promise<string>((res, rej) => {
      p.stdout.on("data", (b: Buffer) => {
        out += b.toString();
        const m = /listening on (http:\/\/[0-9.]+:\d+)/.exec(out);
        if (m) res(m[1]);
      });
      void exit.then((e) => rej(new Error(`witness exited ${e.code}: ${e.out}${e.err}`)));
    });
    url.catch(() => undefined);
    return { url, exit, out: () => out, stop: () => p.kill("SIGTERM") };
  };

  it("starts a witness that prints its verifier key and says what it holds", async () => {
    const dir = mkdtempSync(join(tmpdir(), "evrec-witness-cli-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = StationIdentity.loadOrCreate(mkdtempSync(join(dir, "log-")), "log.example/cli").identity;
    const w = cli("--name", "witness.cli.example/w", "--log", log.verifierKey, "--port", "0", "--data-dir", join(dir, "w"));
    const url = await w.url;
    const out = w.out();
    expect(out).toMatch(/^witness witness\.cli\.example\/w: verifier key witness\.cli\.example\/w\+[0-9a-f]{8}\+/);
    const root = randomBytes(32);
    const r = await post(url, `old 0\n\n${log.signNote(formatCheckpoint({ origin: log.name, size: 3, root, extensions: [] }))}`);
    expect(r.status).toBe(200);
    const info = (await (await fetch(url + "/")).json()) as { name: string; logs: Record<string, number> };
    expect(info).toMatchObject({ name: "witness.cli.example/w", logs: { "log.example/cli": 3 } });
  });

  it("refuses a second witness on a state another one holds: two could each cosign half of a split view", async () => {
    const dir = mkdtempSync(join(tmpdir(), "evrec-witness-cli-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = StationIdentity.loadOrCreate(mkdtempSync(join(dir, "log-")), "log.example/split").identity;
    const state = join(dir, "w");
    const first = cli("--name", "witness.cli.example/w", "--log", log.verifierKey, "--port", "0", "--data-dir", state);
    const url = await first.url;
    const second = cli("--log", log.verifierKey, "--port", "0", "--data-dir", state);
    // Refused, not listening beside the first.
    const r = await Promise.race([second.exit, second.url.then((u) => ({ code: `listening on ${u}`, out: "", err: "" }))]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^witness: DATA_DIR_LOCKED: another witness \(pid \d+\) is running on .*: two on one state could each cosign a different tree of the same size/);
    // The first still cosigns; stopped, it leaves the state to the next one.
    expect((await post(url, `old 0\n\n${log.signNote(formatCheckpoint({ origin: log.name, size: 2, root: randomBytes(32), extensions: [] }))}`)).status).toBe(200);
    first.stop();
    expect((await first.exit).code).toBe(0);
    const third = cli("--log", log.verifierKey, "--port", "0", "--data-dir", state);
    const info = (await (await fetch((await third.url) + "/")).json()) as { logs: Record<string, number> };
    expect(info.logs).toEqual({ "log.example/split": 2 });
  });

  it("refuses bad options with a reason code and no stack trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "evrec-witness-cli-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const w = (...args: string[]) => cli("--name", "witness.cli.example/w", "--data-dir", join(dir, "w"), ...args).exit;
    let r = await w("--logs-file", join(dir, "no-such-file"));
    expect([r.code, r.err]).toEqual([2, `witness: FILE_UNREADABLE: can't read --logs-file ${join(dir, "no-such-file")}: ENOENT: no such file or directory, open '${join(dir, "no-such-file")}'\n`]);
    r = await w("--port", "99999");
    expect([r.code, r.err]).toEqual([2, "witness: BAD_PORT: --port 99999: a port is 0 to 65535 (0 takes any free one)\n"]);
    writeFileSync(join(dir, "a-file"), "");
    r = await cli("--name", "witness.cli.example/w", "--data-dir", join(dir, "a-file")).exit;
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^witness: DATA_DIR_NOT_DIR: /);
    // A directory that takes no new entry (Node's own recursive mkdir loops there for ever): refused at once.
    r = await cli("--name", "witness.cli.example/w", "--data-dir", "/proc/evrec-witness").exit;
    expect([r.code, r.err]).toEqual([2, "witness: DATA_DIR_UNWRITABLE: data directory /proc/evrec-witness can't be made: ENOENT: /proc takes no new directory (a special file system?), mkdir '/proc/evrec-witness'\n"]);
    const busy = createServer();
    await new Promise<void>((res) => busy.listen(0, "127.0.0.1", res));
    cleanups.push(() => new Promise<void>((res) => busy.close(() => res())));
    r = await w("--log", StationIdentity.loadOrCreate(mkdtempSync(join(dir, "log-")), "log.example/busy").identity.verifierKey, "--port", String((busy.address() as AddressInfo).port));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^witness: PORT_IN_USE: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE.* \(choose another with --port, 0 for any\)$/m);
  });
});
