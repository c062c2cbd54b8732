// Ratios (recorders per officer and legal reviewers per unit, as bars with the shortfall, rolled up
// the unit tree) and statistics per unit or officer over a period, with CSV.
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { api, q } from "../api.js";
import { csvCell } from "../../protocol/csv.js";
import { html, ErrorNote, Loading, keepInAddress, saveFile, useLoad } from "../ui.js";
import { duration, localDate, t, tk } from "../i18n.js";

interface Line { required: number; counted: number; shortfall: number; officers?: number; staff?: number }
interface UnitFleet { unitId: number; name: string; level: string; depth: number; ratio: number; own: { devices: Line; reviewers: Line }; rollup: { devices: Line; reviewers: Line }; compliant: boolean }

function Bar({ l, label }: { l: Line; label: string }): VNode {
  const max = Math.max(1, l.required, l.counted);
  const text = `${label}: ${t("required")} ${l.required}, ${t("counted")} ${l.counted}, ${t("shortfall")} ${l.shortfall}`;
  return html`<div class="bar" role="img" aria-label=${text} title=${text}>
    <span class="have" style=${{ width: `${(l.counted / max) * 100}%` }}></span>
    ${l.shortfall ? html`<span class="short" style=${{ width: `${(l.shortfall / max) * 100}%` }}></span>` : null}
  </div>`;
}

export function Ratios(): VNode {
  const r = useLoad(() => api<{ ratio: number; units: UnitFleet[]; unassignedDevices: number | null }>("GET", "/api/reports/fleet"));
  return html`<section aria-labelledby="h-ratios">
    <h1 id="h-ratios">${t("ratios")}</h1>
    <${ErrorNote} error=${r.error} /><${Loading} loading=${r.loading && !r.data} />
    ${r.data ? html`<p>${t("ratioTitle", r.data.ratio)}</p>
      ${r.data.unassignedDevices ? html`<p class="muted">${t("unassignedDevices", r.data.unassignedDevices)}</p>` : null}
      <p class="legend"><span class="key have"></span> ${t("counted")} <span class="key short"></span> ${t("shortfall")}</p>
      <div class="scroll" tabIndex="0"><table class="grid ratios" id="ratios-table">
        <thead><tr><th scope="col" rowspan="2">${t("unit")}</th><th scope="colgroup" colspan="3" class="group">${t("recorders")}</th><th scope="colgroup" colspan="3" class="group">${t("reviewers")}</th><th scope="col" rowspan="2">${t("state")}</th></tr>
          <tr><th scope="col">${t("ownCountedRequired")}</th><th scope="col" class="num">${t("shortfall")}</th><th scope="col" class="num">${t("subtreeShortfall")}</th>
          <th scope="col">${t("ownCountedRequired")}</th><th scope="col" class="num">${t("shortfall")}</th><th scope="col" class="num">${t("subtreeShortfall")}</th></tr></thead>
        <tbody>${r.data.units.map((u) => html`<tr key=${u.unitId} data-unit=${u.name} class=${u.compliant ? "" : "row-soon"}>
          <th scope="row" style=${{ paddingInlineStart: `${0.5 + u.depth * 1.25}rem` }}>${u.name} <small class="muted">${tk("level_", u.level)}${u.ratio !== r.data!.ratio ? ` · 1:${u.ratio}` : ""}</small></th>
          <td><${Bar} l=${u.own.devices} label=${`${u.name} ${t("recorders")}`} /><small>${u.own.devices.counted} / ${u.own.devices.required}</small></td>
          <td class=${"num" + (u.own.devices.shortfall ? " bad" : "")}>${u.own.devices.shortfall}</td><td class="num">${u.rollup.devices.shortfall}</td>
          <td><${Bar} l=${u.own.reviewers} label=${`${u.name} ${t("reviewers")}`} /><small>${u.own.reviewers.counted} / ${u.own.reviewers.required}</small></td>
          <td class=${"num" + (u.own.reviewers.shortfall ? " bad" : "")}>${u.own.reviewers.shortfall}</td><td class="num">${u.rollup.reviewers.shortfall}</td>
          <td><span class=${"badge " + (u.compliant ? "good" : "bad")}>${u.compliant ? t("compliant") : t("notCompliant")}</span></td></tr>`)}</tbody>
      </table></div>` : null}
  </section>`;
}

interface StatRow { key: string | number | null; label: string; recordings: number; hours: number; verdicts: { verified: number; incomplete: number; failed: number }; medianUploadDelayMs: number | null; fullCases: number; fullCoveragePercent: number | null }

export function Statistics({ filters }: { filters: string }): VNode {
  const today = localDate(Date.now());
  // The last 30 days, today included (a period's last date is taken in whole), unless the address says otherwise.
  const asked = new URLSearchParams(filters);
  const [p, setPOnly] = useState({ from: asked.get("from") || localDate(Date.now() - 30 * 86400e3), to: asked.get("to") || today, by: asked.get("by") || "unit" });
  const setP = (v: typeof p) => { setPOnly(v); keepInAddress("stats", v); };
  const s = useLoad(() => api<{ rows: StatRow[] }>("GET", `/api/reports/statistics${q(p)}`), [p]);
  const submit = (e: Event) => {
    e.preventDefault();
    const el = (e.target as HTMLFormElement).elements;
    const v = (n: string) => (el.namedItem(n) as HTMLInputElement).value;
    setP({ from: v("from"), to: v("to"), by: v("by") });
  };
  const csv = () => {
    const head = [p.by === "unit" ? "unit" : "officer", "label", "recordings", "hours", "verified", "incomplete", "failed", "median_upload_delay_s", "full_cases", "full_coverage_pct"];
    const lines = [head.join(","), ...(s.data?.rows ?? []).map((r) => [r.key, r.label, r.recordings, r.hours.toFixed(3), r.verdicts.verified, r.verdicts.incomplete, r.verdicts.failed, r.medianUploadDelayMs === null ? "" : (r.medianUploadDelayMs / 1000).toFixed(1), r.fullCases, r.fullCoveragePercent === null ? "" : r.fullCoveragePercent.toFixed(1)].map(csvCell).join(","))];
    saveFile("\ufeff" + lines.join("\r\n") + "\r\n", `statistics-${p.by}-${p.from}-${p.to}.csv`, "text/csv");
  };
  return html`<section aria-labelledby="h-stats">
    <h1 id="h-stats">${t("stats")}</h1>
    <form class="filters" key=${JSON.stringify(p)} onSubmit=${submit}>
      <label>${t("from")} <input name="from" type="date" defaultValue=${p.from} max=${today} required /></label>
      <label>${t("to")} <input name="to" type="date" defaultValue=${p.to} required /></label>
      <label>${t("by")} <select name="by"><option value="unit" selected=${p.by === "unit"}>${t("byUnit")}</option><option value="officer" selected=${p.by === "officer"}>${t("byOfficer")}</option></select></label>
      <button type="submit" class="primary">${t("show")}</button>
      <button type="button" onClick=${csv} disabled=${!s.data}>${t("csv")}</button>
      <small class="muted">${t("periodHelp")}</small>
    </form>
    <p class="muted">${t("fullCoverageHelp")}</p>
    <${ErrorNote} error=${s.error} /><${Loading} loading=${s.loading && !s.data} />
    ${s.data ? s.data.rows.length === 0 ? html`<p class="muted">${t("none")}</p>` : html`<div class="scroll" tabIndex="0"><table class="grid" id="stats-table">
      <thead><tr><th scope="col">${p.by === "unit" ? t("unit") : t("officer")}</th><th scope="col" class="num">${t("recordings")}</th><th scope="col" class="num">${t("recordedTime")}</th>
        <th scope="col" class="num">${t("v_verified")}</th><th scope="col" class="num">${t("v_incomplete")}</th><th scope="col" class="num">${t("v_failed")}</th><th scope="col" class="num">${t("uploadDelay")}</th><th scope="col" class="num">${t("fullCoverage")}</th></tr></thead>
      <tbody>${s.data.rows.map((r) => html`<tr key=${String(r.key)} data-row=${String(r.key)}><th scope="row">${r.label}</th><td class="num">${r.recordings}</td><td class="num">${duration(r.hours * 3600e3)}</td>
        <td class="num">${r.verdicts.verified}</td><td class="num">${r.verdicts.incomplete}</td><td class=${"num" + (r.verdicts.failed ? " bad" : "")}>${r.verdicts.failed}</td><td class="num">${duration(r.medianUploadDelayMs)}</td>
        <td class=${"num" + (r.fullCoveragePercent !== null && r.fullCoveragePercent < 100 ? " bad" : "")} data-col="full">${r.fullCoveragePercent === null ? "—" : html`${r.fullCoveragePercent.toFixed(1)}% <small class="muted">(${t("nCases", r.fullCases)})</small>`}</td></tr>`)}</tbody>
    </table></div>` : null}
  </section>`;
}
