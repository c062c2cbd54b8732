// What the pages share: loading data, a dialog that asks for a reason (and any other field), an
// error line with its reason code, a status line, and saving bytes as a file.
import { html } from "htm/preact";
import { useEffect, useRef, useState, useCallback } from "preact/hooks";
import type { VNode } from "preact";
import { ApiError, q } from "./api.js";
import { refusal, t } from "./i18n.js";
import { REASON_MAX, reasonTooShort } from "../protocol/text.js";

/** A reason that says too little is refused in the form, as the gateway would refuse it (protocol/text.ts). */
const reasonCheck = (e: Event) => {
  const el = e.target as HTMLTextAreaElement;
  el.setCustomValidity(el.value.trim() && reasonTooShort(el.value) ? t("reasonHelp") : "");
};

export { html };

/** Data from the gateway: loaded on mount and when `deps` change; reload() asks again. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[] = []): { data: T | null; error: ApiError | Error | null; loading: boolean; reload: () => void; set: (d: T) => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [loading, setLoading] = useState(true);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    fn().then((d) => { if (live) { setData(d); setError(null); setLoading(false); } }, (e: Error) => { if (live) { setError(e); setLoading(false); } });
    return () => { live = false; };
  }, [...deps, n]);
  return { data, error, loading, reload: useCallback(() => setN((x) => x + 1), []), set: setData };
}

export function ErrorNote({ error }: { error: Error | null }): VNode | null {
  if (!error) return null;
  const code = error instanceof ApiError ? error.code : "ERROR";
  const said = refusal(code);
  return said
    ? html`<p class="error" role="alert"><strong>${code}</strong> ${said}<br /><small>${error.message}</small></p>`
    : html`<p class="error" role="alert"><strong>${code}</strong> ${error.message}</p>`;
}

export function Loading({ loading }: { loading: boolean }): VNode | null {
  return loading ? html`<p class="muted" role="status">${t("loading")}</p>` : null;
}

export interface Field { name: string; label: string; type?: "text" | "password" | "number" | "select" | "textarea"; value?: string; options?: [string, string][]; required?: boolean; help?: string; pattern?: string }

/**
 * A modal dialog with a form: a reason (always, unless `noReason`) and any other fields. Done, it
 * calls onClose; Escape or Cancel call onCancel (else onClose). Focus starts in the first field and
 * returns to where it was.
 */
export function Prompt(p: { title: string; help?: string; fields?: Field[]; submit: string; noReason?: boolean; reasonValue?: string; danger?: boolean; onSubmit: (v: Record<string, string>) => Promise<unknown>; onClose: () => void; onCancel?: () => void }): VNode {
  const ref = useRef<HTMLDialogElement>(null);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  // Where focus was when the dialog was asked for: read at its first render, which runs in the
  // opener's click, not in the effect, which runs after a paint (by then focus can have moved, and a
  // closed dialog would hand it to nothing).
  const opener = useRef<HTMLElement | null | undefined>(undefined);
  if (opener.current === undefined) opener.current = document.activeElement as HTMLElement | null;
  useEffect(() => {
    const d = ref.current!;
    d.showModal();
    return () => {
      if (d.open) d.close();
      const o = opener.current;
      if (o && o.isConnected && !d.contains(o)) o.focus();
    };
  }, []);
  const fields: Field[] = [...(p.fields ?? []), ...(p.noReason ? [] : [{ name: "reason", label: t("reason"), type: "textarea" as const, required: true, help: t("reasonHelp"), value: p.reasonValue }])];
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const v: Record<string, string> = {};
    for (const f of fields) v[f.name] = String((form.elements.namedItem(f.name) as HTMLInputElement | null)?.value ?? "");
    setBusy(true);
    try {
      await p.onSubmit(v);
      p.onClose();
    } catch (x) {
      setError(x as Error);
      setBusy(false);
    }
  };
  const id = (f: Field) => `f-${f.name}`;
  return html`<dialog ref=${ref} class="prompt" aria-labelledby="prompt-title" onCancel=${(e: Event) => { e.preventDefault(); (p.onCancel ?? p.onClose)(); }}>
    <form onSubmit=${submit}>
      <h2 id="prompt-title">${p.title}</h2>
      ${p.help ? html`<p class="muted">${p.help}</p>` : null}
      ${fields.map((f, i) => html`<div class="field">
        <label for=${id(f)}>${f.label}</label>
        ${f.type === "select" ? html`<select id=${id(f)} name=${f.name} required=${f.required !== false}>${(f.options ?? []).map(([v, l]) => html`<option value=${v} selected=${v === f.value}>${l}</option>`)}</select>`
          : f.type === "textarea" ? html`<textarea id=${id(f)} name=${f.name} rows="3" required=${f.required !== false} maxLength=${REASON_MAX} onInput=${f.name === "reason" ? reasonCheck : undefined} aria-describedby=${f.help ? id(f) + "-help" : undefined} autoFocus=${i === 0}>${f.value ?? ""}</textarea>`
          : html`<input id=${id(f)} name=${f.name} type=${f.type ?? "text"} defaultValue=${f.value ?? ""} required=${f.required !== false} pattern=${f.pattern} aria-describedby=${f.help ? id(f) + "-help" : undefined} autoFocus=${i === 0} />`}
        ${f.help ? html`<small id=${id(f) + "-help"} class="muted">${f.help}</small>` : null}
      </div>`)}
      <${ErrorNote} error=${error} />
      <div class="actions">
        <button type="button" onClick=${p.onCancel ?? p.onClose}>${t("cancel")}</button>
        <button type="submit" class=${p.danger ? "danger" : "primary"} disabled=${busy}>${p.submit}</button>
      </div>
    </form>
  </dialog>`;
}

/** Save bytes as a file the browser downloads. */
export function saveFile(bytes: BlobPart, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60e3);
}

/** A short status line that screen readers announce. */
export function Notice({ text }: { text: string | null }): VNode | null {
  return text ? html`<p class="notice" role="status">${text}</p>` : null;
}

/**
 * Keep a page's filters in its address's query (#/fleet?unit=3), without a new history entry: a
 * reload, a copied link and the way back from another page show the page as it was filtered.
 */
export function keepInAddress(page: string, filters: Record<string, string>): void {
  history.replaceState(history.state, "", `#/${page}${q(filters)}`);
}
