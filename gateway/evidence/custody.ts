// A recording's custody events from where the station keeps them: links and unlinks (the custody
// trail), accesses, denials, exports, holds and purges (the audit log), approvals naming it. The
// export carries them with their log proofs; the CLI prints them per recording or per account.
import type { Db } from "../store/db.js";
import type { Model } from "../model/model.js";
import type { Approvals, Item } from "../services/approvals.js";
import * as xs from "../store/export.js";
import { CUSTODY_AUDIT_ACTIONS, custodyLeafRef } from "./sources.js";
import { leafByRef } from "../store/tlog.js";
import { purgeStateOf } from "../store/retention.js";
import { getAccount } from "../store/accounts.js";
import { GatewayError } from "../errors.js";
import { custodyRows } from "./custody-report.js";
import { isoLocal } from "../../protocol/time.js";
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

/** The log ref of an event's custody leaf; null for an approval (a station record only). */
export function custodyEventRef(e: BundleCustodyEvent): string | null {
  return e.kind === "link" ? custodyLeafRef("link", String(e.event.id)) : e.kind === "audit" ? custodyLeafRef("audit", String(e.event.seq)) : null;
}

/**
 * One recording's custody as the CLI and the API print it: where each event is proven (its log
 * leaf, as in a bundle's report; not yet in the log; or a station record, for approvals), and an
 * export that was not written whole said so beside its entry.
 */
export async function custodyOfRecording(db: Db, model: Model, approvals: Approvals, i: Item): Promise<CustodyRow[]> {
  // A recording the station never held has no custody: a typo is said, not shown as an empty trail.
  if ((await purgeStateOf(db, i.device, i.recording)) === undefined) throw new GatewayError("UNKNOWN_RECORDING", `no recording ${i.device}/${i.recording} at this station (recording list ${i.device} shows its recordings)`);
  const events = await custodyEvents(db, model, approvals, i);
  const rows = custodyRows(events, model.opts.timeZone);
  for (let k = 0; k < events.length; k++) {
    const e = events[k];
    const ref = custodyEventRef(e);
    if (ref) {
      const l = await leafByRef(db, ref);
      rows[k].proof = l ? `log leaf ${l.idx}` : "station record, not yet in the log";
    }
    const id = e.action === "recording.export" ? exportIdOf(e.event.details) : null;
    if (id) {
      const x = await xs.exportById(db, id);
      if (x && x.state !== "done") rows[k].detail += x.state === "failed" ? " (this export failed: its bundle was not written whole)" : " (this export is being written)";
    }
  }
  return rows;
}

/** The export id an export's audit details name. */
function exportIdOf(details: unknown): string | null {
  try {
    const d = typeof details === "string" ? (JSON.parse(details) as { export?: unknown }) : null;
    return d && typeof d.export === "string" ? d.export : null;
  } catch {
    return null;
  }
}

/** What one account did to records: accesses, exports, denials, links, approvals; oldest first. */
export async function custodyOfAccount(db: Db, account: string, tz: string): Promise<(CustodyRow & { item: string })[]> {
  const rows = await xs.auditEntriesBy(db, account, [...CUSTODY_AUDIT_ACTIONS, "clip.link", "clip.unlink", "approval.request", "approval.approve", "approval.deny"]);
  if (!rows.length && !(await getAccount(db, account))) throw new GatewayError("UNKNOWN_ACCOUNT", `no account ${account} at this station (account list shows them)`);
  const out = rows.map((a) => ({ item: a.target ?? "", at: isoLocal(a.at, tz), atMs: a.at, account: a.actor, action: a.action, reason: a.reason ?? "", detail: a.details ?? "", proof: `audit ${a.seq}` }));
  return out;
}
