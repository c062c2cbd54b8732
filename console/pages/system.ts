// The gateway's own state, for its admin (GET /api/system): its data disk's free space; a
// station's broker, device connections, ingest counters and refusals by reason code; a region
// office's NATS servers, devices connected, the workers alive (each with its partitions, or
// standing by) and which worker holds each partition (one none holds is marked: its devices'
// messages wait unacknowledged); the background scrub's progress. Read again every few seconds
// and at every alarm.
import type { VNode } from "preact";
import { useEffect } from "preact/hooks";
import { api, onLive } from "../api.js";
import { html, ErrorNote, Loading, useLoad } from "../ui.js";
import { bytes, duration, t, tk, when } from "../i18n.js";
import type { SystemAnswer as State } from "../../protocol/gateway-api.js";

const REFRESH_MS = 5000;
const INGEST = ["chunks", "duplicates", "refused", "failed", "forged", "acks", "paused"] as const;

export function System(): VNode {
  const s = useLoad(() => api<State>("GET", "/api/system"));
  useEffect(() => {
    const timer = setInterval(s.reload, REFRESH_MS);
    const off = onLive((ev) => { if (ev.type === "alarm") s.reload(); });
    return () => { clearInterval(timer); off(); };
  }, []);
  const d = s.data;
  return html`<section aria-labelledby="h-system">
    <h1 id="h-system">${t("system")}</h1>
    <${ErrorNote} error=${s.error} /><${Loading} loading=${s.loading && !d} />
    ${d ? html`<p class="muted">${d.kind === "region" ? t("sysRegion") : t("sysStation")} · ${t("sysReadAt", when(d.at, true))}</p>
      <dl class="facts">
        <dt>${t("sysDisk")}</dt><dd id="sys-disk"><span class=${"badge " + (d.disk.low ? "bad" : "good")}>${d.disk.low ? t("sysDiskLow") : t("sysDiskOk")}</span>
          ${" "}${t("sysDiskFree", bytes(d.disk.freeBytes))}${d.disk.minFreeBytes !== null ? `, ${t("sysDiskMin", bytes(d.disk.minFreeBytes))}` : ""}</dd>
      </dl>
      ${d.cluster ? html`<${Cluster} c=${d.cluster} at=${d.at} />` : null}
      ${d.ingest ? html`<h2 id="h-ingest">${t("sysIngest")}</h2>
        <dl class="facts">
          ${d.mqttPort !== undefined ? html`<dt>${t("sysMqttPort")}</dt><dd>${d.mqttPort}</dd>` : null}
          ${d.sessions ? html`<dt>${t("sysConnections")}</dt><dd id="sys-connections">${t("sysConnectionsN", d.sessions.connections, d.sessions.paused, bytes(d.sessions.backlogBytes))}</dd>` : null}
          ${INGEST.map((k) => html`<dt>${tk("sysIn_", k)}</dt><dd data-count=${k}>${(d.ingest![k] ?? 0).toLocaleString()}</dd>`)}
        </dl>` : null}
      ${d.refusals ? html`<h2 id="h-refusals">${t("sysRefusals")}</h2>
        ${Object.keys(d.refusals).length ? html`<table class="grid" id="refusals-table" aria-labelledby="h-refusals">
          <thead><tr><th scope="col">${t("sysCode")}</th><th scope="col" class="num">${t("sysTimes")}</th></tr></thead>
          <tbody>${Object.entries(d.refusals).sort((a, b) => b[1] - a[1]).map(([code, n]) => html`<tr key=${code}><th scope="row"><code>${code}</code></th><td class="num">${n}</td></tr>`)}</tbody>
        </table>` : html`<p class="muted">${t("none")}</p>`}` : null}
      <h2 id="h-scrub">${t("sysScrub")}</h2>
      <dl class="facts">
        <dt>${t("state")}</dt><dd>${d.scrub.running ? t("sysScrubRunning") : t("sysScrubIdle")}</dd>
        <dt>${t("sysScrubPasses")}</dt><dd>${d.scrub.passes}</dd>
        <dt>${t("sysScrubRecordings")}</dt><dd>${d.scrub.recordings.toLocaleString()} (${bytes(d.scrub.bytes)})</dd>
        <dt>${t("sysScrubDamaged")}</dt><dd><span class=${"badge " + (d.scrub.damaged ? "bad" : "good")}>${d.scrub.damaged}</span></dd>
      </dl>` : null}
  </section>`;
}

function Cluster({ c, at }: { c: NonNullable<State["cluster"]>; at: number }): VNode {
  const unserved = c.partitions.filter((p) => p.holder === null).length;
  return html`<h2 id="h-cluster">${t("sysCluster")}</h2>
    <dl class="facts">
      <dt>${t("sysNats")}</dt><dd><code>${c.natsServers}</code></dd>
      <dt>${t("sysWorkers")}</dt><dd id="sys-workers">${c.workers === null ? "—" : c.workers.length ? c.workers.map((w, i) => html`${i ? ", " : ""}<code>${w.name}</code> (${w.partitions.length ? t("sysHolds", w.partitions.join(" ")) : t("sysStandby")})`) : html`<span class="badge bad">${t("sysNoWorkers")}</span>`}</dd>
      <dt>${t("sysOnline")}</dt><dd>${c.devicesOnline === null ? t("sysOnlineUnknown") : c.devicesOnline}</dd>
      <dt>${t("sysPartitions")}</dt><dd id="sys-served"><span class=${"badge " + (unserved ? "bad" : "good")}>${unserved ? t("sysUnservedN", unserved, c.partitions.length) : t("sysAllServed", c.partitions.length)}</span></dd>
    </dl>
    <div class="scroll" tabIndex="0"><table class="grid" id="partitions-table" aria-labelledby="h-cluster">
      <thead><tr><th scope="col">${t("sysPartition")}</th><th scope="col">${t("sysWorker")}</th><th scope="col">${t("sysSince")}</th></tr></thead>
      <tbody>${c.partitions.map((p) => html`<tr key=${p.partition} data-partition=${p.partition} class=${p.holder === null ? "row-soon" : ""}>
        <th scope="row">${p.partition}</th>
        <td>${p.holder === null ? html`<span class="badge bad">${t("sysUnserved")}</span>` : html`<code>${p.holder}</code>`}</td>
        <td>${when(p.since, true)} (${duration(at - p.since)})</td></tr>`)}</tbody>
    </table></div>`;
}
