// Devices (register, check out and return, revoke, each with what it needs), officers and units
// (the unit tree, certificates with those expiring soon marked, legal reviewers), cases (policy,
// a coverage bar with the gaps of FULL cases, linked clips).
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { api, apiAll, mayLink } from "../api.js";
import type { Session } from "../api.js";
import { html, ErrorNote, Loading, Notice, Prompt, saveFile, useLoad } from "../ui.js";
import { duration, localDate, t, tk, when } from "../i18n.js";
import type { DeviceRow } from "./fleet.js";
import type { Unit } from "../../protocol/gateway-api.js";

interface Officer { badge: string; name: string; unitId: number; role: string; certNo: string | null; certValidFrom: string | null; certValidTo: string | null; active: boolean }
interface Case { number: string; unitId: number; category: string; activityKind: string; policy: string; windowStart: number; windowEnd: number; confidentiality: number; room: string | null }
interface Coverage { caseNumber: string; policy: string; windowStart: number; windowEnd: number; verifiedClips: number; satisfied: boolean; percent: number | null; gaps: [number, number][] }

type DeviceAction = { kind: "assign" | "return" | "revoke"; id: string } | { kind: "register" };

export function Devices({ session }: { session: Session }): VNode {
  const list = useLoad(() => api<DeviceRow[]>("GET", "/api/devices"));
  const units = useLoad(() => api<Unit[]>("GET", "/api/units").catch(() => [] as Unit[]));
  const officers = useLoad(() => api<Officer[]>("GET", "/api/officers").catch(() => [] as Officer[]));
  const [doing, setDoing] = useState<DeviceAction | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const admin = session.role === "admin";
  const unitName = new Map((units.data ?? []).map((u) => [u.id, u.name]));
  const prompt = (): VNode | null => {
    if (!doing) return null;
    const close = () => setDoing(null);
    if (doing.kind === "register") return html`<${Prompt} title=${t("register")} noReason=${true} submit=${t("register")} fields=${[
      { name: "id", label: t("deviceId"), pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,15}" },
      { name: "kind", label: t("kind"), type: "select", options: [["body", t("kind_body")], ["fixed", t("kind_fixed")]] },
      { name: "unit", label: t("unit"), type: "select", required: false, options: [["", t("noUnit")], ...(units.data ?? []).map((u) => [String(u.id), u.name] as [string, string])] }]}
      onSubmit=${async (v: Record<string, string>) => {
        // The root secret is drawn here, sent once, and handed on as a file for the provisioning tool.
        const root = [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");
        await api("POST", "/api/devices", { id: v.id, root, kind: v.kind, ...(v.unit ? { unit: Number(v.unit) } : {}) });
        saveFile(root + "\n", `${v.id}.root`, "text/plain");
        setNotice(t("registered", v.id));
        list.reload();
      }} onClose=${close} />`;
    if (doing.kind === "assign") return html`<${Prompt} title=${t("assignTitle", doing.id)} noReason=${true} submit=${t("assign")} fields=${[
      { name: "badge", label: t("officer"), type: "select", options: (officers.data ?? []).filter((o) => o.active).map((o) => [o.badge, `${o.name} (${o.badge})`] as [string, string]) }]}
      onSubmit=${async (v: Record<string, string>) => { await api("POST", "/api/assignments", { device: doing.id, badge: v.badge }); setNotice(t("assigned", doing.id, v.badge)); list.reload(); }} onClose=${close} />`;
    if (doing.kind === "return") return html`<${Prompt} title=${`${t("returnDevice")} ${doing.id}`} noReason=${true} submit=${t("returnDevice")}
      onSubmit=${async () => { await api("POST", `/api/assignments/${encodeURIComponent(doing.id)}/return`, {}); setNotice(t("returned", doing.id)); list.reload(); }} onClose=${close} />`;
    return html`<${Prompt} title=${t("revokeTitle", doing.id)} submit=${t("revoke")} danger=${true}
      onSubmit=${async (v: Record<string, string>) => { await api("POST", `/api/devices/${encodeURIComponent(doing.id)}/state`, { state: "revoked", reason: v.reason }); setNotice(t("revoked", doing.id)); list.reload(); }} onClose=${close} />`;
  };
  return html`<section aria-labelledby="h-devices">
    <h1 id="h-devices">${t("devices")}</h1>
    <${ErrorNote} error=${list.error} /><${Loading} loading=${list.loading && !list.data} /><${Notice} text=${notice} />
    ${prompt()}
    ${admin ? html`<div class="actions left"><button class="primary" onClick=${() => setDoing({ kind: "register" })}>${t("register")}</button></div>` : null}
    ${list.data && list.data.length === 0 ? html`<p class="muted" id="devices-none">${t("noDevices")}</p>` : null}
    ${list.data && list.data.length ? html`<div class="scroll" tabIndex="0"><table class="grid" id="devices-table">
      <thead><tr><th scope="col">${t("device")}</th><th scope="col">${t("kind")}</th><th scope="col">${t("state")}</th><th scope="col">${t("unit")}</th><th scope="col">${t("lastSeen")}</th>${admin ? html`<th scope="col"><span class="sr-only">${t("assign")}</span></th>` : null}</tr></thead>
      <tbody>${list.data.map((d) => html`<tr key=${d.id} data-device=${d.id}>
        <th scope="row"><code>${d.id}</code></th><td>${tk("kind_", d.kind)}</td><td>${tk("st_", d.state)}</td><td>${d.unit === null ? t("noUnit") : unitName.get(d.unit) ?? d.unit}</td><td>${when(d.lastSeen)}</td>
        ${admin ? html`<td class="nowrap">
          <button onClick=${() => setDoing({ kind: "assign", id: d.id })} aria-label=${`${t("assign")} ${d.id}`}>${t("assign")}</button>
          <button onClick=${() => setDoing({ kind: "return", id: d.id })} aria-label=${`${t("returnDevice")} ${d.id}`}>${t("returnDevice")}</button>
          ${d.state !== "revoked" ? html`<button class="danger" onClick=${() => setDoing({ kind: "revoke", id: d.id })} aria-label=${`${t("revoke")} ${d.id}`}>${t("revoke")}</button>` : null}
        </td>` : null}</tr>`)}</tbody>
    </table></div>` : null}
  </section>`;
}

function certState(o: Officer, today: string, soon: string): "expired" | "soon" | "ok" {
  if (!o.certValidTo) return "ok";
  if (o.certValidTo < today) return "expired";
  return o.certValidTo <= soon ? "soon" : "ok";
}

export function People(): VNode {
  const units = useLoad(() => api<Unit[]>("GET", "/api/units"));
  const officers = useLoad(() => api<Officer[]>("GET", "/api/officers"));
  const now = Date.now();
  const today = localDate(now), soon = localDate(now + 30 * 86400e3);
  const us = units.data ?? [];
  const depth = (u: Unit): number => { let d = 0, p = u.parentId; while (p !== null && d < 10) { d++; p = us.find((x) => x.id === p)?.parentId ?? null; } return d; };
  // Tree order: each parent before its children.
  const ordered: Unit[] = [];
  const walk = (parent: number | null) => { for (const u of us.filter((x) => x.parentId === parent)) { ordered.push(u); walk(u.id); } };
  walk(null);
  const unitName = new Map(us.map((u) => [u.id, u.name]));
  const table = (rows: Officer[], id: string) => rows.length ? html`<div class="scroll" tabIndex="0"><table class="grid" id=${id}>
    <thead><tr><th scope="col">${t("badge")}</th><th scope="col">${t("name")}</th><th scope="col">${t("unit")}</th><th scope="col">${t("role")}</th><th scope="col">${t("certificate")}</th><th scope="col">${t("validTo")}</th><th scope="col">${t("active")}</th></tr></thead>
    <tbody>${rows.map((o) => { const c = certState(o, today, soon); return html`<tr key=${o.badge} class=${c === "ok" ? "" : "row-" + c}>
      <th scope="row">${o.badge}</th><td>${o.name}</td><td>${unitName.get(o.unitId) ?? o.unitId}</td><td>${tk("role_", o.role)}</td><td>${o.certNo ?? "—"}</td>
      <td>${o.certValidTo ?? "—"}${c !== "ok" ? html` <span class=${"badge " + (c === "expired" ? "bad" : "warn")}>${t(c === "expired" ? "expired" : "expiringSoon")}</span>` : null}</td><td>${o.active ? t("yes") : t("no")}</td></tr>`; })}</tbody>
  </table></div>` : html`<p class="muted">${t("none")}</p>`;
  return html`<section aria-labelledby="h-people">
    <h1 id="h-people">${t("people")}</h1>
    <${ErrorNote} error=${units.error ?? officers.error} /><${Loading} loading=${units.loading || officers.loading} />
    <h2>${t("unitTree")}</h2>
    <ul class="tree" id="unit-tree">${ordered.map((u) => html`<li style=${{ paddingInlineStart: `${depth(u) * 1.5}rem` }}>${u.name} <small class="muted">${tk("level_", u.level)}${u.fleetRatio ? ` · 1:${u.fleetRatio}` : ""}</small></li>`)}</ul>
    <h2>${t("officers")}</h2>
    ${table((officers.data ?? []).filter((o) => o.role !== "legal_reviewer"), "officers-table")}
    <h2>${t("reviewers")}</h2>
    ${table((officers.data ?? []).filter((o) => o.role === "legal_reviewer"), "reviewers-table")}
  </section>`;
}

function CoverageBar({ c }: { c: Coverage }): VNode {
  const span = Math.max(1, c.windowEnd - c.windowStart);
  const label = `${t("coverage")} ${c.percent === null ? "—" : c.percent.toFixed(1) + "%"}; ${t("gaps")}: ${c.gaps.length ? c.gaps.map(([a, b]) => `${when(a, true)}–${when(b, true)}`).join(", ") : t("none")}`;
  return html`<div class="coverage" role="img" aria-label=${label} title=${label}>
    ${c.gaps.map(([a, b]) => html`<span class="gap" style=${{ left: `${((a - c.windowStart) / span) * 100}%`, width: `${Math.max(0.5, ((b - a) / span) * 100)}%` }}></span>`)}
  </div>`;
}

interface CaseClip { device: string; recording: number; startMs: number | null; endMs: number | null; officer: string | null; tagMatch: boolean; overlapMs: number }

export function Cases({ session }: { session: Session }): VNode {
  const cases = useLoad(() => api<Case[]>("GET", "/api/cases"));
  const cov = useLoad(() => api<{ cases: Coverage[] }>("GET", "/api/reports/coverage").catch(() => ({ cases: [] as Coverage[] })));
  const clips = useLoad(() => apiAll<{ device: string; recording: number; cases: string[] }>("/api/recordings").catch(() => []));
  // Suggestions come from the gateway, for the cases and clips of the caller's scope (admin, supervisor).
  const links = mayLink(session);
  const sugg = useLoad(() => links ? api<{ case: string; clips: CaseClip[] }[]>("GET", "/api/cases/suggestions") : Promise.resolve([]));
  const [linking, setLinking] = useState<{ kase: string; clip: CaseClip } | null>(null);
  // A case's recordings asked for a release outside (an export grant, decided by a release approver).
  const [exporting, setExporting] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const covOf = new Map((cov.data?.cases ?? []).map((c) => [c.caseNumber, c]));
  const suggOf = new Map((sugg.data ?? []).map((x) => [x.case, x.clips]));
  const clipName = (c: { device: string; recording: number }) => `${c.device}/${c.recording}`;
  return html`<section aria-labelledby="h-cases">
    <h1 id="h-cases">${t("cases")}</h1>
    <${ErrorNote} error=${cases.error ?? sugg.error} /><${Loading} loading=${cases.loading && !cases.data} /><${Notice} text=${notice} />
    ${linking ? html`<${Prompt} title=${t("linkClipTitle", clipName(linking.clip), linking.kase)} help=${t("linkClipHelp")} submit=${t("link")} onSubmit=${async (v: Record<string, string>) => {
      await api("POST", "/api/links", { device: linking.clip.device, recording: linking.clip.recording, case: linking.kase, reason: v.reason });
      setNotice(`${t("linked")}: ${clipName(linking.clip)} → ${linking.kase}`);
      clips.reload(); cov.reload(); sugg.reload();
    }} onClose=${() => setLinking(null)} />` : null}
    ${exporting ? html`<${Prompt} title=${t("exportCaseTitle", exporting)} help=${t("exportCaseHelp")} submit=${t("exportClip")} onSubmit=${async (v: Record<string, string>) => {
      const r = await api<{ id: number }>("POST", "/api/approvals", { kind: "export", case: exporting, reason: v.reason });
      setNotice(t("requested", r.id));
    }} onClose=${() => setExporting(null)} />` : null}
    ${cases.data ? cases.data.length === 0 ? html`<p class="muted">${t("none")}</p>` : html`<div class="scroll" tabIndex="0"><table class="grid" id="cases-table">
      <thead><tr><th scope="col">${t("caseNo")}</th><th scope="col">${t("activity")}</th><th scope="col">${t("policy")}</th><th scope="col">${t("confidentiality")}</th><th scope="col">${t("window")}</th><th scope="col" class="wide">${t("coverage")}</th><th scope="col">${t("linkedClips")}</th>${links ? html`<th scope="col">${t("suggestedClips")}</th>` : null}</tr></thead>
      <tbody>${cases.data.map((c) => { const k = covOf.get(c.number); const linked = (clips.data ?? []).filter((r) => r.cases.includes(c.number)); const sug = suggOf.get(c.number) ?? []; return html`<tr key=${c.number} data-case=${c.number}>
        <th scope="row">${c.number}</th><td>${tk("act_", c.activityKind)}<br /><small class="muted">${tk("cat_", c.category)}</small></td><td>${tk("pol_", c.policy)}</td><td>${tk("conf", c.confidentiality)}</td>
        <td class="nowrap">${when(c.windowStart)}<br />${when(c.windowEnd)} <small class="muted">(${duration(c.windowEnd - c.windowStart)})</small></td>
        <td>${k ? html`<span class=${"badge " + (k.satisfied ? "good" : "bad")}>${k.satisfied ? t("satisfied") : t("notSatisfied")}</span> ${k.percent !== null ? `${k.percent.toFixed(1)}%` : `${k.verifiedClips} ${t("verifiedClips")}`}
          ${c.policy === "FULL" ? html`<${CoverageBar} c=${k} />` : null}` : "—"}</td>
        <td class="clips">${linked.length ? html`${linked.map((r) => html`<a href=${`#/clip/${encodeURIComponent(r.device)}/${r.recording}`}>${clipName(r)}</a> `)}
          <br /><button class="link" onClick=${() => setExporting(c.number)} aria-label=${`${t("exportClip")}: ${t("caseNo")} ${c.number}`}>${t("exportClip")}</button>` : "—"}</td>
        ${links ? html`<td class="clips">${sug.length ? html`<ul class="suggest">${sug.map((x) => html`<li data-suggest=${clipName(x)}>
          <a href=${`#/clip/${encodeURIComponent(x.device)}/${x.recording}`}>${clipName(x)}</a> <small class="muted">${x.officer ?? "—"} · ${t("overlap")} ${duration(x.overlapMs)}${x.tagMatch ? " · " + t("tagMatches") : ""}</small>
          <button class="link" onClick=${() => setLinking({ kase: c.number, clip: x })} aria-label=${`${t("linkHere")}: ${clipName(x)} → ${c.number}`}>${t("linkHere")}</button></li>`)}</ul>` : "—"}</td>` : null}</tr>`; })}</tbody>
    </table></div>` : null}
  </section>`;
}
