// A recording's custody events from where the station keeps them: links and unlinks (the custody
// trail), accesses, denials, exports, holds and purges (the audit log), approvals naming it. The
// export carries them with their log proofs; the CLI prints them per recording or per account.
import type { Db } from "../store/db.js";
import type { Model } from "../model/model.js";
import type { Approvals, Item } from "../services/approvals.js";
import * as xs from "../store/export.js";
import { CUSTODY_AUDIT_ACTIONS } from "./sources.js";
import { custodyRows } from "./custody-report.js";
import type { CustodyRow } from "./custody-report.js";
import type { BundleCustodyEvent } from "../../protocol/bundle.js";

/** Every custody event of one recording, oldest first; `leaf` is left null (the export fills it). */
export async function custodyEvents(db: Db, model: Model, approvals: Approvals, i: Item): Promise<BundleCustodyEvent[]> {
  const out: BundleCustodyEvent[] = [];
  for (const e of await model.custodyEvents(i.device, i.recording)) {
    const event = { id: e.id, at: e.at, actor: e.actor, action: e.action, device: e.deviceId, recording: e.recordingId, case: e.caseNumber, reason: e.reason };
    out.push({ kind: "link", at: e.at, actor: e.actor, action: e.action, reason: e.reason, event, leaf: null });
  }
  for (const a of await xs.auditEntriesFor(db, `${i.device}/${i.recording}`, CUSTODY_AUDIT_ACTIONS)) {
    out.push({ kind: "audit", at: a.at, actor: a.actor, action: a.action, reason: a.reason ?? "", event: { ...a }, leaf: null });
  }
  for (const a of await approvals.about(i.device, i.recording)) {
    out.push({ kind: "approval", at: a.decidedAt ?? a.requestedAt, actor: a.decidedBy ?? a.requester, action: `approval.${a.state === "pending" ? "request" : a.state === "approved" ? "approve" : "deny"}`, reason: a.decisionReason ?? a.reason,
      event: { id: a.id, kind: a.kind, requester: a.requester, requestReason: a.reason, requestedAt: a.requestedAt, state: a.state, decidedBy: a.decidedBy, decidedAt: a.decidedAt, validUntil: a.validUntil }, leaf: null });
  }
  return out.sort((a, b) => a.at - b.at || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
}

export async function custodyOfRecording(db: Db, model: Model, approvals: Approvals, i: Item): Promise<CustodyRow[]> {
  return custodyRows(await custodyEvents(db, model, approvals, i));
}

/** What one account did to records: accesses, exports, denials, links, approvals; oldest first. */
export async function custodyOfAccount(db: Db, account: string): Promise<(CustodyRow & { item: string })[]> {
  const rows = await xs.auditEntriesBy(db, account, [...CUSTODY_AUDIT_ACTIONS, "clip.link", "clip.unlink", "approval.request", "approval.approve", "approval.deny"]);
  const out = rows.map((a) => ({ item: a.target ?? "", at: new Date(a.at).toISOString(), atMs: a.at, account: a.actor, action: a.action, reason: a.reason ?? "", detail: a.details ?? "", proof: `audit ${a.seq}` }));
  return out;
}
