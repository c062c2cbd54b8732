// The README's admin walkthrough, run as written: units, officers, a supervisor with a unit, a
// case, a device, a checkout, then a retrieval with a reason by the supervisor.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { testGateway } from "./harness.js";
import type { Gateway } from "../../gateway/gateway.js";
import { FakeDevice } from "./fake-device.js";
import { fromHex } from "../../protocol/bytes.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const block = /<!-- walkthrough[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(README);
const lines = block ? block[1].split("\n").filter((l) => l.trim()) : [];

let gw: Gateway;
let dir: string;
let close: () => Promise<void>;
const work = mkdtempSync(join(tmpdir(), "evrec-walk-"));
beforeAll(async () => ({ gw, dir, close } = await testGateway()));
afterAll(async () => {
  await close();
  rmSync(work, { recursive: true, force: true });
});

/** A README line as the shell runs it: `npm run admin --` is the CLI, the API on this gateway's port. */
async function sh(line: string): Promise<{ code: number; out: string; err: string }> {
  const admin = `${JSON.stringify(process.execPath)} --import ${JSON.stringify(pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href)} ${JSON.stringify(join(ROOT, "gateway", "cli.ts"))}`;
  const cmd = line.replace(/^npm run admin --/, admin).replace("http://127.0.0.1:8080", `http://127.0.0.1:${gw.httpPort}`);
  try {
    const r = await run("sh", ["-c", cmd], { cwd: work, env: { ...process.env, EVREC_DATA_DIR: dir, LANG: "C.UTF-8", LC_ALL: "" } });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

describe("the README's admin walkthrough", () => {
  it("runs as written, and the supervisor retrieves the officer's recording with a reason, audited", async () => {
    expect(lines.length).toBeGreaterThan(8);
    let retrieved = "";
    for (const line of lines) {
      if (line.includes("recording list")) {
        // The device streams a recording while checked out to T001.
        const d = new FakeDevice("BWC-0001", fromHex(readFileSync(join(work, "bwc-0001.root"), "utf8").trim()));
        await d.connect(gw.mqttPort);
        await d.hello();
        const rec = d.recording(1, [Buffer.alloc(4000, 1), Buffer.alloc(4000, 2)]);
        await d.publish(rec.start);
        for (const c of rec.chunks) await d.publish(c);
        await d.publish(rec.seal);
        await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { state?: number }).state === 1);
        await d.end();
      }
      const r = await sh(line);
      expect(r.code, `${line}\n${r.err}`).toBe(0);
      if (line.includes("recording list")) expect(r.out).toContain("BWC-0001");
      if (line.startsWith("curl")) retrieved = r.out;
    }
    expect(JSON.parse(retrieved)).toMatchObject({ device: "BWC-0001", recording: 1, verdict: "verified", chunks: 2 });
    const [view] = await gw.audit.list({ action: "recording.view", limit: 1 });
    expect(view).toMatchObject({ actor: "lee", target: "BWC-0001/1", reason: "case C-2026-001 review" });
    const fleet = await gw.services.reports.fleet({ name: "admin", role: "admin", officerBadge: null });
    expect(fleet.units.find((u) => u.unitId === 2)).toMatchObject({ ratio: 3 });
    // Each line a new Node process that compiles the CLI: seconds each on a machine busy with other tests.
  }, 10_000 * Math.max(lines.length, 3));
});
