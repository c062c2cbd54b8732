// What the export tests share: a gateway with units, officers, accounts, devices that recorded,
// a case linking their clips, a release approver; an export written to a file as the station
// would; and rewriting a bundle's entries, as someone tampering with it would.
import { createWriteStream } from "node:fs";
import { randomBytes } from "node:crypto";
import yauzl from "yauzl";
import yazl from "yazl";
import { testGateway, provision, streamSealed } from "../gateway/harness.js";
import type { Gateway } from "../../gateway/gateway.js";
import { prepareExport, writeBundle } from "../../gateway/evidence/export.js";
import type { ExportDeps, ExportRequest } from "../../gateway/evidence/export.js";
import type { Actor, Approvals } from "../../gateway/services/approvals.js";
import type { Bundle } from "../../protocol/bundle.js";
import type { FakeDevice } from "../gateway/fake-device.js";

export interface Station {
  gw: Gateway;
  dir: string;
  close: () => Promise<void>;
  reviewer: Actor;
  approver: Actor;
  admin: Actor;
  devices: FakeDevice[];
  /** Device start times of each recording, by DEV/N. */
  starts: Map<string, number>;
}

/**
 * Two officers of one unit each wearing a recorder: BWC-E1 records twice, BWC-E2 once, all linked
 * to case C-2025-001; a legal reviewer of the unit who exports, and a supervisor designated to
 * approve releases.
 */
export async function station(over: Record<string, unknown> = {}, onStart?: (gw: Gateway) => void): Promise<Station> {
  const { gw, dir, close } = await testGateway({ logIntervalMs: 0, scrubMibPerS: 0, ...over });
  onStart?.(gw);
  const unit = await gw.model.addUnit("Road Transport Agency", "agency");
  const t = Date.now() - 3600e3;
  const today = new Date().toISOString().slice(0, 10);
  for (const [badge, name, role] of [["T001", "Li Wei", "enforcement"], ["T002", "王芳", "enforcement"], ["R001", "Zhao Min", "legal_reviewer"], ["S001", "Chen Jie", "supervisor"]] as const) {
    await gw.model.addOfficer({ badge, name, unitId: unit.id, role, certNo: "ZF-" + badge, certValidFrom: "2020-01-01", certValidTo: "2099-12-31" });
  }
  void today;
  await gw.accounts.create("reviewer", "legal_reviewer", "R001");
  await gw.accounts.create("approver", "supervisor", "S001");
  const admin: Actor = { name: "admin", role: "admin", officer_badge: null };
  await gw.approvals.addReleaseApprover(admin, "approver", "designated by the station chief");
  await gw.model.addCase({ number: "C-2025-001", unitId: unit.id, category: "compulsion", activityKind: "seizure", windowStart: t - 60e3, windowEnd: t + 3600e3 });
  const devices: FakeDevice[] = [];
  const starts = new Map<string, number>();
  const plan: [string, string, number[][]][] = [["BWC-E1", "T001", [[4000, 4000, 4000, 4000, 4000, 2000], [3000, 3000]]], ["BWC-E2", "T002", [[5000, 5000, 5000]]]];
  for (const [id, badge, recs] of plan) {
    const d = await provision(gw, id);
    await gw.model.setDeviceUnit(id, unit.id);
    await gw.model.checkOut(id, { badge }, t - 30e3);
    let prev: Uint8Array | undefined;
    for (let r = 1; r <= recs.length; r++) {
      const startMs = t + r * 600e3;
      const rec = d.recording(r, recs[r - 1].map((n) => randomBytes(n)), { prevSeal: prev, startMs, caseTag: "" });
      await streamSealed(d, rec);
      starts.set(`${id}/${r}`, startMs);
      prev = rec.sealValue;
      await gw.model.link(id, r, "C-2025-001", "admin", "recorded at the seizure");
    }
    devices.push(d);
  }
  await gw.evidence.sync();
  return { gw, dir, close: async () => { for (const d of devices) d.client.end(true); await close(); }, reviewer: { name: "reviewer", role: "legal_reviewer", officer_badge: "R001" }, approver: { name: "approver", role: "supervisor", officer_badge: "S001" }, admin, devices, starts };
}

export function exportDeps(s: Station, approvals: Approvals = s.gw.approvals): ExportDeps {
  const gw = s.gw;
  return { db: gw.db, audit: gw.audit, model: gw.model, registry: gw.registry, identity: gw.evidence.identity, approvals, tlog: gw.evidence.tlog, dataDir: s.dir, media: gw.media, sync: () => gw.evidence.sync() };
}

/** Ask for an export grant as the reviewer and have the approver grant it. */
export async function grant(s: Station, what: { items?: { device: string; recording: number }[]; caseNumber?: string }, hours = 24): Promise<number> {
  const a = await s.gw.approvals.request(s.reviewer, { kind: "export", ...what, reason: "the court asked for the evidence", hours });
  await s.gw.approvals.approve(s.approver, a.id, "release to the court approved");
  return a.id;
}

/** Export as the reviewer into `file`. */
export async function exportTo(s: Station, file: string, req: Omit<ExportRequest, "reason"> & { reason?: string }, approvals?: Approvals): Promise<Bundle> {
  const p = await prepareExport(exportDeps(s, approvals), s.reviewer, { reason: "requested by the court in case C-2025-001", ...req });
  return writeBundle(p, createWriteStream(file));
}

/** Every entry of a ZIP, in order. */
export function readZip(file: string): Promise<{ name: string; data: Buffer }[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      const out: { name: string; data: Buffer }[] = [];
      zip.on("entry", (e: yauzl.Entry) => zip.openReadStream(e, (e2, s) => {
        if (e2 || !s) return reject(e2);
        const parts: Buffer[] = [];
        s.on("data", (c: Buffer) => parts.push(c));
        s.on("end", () => { out.push({ name: e.fileName, data: Buffer.concat(parts) }); zip.readEntry(); });
      }));
      zip.on("end", () => resolve(out));
      zip.readEntry();
    });
  });
}

/** Write a ZIP of these entries (what a tamperer would do after changing some). */
export function writeZip(file: string, entries: { name: string; data: Buffer; compress?: boolean }[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const z = new yazl.ZipFile();
    for (const e of entries) z.addBuffer(e.data, e.name, { compress: e.compress ?? false });
    z.end();
    const out = createWriteStream(file);
    z.outputStream.pipe(out).on("finish", () => resolve()).on("error", reject);
  });
}
