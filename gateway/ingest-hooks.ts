// What the station and a cluster worker both give their Ingest: its limits from the config, and
// where its refusals, alarms, case-tag links and commits go. One place, so the two never differ.
import type { GatewayConfig } from "./config.js";
import type { IngestOptions } from "./ingest/pipeline.js";
import type { Refusals } from "./broker/admission.js";
import type { Alarms } from "./alarms.js";
import type { Model } from "./model/model.js";
import type { Metrics } from "./metrics.js";
import type { Logger } from "./log.js";
import { FencedError } from "./store/fences.js";
import { storeUnavailable } from "./store/db.js";
import type { AlarmSaid } from "../protocol/alarm-details.js";

export interface IngestParts {
  refusals: Refusals;
  alarms: Alarms;
  model: Model;
  log: Logger;
  /** Made after the Ingest (its gauges read the Ingest), so read when a commit is counted. */
  metrics: () => Metrics;
}

export function ingestOptions(g: GatewayConfig, p: IngestParts): IngestOptions {
  return {
    beaconIntervalS: g.beaconIntervalS,
    ackIntervalMs: g.ackIntervalMs,
    refuse: (c, f) => p.refusals.note(c, f),
    // Failed verdicts and equivocation are evidence of tampering: the admin hears of them.
    alarm: (kind, subject, detail, device) => raise(p, kind, subject, detail, device),
    // A case tag links a clip only to a case of its own units; any other tag is kept, and an admin told.
    linkByTag: async (device, recording) => {
      const l = await p.model.linkByTag(device, recording);
      if ("refused" in l && l.refused === "CASE_OUT_OF_SCOPE") await raise(p, "CASE_TAG_OUT_OF_SCOPE", `${device}/${recording}`, l.detail, device);
    },
    maxRecordings: g.ingestMaxRecordings,
    maxBufferedBytes: g.ingestBufferMb * 1048576,
    maxIngestBytes: g.ingestBacklogMb * 1048576,
    idleMs: g.ingestIdleMs,
    committed: (n, bytes, latencies) => p.metrics().committed(n, bytes, latencies),
  };
}

/**
 * An alarm about a device. One a cluster worker's fence refused is the partition's new holder's to
 * raise (alarms.ts); one the store could not keep (the database away) is thrown, for ingest to
 * raise again later; any other failure is logged.
 */
function raise(p: IngestParts, kind: string, subject: string, detail: string | AlarmSaid, device: string): Promise<void> {
  return p.alarms.raise(kind, subject, detail, device).then(() => undefined, (e) => {
    if (storeUnavailable(e)) throw e;
    if (e instanceof FencedError) p.log.info({ alarm: kind, subject, err: e.message }, "alarm left to the partition's holder");
    else p.log.error({ alarm: kind, subject, err: String(e) }, "alarm not recorded");
  });
}
