// The gateway's tables, as named migration sets: each part of the gateway owns its own list
// (ingest here, the model, the audit log...), applied in order at start; `meta` records how far
// each set has been applied, so a part's migrations never renumber another's.
import type { Db } from "./db.js";
import { GatewayError } from "../errors.js";

export interface MigrationSet {
  name: string;
  steps: string[];
}

export const INGEST_MIGRATIONS: MigrationSet = {
  name: "ingest",
  steps: [
    `CREATE TABLE devices (
       id TEXT PRIMARY KEY,
       kind TEXT NOT NULL DEFAULT 'body' CHECK (kind IN ('body', 'fixed')),
       state TEXT NOT NULL DEFAULT 'provisioned' CHECK (state IN ('provisioned', 'active', 'lost', 'retired', 'revoked')),
       root_enc BLOB NOT NULL,
       chip_serial TEXT,
       created_at INTEGER NOT NULL,
       last_seen INTEGER,
       last_hello TEXT
     );
     CREATE TABLE recordings (
       device_id TEXT NOT NULL REFERENCES devices(id),
       recording_id INTEGER NOT NULL,
       genesis BLOB,
       c0 BLOB,
       case_tag TEXT,
       start_ms INTEGER,
       pre_event_ms INTEGER,
       linked_seq INTEGER NOT NULL DEFAULT 0,
       last_chain BLOB,
       total_bytes INTEGER NOT NULL DEFAULT 0,
       last_time_ms INTEGER NOT NULL DEFAULT -1,
       end_ms INTEGER,
       seal_block BLOB,
       seal_tag BLOB,
       seal_case_tag TEXT,
       seal_value BLOB,
       interrupted INTEGER NOT NULL DEFAULT 0,
       verdict TEXT NOT NULL DEFAULT 'incomplete',
       final INTEGER NOT NULL DEFAULT 0,
       reasons TEXT NOT NULL DEFAULT '[]',
       media_path TEXT NOT NULL,
       first_received INTEGER NOT NULL,
       last_received INTEGER NOT NULL,
       PRIMARY KEY (device_id, recording_id)
     );
     CREATE TABLE chunks (
       device_id TEXT NOT NULL,
       recording_id INTEGER NOT NULL,
       seq INTEGER NOT NULL,
       header BLOB NOT NULL,
       tag BLOB NOT NULL,
       chain BLOB NOT NULL,
       flags INTEGER NOT NULL,
       time_ms INTEGER NOT NULL,
       duration_ms INTEGER NOT NULL,
       length INTEGER NOT NULL,
       media_offset INTEGER NOT NULL,
       received_at INTEGER NOT NULL,
       PRIMARY KEY (device_id, recording_id, seq)
     );
     CREATE TABLE evidence (
       id INTEGER PRIMARY KEY,
       device_id TEXT NOT NULL,
       recording_id INTEGER,
       seq INTEGER,
       reason TEXT NOT NULL,
       message BLOB NOT NULL,
       received_at INTEGER NOT NULL
     );`,
    // Recordings uploaded while the device was marked lost: still evidence, flagged (R-REV-1).
    `ALTER TABLE recordings ADD COLUMN device_lost INTEGER NOT NULL DEFAULT 0;`,
    // The device's last Status heartbeat, as JSON (R-MSG-7).
    `ALTER TABLE devices ADD COLUMN last_status TEXT;`,
    // The seq ranges lost on the device (R-VER-10) and whether the genesis link was checked (R-VER-1):
    // both part of the state a restart resumes, so an honest loss never turns into a failure.
    `ALTER TABLE recordings ADD COLUMN lost TEXT NOT NULL DEFAULT '[]';
     ALTER TABLE recordings ADD COLUMN prev_checked INTEGER NOT NULL DEFAULT 0;`,
    // When the clip started in station time (device start + clock offset, bounded by the beacon its
    // genesis carries and its receipt), and what was wrong with the device's times, if anything.
    `ALTER TABLE recordings ADD COLUMN clip_at_ms INTEGER;
     ALTER TABLE recordings ADD COLUMN time_flag TEXT;`,
    // When the time beacon the genesis carries was sent: the start's lower bound (R-TIME-2).
    `ALTER TABLE recordings ADD COLUMN beacon_sent_ms INTEGER;`,
    // A case link a start's or a seal's case tag asks for, not yet made (the count of such asks;
    // null once made or refused for good): kept with the commit that asks, so a link the process's
    // end cut short is made later (ingest's resumeTagLinks and resumeUndone). The index holds only
    // the few rows waiting.
    `ALTER TABLE recordings ADD COLUMN tag_link_pending INTEGER;
     CREATE INDEX recordings_tag_link_pending ON recordings (device_id, recording_id) WHERE tag_link_pending IS NOT NULL;`,
    // The reads of a station after months of recordings (docs/SCALE.md, "The station after 180
    // days"): clips by their time in the station's clock (the clips page's period, as
    // listRecordings writes it) and by their start (statistics, case suggestions), found without
    // reading every recording. Both are written once a recording, when its start is stored.
    `CREATE INDEX recordings_clip_at ON recordings ((COALESCE(clip_at_ms, start_ms)));
     CREATE INDEX recordings_start ON recordings (start_ms);`,
    // A clip's media time, the sum of its stored chunks' durations (what the statistics count),
    // kept with the recording by the commit's own update of its row, so a month's statistics read
    // no chunk row; filled here for the recordings already stored.
    `ALTER TABLE recordings ADD COLUMN media_ms INTEGER NOT NULL DEFAULT 0;
     UPDATE recordings SET media_ms = COALESCE((SELECT SUM(k.duration_ms) FROM chunks k WHERE k.device_id = recordings.device_id AND k.recording_id = recordings.recording_id), 0);`,
    // The gateway's timed passes over recordings, beside ingest's commits (docs/SCALE.md, "The
    // station after 180 days"): the upload-deadline check (once a minute) looks at the recordings
    // not wholly uploaded, the hourly pass over alarms left unraised at the failed and the
    // time-flagged ones. Each index holds only those few, not every recording the station keeps.
    `CREATE INDEX recordings_pending ON recordings (device_id, recording_id) WHERE verdict = 'incomplete' AND final = 0;
     CREATE INDEX recordings_failed ON recordings (device_id, recording_id) WHERE verdict = 'failed';
     CREATE INDEX recordings_time_flagged ON recordings (device_id, recording_id) WHERE time_flag IS NOT NULL;`,
    // The clips listing newest first (listRecordings): its order, the clip's time (-1 while the
    // start is not stored) then device and recording, and a page's keyset from where the last
    // ended, walked in this index. The period filter still reads recordings_clip_at.
    `CREATE INDEX recordings_listing ON recordings ((COALESCE(clip_at_ms, start_ms, -1)), device_id, recording_id);`,
  ],
};

// The enforcement model's tables: the unit tree, officers and their certificates, who held which
// device when, cases with their recording policy, clip-to-case links and their custody trail.
/** The model's migration set; apply after INGEST_MIGRATIONS. */
export const MODEL_MIGRATIONS: MigrationSet = {
  name: "model",
  steps: [
    `CREATE TABLE units (
       id INTEGER PRIMARY KEY,
       parent_id INTEGER REFERENCES units(id),
       name TEXT NOT NULL,
       level TEXT NOT NULL CHECK (level IN ('region', 'city', 'county', 'agency'))
     );
     CREATE INDEX units_parent ON units(parent_id);
     CREATE TABLE officers (
       id INTEGER PRIMARY KEY,
       badge TEXT NOT NULL UNIQUE,
       name TEXT NOT NULL,
       unit_id INTEGER NOT NULL REFERENCES units(id),
       role TEXT NOT NULL CHECK (role IN ('enforcement', 'legal_reviewer', 'supervisor')),
       cert_no TEXT,
       cert_valid_from TEXT,
       cert_valid_to TEXT,
       active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
       -- local dates YYYY-MM-DD compare correctly as text
       CHECK ((cert_valid_from IS NULL) = (cert_valid_to IS NULL)),
       CHECK (cert_valid_from IS NULL OR cert_valid_from <= cert_valid_to)
     );
     CREATE INDEX officers_unit ON officers(unit_id);
     ALTER TABLE devices ADD COLUMN unit_id INTEGER REFERENCES units(id);
     ALTER TABLE devices ADD COLUMN room TEXT;
     CREATE TABLE assignments (
       id INTEGER PRIMARY KEY,
       device_id TEXT NOT NULL REFERENCES devices(id),
       officer_id INTEGER REFERENCES officers(id),
       room TEXT,
       checked_out_at INTEGER NOT NULL,
       returned_at INTEGER,
       CHECK ((officer_id IS NULL) <> (room IS NULL)),
       CHECK (returned_at IS NULL OR returned_at >= checked_out_at)
     );
     -- the database itself refuses a second open checkout of one device
     CREATE UNIQUE INDEX assignments_open ON assignments(device_id) WHERE returned_at IS NULL;
     CREATE INDEX assignments_device_time ON assignments(device_id, checked_out_at);
     CREATE INDEX assignments_officer ON assignments(officer_id);
     CREATE TABLE cases (
       id INTEGER PRIMARY KEY,
       number TEXT NOT NULL UNIQUE,
       unit_id INTEGER NOT NULL REFERENCES units(id),
       category TEXT NOT NULL CHECK (category IN ('penalty', 'compulsion', 'inspection', 'expropriation', 'licensing')),
       activity_kind TEXT NOT NULL,
       policy TEXT NOT NULL CHECK (policy IN ('FULL', 'KEY_STEPS', 'OPTIONAL')),
       window_start INTEGER NOT NULL,
       window_end INTEGER NOT NULL,
       confidentiality INTEGER NOT NULL DEFAULT 0 CHECK (confidentiality BETWEEN 0 AND 3),
       room TEXT,
       CHECK (window_end > window_start)
     );
     CREATE INDEX cases_unit ON cases(unit_id);
     CREATE INDEX cases_window ON cases(window_start, window_end);
     CREATE TABLE clip_links (
       id INTEGER PRIMARY KEY,
       device_id TEXT NOT NULL,
       recording_id INTEGER NOT NULL,
       case_id INTEGER NOT NULL REFERENCES cases(id),
       linked_by TEXT NOT NULL,
       reason TEXT NOT NULL,
       at INTEGER NOT NULL,
       unlinked_at INTEGER,
       FOREIGN KEY (device_id, recording_id) REFERENCES recordings(device_id, recording_id)
     );
     CREATE UNIQUE INDEX clip_links_open ON clip_links(device_id, recording_id, case_id) WHERE unlinked_at IS NULL;
     CREATE INDEX clip_links_case ON clip_links(case_id);
     CREATE TABLE custody_events (
       id INTEGER PRIMARY KEY,
       at INTEGER NOT NULL,
       actor TEXT NOT NULL,
       action TEXT NOT NULL CHECK (action IN ('link', 'unlink')),
       device_id TEXT NOT NULL,
       recording_id INTEGER NOT NULL,
       case_id INTEGER NOT NULL REFERENCES cases(id),
       reason TEXT NOT NULL
     );
     CREATE INDEX custody_events_clip ON custody_events(device_id, recording_id);`,
    // A unit's own fleet ratio (officers per recorder set), overriding the station's; NULL: the station's.
    `ALTER TABLE units ADD COLUMN fleet_ratio REAL CHECK (fleet_ratio IS NULL OR fleet_ratio > 0);`,
  ],
};

/** Accounts and API tokens (stored only as their SHA-256). */
export const ACCOUNT_MIGRATIONS: MigrationSet = {
  name: "accounts",
  steps: [
    `CREATE TABLE accounts (
       name TEXT PRIMARY KEY,
       role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'legal_reviewer', 'officer')),
       officer_badge TEXT,
       created_at INTEGER NOT NULL,
       disabled_at INTEGER
     );
     CREATE TABLE tokens (
       hash TEXT PRIMARY KEY,
       account TEXT NOT NULL REFERENCES accounts(name),
       created_at INTEGER NOT NULL,
       revoked_at INTEGER
     );`,
    // The console's sign-in: a password (scrypt, its parameters in the string) and sessions,
    // kept only as the SHA-256 of their cookie value.
    `ALTER TABLE accounts ADD COLUMN password_hash TEXT;
     CREATE TABLE sessions (
       hash TEXT PRIMARY KEY,
       account TEXT NOT NULL REFERENCES accounts(name),
       csrf TEXT NOT NULL,
       created_at INTEGER NOT NULL,
       last_used INTEGER NOT NULL,
       ended_at INTEGER
     );`,
  ],
};

/** The hash-chained audit log (audit/log.ts computes and checks the chain). */
export const AUDIT_MIGRATIONS: MigrationSet = {
  name: "audit",
  steps: [
    // seq is assigned by append(), not by AUTOINCREMENT: it is hashed, so it must be known
    // before the row is written. The triggers stop the gateway's own code from editing history;
    // they are no defence against someone with the file (that is what verify() is for).
    `CREATE TABLE audit_log (
       seq INTEGER PRIMARY KEY,
       at INTEGER NOT NULL,
       actor TEXT NOT NULL,
       action TEXT NOT NULL,
       target TEXT,
       reason TEXT,
       details TEXT,
       prev TEXT NOT NULL,
       hash TEXT NOT NULL
     );
     CREATE INDEX audit_log_actor ON audit_log (actor, seq);
     CREATE INDEX audit_log_action ON audit_log (action, seq);
     CREATE INDEX audit_log_target ON audit_log (target, seq);
     CREATE INDEX audit_log_at ON audit_log (at);
     CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
     CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;`,
  ],
};

/** Alarms: one open per (kind, subject). */
export const ALARM_MIGRATIONS: MigrationSet = {
  name: "alarms",
  steps: [
    // The partial unique index is what makes raise() idempotent, even for two raises at once.
    `CREATE TABLE alarms (
       id INTEGER PRIMARY KEY,
       kind TEXT NOT NULL,
       subject TEXT NOT NULL,
       detail TEXT NOT NULL,
       count INTEGER NOT NULL DEFAULT 1,
       first_at INTEGER NOT NULL,
       last_at INTEGER NOT NULL,
       cleared_at INTEGER,
       cleared_by TEXT,
       clear_reason TEXT
     );
     CREATE UNIQUE INDEX alarms_open ON alarms (kind, subject) WHERE cleared_at IS NULL;
     CREATE INDEX alarms_last ON alarms (last_at);`,
    // The words as a key and values (protocol/alarm-details.ts), JSON, for the CLI and the console to
    // say in either language; null for an alarm raised with words only, and for every older one.
    `ALTER TABLE alarms ADD COLUMN said TEXT;`,
    // Whether an alarm of a kind was ever raised for a subject, open or cleared (the hourly pass
    // over what a run left unraised asks it of each failed or time-flagged recording): found by
    // index, not by reading every alarm ever raised for each.
    `CREATE INDEX alarms_subject ON alarms (kind, subject);`,
  ],
};

/**
 * Cluster workers only (gateway/cluster/store.ts applies it; a station never has the table): each
 * partition's fencing token, the JetStream sequence of the lease message its holder took it with
 * (store/fences.ts). Raised only, never lowered.
 */
export const CLUSTER_MIGRATIONS: MigrationSet = {
  name: "cluster",
  steps: [
    `CREATE TABLE partition_fences (
       part INTEGER NOT NULL,
       holder TEXT NOT NULL,
       token INTEGER NOT NULL,
       since INTEGER NOT NULL,
       PRIMARY KEY (part)
     );`,
  ],
};

/**
 * Apply the sets in order (gateway.ts lists them). The steps are written in SQLite's DDL; the
 * driver spells them for its engine (db.ddl). Each step's level is read again inside its
 * transaction, so two processes starting at once (the gateway and the admin CLI) apply it once.
 * Processes started together on a new database (a region's workers and office) can still race to
 * make the first table: the loser's step fails (the table exists) and, tried again, finds the
 * schema at its version.
 */
export async function migrate(db: Db, sets: MigrationSet[]): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      return await migrateOnce(db, sets);
    } catch (e) {
      if (tries >= 3 || (e instanceof GatewayError && e.code === "SCHEMA_NEWER")) throw e;
      await new Promise((r) => setTimeout(r, 200 * tries));
    }
  }
}

async function migrateOnce(db: Db, sets: MigrationSet[]): Promise<void> {
  await db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  const level = async (key: string) => Number((await db.get<{ value: string }>("SELECT value FROM meta WHERE key = ?", [key]))?.value ?? 0);
  for (const set of sets) {
    const key = "schema:" + set.name;
    const at = await level(key);
    // A database a newer version migrated (an upgrade rolled back): its tables have what this code
    // does not know (columns it would not fill, rules it would not keep), so it is not run on them.
    if (at > set.steps.length) {
      throw new GatewayError("SCHEMA_NEWER", `the database was migrated by a newer version of the gateway (its ${set.name} tables at step ${at}, this version knows ${set.steps.length}): run that version again, or restore the backup taken before the upgrade`);
    }
    for (let v = at; v < set.steps.length; v++) {
      await db.transaction(async () => {
        if ((await level(key)) > v) return;
        await db.exec(db.ddl(set.steps[v]));
        await db.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, String(v + 1)]);
      });
    }
  }
}
