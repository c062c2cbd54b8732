// Clips: the caller's scoped listing (new clips arrive live); one clip opened with a reason:
// verdict and reasons, the chunk timeline with pre-event, markers and interruption, officer and
// cases, playback (a reason, audited), link and unlink with a reason, suggestions, and a request
// to export it.
import type { VNode } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, apiBytes, apiPage, mayLink, onLive, onLiveState, q } from "../api.js";
import type { Session } from "../api.js";
import { html, ErrorNote, Loading, Notice, Prompt, useLoad } from "../ui.js";
import { bytes, duration, t, tk, when } from "../i18n.js";

interface Listing { device: string; recording: number; verdict: string; final: boolean; chunks: number; bytes: number; interrupted: boolean; startMs: number | null; endMs: number | null; at: number | null; endAt: number | null; reasons: string[]; officer: string | null; cases: string[] }

export function Verdict({ v }: { v: string }): VNode {
  return html`<span class=${"badge v-" + v}>${tk("v_", v)}</span>`;
}

interface Officer { badge: string; name: string; role: string }

/** A clip's address, keeping the listing's filters for the way back. */
const clipHref = (device: string, recording: number | string, filters: string) => `#/clip/${encodeURIComponent(device)}/${recording}${filters ? "?" + filters : ""}`;

/**
 * The clips the gateway lists for the caller, filtered by officer and period there (the filters
 * are the address's query, #/clips?officer=T001&from=2026-11-30&to=2026-12-06, so a link, the way
 * back from a clip and a reload keep them). A page at a time, in the listing's order (newest
 * first: the clip's time, then device and recording, descending): the first page, and the next ones as asked for ("more"); `limit` in the address
 * asks for pages of another size.
 */
export function Clips({ session, filters }: { session: Session; filters: string }): VNode {
  const f = new URLSearchParams(filters);
  const officer = f.get("officer") ?? "", from = f.get("from") ?? "", to = f.get("to") ?? "", limit = f.get("limit") ?? "";
  const path = (cursor: string | null) => `/api/recordings${q({ officer, from, to, limit, cursor })}`;
  const list = useShown<Listing>(path, [officer, from, to, limit]);
  // Whom a supervisor, legal reviewer or admin may pick: the officers of their scope (an officer sees only their own clips).
  const picks = session.role !== "officer";
  const officers = useLoad(() => picks ? api<Officer[]>("GET", "/api/officers").catch(() => [] as Officer[]) : Promise.resolve([] as Officer[]));
  const nameOf = new Map((officers.data ?? []).map((o) => [o.badge, o.name]));
  // New clips: ask again for the pages shown, at most every 3 seconds (each listing is audited). A
  // new clip after the last page shown is on a page still to come ("more").
  useEffect(() => {
    let timer = 0;
    const off = onLive((ev) => {
      if (ev.type !== "recording" || timer) return;
      timer = window.setTimeout(() => { timer = 0; list.reload(); }, 3000);
    });
    // Clips that arrived while the stream was down (or not open yet): asked again when it opens.
    const offState = onLiveState((up) => { if (up) list.reload(); });
    return () => { off(); offState(); clearTimeout(timer); };
  }, []);
  const submit = (e: Event) => {
    e.preventDefault();
    const el = (e.target as HTMLFormElement).elements;
    const v = (n: string) => ((el.namedItem(n) as HTMLInputElement | null)?.value ?? "").trim();
    location.hash = `#/clips${q({ officer: v("officer"), from: v("from"), to: v("to"), limit })}`;
  };
  const filtered = officer !== "" || from !== "" || to !== "";
  // In the listing's order, device then recording (each device's clips oldest first), as the pages come.
  const rows = list.data?.rows ?? [];
  return html`<section aria-labelledby="h-clips">
    <h1 id="h-clips">${t("clips")}</h1>
    <form class="filters" id="clips-filters" key=${filters} onSubmit=${submit}>
      ${picks ? html`<label>${t("officer")} <select name="officer">
        <option value="">${t("anyOfficer")}</option>
        ${(officers.data ?? []).filter((o) => o.role !== "legal_reviewer").map((o) => html`<option value=${o.badge} selected=${o.badge === officer}>${o.name} (${o.badge})</option>`)}
        ${officer && officers.data && !nameOf.has(officer) ? html`<option value=${officer} selected>${officer}</option>` : null}
      </select></label>` : null}
      <label>${t("from")} <input name="from" type="date" defaultValue=${from} /></label>
      <label>${t("to")} <input name="to" type="date" defaultValue=${to} /></label>
      <button type="submit" class="primary">${t("filter")}</button>
      ${filtered ? html`<a href="#/clips">${t("clearFilters")}</a>` : null}
      <small class="muted">${t("periodHelp")}</small>
    </form>
    <${ErrorNote} error=${list.error} /><${Loading} loading=${list.loading && !list.data} />
    ${list.data && !list.error ? html`<p class="muted" role="status" id="clips-count">${t(list.data.next ? "clipsShownMore" : "clipsShown", rows.length)}</p>` : null}
    ${list.data && !list.error ? rows.length === 0 ? html`<p class="muted">${t("none")}</p>` : html`<div class="scroll" tabIndex="0"><table class="grid" id="clips-table">
      <thead><tr><th scope="col">${t("recording")}</th><th scope="col">${t("verdict")}</th><th scope="col">${t("start")}</th><th scope="col">${t("end")}</th>
        <th scope="col" class="num">${t("chunks")}</th><th scope="col" class="num">${t("size")}</th><th scope="col">${t("officer")}</th><th scope="col">${t("caseCol")}</th></tr></thead>
      <tbody>${rows.map((r) => html`<tr key=${r.device + "/" + r.recording} data-clip=${r.device + "/" + r.recording}>
        <th scope="row"><a href=${clipHref(r.device, r.recording, filters)}>${r.device}/${r.recording}</a></th>
        <td><${Verdict} v=${r.verdict} />${r.interrupted ? html` <span class="badge">${t("interrupted")}</span>` : null}</td>
        <td>${when(r.at, true)}</td><td>${when(r.endAt, true)}</td><td class="num">${r.chunks}</td><td class="num">${bytes(r.bytes)}</td>
        <td>${r.officer ? html`${r.officer}${nameOf.has(r.officer) ? html` <small class="muted">${nameOf.get(r.officer)}</small>` : null}` : "—"}</td><td>${r.cases.join(", ") || "—"}</td></tr>`)}</tbody>
    </table></div>` : null}
    ${list.data?.next && !list.error ? html`<p><button id="clips-more" disabled=${list.loading} onClick=${() => list.more()}>${t("moreClips")}</button></p>` : null}
  </section>`;
}

/**
 * A listing the gateway gives in pages, as a page shows it: the first page when its filters
 * (deps) change; the next one added by `more`; `reload` asks again for as many pages as are shown,
 * so a clip that arrived among them shows. Answers to an older ask are dropped.
 */
function useShown<T>(path: (cursor: string | null) => string, deps: unknown[]): { data: { rows: T[]; next: string | null } | null; error: Error | null; loading: boolean; reload: () => void; more: () => void } {
  const [data, setData] = useState<{ rows: T[]; next: string | null } | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const ask = useRef(0), pages = useRef(1), shown = useRef(data);
  shown.current = data;
  const load = (n: number, from: { rows: T[]; next: string | null } | null) => {
    const mine = ++ask.current;
    setLoading(true);
    (async () => {
      const got = { rows: [...(from?.rows ?? [])], next: from?.next ?? null };
      for (let i = 0; i < n; i++) {
        const page = await apiPage<T>(path(got.next));
        got.rows.push(...page.rows);
        got.next = page.next;
        if (!got.next) break;
      }
      return got;
    })().then((got) => { if (mine === ask.current) { setData(got); setError(null); } }, (e: Error) => { if (mine === ask.current) setError(e); })
      .finally(() => { if (mine === ask.current) setLoading(false); });
  };
  useEffect(() => { pages.current = 1; load(1, null); }, deps);
  return {
    data, error, loading,
    reload: () => load(pages.current, null),
    more: () => { if (shown.current?.next) { pages.current++; load(1, shown.current); } },
  };
}

interface Detail extends Listing { officerName: string | null; sealCaseTag: string | null; caseTag: string | null; storageState: string; firstReceived: number; lastReceived: number; timeline: { seq: number; timeMs: number; durationMs: number; flags: number; length: number }[] }

/** 8 kHz 16-bit mono PCM as a WAV file the browser can play. */
export function wav(pcm: ArrayBuffer): Blob {
  const h = new DataView(new ArrayBuffer(44));
  const w = (o: number, s: string) => { for (let i = 0; i < 4; i++) h.setUint8(o + i, s.charCodeAt(i)); };
  w(0, "RIFF"); h.setUint32(4, 36 + pcm.byteLength, true); w(8, "WAVE"); w(12, "fmt ");
  h.setUint32(16, 16, true); h.setUint16(20, 1, true); h.setUint16(22, 1, true); h.setUint32(24, 8000, true); h.setUint32(28, 16000, true); h.setUint16(32, 2, true); h.setUint16(34, 16, true);
  w(36, "data"); h.setUint32(40, pcm.byteLength, true);
  return new Blob([h.buffer, pcm], { type: "audio/wav" });
}

function Timeline({ d }: { d: Detail }): VNode {
  const tl = d.timeline;
  if (!tl.length) return html`<p class="muted">${t("none")}</p>`;
  const t0 = tl[0].timeMs, t1 = Math.max(...tl.map((c) => c.timeMs + c.durationMs));
  const span = Math.max(1, t1 - t0);
  return html`<div class="timeline" role="img" aria-label=${`${t("timeline")}: ${tl.length} ${t("chunks")}, ${tl.filter((c) => c.flags & 1).length} ${t("preEvent")}, ${tl.filter((c) => c.flags & 2).length} ${t("marker")}${d.interrupted ? ", " + t("interrupted") : ""}`}>
    ${tl.map((c) => html`<span class=${"seg" + (c.flags & 1 ? " pre" : "") + (c.flags & 2 ? " mark" : "")} title=${`#${c.seq} ${duration(c.durationMs)}`} style=${{ left: `${((c.timeMs - t0) / span) * 100}%`, width: `${Math.max(0.3, (c.durationMs / span) * 100)}%` }}></span>`)}
    ${d.interrupted ? html`<span class="seg cut" style=${{ left: "99.5%", width: "0.5%" }}></span>` : null}
  </div>
  <p class="legend"><span class="key seg"></span> ${t("chunks")} <span class="key seg pre"></span> ${t("preEvent")} <span class="key seg mark"></span> ${t("marker")} ${d.interrupted ? html`<span class="key seg cut"></span> ${t("interrupted")}` : null}
    · ${when(t0, true)} – ${when(t1, true)} (${duration(t1 - t0)})</p>`;
}

export function Clip({ device, recording, session, back }: { device: string; recording: string; session: Session; back: string }): VNode {
  const name = `${device}/${recording}`;
  // Back to the listing as it was filtered.
  const list = `#/clips${back ? "?" + back : ""}`;
  const [reason, setReason] = useState<string | null>(null);
  const [detail, setDetail] = useState<Detail | null>(null);
  const [prompt, setPrompt] = useState<null | "open" | "play" | "link" | "export" | { unlink: string }>("open");
  const [audio, setAudio] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [custody, setCustody] = useState<{ atMs: number; account: string; action: string; reason: string; proof: string }[] | null>(null);
  const [custodyErr, setCustodyErr] = useState<Error | null>(null);
  const [suggest, setSuggest] = useState<{ case: { number: string }; tagMatch: boolean; overlapMs?: number }[] | null>(null);
  const [linkTo, setLinkTo] = useState<string | null>(null);
  useEffect(() => () => { if (audio) URL.revokeObjectURL(audio); }, [audio]);
  const load = async (why: string) => {
    const d = await api<Detail>("GET", `/api/recordings/${encodeURIComponent(device)}/${recording}${q({ reason: why })}`);
    setDetail(d);
    setReason(why);
    if (mayLink(session)) api("GET", `/api/recordings/${encodeURIComponent(device)}/${recording}/suggestions`).then(setSuggest, () => setSuggest(null));
  };
  // Not opened after all: back to the list.
  const cancelOpen = () => { setPrompt(null); location.hash = list; };
  return html`<section aria-labelledby="h-clip">
    <p><a href=${list} id="clip-back">← ${t("back")}</a></p>
    <h1 id="h-clip">${t("recording")} <code>${name}</code></h1>
    <${Notice} text=${notice} />
    ${prompt === "open" ? html`<${Prompt} title=${t("openTitle", name)} help=${t("openHelp")} submit=${t("open")} onSubmit=${(v: Record<string, string>) => load(v.reason)} onClose=${() => setPrompt(null)} onCancel=${cancelOpen} />` : null}
    ${prompt === "play" ? html`<${Prompt} title=${t("playTitle", name)} help=${t("playHelp")} submit=${t("play")} reasonValue=${reason ?? ""} onSubmit=${async (v: Record<string, string>) => {
      const { bytes: b } = await apiBytes("GET", `/api/recordings/${encodeURIComponent(device)}/${recording}/media${q({ reason: v.reason })}`);
      setAudio(URL.createObjectURL(wav(b)));
    }} onClose=${() => setPrompt(null)} />` : null}
    ${prompt === "link" ? html`<${Prompt} title=${t("linkTitle", name)} submit=${t("link")} fields=${[{ name: "case", label: t("caseNo"), value: linkTo ?? suggest?.[0]?.case.number ?? "" }]} onSubmit=${async (v: Record<string, string>) => {
      await api("POST", "/api/links", { device, recording: Number(recording), case: v.case, reason: v.reason });
      setNotice(`${t("linked")}: ${v.case}`);
      await load(reason!);
    }} onClose=${() => setPrompt(null)} />` : null}
    ${prompt && typeof prompt === "object" ? html`<${Prompt} title=${t("unlinkTitle", name, prompt.unlink)} submit=${t("unlink")} danger=${true} onSubmit=${async (v: Record<string, string>) => {
      await api("POST", "/api/links", { device, recording: Number(recording), case: prompt.unlink, reason: v.reason, unlink: true });
      setNotice(`${t("unlinked")}: ${prompt.unlink}`);
      await load(reason!);
    }} onClose=${() => setPrompt(null)} />` : null}
    ${prompt === "export" ? html`<${Prompt} title=${t("exportTitle", name)} submit=${t("exportClip")} onSubmit=${async (v: Record<string, string>) => {
      const r = await api<{ id: number }>("POST", "/api/approvals", { kind: "export", items: [{ device, recording: Number(recording) }], reason: v.reason });
      setNotice(t("requested", r.id));
    }} onClose=${() => setPrompt(null)} />` : null}
    ${!detail && !prompt ? html`<p><button class="primary" onClick=${() => setPrompt("open")}>${t("open")}</button></p>` : null}
    ${detail ? html`
      <dl class="facts">
        <dt>${t("verdict")}</dt><dd><${Verdict} v=${detail.verdict} />${detail.interrupted ? html` <span class="badge">${t("interrupted")}</span>` : null}</dd>
        <dt>${t("reasons")}</dt><dd>${detail.reasons.length ? html`<ul class="reasons">${detail.reasons.map((r) => html`<li><code>${r}</code></li>`)}</ul>` : t("noReasons")}</dd>
        <dt>${t("start")}</dt><dd>${when(detail.at, true)}${detail.startMs !== detail.at ? html` <small class="muted">${t("deviceClock")} ${when(detail.startMs, true)}</small>` : null}</dd>
        <dt>${t("end")}</dt><dd>${when(detail.endAt, true)}</dd>
        <dt>${t("chunks")}</dt><dd>${detail.chunks} · ${bytes(detail.bytes)}</dd>
        <dt>${t("officer")}</dt><dd>${detail.officer ? html`${detail.officerName ?? ""} (${detail.officer})` : "—"}</dd>
        <dt>${t("caseCol")}</dt><dd>${detail.cases.length ? detail.cases.map((c) => html`<span class="chip">${c}${mayLink(session) ? html` <button class="link" onClick=${() => setPrompt({ unlink: c })} aria-label=${`${t("unlink")} ${c}`}>${t("unlink")}</button>` : null}</span>`) : "—"}</dd>
      </dl>
      <h2>${t("timeline")}</h2>
      <${Timeline} d=${detail} />
      <h2>${t("audio")}</h2>
      ${audio ? html`<audio controls src=${audio} id="clip-audio" aria-label=${t("audio")}></audio>` : html`<p><button class="primary" id="play" onClick=${() => setPrompt("play")}>${t("play")}</button></p>`}
      <div class="actions left">
        ${mayLink(session) ? html`<button onClick=${() => { setLinkTo(null); setPrompt("link"); }}>${t("link")}</button>` : null}
        <button onClick=${() => setPrompt("export")}>${t("exportClip")}</button>
      </div>
      <h2>${t("custody")}</h2>
      <${ErrorNote} error=${custodyErr} />
      ${custody ? html`<div class="scroll" tabIndex="0"><table class="grid" id="custody-table">
        <thead><tr><th scope="col">${t("at")}</th><th scope="col">${t("actor")}</th><th scope="col">${t("action")}</th><th scope="col">${t("reason")}</th><th scope="col">${t("proof")}</th></tr></thead>
        <tbody>${custody.map((c) => html`<tr><td class="nowrap">${when(c.atMs, true)}</td><td>${c.account}</td><td><code>${c.action}</code></td><td class="wrap">${c.reason || "—"}</td><td>${c.proof}</td></tr>`)}</tbody>
      </table></div>` : html`<p><button id="show-custody" onClick=${() => api("GET", `/api/recordings/${encodeURIComponent(device)}/${recording}/custody${q({ reason: reason ?? "" })}`).then(setCustody, setCustodyErr)}>${t("showCustody")}</button></p>`}
      ${suggest && suggest.length ? html`<h2>${t("suggestions")}</h2><ul class="suggest" id="clip-suggestions">${suggest.map((s) => html`<li data-case=${s.case.number}>${s.case.number}
        ${s.tagMatch ? html` <small class="muted">${t("tagMatches")}</small>` : null}${s.overlapMs ? html` <small class="muted">${t("overlap")} ${duration(s.overlapMs)}</small>` : null}
        <button class="link" onClick=${() => { setLinkTo(s.case.number); setPrompt("link"); }} aria-label=${`${t("linkShort")}: ${s.case.number}`}>${t("linkShort")}</button></li>`)}</ul>` : null}
    ` : null}
  </section>`;
}
