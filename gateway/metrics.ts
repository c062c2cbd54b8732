// Prometheus metrics (prom-client): what an operator scrapes from every gateway (and, in a
// cluster, every worker) at GET /metrics. Counters move where things happen (ingest's commits,
// the broker's refusals); gauges are read at scrape time from the parts that own them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface MetricSources {
  /** Live connections, sessions paused by backpressure, and their backlogs. */
  sessions: () => { connections: number; paused: number; backlogMax: number; backlogTotal: number; backlogBytes: number };
  /** Recordings held in memory and bytes buffered out of order. */
  ingest: () => { recordings: number; bufferedBytes: number };
  diskFreeBytes: () => number;
  scrub: () => { running: boolean; passes: number; recordings: number; bytes: number; damaged: number };
  /** The media journal's counts since start (store/media-journal.ts), where the gateway has one. */
  mediaJournal?: () => MediaJournalCounts | null;
}

export interface MediaJournalCounts {
  /** Writes recorded, the journal's own writes they took (each O_DSYNC), and their bytes. */
  records: number; writes: number; bytes: number;
  /** Journal files made clean (their writes synced into the recordings' files), and the file syncs that took, with the background ones. */
  checkpoints: number; fileSyncs: number;
  /** Records a stop had left out of their files, written to them again at this start. */
  replayed: number;
  /** Syncs of journalled files the disk refused, and the records written to their files again after one. */
  syncFailures: number; rewritten: number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly chunks = new Counter({ name: "evrec_chunks_committed_total", help: "Chunks verified and durably committed", registers: [this.registry] });
  readonly bytes = new Counter({ name: "evrec_bytes_committed_total", help: "Payload bytes verified and durably committed", registers: [this.registry] });
  /**
   * From a chunk's arrival at ingest (before it waits behind its connection's earlier messages) to
   * the end of the commit that made it durable. Buckets close together up to 100 ms, where a
   * station's commits fall, so a quantile read from them (histogram_quantile) is within a few ms.
   */
  readonly commitLatency = new Histogram({
    name: "evrec_commit_latency_seconds", help: "From a chunk's arrival at ingest to its durable commit",
    buckets: [0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.06, 0.07, 0.08, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });
  /** Each group commit's phases: media written, fsync'd, the transaction. */
  readonly commitPhase = new Histogram({
    name: "evrec_commit_phase_seconds", help: "Each group commit's phases: media writes (through the page cache with the media journal, durable when they return where files are opened O_DSYNC), syncs (the journal's write of the batch; without it an fsync per file, or with O_DSYNC only new directory entries), the database transaction", labelNames: ["phase"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: [this.registry],
  });
  readonly batchItems = new Histogram({ name: "evrec_commit_batch_items", help: "Items (recordings' shares) per group commit", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: [this.registry] });
  readonly refusals = new Counter({ name: "evrec_refusals_total", help: "Messages and connections refused, by reason code", labelNames: ["code"], registers: [this.registry] });

  constructor(src: MetricSources) {
    const r = [this.registry];
    new Gauge({ name: "evrec_connections", help: "MQTT connections with a session", registers: r, collect() { this.set(src.sessions().connections); } });
    new Gauge({ name: "evrec_sessions_paused", help: "Connections not read because ingest is behind on them (backpressure)", registers: r, collect() { this.set(src.sessions().paused); } });
    new Gauge({ name: "evrec_session_backlog_max", help: "The largest backlog of one connection: messages not yet handled plus commits not yet done", registers: r, collect() { this.set(src.sessions().backlogMax); } });
    new Gauge({ name: "evrec_session_backlog_total", help: "Backlogs over all connections", registers: r, collect() { this.set(src.sessions().backlogTotal); } });
    new Gauge({ name: "evrec_session_backlog_bytes", help: "Bytes of the backlogs over all connections (bounded by ingestBacklogMb)", registers: r, collect() { this.set(src.sessions().backlogBytes); } });
    new Gauge({ name: "evrec_recordings_in_memory", help: "Recordings ingest holds in memory", registers: r, collect() { this.set(src.ingest().recordings); } });
    new Gauge({ name: "evrec_buffered_bytes", help: "Chunk bytes held out of order", registers: r, collect() { this.set(src.ingest().bufferedBytes); } });
    new Gauge({ name: "evrec_disk_free_bytes", help: "Free space on the data disk", registers: r, collect() { this.set(src.diskFreeBytes()); } });
    new Gauge({ name: "evrec_scrub_running", help: "1 while a scrub pass runs", registers: r, collect() { this.set(src.scrub().running ? 1 : 0); } });
    new Gauge({ name: "evrec_scrub_passes", help: "Scrub passes since start", registers: r, collect() { this.set(src.scrub().passes); } });
    new Gauge({ name: "evrec_scrub_bytes", help: "Stored media bytes re-hashed by the scrub since start", registers: r, collect() { this.set(src.scrub().bytes); } });
    new Gauge({ name: "evrec_scrub_damaged", help: "Recordings the scrub found damaged since start", registers: r, collect() { this.set(src.scrub().damaged); } });
    if (src.mediaJournal) {
      const j = src.mediaJournal;
      // Counts kept by the journal, read at scrape time: each counter set to the journal's own.
      const count = (name: string, help: string, of: (c: MediaJournalCounts) => number) => new Counter({ name, help, registers: r, collect() {
        const c = j();
        if (!c) return;
        this.reset();
        this.inc(of(c));
      } });
      count("evrec_media_journal_records_total", "Media writes recorded in the media journal (a recording's share of a group commit)", (c) => c.records);
      count("evrec_media_journal_writes_total", "The media journal's own durable writes (one per group commit, unless it turned to its other file mid-way)", (c) => c.writes);
      count("evrec_media_journal_bytes_total", "Media bytes recorded in the media journal", (c) => c.bytes);
      count("evrec_media_journal_checkpoints_total", "Media journal files made clean: every recording file they wrote synced, then the file marked clean", (c) => c.checkpoints);
      count("evrec_media_file_syncs_total", "Journalled recordings' media files synced (fdatasync): in the background, at the media journal's checkpoints, and in place for a write too large for the journal", (c) => c.fileSyncs);
      count("evrec_media_sync_failures_total", "Syncs the disk refused of journalled media files (fdatasync) and of their directories (fsync): a storage fault; each raises the MEDIA_SYNC_FAILED alarm", (c) => c.syncFailures);
      count("evrec_media_journal_rewritten_records_total", "Media journal records written to their files again, from the journal, after a sync the disk refused", (c) => c.rewritten);
      new Gauge({ name: "evrec_media_journal_replayed_records", help: "Media journal records a stop had left out of their files, written to them again at this start (0 after a clean stop)", registers: r, collect() {
        const c = j();
        if (c) this.set(c.replayed);
      } });
    }
    collectDefaultMetrics({ register: this.registry, prefix: "evrec_" });
  }

  /** A group commit's size and the time of each of its phases (GroupCommitter's report). */
  batch(items: number, mediaS: number, syncS: number, sqlS: number): void {
    this.batchItems.observe(items);
    this.commitPhase.observe({ phase: "media" }, mediaS);
    this.commitPhase.observe({ phase: "fsync" }, syncS);
    this.commitPhase.observe({ phase: "transaction" }, sqlS);
  }

  /** Chunks and bytes made durable, and each one's commit latency. */
  committed(chunks: number, bytes: number, latenciesS: number[]): void {
    this.chunks.inc(chunks);
    this.bytes.inc(bytes);
    for (const l of latenciesS) this.commitLatency.observe(l);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
