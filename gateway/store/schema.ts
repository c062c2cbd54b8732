// The gateway's tables. Migrations run in order at start; `meta.schema` holds the last applied.
import type { Db } from "./db.js";

const MIGRATIONS: string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE devices (
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
];

export async function migrate(db: Db): Promise<number> {
  await db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  const row = await db.get<{ value: string }>("SELECT value FROM meta WHERE key = 'schema'");
  let v = row ? Number(row.value) : 0;
  for (; v < MIGRATIONS.length; v++) {
    const sql = v === 0 ? MIGRATIONS[0].replace("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);", "") : MIGRATIONS[v];
    await db.transaction(async () => {
      await db.exec(sql);
      await db.run("INSERT INTO meta (key, value) VALUES ('schema', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [String(v + 1)]);
    });
  }
  return v;
}
