// The gateway's tables, as named migration sets: each part of the gateway owns its own list
// (ingest here, the model, the audit log...), applied in order at start; `meta` records how far
// each set has been applied, so a part's migrations never renumber another's.
import type { Db } from "./db.js";

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
  ],
};

/** Apply the sets in order (gateway.ts lists them). */
export async function migrate(db: Db, sets: MigrationSet[]): Promise<void> {
  await db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  for (const set of sets) {
    const key = "schema:" + set.name;
    const row = await db.get<{ value: string }>("SELECT value FROM meta WHERE key = ?", [key]);
    for (let v = row ? Number(row.value) : 0; v < set.steps.length; v++) {
      await db.transaction(async () => {
        await db.exec(set.steps[v]);
        await db.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, String(v + 1)]);
      });
    }
  }
}
