// Fleet: every device in the caller's scope, live: online, recording, battery, queue, storage
// free, last seen, clock offset, open alarms; filters by unit and state. Updates arrive over the
// event stream and are drawn once per frame, each row redrawn only when its device changed.
import { Component } from "preact";
import type { VNode } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, onLive, onLiveState } from "../api.js";
import type { LiveEvent } from "../api.js";
import { html, ErrorNote, Loading, keepInAddress } from "../ui.js";
import { bytes, offset, t, tk, when } from "../i18n.js";
import type { Alarm, Unit } from "../../protocol/gateway-api.js";
import { statusBatteryPct } from "../../protocol/status.js";
import { alarmDeviceOf } from "./review.js";

type DeviceEvent = Extract<LiveEvent, { type: "device" }>;

export interface DeviceRow { id: string; kind: string; state: string; unit: number | null; online: boolean; lastSeen: number | null; lastStatus: Record<string, any> | null; at?: number }

/**
 * The live rows: each row listens for its own device, so an event redraws that row alone, and the
 * table is drawn again only when what it lists changes (filters, devices coming or going online).
 */
class Rows {
  map = new Map<string, DeviceRow>();
  private listeners = new Map<string, () => void>();
  private dirty = new Set<string>();
  private frame = 0;
  listen(id: string, f: () => void): () => void {
    this.listeners.set(id, f);
    return () => { if (this.listeners.get(id) === f) this.listeners.delete(id); };
  }
  /** A device changed: its row is drawn on the next frame; `whole` when the listing itself may change. */
  changed(id: string, whole: () => void, listingChanged: boolean): void {
    this.dirty.add(id);
    if (listingChanged) this.wholeToo = true;
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      for (const d of this.dirty) this.listeners.get(d)?.();
      this.dirty.clear();
      if (this.wholeToo) { this.wholeToo = false; whole(); }
    });
  }
  private wholeToo = false;
  stop(): void { if (this.frame) cancelAnimationFrame(this.frame); }
}

class Row extends Component<{ id: string; rows: Rows; unit: string; alarms: number; lang: string }> {
  private off: (() => void) | null = null;
  override componentDidMount(): void { this.off = this.props.rows.listen(this.props.id, () => this.forceUpdate()); }
  override componentWillUnmount(): void { this.off?.(); }
  private drawn: DeviceRow | null = null;
  override shouldComponentUpdate(n: { id: string; unit: string; alarms: number; lang: string }): boolean {
    return this.props.rows.map.get(n.id) !== this.drawn || n.alarms !== this.props.alarms || n.lang !== this.props.lang || n.unit !== this.props.unit;
  }
  override render(): VNode {
    const { unit, alarms } = this.props;
    const d = this.props.rows.map.get(this.props.id)!;
    this.drawn = d;
    const s = d.lastStatus ?? {};
    const battery = statusBatteryPct(s);
    return html`<tr data-device=${d.id} data-at=${d.at ?? ""} class=${d.online ? "" : "dim"}>
      <th scope="row" title=${d.id}><code>${d.id}</code></th>
      <td title=${unit}>${unit}</td>
      <td title=${tk("st_", d.state)}>${tk("st_", d.state)}</td>
      <td><span class=${"dot " + (d.online ? "on" : "off")} aria-hidden="true"></span>${d.online ? t("online") : t("offline")}</td>
      <td>${!d.online ? "—" : s.state === 1 ? html`<span class="badge rec">${t("recYes")}</span>` : t("recNo")}</td>
      <td class=${"num" + (battery !== null && battery < 20 ? " warn" : "")}>${battery === null ? "—" : `${battery}%`}</td>
      <td class="num">${s.queueDepth ?? "—"}</td>
      <td class="num">${bytes(s.storageFree as number | undefined)}</td>
      <td>${when(d.lastSeen, true)}</td>
      <td class="num">${typeof s.clockOffsetMs === "number" ? offset(s.clockOffsetMs) : "—"}</td>
      <td class="num">${alarms ? html`<a href=${`#/alarms?device=${encodeURIComponent(d.id)}`} class="badge alarm">${alarms}</a>` : "0"}</td>
    </tr>`;
  }
}

export function Fleet({ lang, filters }: { lang: string; filters: string }): VNode {
  const asked = new URLSearchParams(filters);
  const [rows] = useState(() => new Rows());
  const [loaded, setLoaded] = useState(false);
  const [units, setUnits] = useState<Unit[]>([]);
  const [alarms, setAlarms] = useState<Alarm[]>([]);
  const [error, setError] = useState<Error | null>(null);
  // The filters, from the address and kept there (the way back from the alarms page keeps them).
  const [unit, setUnitOnly] = useState(asked.get("unit") ?? "");
  const [state, setStateOnly] = useState(asked.get("state") ?? "");
  const setUnit = (u: string) => { setUnitOnly(u); keepInAddress("fleet", { unit: u, state }); };
  const setState = (st: string) => { setStateOnly(st); keepInAddress("fleet", { unit, state: st }); };
  const [, redraw] = useState(0);

  useEffect(() => {
    let live = true;
    const map = rows.map;
    const loadAlarms = () => api<Alarm[]>("GET", "/api/alarms").then((a) => live && setAlarms(a), () => undefined);
    // The live events since each row's list was asked for. A list asked for before an event may
    // have been read before the change it reports, and must not put the older row back (a reload
    // racing a Status): the event is applied again on top of it. An event for a row not loaded yet
    // (the first list still on its way) waits for it the same way.
    const since = new Map<string, { t: number; ev: DeviceEvent }>();
    const apply = (old: DeviceRow, ev: DeviceEvent): DeviceRow =>
      ({ ...old, online: ev.online, lastSeen: ev.lastSeen, lastStatus: ev.status ?? old.lastStatus, state: old.state === "provisioned" && ev.online ? "active" : old.state, at: ev.at });
    const load = () => {
      const asked = performance.now();
      return Promise.all([api<DeviceRow[]>("GET", "/api/devices"), api<Unit[]>("GET", "/api/units").catch(() => [])]).then(([ds, us]) => {
        if (!live) return;
        for (const d of ds) {
          const later = since.get(d.id);
          map.set(d.id, later && later.t >= asked ? apply(d, later.ev) : d);
        }
        setLoaded(true);
        setUnits(us);
        redraw((x) => x + 1);
      }, (e: Error) => live && setError(e));
    };
    void load();
    void loadAlarms();
    // The live stream carries no history: what changed while it was down (or not open yet, just
    // after sign-in) is read again whenever it opens.
    const offState = onLiveState((up) => { if (up) { void load(); void loadAlarms(); } });
    // Events change rows in place (a new object per changed row), drawn once per frame.
    const whole = () => redraw((x) => x + 1);
    const off = onLive((ev) => {
      if (ev.type === "device") {
        since.set(ev.id, { t: performance.now(), ev });
        const old = map.get(ev.id);
        if (!old) return;
        const d = apply(old, ev);
        map.set(ev.id, d);
        rows.changed(ev.id, whole, d.online !== old.online || d.state !== old.state);
      } else if (ev.type === "alarm") {
        void loadAlarms();
      }
    });
    return () => { live = false; off(); offState(); rows.stop(); };
  }, []);

  const unitName = new Map(units.map((u) => [u.id, u.name]));
  const alarmCount = new Map<string, number>();
  for (const a of alarms) {
    const dev = alarmDeviceOf(a);
    alarmCount.set(dev, (alarmCount.get(dev) ?? 0) + 1);
  }
  const all = loaded ? [...rows.map.values()] : [];
  const shown = all.filter((d) => (unit === "" || String(d.unit ?? "none") === unit) && (state === "" || (state === "online" ? d.online : state === "offline" ? !d.online : d.state === state)));
  const online = all.filter((d) => d.online).length;
  return html`<section aria-labelledby="h-fleet">
    <h1 id="h-fleet">${t("fleet")}</h1>
    <${ErrorNote} error=${error} />
    <${Loading} loading=${!loaded && !error} />
    <form class="filters" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>${t("unit")} <select value=${unit} onChange=${(e: Event) => setUnit((e.target as HTMLSelectElement).value)}>
        <option value="">${t("anyUnit")}</option>
        ${units.map((u) => html`<option value=${String(u.id)}>${u.name}</option>`)}
        <option value="none">${t("noUnit")}</option>
      </select></label>
      <label>${t("state")} <select value=${state} onChange=${(e: Event) => setState((e.target as HTMLSelectElement).value)}>
        <option value="">${t("anyState")}</option>
        <option value="online">${t("onlineOnly")}</option>
        <option value="offline">${t("offlineOnly")}</option>
        ${["provisioned", "active", "lost", "retired", "revoked"].map((s) => html`<option value=${s}>${tk("st_", s)}</option>`)}
      </select></label>
      <p class="muted" role="status" aria-live="polite">${t("devicesShown", shown.length, all.length, online)}</p>
    </form>
    ${loaded && all.length === 0 ? html`<p class="muted" id="fleet-none">${t("noDevices")}</p>` : null}
    ${loaded && all.length ? html`<div class="scroll" tabIndex="0"><table class="grid" id="fleet-table">
      <caption class="sr-only">${t("fleet")}</caption>
      <thead><tr>
        <th scope="col">${t("device")}</th><th scope="col">${t("unit")}</th><th scope="col">${t("state")}</th><th scope="col">${t("connection")}</th><th scope="col">${t("recordingNow")}</th>
        <th scope="col" class="num">${t("battery")}</th><th scope="col" class="num">${t("queue")}</th><th scope="col" class="num">${t("flashFree")}</th><th scope="col">${t("lastSeen")}</th>
        <th scope="col" class="num">${t("clockOffset")}</th><th scope="col" class="num">${t("alarmCount")}</th>
      </tr></thead>
      <tbody>${shown.map((d) => html`<${Row} key=${d.id} id=${d.id} rows=${rows} unit=${d.unit === null ? t("noUnit") : unitName.get(d.unit) ?? String(d.unit)} alarms=${alarmCount.get(d.id) ?? 0} lang=${lang} />`)}</tbody>
    </table></div>` : null}
  </section>`;
}
