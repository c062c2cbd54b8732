// Evidence: export grants and their bundles (made and downloaded here), and the offline verifier:
// a bundle dropped on the page is checked in this browser by the same code as npm run verify (in a
// worker, nothing uploaded), shown as the same PASS/FAIL lines and summary.
import type { VNode } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, apiBytes, q } from "../api.js";
import type { Session } from "../api.js";
import { html, ErrorNote, Loading, Notice, Prompt, saveFile, useLoad } from "../ui.js";
import { bytes, getLang, t, tk, when } from "../i18n.js";
import { checkName, statusWord, summary } from "../../verifier/i18n.js";
import type { VerifyReport } from "../../verifier/verify.js";
import type { Approval } from "../../protocol/gateway-api.js";
import { approvalState } from "./review.js";

interface Made { id: string; createdAt: number; by: string; reason: string; grant: number; scope: string; target: string; items: { device: string; recording: number }[]; state: string; bytes: number | null; sha256: string | null; kept: boolean; grantValidUntil: number | null }

/** Run the verifier in a worker on `file`; progress as it goes. */
export function verifyInBrowser(file: File, stationKey: string, progress: (done: number, total: number) => void): Promise<VerifyReport> {
  return new Promise((resolve, reject) => {
    const w = new Worker("/console/verify-worker.js", { type: "module" });
    w.onmessage = (m: MessageEvent) => {
      const d = m.data as { progress?: [number, number]; report?: VerifyReport; error?: string };
      if (d.progress) progress(d.progress[0], d.progress[1]);
      else { w.terminate(); if (d.report) resolve(d.report); else reject(new Error(d.error ?? "verifier stopped")); }
    };
    w.onerror = (e) => { w.terminate(); reject(new Error(e.message || "verifier failed to start")); };
    w.postMessage({ file, stationKey: stationKey.trim() || undefined });
  });
}

function Report({ r, file, size }: { r: VerifyReport; file: string; size: number }): VNode {
  const L = getLang();
  return html`<div class=${"report " + (r.ok ? "pass" : "fail")} id="verify-report" role="status" aria-live="polite">
    <p class="verdict-line"><strong>${r.ok ? t("pass") : t("fail")}</strong> ${file} (${bytes(size)})</p>
    <table class="grid checks"><thead><tr><th scope="col">${t("state")}</th><th scope="col">${t("checkCol")}</th><th scope="col">${t("detail")}</th></tr></thead>
      <tbody>${r.checks.map((c) => { const fails = r.findings.filter((f) => f.check === c.id && f.status === "FAIL"); const first = fails[0] ?? r.findings.find((f) => f.check === c.id); return html`<tr data-check=${c.id}>
        <td><span class=${"badge " + (c.status === "PASS" ? "good" : c.status === "FAIL" ? "bad" : "warn")}>${statusWord(c.status, L)}</span></td><th scope="row">${checkName(c.id, L)}</th>
        <td class="wrap">${first ? `${first.code}: ${first.item}${fails.length > 1 ? ` (+${fails.length - 1})` : ""}` : L === "en" ? `${c.count} checked` : `已核 ${c.count} 项`}</td></tr>`; })}</tbody></table>
    <div class="summary">${summary(r, L, file).map((l) => html`<p>${l}</p>`)}</div>
  </div>`;
}

export function Evidence({ session }: { session: Session }): VNode {
  const grants = useLoad(() => api<Approval[]>("GET", "/api/approvals"));
  const made = useLoad(() => api<Made[]>("GET", "/api/exports"));
  const [making, setMaking] = useState<Approval | null>(null);
  const [again, setAgain] = useState<Made | null>(null);
  // A bundle still being written: ask again until it is done (its size and hash come then).
  const writing = (made.data ?? []).some((m) => m.state === "writing");
  useEffect(() => {
    if (!writing) return;
    const id = setTimeout(made.reload, 1000);
    return () => clearTimeout(id);
  }, [made.data]);
  const [notice, setNotice] = useState<string | null>(null);
  const [report, setReport] = useState<{ r: VerifyReport; file: string; size: number } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [verr, setVerr] = useState<Error | null>(null);
  const [over, setOver] = useState(false);
  const [key, setKey] = useState("");
  // This station's verifier key, as it publishes it (/log/key): a bundle made here is checked against it unless another is given.
  useEffect(() => { apiBytes("GET", "/log/key").then(({ bytes: b }) => setKey((k) => k || new TextDecoder().decode(b).trim()), () => undefined); }, []);
  const mine = (grants.data ?? []).filter((a) => a.kind === "export" && a.requester === session.name);
  const check = async (file: File) => {
    setReport(null); setVerr(null); setBusy(t("verifying"));
    try {
      const r = await verifyInBrowser(file, key, (d, n) => setBusy(`${t("verifying")} ${d}/${n}`));
      setReport({ r, file: file.name, size: file.size });
    } catch (e) { setVerr(e as Error); }
    setBusy(null);
  };
  return html`<section aria-labelledby="h-evidence">
    <h1 id="h-evidence">${t("evidence")}</h1>
    <${Notice} text=${notice} />
    <h2 id="h-made">${t("exportsMade")}</h2>
    <${ErrorNote} error=${made.error} /><${Loading} loading=${made.loading && !made.data} />
    ${again ? html`<${Prompt} title=${t("againTitle", again.id.slice(0, 8))} help=${t("againHelp")} submit=${t("downloadAgain")} onSubmit=${async (v: Record<string, string>) => {
      const { bytes: b } = await apiBytes("GET", `/api/exports/${again.id}/bundle${q({ reason: v.reason })}`);
      const name = `evidence-${again.id}.zip`;
      saveFile(b, name, "application/zip");
      setNotice(t("downloaded", name));
    }} onClose=${() => setAgain(null)} />` : null}
    ${made.data ? made.data.length === 0 ? html`<p class="muted">${t("none")}</p>` : html`<div class="scroll" tabIndex="0"><table class="grid" id="made-table">
      <thead><tr><th scope="col">${t("madeAt")}</th><th scope="col">${t("items")}</th><th scope="col">${t("exportedBy")}</th><th scope="col">${t("reason")}</th><th scope="col">${t("state")}</th><th scope="col" class="num">${t("size")}</th><th scope="col">SHA-256</th><th scope="col">${t("validUntil")}</th><th scope="col"><span class="sr-only">${t("downloadAgain")}</span></th></tr></thead>
      <tbody>${made.data.map((m) => html`<tr key=${m.id} data-export=${m.id}><th scope="row" class="nowrap">${when(m.createdAt)}</th>
        <td>${m.scope === "case" ? `${t("caseNo")} ${m.target}` : m.target}${m.items.length > 1 ? html` <small class="muted">(${m.items.length})</small>` : null}</td><td>${m.by}</td><td class="wrap">${m.reason}</td>
        <td>${tk("ex_", m.state)}</td><td class="num">${bytes(m.bytes)}</td><td><code title=${m.sha256 ?? ""}>${m.sha256 ? m.sha256.slice(0, 12) + "…" : "—"}</code></td><td class="nowrap">${when(m.grantValidUntil)}</td>
        <td>${m.by === session.name && m.kept && m.state === "done" && (m.grantValidUntil ?? 0) > Date.now() ? html`<button onClick=${() => setAgain(m)} aria-label=${`${t("downloadAgain")} ${m.id.slice(0, 8)}`}>${t("downloadAgain")}</button>` : null}</td></tr>`)}</tbody>
    </table></div>` : null}
    <h2>${t("exportGrants")}</h2>
    <${ErrorNote} error=${grants.error} /><${Loading} loading=${grants.loading && !grants.data} />
    ${making ? html`<${Prompt} title=${`${t("makeExport")} #${making.id}`} submit=${t("makeExport")} onSubmit=${async (v: Record<string, string>) => {
      const body = making.caseNumber ? { case: making.caseNumber, reason: v.reason, grant: making.id } : { recording: making.items[0], reason: v.reason, grant: making.id };
      const { bytes: b, headers } = await apiBytes("POST", "/api/exports", body);
      const name = `evidence-${headers.get("x-export-id") ?? making.id}.zip`;
      saveFile(b, name, "application/zip");
      setNotice(t("exported", name));
      made.reload();
    }} onClose=${() => setMaking(null)} />` : null}
    ${grants.data ? mine.length === 0 ? html`<p class="muted">${t("none")}</p>` : html`<div class="scroll" tabIndex="0"><table class="grid" id="exports-table">
      <thead><tr><th scope="col">#</th><th scope="col">${t("items")}</th><th scope="col">${t("reason")}</th><th scope="col">${t("state")}</th><th scope="col">${t("validUntil")}</th><th scope="col"><span class="sr-only">${t("makeExport")}</span></th></tr></thead>
      <tbody>${mine.map((a) => html`<tr key=${a.id} data-grant=${a.id}><th scope="row">${a.id}</th><td class="wrap">${a.caseNumber ?? a.items.map((i) => `${i.device}/${i.recording}`).join(", ")}</td><td class="wrap">${a.reason}</td>
        <td><span class=${"badge a-" + approvalState(a)}>${tk("a_", approvalState(a))}</span></td><td>${when(a.validUntil)}</td>
        <td>${approvalState(a) === "approved" ? html`<button class="primary" onClick=${() => setMaking(a)}>${t("makeExport")}</button>` : null}</td></tr>`)}</tbody>
    </table></div>` : null}
    <h2 id="h-verifier">${t("verifier")}</h2>
    <p class="muted">${t("verifierHelp")}</p>
    <div class="field"><label for="station-key">${t("stationKey")}</label><input id="station-key" value=${key} onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} size="60" placeholder="evrec.station/1a2b3c4d+0a1b2c3d+AbC…" /></div>
    <div class=${"drop" + (over ? " over" : "")} onDragOver=${(e: DragEvent) => { e.preventDefault(); setOver(true); }} onDragLeave=${() => setOver(false)}
      onDrop=${(e: DragEvent) => { e.preventDefault(); setOver(false); const f = e.dataTransfer?.files[0]; if (f) void check(f); }}>
      <label for="bundle-file">${t("chooseFile")}</label>
      <input id="bundle-file" type="file" accept=".zip,application/zip" onChange=${(e: Event) => { const f = (e.target as HTMLInputElement).files?.[0]; if (f) void check(f); }} />
    </div>
    ${busy ? html`<p role="status">${busy}</p>` : null}
    <${ErrorNote} error=${verr} />
    ${report ? html`<${Report} r=${report.r} file=${report.file} size=${report.size} />` : null}
  </section>`;
}
