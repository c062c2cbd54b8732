// The summary table a run prints (the CLI and the demo).
import type { Report } from "./run.js";

export function summary(r: Report): string {
  const rows: [string, string][] = [
    ["scenario", `${r.scenario} (${r.engine} engine, seed ${r.seed})`],
    ["devices", String(r.devices)],
    ["duration", `${(r.durationMs / 1000).toFixed(0)} s scenario, ${(r.wallMs / 1000).toFixed(1)} s wall`],
    ["recordings", String(r.recordings)],
    ["verdicts", Object.entries(r.verdicts).map(([k, v]) => `${k} ${v}`).join(", ") || "none"],
    ["interrupted", String(r.interrupted)],
    ["linked (officer and case)", `${r.linked} of ${r.recordings}`],
    ["chunks stored", `${r.chunks} (${(r.bytes / 1048576).toFixed(1)} MiB)`],
    ["chunks lost on devices", String(r.lostChunks)],
    ["connections lost", Object.entries(r.disconnects).map(([k, v]) => `${k} ${v}`).join(", ") || "none"],
    ["alarms", r.alarms.length ? r.alarms.slice(0, 5).join("; ") + (r.alarms.length > 5 ? ` (+${r.alarms.length - 5})` : "") : "none"],
    ["simulator process", `RSS ${r.resources.rssMb} MiB, CPU ${r.resources.cpuS} s`],
    ["result", r.ok ? "PASS: the gateway reports what the scenario expects" : `FAIL: ${r.failures.length} expectation(s) not met`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`);
  if (!r.ok) lines.push(...r.failures.slice(0, 20).map((f) => `    - ${f}`), ...(r.failures.length > 20 ? [`    ... ${r.failures.length - 20} more (see --report)`] : []));
  if (!r.ok) {
    // The console of the first devices that ended with an error: what the device itself said.
    for (const d of r.perDevice.filter((x) => x.console).slice(0, 3)) {
      lines.push(`  ${d.id} (last error ${d.lastError}), its console:`, ...(d.console as string[]).slice(-12).map((l) => `    | ${l}`));
    }
  }
  return lines.join("\n");
}
