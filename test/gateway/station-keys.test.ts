// The keys in a station's data directory belong to the database beside them. A key lost from the
// data directory is never made again silently, and a data directory given another station's
// database is refused: a new station key opens none of the registry's device secrets (every device
// would be refused at connect), and a new signing key would sign the station's transparency log as
// another station (every witness and offline verifier holding the old key would refuse what
// followed).
import { afterAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Db } from "../../gateway/store/db.js";
import { INGEST_MIGRATIONS } from "../../gateway/store/schema.js";

const run = promisify(execFile);
const base = mkdtempSync(join(tmpdir(), "evrec-station-keys-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const fresh = () => mkdtempSync(join(base, `d${n++}-`));

const admin = async (...args: string[]) => {
  try {
    const r = await run(process.execPath, ["--import", "tsx", "gateway/cli.ts", ...args]);
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
};

/** A station with a device registered and its log signed once. */
async function station(): Promise<string> {
  const dir = fresh();
  let r = await admin("device", "add", "KEY-0001", "--root-out", join(dir, "root.bin"), "--data-dir", dir);
  expect(r.code, r.err).toBe(0);
  r = await admin("log", "sync", "--data-dir", dir);
  expect(r.code, r.err).toBe(0);
  return dir;
}

describe("a station's keys and its database", () => {
  it("refuses to start without the station key its devices' secrets were sealed under, and makes none", async () => {
    const dir = await station();
    unlinkSync(join(dir, "station.key"));
    const r = await admin("device", "list", "--data-dir", dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^admin: STATION_KEY_MISSING: no station key at .*station\.key, but the database's registry holds 1 device .*Restore this station's station\.key from its backup/m);
    expect(existsSync(join(dir, "station.key"))).toBe(false);
  });

  it("refuses to sign its log under a new key when the signing key and its identity are gone, and makes none", async () => {
    const dir = await station();
    unlinkSync(join(dir, "station-signing.pem"));
    unlinkSync(join(dir, "station-identity.json"));
    const r = await admin("log", "status", "--data-dir", dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^admin: KEY_MISSING: station signing key .* is missing but the database holds a transparency log of \d+ entr(y|ies) signed as "evrec\.station\/[0-9a-f]{16}"/m);
    expect(existsSync(join(dir, "station-signing.pem"))).toBe(false);
    expect(existsSync(join(dir, "station-identity.json"))).toBe(false);
  });

  it("refuses a data directory given another station's database, naming whose it is", async () => {
    const a = await station();
    const b = await station();
    const origin = JSON.parse(readFileSync(join(a, "station-identity.json"), "utf8")).name as string;
    // a's database restored into b's data directory: b's station key opens none of a's devices.
    const restore = async (to: string) => {
      for (const f of readdirSync(to)) if (f.startsWith("gateway.db")) unlinkSync(join(to, f));
      for (const f of readdirSync(a)) if (f.startsWith("gateway.db")) await run("cp", [join(a, f), join(to, f)]);
    };
    await restore(b);
    let r = await admin("device", "list", "--data-dir", b);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^admin: STATION_KEY_MISMATCH: the station key .* opens no device's secret in the registry \(tried KEY-0001\)/m);
    // With a's station key too, but b's signing identity: b would sign a's log as itself.
    await run("cp", [join(a, "station.key"), join(b, "station.key")]);
    r = await admin("log", "status", "--data-dir", b);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^admin: LOG_KEY_MISMATCH: the database's transparency log \\(\\d+ entr(y|ies)\\) is signed as "${origin}", not by this data directory's key`, "m"));
    // With all of a's keys, a's database opens again there.
    for (const f of ["station-signing.pem", "station-identity.json", "audit.key", "audit.anchor", "admin.token"]) await run("cp", [join(a, f), join(b, f)]);
    r = await admin("device", "list", "--data-dir", b);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("KEY-0001");
  });
});

describe("a database a newer version migrated", () => {
  it("is refused by the admin CLI and the gateway, saying which tables and what to do, and left as it was", async () => {
    const dir = await station();
    const db = await Db.open(join(dir, "gateway.db"));
    const steps = INGEST_MIGRATIONS.steps.length;
    await db.run("UPDATE meta SET value = ? WHERE key = 'schema:ingest'", [String(steps + 1)]);
    await db.close();
    const said = `SCHEMA_NEWER: the database was migrated by a newer version of the gateway (its ingest tables at step ${steps + 1}, this version knows ${steps}): run that version again, or restore the backup taken before the upgrade`;
    const r = await admin("device", "list", "--data-dir", dir);
    expect([r.code, r.err]).toEqual([1, `admin: ${said}\n`]);
    const g = await run("bin/evrec-gateway", ["--data-dir", dir, "--mqtt-port", "0", "--http-port", "0"]).then(() => ({ code: 0, err: "" }), (e: { code: number; stderr: string }) => ({ code: e.code, err: e.stderr }));
    expect([g.code, g.err]).toEqual([2, `gateway: ${said}\n`]);
    const after = await Db.open(join(dir, "gateway.db"));
    expect((await after.get<{ value: string }>("SELECT value FROM meta WHERE key = 'schema:ingest'"))!.value).toBe(String(steps + 1));
    await after.close();
  });
});
