// The station console: sign-in, the shell (navigation, language, account, live state) and the
// pages, routed by the address's #fragment. Every rule (role, unit scope, confidentiality) is the
// gateway's: a page only shows what the API answered, refusals included.
import { html } from "htm/preact";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { VNode } from "preact";
import { api, ApiError, onLiveState, onSessionEnded, setCsrf, startLive, stopLive } from "./api.js";
import type { Session } from "./api.js";
import { getLang, initialLang, setLang, setZone, t } from "./i18n.js";
import type { Key, Lang } from "./i18n.js";
import { ErrorNote } from "./ui.js";
import { Fleet } from "./pages/fleet.js";
import { Clip, Clips } from "./pages/clips.js";
import { Alarms, Approvals, Audit } from "./pages/review.js";
import { Cases, Devices, People } from "./pages/station.js";
import { Ratios, Statistics } from "./pages/reports.js";
import { Evidence } from "./pages/evidence.js";
import { System } from "./pages/system.js";

type Role = Session["role"];
const ALL: Role[] = ["admin", "supervisor", "legal_reviewer", "officer"];
/** The pages, and who they are for (the API refuses anyone else anyway). */
const PAGES: { path: string; key: Key; roles: Role[] }[] = [
  { path: "fleet", key: "fleet", roles: ["admin", "supervisor"] },
  { path: "devices", key: "devices", roles: ["admin", "supervisor"] },
  { path: "people", key: "people", roles: ["admin", "supervisor", "legal_reviewer"] },
  { path: "cases", key: "cases", roles: ["admin", "supervisor", "legal_reviewer"] },
  { path: "clips", key: "clips", roles: ALL },
  { path: "approvals", key: "approvals", roles: ALL },
  { path: "ratios", key: "ratios", roles: ["admin", "supervisor", "legal_reviewer"] },
  { path: "stats", key: "stats", roles: ["admin", "supervisor", "legal_reviewer"] },
  { path: "alarms", key: "alarms", roles: ["admin", "supervisor"] },
  { path: "audit", key: "audit", roles: ["admin"] },
  { path: "evidence", key: "evidence", roles: ALL },
  { path: "system", key: "system", roles: ["admin"] },
];

/** The address's page and its parts (#/clip/DEV/N), and its query (#/clips?officer=T001): a page's filters, kept in the address. */
function route(): string[] {
  return location.hash.replace(/^#\/?/, "").split("?")[0].split("/").map(decodeURIComponent);
}
function routeQuery(): URLSearchParams {
  const h = location.hash;
  return new URLSearchParams(h.includes("?") ? h.slice(h.indexOf("?") + 1) : "");
}

/** The console's title: a station's, or a region office's. */
const titleOf = (gateway: string | null | undefined) => t(gateway === "region" ? "titleRegion" : "title");

function SignIn({ onIn }: { onIn: (s: Session) => void }): VNode {
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  // Which gateway this is, asked before anyone signs in: a region office's page says so.
  const [gateway, setGateway] = useState<string | null>(null);
  useEffect(() => {
    api<{ gateway?: string | null }>("GET", "/api/health").then((h) => setGateway(h.gateway ?? null), () => undefined);
  }, []);
  const title = titleOf(gateway);
  useEffect(() => { document.title = title; });
  const submit = async (e: Event) => {
    e.preventDefault();
    const f = (e.target as HTMLFormElement).elements;
    setBusy(true);
    try {
      onIn(await api<Session>("POST", "/api/session", { name: (f.namedItem("name") as HTMLInputElement).value, password: (f.namedItem("password") as HTMLInputElement).value }));
    } catch (x) {
      setError(x instanceof ApiError && x.code === "SIGNIN_FAILED" ? new ApiError(x.code, t("signInFailed"), x.status) : (x as Error));
      setBusy(false);
    }
  };
  return html`<main class="signin" id="main">
    <form onSubmit=${submit} aria-labelledby="h-signin">
      <h1 id="h-signin">${title}</h1>
      <p class="muted">${t("signInHelp")}</p>
      <div class="field"><label for="name">${t("account")}</label><input id="name" name="name" autocomplete="username" required autoFocus /></div>
      <div class="field"><label for="password">${t("password")}</label><input id="password" name="password" type="password" autocomplete="current-password" required /></div>
      <${ErrorNote} error=${error} />
      <div class="actions"><${LangSwitch} /><button type="submit" class="primary" disabled=${busy}>${t("signIn")}</button></div>
    </form>
  </main>`;
}

let rerender: () => void = () => undefined;
function LangSwitch(): VNode {
  const other: Lang = getLang() === "en" ? "zh-CN" : "en";
  return html`<button type="button" id="lang" lang=${other} onClick=${() => { setLang(other); rerender(); }} aria-label=${`${t("language")}: ${t("switchTo")}`}>${t("switchTo")}</button>`;
}

function Page({ session, parts }: { session: Session; parts: string[] }): VNode {
  const [p, a, b] = parts;
  const lang = getLang();
  const page = PAGES.find((x) => x.path === p);
  if (p === "clip" && a && b) return html`<${Clip} key=${a + "/" + b} device=${a} recording=${b} session=${session} back=${routeQuery().toString()} />`;
  if (!page) return html`<h1>${t("notFound")}</h1>`;
  if (!page.roles.includes(session.role)) return html`<h1>${t(page.key)}</h1><p class="error" role="alert">${t("forbiddenPage")}</p>`;
  switch (p) {
    case "fleet": return html`<${Fleet} lang=${lang} filters=${routeQuery().toString()} />`;
    case "devices": return html`<${Devices} session=${session} />`;
    case "people": return html`<${People} />`;
    case "cases": return html`<${Cases} session=${session} />`;
    case "clips": return html`<${Clips} session=${session} filters=${routeQuery().toString()} />`;
    case "approvals": return html`<${Approvals} session=${session} />`;
    case "ratios": return html`<${Ratios} />`;
    case "stats": return html`<${Statistics} filters=${routeQuery().toString()} />`;
    case "alarms": return html`<${Alarms} filters=${routeQuery().toString()} />`;
    case "audit": return html`<${Audit} />`;
    case "system": return html`<${System} />`;
    default: return html`<${Evidence} session=${session} />`;
  }
}

function Shell({ session, onOut }: { session: Session; onOut: () => void }): VNode {
  const [, setTick] = useState(0);
  const [live, setLive] = useState(true);
  useEffect(() => {
    const f = () => { setTick((x) => x + 1); document.getElementById("main")?.focus(); };
    addEventListener("hashchange", f);
    startLive();
    const off = onLiveState(setLive);
    return () => { removeEventListener("hashchange", f); off(); stopLive(); };
  }, []);
  const mine = PAGES.filter((p) => p.roles.includes(session.role));
  // No page named: the first the account may see, without a history entry.
  if (!route()[0]) history.replaceState(null, "", `#/${mine[0].path}`);
  const parts = route();
  const current = parts[0] === "clip" ? "clips" : parts[0];
  const signOut = async () => { await api("DELETE", "/api/session").catch(() => undefined); onOut(); };
  // A region's office says so: its console serves the region's stations' records, not one station's.
  const title = titleOf(session.gateway);
  useEffect(() => { document.title = `${t(PAGES.find((p) => p.path === current)?.key ?? "title")} · ${title}`; });
  return html`<a class="skip" href="#main" onClick=${(e: Event) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>${t("skip")}</a>
    <header class="top">
      <span class="brand">${title}</span>
      <span class=${"live " + (live ? "up" : "down")} role="status">${live ? t("live") : t("liveOff")}</span>
      <span class="who">${t("signedInAs")} <strong>${session.name}</strong> (${t(("role_" + session.role) as Key)}) · ${t("stationTime")} ${session.timeZone}</span>
      <${LangSwitch} />
      <button type="button" id="signout" onClick=${signOut}>${t("signOut")}</button>
    </header>
    <div class="body">
      <nav aria-label=${t("nav")}><ul>${mine.map((p) => html`<li><a href=${`#/${p.path}`} aria-current=${current === p.path ? "page" : undefined}>${t(p.key)}</a></li>`)}</ul></nav>
      <main id="main" tabIndex="-1"><${Page} session=${session} parts=${parts} /></main>
    </div>`;
}

function App(): VNode {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [, bump] = useState(0);
  rerender = () => bump((x) => x + 1);
  const take = (s: Session | null) => {
    if (s) { setCsrf(s.csrf); setZone(s.timeZone); }
    setSession(s);
  };
  useEffect(() => {
    onSessionEnded(() => take(null));
    api<Session>("GET", "/api/session").then(take, () => take(null));
  }, []);
  if (session === undefined) return html`<p class="loading" role="status">${t("loading")}</p>`;
  if (session === null) return html`<${SignIn} onIn=${take} />`;
  return html`<${Shell} key=${session.name} session=${session} onOut=${() => take(null)} />`;
}

setLang(initialLang());
render(html`<${App} />`, document.getElementById("app")!);
