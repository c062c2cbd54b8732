// An aged station, written straight into a migrated store's tables in big transactions (no media
// files): recorders checked out to their officers a shift a day, recordings of 15 minutes with
// their chunk rows, cases with linked clips and custody events, alarms, a hash-chained audit log.
// Then the reads its people make every day, through the service layer the API, the console and
// the CLI call. `npm run bench:aged` times them on a big one; test/gateway/read-plans.test.ts
// checks their query plans on a small one.
import { randomBytes } from "node:crypto";
import type { Db, Params } from "../../gateway/store/db.js";
import { hashRow, GENESIS_PREV } from "../../gateway/audit/log.js";
import { auditTail } from "../../gateway/store/audit.js";
import type { Caller, Services } from "../../gateway/services/index.js";
import { GENESIS_LEN, HEADER_LEN, SEAL_LEN } from "../../protocol/constants.js";
import { cursorOf } from "../../gateway/services/recordings.js";

export const DAY = 86400e3;
const RECORDING_MS = 15 * 60e3;

/** The station's size: recorders, days of history, recordings a recorder a day, chunk rows a recording, audit entries and cases a day. */
export interface AgedShape { devices: number; days: number; perDay: number; chunks: number; auditPerDay: number; casesPerDay: number }

/** What was written, and the people and records the reads ask about. */
export interface AgedStation {
  filled: Filled;
  supervisor: Caller;
  officer: Caller;
  /** A clip in the middle of the period, of the supervisor's unit. */
  clip: { device: string; recording: number; at: number };
  /** An officer of the supervisor's unit. */
  badge: string;
  now: number;
  days: number;
}

/** Multi-row INSERTs of `rows`, a transaction per `perTx` rows. */
class Inserter {
  private pending: Params[] = [];
  private stmts: { sql: string; params: Params }[] = [];
  private inTx = 0;
  constructor(private db: Db, private table: string, private cols: string[], private perStmt = Math.floor(30000 / cols.length), private perTx = 50000) {}
  async add(row: Params): Promise<void> {
    this.pending.push(row);
    if (this.pending.length >= this.perStmt) await this.cut();
  }
  private async cut(): Promise<void> {
    if (!this.pending.length) return;
    const one = `(${this.cols.map(() => "?").join(", ")})`;
    this.stmts.push({ sql: `INSERT INTO ${this.table} (${this.cols.join(", ")}) VALUES ${this.pending.map(() => one).join(", ")}`, params: this.pending.flat() });
    this.inTx += this.pending.length;
    this.pending = [];
    if (this.inTx >= this.perTx) await this.commit();
  }
  private async commit(): Promise<void> {
    if (this.stmts.length) await this.db.writeBatch(this.stmts);
    this.stmts = [];
    this.inTx = 0;
  }
  async flush(): Promise<void> {
    await this.cut();
    await this.commit();
  }
}

export interface Filled { units: number; officers: number; devices: number; recordings: number; leaves: number; chunks: number; assignments: number; cases: number; links: number; custody: number; audit: number; alarms: number }

/** The aged station, written into a migrated store (openStore's), ending `now`. */
export async function fillAgedStation(db: Db, registry: { add(id: string, o: { root: Uint8Array }): Promise<unknown> }, now: number, shape: AgedShape): Promise<AgedStation> {
  const { devices: DEVICES, days: DAYS, perDay: PER_DAY, chunks: CHUNKS } = shape;
  const start = now - DAYS * DAY;
  // Units: the station and five agencies under it.
  await db.run("INSERT INTO units (id, parent_id, name, level) VALUES (1, NULL, 'Station', 'county')");
  const AGENCIES = 5;
  for (let u = 0; u < AGENCIES; u++) await db.run("INSERT INTO units (id, parent_id, name, level) VALUES (?, 1, ?, 'agency')", [u + 2, `Agency ${u + 1}`]);
  // Officers: 4 enforcement officers a recorder, a supervisor and 4 legal reviewers an agency.
  const officers = new Inserter(db, "officers", ["id", "badge", "name", "unit_id", "role", "cert_no", "cert_valid_from", "cert_valid_to"]);
  let oid = 0;
  for (let i = 0; i < DEVICES * 4; i++) { oid++; await officers.add([oid, `E${String(i).padStart(5, "0")}`, `Officer ${i}`, 2 + ((i >> 2) % AGENCIES), "enforcement", `C${i}`, "2020-01-01", "2035-12-31"]); }
  for (let u = 0; u < AGENCIES; u++) {
    oid++; await officers.add([oid, `S${u}`, `Supervisor ${u}`, u + 2, "supervisor", null, null, null]);
    for (let k = 0; k < 4; k++) { oid++; await officers.add([oid, `L${u}${k}`, `Reviewer ${u}.${k}`, u + 2, "legal_reviewer", null, null, null]); }
  }
  await officers.flush();
  const nOfficers = oid;
  // The accounts that read: a supervisor of each agency, an officer.
  for (let u = 0; u < AGENCIES; u++) await db.run("INSERT INTO accounts (name, role, officer_badge, created_at) VALUES (?, 'supervisor', ?, ?)", [`sup${u}`, `S${u}`, start]);
  await db.run("INSERT INTO accounts (name, role, officer_badge, created_at) VALUES ('off1', 'officer', 'E00001', ?)", [start]);
  // Devices, through the registry (their secrets sealed under the station key), active, in their agency.
  const ids: string[] = [];
  for (let d = 0; d < DEVICES; d++) {
    const id = `R${String(d).padStart(4, "0")}`;
    await registry.add(id, { root: randomBytes(32) });
    await db.run("UPDATE devices SET state = 'active', unit_id = ?, last_seen = ? WHERE id = ?", [2 + (d % AGENCIES), now - 60e3, id]);
    ids.push(id);
  }
  // Blobs are stored, never read by these reads: a few random ones, used in turn.
  const pool = (len: number) => Array.from({ length: 16 }, () => randomBytes(len));
  const headers = pool(HEADER_LEN), hashes = pool(32), geneses = pool(GENESIS_LEN), seals = pool(SEAL_LEN).map((b) => { b[3] = 0; return b; });
  const assignments = new Inserter(db, "assignments", ["device_id", "officer_id", "room", "checked_out_at", "returned_at"]);
  const recordings = new Inserter(db, "recordings", ["device_id", "recording_id", "genesis", "c0", "start_ms", "pre_event_ms", "linked_seq", "last_chain", "total_bytes", "last_time_ms", "end_ms",
    "seal_block", "seal_tag", "seal_value", "verdict", "final", "reasons", "media_path", "first_received", "last_received", "clip_at_ms", "prev_checked", "media_ms", "tlog_idx"], undefined, 20000);
  // Each sealed recording's manifest leaf in the log, as the log's source pass left it.
  const leaves = new Inserter(db, "tlog_leaves", ["idx", "ref", "kind", "data", "hash", "note", "at"], undefined, 100000);
  const manifests = pool(400);
  let nLeaves = 0;
  const chunks = new Inserter(db, "chunks", ["device_id", "recording_id", "seq", "header", "tag", "chain", "flags", "time_ms", "duration_ms", "length", "media_offset", "received_at"], undefined, 200000);
  const chunkMs = Math.floor(RECORDING_MS / CHUNKS);
  const clipsOfDay: { device: string; recording: number; at: number; unit: number }[][] = [];
  let nRec = 0, nChunks = 0, nAssign = 0;
  for (let day = 0; day < DAYS; day++) {
    const dayStart = start + day * DAY;
    const today: { device: string; recording: number; at: number; unit: number }[] = [];
    for (let d = 0; d < DEVICES; d++) {
      const device = ids[d];
      // The device's four officers take it in turn, a shift from 08:00 to 18:00.
      const officerId = d * 4 + (day % 4) + 1;
      const out = dayStart + 8 * 3600e3, back = dayStart + 18 * 3600e3;
      await assignments.add([device, officerId, null, out, day === DAYS - 1 ? null : back]);
      nAssign++;
      for (let k = 0; k < PER_DAY; k++) {
        const recording = day * PER_DAY + k + 1;
        const at = out + 1 + Math.floor((k * (back - out - RECORDING_MS)) / PER_DAY);
        const n = nRec++;
        const verdict = n % 200 === 7 ? "failed" : n % 100 === 3 ? "incomplete" : "verified";
        const received = at + RECORDING_MS + 5000;
        await recordings.add([device, recording, geneses[n % 16], hashes[n % 16], at, 0, CHUNKS, hashes[(n + 1) % 16], CHUNKS * 8192, at + (CHUNKS - 1) * chunkMs,
          verdict === "incomplete" ? null : at + RECORDING_MS, verdict === "incomplete" ? null : seals[n % 16], verdict === "incomplete" ? null : hashes[(n + 2) % 16],
          verdict === "incomplete" ? null : hashes[(n + 3) % 16], verdict, 1, verdict === "failed" ? '["TAG_MISMATCH"]' : "[]", `${device}/${recording}.media`, at + 1000, received, at, 1, CHUNKS * chunkMs, verdict === "incomplete" ? null : nLeaves]);
        if (verdict !== "incomplete") await leaves.add([nLeaves++, `recording:${device}/${recording}`, "recording", manifests[n % 16], hashes[(n + 4) % 16], null, received + 1000]);
        for (let s = 1; s <= CHUNKS; s++) {
          await chunks.add([device, recording, s, headers[(n + s) % 16], hashes[s % 16], hashes[(n + s + 5) % 16], 0, at + (s - 1) * chunkMs, chunkMs, 8192, (s - 1) * 8192, at + s * chunkMs + 200]);
        }
        nChunks += CHUNKS;
        today.push({ device, recording, at, unit: 2 + (d % AGENCIES) });
      }
    }
    clipsOfDay.push(today);
  }
  await assignments.flush();
  await recordings.flush();
  await leaves.flush();
  await chunks.flush();
  // Cases: some a day, each in an agency, two of that day's clips linked (custody events beside them).
  const cases = new Inserter(db, "cases", ["id", "number", "unit_id", "category", "activity_kind", "policy", "window_start", "window_end", "confidentiality"]);
  const links = new Inserter(db, "clip_links", ["device_id", "recording_id", "case_id", "linked_by", "reason", "at"]);
  const custody = new Inserter(db, "custody_events", ["at", "actor", "action", "device_id", "recording_id", "case_id", "reason"]);
  let nCases = 0, nLinks = 0;
  const policies = ["FULL", "KEY_STEPS", "OPTIONAL"] as const;
  for (let day = 0; day < DAYS; day++) {
    const today = clipsOfDay[day];
    for (let c = 0; c < shape.casesPerDay && today.length; c++) {
      const id = ++nCases;
      const a = today[(c * 7) % today.length], b = today[(c * 7 + 1) % today.length];
      await cases.add([id, `C-${day}-${c}`, a.unit, "penalty", "inspection", policies[c % 3], a.at, a.at + RECORDING_MS, c % 10 === 9 ? 2 : 0]);
      for (const clip of [a, b]) {
        const at = clip.at + RECORDING_MS + 3600e3;
        await links.add([clip.device, clip.recording, id, "admin", "seized goods", at]);
        await custody.add([at, "admin", "link", clip.device, clip.recording, id, "seized goods"]);
        nLinks++;
      }
    }
  }
  await cases.flush();
  await links.flush();
  await custody.flush();
  // Alarms: silent devices and failed verdicts raised and cleared over the period.
  const alarms = new Inserter(db, "alarms", ["kind", "subject", "detail", "count", "first_at", "last_at", "cleared_at", "cleared_by", "clear_reason"]);
  let nAlarms = 0;
  for (let day = 0; day < DAYS; day++) {
    for (let k = 0; k < 3; k++) {
      const at = start + day * DAY + (9 + k) * 3600e3;
      await alarms.add(["DEVICE_SILENT", ids[(day * 3 + k) % DEVICES], "no message for 1 h", 1, at, at, at + 600e3, "admin", "back online"]);
      nAlarms++;
    }
  }
  await alarms.flush();
  // The audit log: what a day's work writes (check-outs, returns, listings, views with a reason,
  // links, sign-ins), hash-chained after what openStore wrote.
  const tail = await auditTail(db);
  let seq = tail ? tail.seq : 0, prev = tail ? tail.hash : GENESIS_PREV;
  const audit = new Inserter(db, "audit_log", ["seq", "at", "actor", "action", "target", "reason", "details", "prev", "hash"]);
  const actors = ["admin", ...Array.from({ length: AGENCIES }, (_, u) => `sup${u}`)];
  for (let day = 0; day < DAYS; day++) {
    const today = clipsOfDay[day];
    for (let k = 0; k < shape.auditPerDay; k++) {
      const at = start + day * DAY + 7 * 3600e3 + Math.floor((k * 12 * 3600e3) / shape.auditPerDay);
      const clip = today[(k * 13) % today.length];
      const kind = k % 8;
      const [actor, action, target, reason, details] =
        kind === 0 ? ["admin", "device.checkout", clip.device, null, { officer: "E00001" }]
        : kind === 1 ? ["admin", "device.return", clip.device, null, null]
        : kind === 2 || kind === 3 ? [actors[k % actors.length], "recording.list", null, null, { count: 800 }]
        : kind === 4 || kind === 5 ? [actors[k % actors.length], "recording.view", `${clip.device}/${clip.recording}`, "case review", null]
        : kind === 6 ? ["admin", "clip.link", `${clip.device}/${clip.recording}`, "seized goods", { case: "C-1" }]
        : [actors[k % actors.length], "signin", null, null, null];
      const row = { seq: ++seq, at, actor, action, target, reason, details: details === null ? null : JSON.stringify(details), prev };
      const hash = hashRow(row);
      await audit.add([row.seq, row.at, row.actor, row.action, row.target, row.reason, row.details, row.prev, hash]);
      prev = hash;
    }
  }
  await audit.flush();
  const mid = clipsOfDay[Math.floor(DAYS / 2)][0];
  return {
    filled: { units: 1 + AGENCIES, officers: nOfficers, devices: DEVICES, recordings: nRec, leaves: nLeaves, chunks: nChunks, assignments: nAssign, cases: nCases, links: nLinks, custody: nLinks, audit: seq, alarms: nAlarms },
    supervisor: { name: "sup0", role: "supervisor", officerBadge: "S0" },
    officer: { name: "off1", role: "officer", officerBadge: "E00001" },
    clip: { device: mid.device, recording: mid.recording, at: mid.at },
    badge: "E00002",
    now,
    days: DAYS,
  };
}


/** The everyday reads, by name: the clips page's filters, a clip's pages, the reports, the audit listing, the lists. */
export function everydayReads(s: Services, st: AgedStation): [string, () => Promise<unknown>][] {
  const admin: Caller = { name: "admin", role: "admin", officerBadge: null };
  const midDay = st.now - Math.floor(st.days / 2) * DAY;
  const iso = (ms: number) => new Date(ms).toISOString();
  const week = { from: iso(midDay), to: iso(midDay + 7 * DAY) };
  const month = { from: iso(midDay), to: iso(midDay + 30 * DAY) };
  const { clip } = st;
  return [
    ["clips page, admin, all", () => s.recordings.list(admin)],
    // A page at a time, as the API and the console ask since it pages: the first, and one deep in.
    ["clips page, admin, first page", () => s.recordings.page(admin)],
    ["clips page, admin, a page deep in", () => s.recordings.page(admin, { cursor: cursorOf(clip) })],
    ["clips page, supervisor, first page", () => s.recordings.page(st.supervisor)],
    ["clips page, supervisor, all of the subtree", () => s.recordings.list(st.supervisor)],
    ["clips page, supervisor, one officer", () => s.recordings.list(st.supervisor, { officer: st.badge })],
    ["clips page, supervisor, one week", () => s.recordings.list(st.supervisor, week)],
    ["clips page, officer, own", () => s.recordings.list(st.officer)],
    ["clips page, one device", () => s.recordings.list(admin, { device: clip.device })],
    ["clip page (view)", () => s.recordings.view(st.supervisor, clip.device, clip.recording, "case review")],
    ["clip custody report", () => s.recordings.custody(st.supervisor, clip.device, clip.recording, "case review")],
    ["clip link suggestions", () => s.model.suggestions(admin, clip.device, clip.recording)],
    ["coverage report", () => s.reports.coverage(admin)],
    ["integrity report, station", () => s.reports.integrity(admin)],
    ["integrity report, supervisor", () => s.reports.integrity(st.supervisor)],
    ["statistics, a month by unit", () => s.reports.statistics(admin, { ...month, by: "unit" })],
    ["statistics, a month by officer", () => s.reports.statistics(st.supervisor, { ...month, by: "officer" })],
    ["fleet ratios", () => s.reports.fleet(admin)],
    ["audit list (latest 50)", () => s.audit.list(admin)],
    ["audit list, one actor", () => s.audit.list(admin, { actor: "sup1" })],
    ["audit list, one target", () => s.audit.list(admin, { target: `${clip.device}/${clip.recording}` })],
    ["audit list, a day", () => s.audit.list(admin, { since: iso(midDay), until: iso(midDay + DAY), limit: 1000 })],
    ["account's custody entries", () => s.audit.custodyOfAccount(admin, "sup1")],
    ["alarms, open", () => s.alarms.list(admin)],
    ["alarms, all", () => s.alarms.list(admin, {})],
    ["devices", () => s.devices.list(admin)],
    ["cases", () => s.model.listCases(admin)],
    ["officers", () => s.model.listOfficers(admin)],
    ["case suggestions", () => s.model.caseSuggestions(admin)],
  ];
}
