// The enforcement model's tables: the unit tree, officers and their certificates, who held which
// device when, cases with their recording policy, clip-to-case links and their custody trail.
// Applied after the ingest set, whose `devices` and `recordings` tables it refers to.
import type { MigrationSet } from "../store/schema.js";

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
  ],
};

/**
 * SQL: assignment row `a` is in force at time expression `t` (used twice, so bind it twice).
 * Half-open, so a return and a re-checkout at the same instant hand over cleanly.
 */
export function assignmentInForceSql(a: string, t: string): string {
  return `${a}.checked_out_at <= ${t} AND (${a}.returned_at IS NULL OR ${a}.returned_at > ${t})`;
}
