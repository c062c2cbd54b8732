// Approvals (decide with a reason; one's own requests), alarms (clear with a reason) and the audit
// log (filters by account, target, action and period; verification of its chain and checkpoints).
import type { VNode } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, onLive, q } from "../api.js";
import type { Session } from "../api.js";
import { html, ErrorNote, Loading, Notice, Prompt, useLoad } from "../ui.js";
import { getLang, t, tk, when } from "../i18n.js";
import { alarmText } from "../../protocol/alarm-details.js";
import type { Alarm, Approval } from "../../protocol/gateway-api.js";

/** A request's state as its requester lives it: an approval whose time has run out is expired, no longer a grant. */
export const approvalState = (a: Approval, now = Date.now()): string => a.state === "approved" && a.validUntil !== null && a.validUntil <= now ? "expired" : a.state;

const itemsOf = (a: Approval) => a.caseNumber ? `${t("caseNo")} ${a.caseNumber}` : a.items.map((i) => `${i.device}/${i.recording}`).join(", ");

function ApprovalTable({ rows, id, act }: { rows: Approval[]; id: string; act?: (a: Approval, verb: "approve" | "deny") => void }): VNode {
  if (!rows.length) return html`<p class="muted">${t("none")}</p>`;
  return html`<div class="scroll" tabIndex="0"><table class="grid" id=${id}>
    <thead><tr><th scope="col">#</th><th scope="col">${t("requestKind")}</th><th scope="col">${t("requester")}</th><th scope="col">${t("items")}</th><th scope="col">${t("reason")}</th>
      <th scope="col">${t("requestedAt")}</th><th scope="col">${t("state")}</th>${act ? html`<th scope="col"><span class="sr-only">${t("approve")}</span></th>` : html`<th scope="col">${t("decidedBy")}</th>`}</tr></thead>
    <tbody>${rows.map((a) => html`<tr key=${a.id} data-approval=${a.id}>
      <th scope="row">${a.id}</th><td>${tk("k_", a.kind)}</td><td>${a.requester}</td><td class="wrap">${itemsOf(a)}</td><td class="wrap">${a.reason}</td><td>${when(a.requestedAt)}</td>
      <td><span class=${"badge a-" + approvalState(a)}>${tk("a_", approvalState(a))}</span>${a.validUntil ? html`<br /><small>${t("validUntil")} ${when(a.validUntil)}</small>` : null}</td>
      ${act ? html`<td class="nowrap"><button class="primary" onClick=${() => act(a, "approve")}>${t("approve")}</button> <button class="danger" onClick=${() => act(a, "deny")}>${t("deny")}</button></td>`
        : html`<td>${a.decidedBy ?? "—"}${a.decisionReason ? html`<br /><small>${a.decisionReason}</small>` : null}</td>`}
    </tr>`)}</tbody>
  </table></div>`;
}

/** An alarm's words in the page's language (its key and values), or as stored when it has none (an older alarm). */
const detailOf = (a: Alarm): string => (a.said ? alarmText(a.said, getLang() === "en" ? "en" : "zh", (ms) => when(ms, true)) : a.detail);

export function Approvals({ session }: { session: Session }): VNode {
  const all = useLoad(() => api<Approval[]>("GET", "/api/approvals"));
  const [doing, setDoing] = useState<{ a: Approval; verb: "approve" | "deny" } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const rows = all.data ?? [];
  const waiting = rows.filter((a) => a.state === "pending" && a.requester !== session.name);
  const mine = rows.filter((a) => a.requester === session.name);
  const decided = rows.filter((a) => a.state !== "pending" && a.requester !== session.name);
  const approver = session.role !== "officer";
  return html`<section aria-labelledby="h-approvals">
    <h1 id="h-approvals">${t("approvals")}</h1>
    <${ErrorNote} error=${all.error} /><${Loading} loading=${all.loading && !all.data} /><${Notice} text=${notice} />
    ${doing ? html`<${Prompt} title=${t(doing.verb === "approve" ? "approveTitle" : "denyTitle", doing.a.id)} help=${itemsOf(doing.a)} submit=${t(doing.verb)} danger=${doing.verb === "deny"}
      onSubmit=${async (v: Record<string, string>) => { await api("POST", `/api/approvals/${doing.a.id}/${doing.verb}`, { reason: v.reason }); setNotice(`#${doing.a.id}: ${t(doing.verb === "approve" ? "a_approved" : "a_denied")}`); all.reload(); }}
      onClose=${() => setDoing(null)} />` : null}
    ${approver ? html`<h2>${t("pending")}</h2><${ApprovalTable} rows=${waiting} id="approvals-pending" act=${(a: Approval, verb: "approve" | "deny") => setDoing({ a, verb })} />` : null}
    <h2>${t("mine")}</h2><${ApprovalTable} rows=${mine} id="approvals-mine" />
    ${approver ? html`<h2>${t("decided")}</h2><${ApprovalTable} rows=${decided} id="approvals-decided" />` : null}
  </section>`;
}

/** The device an alarm's subject names (DEV, or DEV/N for one of its recordings), as the fleet counts them. */
export const alarmDeviceOf = (a: Alarm): string => a.subject.split("/")[0];

/** Open alarms; `device` in the address (#/alarms?device=BWC-0001, the fleet's alarm count links so) shows that device's only. */
export function Alarms({ filters }: { filters: string }): VNode {
  const device = new URLSearchParams(filters).get("device") ?? "";
  const list = useLoad(() => api<Alarm[]>("GET", "/api/alarms"));
  const [clearing, setClearing] = useState<Alarm | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(() => onLive((ev) => { if (ev.type === "alarm") list.reload(); }), []);
  const shown = (list.data ?? []).filter((a) => !device || alarmDeviceOf(a) === device);
  return html`<section aria-labelledby="h-alarms">
    <h1 id="h-alarms">${t("alarms")}</h1>
    <${ErrorNote} error=${list.error} /><${Loading} loading=${list.loading && !list.data} /><${Notice} text=${notice} />
    ${clearing ? html`<${Prompt} title=${t("clearTitle", clearing.kind, clearing.subject)} help=${detailOf(clearing)} submit=${t("clear")}
      onSubmit=${async (v: Record<string, string>) => { await api("POST", "/api/alarms/clear", { kind: clearing.kind, subject: clearing.subject, reason: v.reason }); setNotice(t("cleared")); list.reload(); }}
      onClose=${() => setClearing(null)} />` : null}
    ${device ? html`<p class="muted" id="alarms-device">${t("alarmsOf", device)} · <a href="#/alarms">${t("allAlarms")}</a></p>` : null}
    ${list.data ? shown.length === 0 ? html`<p class="muted">${t("noAlarms")}</p>` : html`<div class="scroll" tabIndex="0"><table class="grid" id="alarms-table">
      <thead><tr><th scope="col">${t("kindCol")}</th><th scope="col">${t("subject")}</th><th scope="col">${t("detail")}</th><th scope="col" class="num">${t("count")}</th><th scope="col">${t("since")}</th><th scope="col">${t("last")}</th><th scope="col"><span class="sr-only">${t("clear")}</span></th></tr></thead>
      <tbody>${shown.map((a) => html`<tr key=${a.id} data-alarm=${a.kind + ":" + a.subject}>
        <th scope="row"><code>${a.kind}</code></th><td>${a.subject}</td><td class="wrap">${detailOf(a)}</td><td class="num">${a.count}</td><td>${when(a.first_at)}</td><td>${when(a.last_at)}</td>
        <td><button onClick=${() => setClearing(a)} aria-label=${`${t("clear")} ${a.kind} ${a.subject}`}>${t("clear")}</button></td></tr>`)}</tbody>
    </table></div>` : null}
  </section>`;
}

interface Entry { seq: number; at: number; actor: string; action: string; target: string | null; reason: string | null; details: unknown; hash: string }

export function Audit(): VNode {
  const [f, setF] = useState({ actor: "", action: "", target: "", since: "", until: "" });
  const [limit, setLimit] = useState(100);
  const list = useLoad(() => api<Entry[]>("GET", `/api/audit${q({ ...f, limit })}`), [f, limit]);
  const [check, setCheck] = useState<{ ok: boolean; count: number; head: string; problems: { code: string; detail: string; seq?: number }[] } | null>(null);
  const [checkErr, setCheckErr] = useState<Error | null>(null);
  const submit = (e: Event) => {
    e.preventDefault();
    const el = (e.target as HTMLFormElement).elements;
    const v = (n: string) => (el.namedItem(n) as HTMLInputElement).value.trim();
    setF({ actor: v("actor"), action: v("action"), target: v("target"), since: v("since"), until: v("until") });
  };
  return html`<section aria-labelledby="h-audit">
    <h1 id="h-audit">${t("audit")}</h1>
    <div class="actions left">
      <button class="primary" id="verify-log" onClick=${() => api("GET", "/api/audit/verify").then((r) => { setCheck(r); setCheckErr(null); }, setCheckErr)}>${t("verifyLog")}</button>
    </div>
    <${ErrorNote} error=${checkErr} />
    ${check ? html`<p class=${check.ok ? "ok" : "error"} role="status" id="verify-result">${check.ok ? t("logOk", check.count, check.head.slice(0, 16)) : t("logBad", check.problems.map((p) => `${p.code}${p.seq ? " #" + p.seq : ""}: ${p.detail}`).join("; "))}</p>` : null}
    <form class="filters" key=${JSON.stringify(f)} onSubmit=${submit}>
      <label>${t("actor")} <input name="actor" defaultValue=${f.actor} size="12" /></label>
      <label>${t("action")} <input name="action" defaultValue=${f.action} size="14" placeholder="recording.view" /></label>
      <label>${t("target")} <input name="target" defaultValue=${f.target} size="14" /></label>
      <label>${t("from")} <input name="since" type="date" defaultValue=${f.since} /></label>
      <label>${t("to")} <input name="until" type="date" defaultValue=${f.until} /></label>
      <button type="submit">${t("filter")}</button>
      <small class="muted">${t("periodHelp")}</small>
    </form>
    <${ErrorNote} error=${list.error} /><${Loading} loading=${list.loading && !list.data} />
    ${list.data ? html`<div class="scroll" tabIndex="0"><table class="grid" id="audit-table">
      <thead><tr><th scope="col" class="num">#</th><th scope="col">${t("at")}</th><th scope="col">${t("actor")}</th><th scope="col">${t("action")}</th><th scope="col">${t("target")}</th><th scope="col">${t("reason")}</th><th scope="col">${t("details")}</th></tr></thead>
      <tbody>${list.data.map((e) => html`<tr key=${e.seq}><th scope="row" class="num">${e.seq}</th><td class="nowrap">${when(e.at, true)}</td><td>${e.actor}</td><td><code>${e.action}</code></td><td>${e.target ?? "—"}</td><td class="wrap">${e.reason ?? "—"}</td>
        <td class="wrap"><small>${e.details ? JSON.stringify(e.details).slice(0, 160) : "—"}</small></td></tr>`)}</tbody>
    </table></div>
    ${list.data.length >= limit ? html`<p><button onClick=${() => setLimit(limit + 200)}>${t("loadMore")}</button></p>` : null}` : null}
  </section>`;
}
