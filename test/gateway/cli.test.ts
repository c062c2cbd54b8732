// The admin CLI as a station admin uses it: each command a real process on one data directory.
import { afterAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { openStore } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { fillAgedStation } from "../helpers/aged-station.js";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "evrec-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const admin = async (...args: string[]) => {
  try {
    const r = await run(process.execPath, ["--import", "tsx", "gateway/cli.ts", ...args, "--data-dir", dir]);
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
};

describe("admin CLI", () => {
  it("registers a device with its root secret in a 0600 file and never on the screen", async () => {
    const r = await admin("device", "add", "BWC-0601", "--root-out", join(dir, "bwc.root"));
    expect(r.code).toBe(0);
    const root = readFileSync(join(dir, "bwc.root"), "utf8").trim();
    expect(root).toMatch(/^[0-9a-f]{64}$/);
    expect(r.out + r.err).not.toContain(root);
    expect(statSync(join(dir, "bwc.root")).mode & 0o777).toBe(0o600);
    expect((await admin("device", "add", "BWC-0601", "--root-out", join(dir, "again.root"))).err).toContain("DEVICE_EXISTS");
  });

  it("reports a unit's shortfall from its roster, and audits who changed what under the account its token proves", async () => {
    expect((await admin("account", "add", "lee", "admin")).code).toBe(0);
    const issued = await admin("token", "issue", "lee");
    writeFileSync(join(dir, "lee.token"), issued.out.trim() + "\n", { mode: 0o600 });
    const lee = ["--token-file", join(dir, "lee.token")];
    expect((await admin("unit", "add", "Road Transport Agency", "agency", ...lee)).code).toBe(0);
    for (let i = 0; i < 5; i++) expect((await admin("officer", "add", `T${i}`, `Officer ${i}`, "--unit", "1", "--role", "enforcement", "--cert", `C${i}`, "--valid-from", "2024-01-01", "--valid-to", "2030-01-01", ...lee)).code).toBe(0);
    const r = JSON.parse((await admin("ratios", "--json")).out);
    expect(r.units[0].own.devices).toMatchObject({ officers: 5, required: 2, counted: 0, shortfall: 2 });
    expect(r.auditHead.count).toBe(9);
    const log = JSON.parse((await admin("audit", "list", "--json")).out) as { actor: string; action: string }[];
    expect(log.filter((e) => e.actor === "lee").map((e) => e.action)).toContain("officer.add");
    const noReason = await admin("device", "revoke", "BWC-0601");
    expect(noReason.code).toBe(1);
    expect(noReason.err).toContain("admin: REASON_REQUIRED:");
    // Eleven commands, each a new Node process that compiles the CLI: seconds each on a machine busy with other tests.
  }, 90_000);

  it("audit verify passes on an intact log and fails, exit 1, once its tail is cut", async () => {
    const ok = await admin("audit", "verify");
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/audit log OK: 9 entries/);
    // An insider with the database file: the log's guard triggers dropped, its last entry deleted.
    const db = new Database(join(dir, "gateway.db"));
    const triggers = db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'").all() as { name: string }[];
    for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
    db.exec("DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)");
    db.close();
    const bad = await admin("audit", "verify");
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("TRUNCATED");
  });

  it("refuses a device, recording or account it does not hold with its reason code, not an empty answer", async () => {
    const refused = async (args: string[], code: string) => {
      const r = await admin(...args);
      expect({ code: r.code, out: r.out }, args.join(" ")).toEqual({ code: 1, out: "" });
      expect(r.err).toMatch(new RegExp(`^admin: ${code}: `));
      return r.err;
    };
    expect(await refused(["recording", "list", "BWC-06O1"], "UNKNOWN_DEVICE")).toContain("no device BWC-06O1");
    // One code for one fact, whichever command meets the typo.
    for (const args of [["device", "revoke", "BWC-06O1", "--reason", "reported stolen"], ["device", "unit", "BWC-06O1", "1", "--reason", "issued to the agency"], ["assign", "BWC-06O1", "--badge", "T0"]]) {
      expect(await refused(args, "UNKNOWN_DEVICE")).toContain("no device BWC-06O1");
    }
    expect(await refused(["custody", "--recording", "BWC-0601/7", "--reason", "court order 2026-17"], "UNKNOWN_RECORDING")).toContain("no recording BWC-0601/7");
    expect(await refused(["custody", "--account", "le"], "UNKNOWN_ACCOUNT")).toContain("no account le");
    expect(await refused(["log", "proof", "BWC-0601/7"], "UNKNOWN_RECORDING")).toContain("no recording BWC-0601/7");
    // A device the station holds, with nothing recorded yet, is listed as such.
    expect(await admin("recording", "list", "BWC-0601", "--json")).toMatchObject({ code: 0, out: "[]\n" });
  });
  it("refuses an option the command does not take, and gives CSV wherever a listing is asked for with --csv", async () => {
    // An option of another command would be ignored: this listed every device's recordings.
    const other = await admin("recording", "list", "--device", "BWC-0601");
    expect({ code: other.code, out: other.out }).toEqual({ code: 2, out: "" });
    expect(other.err).toMatch(/^admin: USAGE: recording list does not take --device \(its options: --limit, --after, --csv; see --help\)/);
    const both = await admin("assign", "BWC-0601", "--badge", "T1", "--room", "R1");
    expect(both.code).toBe(1);
    expect(both.err).toMatch(/^admin: USAGE: assign takes --badge B \(an officer\) or --room R \(a fixed device's room\), not both/);
    // The witnesses log sync asks are the ones given, as to the gateway.
    const witnesses = await admin("log", "status", "--witnesses", "https://witness.example");
    expect(witnesses.code).toBe(1);
    expect(witnesses.err).toMatch(/^admin: WITNESS_CONFIG: /);
    expect((await admin("approval", "approver", "add", "lee", "--reason", "designated by the station head")).code).toBe(0);
    // Designated once; again is said, not audited as a second designation.
    const entries = JSON.parse((await admin("audit", "list", "--action", "approver.add", "--json")).out).length;
    const again = await admin("approval", "approver", "add", "lee", "--reason", "designated by the station head");
    expect(again).toMatchObject({ code: 1, out: "", err: expect.stringMatching(/^admin: ALREADY_APPROVER: lee is already a release approver/) });
    expect(JSON.parse((await admin("audit", "list", "--action", "approver.add", "--json")).out)).toHaveLength(entries);
    const approvers = await admin("approval", "approvers", "--csv");
    expect(approvers.code).toBe(0);
    expect(approvers.out).toMatch(/^account,addedBy,added\r\nlee,admin,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00\r\n$/);
    expect(await admin("station-key", "--csv")).toMatchObject({ code: 2, out: "", err: expect.stringMatching(/^admin: USAGE: station-key does not take --csv/) });
    // An option given twice would have one value unheeded (the last one won); a custody trail is one recording's.
    expect(await admin("device", "unit", "BWC-0601", "1", "--reason", "first one", "--reason", "second one")).toMatchObject({ code: 2, err: expect.stringMatching(/^admin: USAGE: --reason is given twice \(first one, second one\): give it once/) });
    expect(await admin("custody", "--recording", "BWC-0601/1", "--recording", "BWC-0601/2", "--reason", "trail check")).toMatchObject({ code: 1, err: expect.stringMatching(/^admin: USAGE: custody takes one --recording/) });
  }, 90_000);
  it("takes --option=value in the export, approval and custody commands as everywhere else", async () => {
    const made = await admin("export", "--case=K-404", "--reason=court order 2026-17", `--out=${join(dir, "k404.zip")}`);
    expect(made.code).toBe(1);
    expect(made.err).toMatch(/admin: CASE_NOT_FOUND: no case K-404/);
    const asked = await admin("approval", "request", "--export", "--case=K-404", "--reason=court order 2026-17");
    expect(asked.err).toMatch(/admin: CASE_NOT_FOUND: no case K-404/);
    expect(await admin("custody", "--account=lee", "--csv")).toMatchObject({ code: 0, err: "" });
  });
  it("answers a change asked for with --json with what was done, for programs (it printed nothing)", async () => {
    const ratio = await admin("unit", "ratio", "1", "5", "--reason", "quiet unit", "--json");
    expect(ratio.code).toBe(0);
    expect(JSON.parse(ratio.out)).toMatchObject({ id: 1, fleetRatio: 5 });
    const account = await admin("account", "add", "chen", "admin", "--json");
    expect(JSON.parse(account.out)).toEqual({ name: "chen", role: "admin", officerBadge: null });
  });
});

describe("admin CLI on a station with clips", () => {
  const clipsDir = mkdtempSync(join(tmpdir(), "evrec-cli-clips-"));
  afterAll(() => rmSync(clipsDir, { recursive: true, force: true }));
  const list = async (...args: string[]) => {
    const r = await run(process.execPath, ["--import", "tsx", "gateway/cli.ts", "recording", "list", ...args, "--data-dir", clipsDir]);
    return { out: r.stdout, err: r.stderr };
  };

  it("lists a page of recordings with --limit and says how to ask for the next (--after), on stderr beside --csv and --json", async () => {
    const store = await openStore({ ...DEFAULTS, dataDir: clipsDir, diskMinFreeMb: 1 });
    let all: { device: string; recording: number }[];
    try {
      await fillAgedStation(store.db, store.registry, Date.now(), { devices: 2, days: 2, perDay: 2, chunks: 1, auditPerDay: 0, casesPerDay: 0 });
      // Newest first: the clip's time in the station's clock, then device and recording, descending.
      all = await store.db.all("SELECT device_id AS device, recording_id AS recording FROM recordings ORDER BY COALESCE(clip_at_ms, start_ms) DESC, device_id DESC, recording_id DESC");
    } finally {
      await store.db.close();
    }
    expect(all.length).toBe(8);
    const first = await list("--limit", "3", "--csv");
    const lines = first.out.trim().split("\n");
    expect(lines.length).toBe(4);
    const third = `${all[2].device}/${all[2].recording}`;
    expect(lines[3].startsWith(`${all[2].device},${all[2].recording},`)).toBe(true);
    expect(first.err.trim()).toBe(`more after ${third}: recording list --limit 3 --after ${third}`);
    const rest = await list("--limit", "10", "--after", third, "--json");
    expect((JSON.parse(rest.out) as { device: string; recording: number }[]).map((r) => `${r.device}/${r.recording}`)).toEqual(all.slice(3).map((r) => `${r.device}/${r.recording}`));
    expect(rest.err).toBe("");
  }, 60_000);
});
