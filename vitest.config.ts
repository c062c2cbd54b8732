import { existsSync } from "node:fs";
import { defineConfig } from "vitest/config";

// The store's tests, run a second time with the metadata in PostgreSQL (the project "postgres"):
// the tests that exercise store/ through the model, the audit log, alarms, reports, ingest
// commits, a restart and a kill -9, services with their audit entries, device history,
// retention, the scrub, exports with their approvals, the cluster workers' fence. One server
// for the run (test/helpers/postgres-setup.ts), a schema per gateway. *.pg.test.ts run only there.
const STORE_TESTS = [
  "test/gateway/model.test.ts", "test/gateway/audit.test.ts", "test/gateway/alarms.test.ts", "test/gateway/reports.test.ts",
  "test/gateway/ingest.test.ts", "test/gateway/commit.test.ts", "test/gateway/crash.test.ts", "test/gateway/restart.test.ts",
  "test/gateway/services.test.ts", "test/gateway/history.test.ts",
  "test/evidence/retention.test.ts", "test/evidence/purge-pass.test.ts", "test/evidence/log-verify.test.ts", "test/evidence/scrub.test.ts", "test/export/export.test.ts",
  "test/cluster/fence.test.ts", "test/gateway/media-files.test.ts",
];
// Without Debian's PostgreSQL the project keeps only its own file, whose tests say why they skip.
const PG_BIN = process.env.EVREC_PG_BIN || "/usr/lib/postgresql/15/bin";
const HAS_PG = existsSync(`${PG_BIN}/postgres`);
// The cluster's workers, and the region's office beside them, share their metadata in PostgreSQL,
// as a region would run them: with the server there, these run in that project only (SQLite otherwise).
const CLUSTER_TESTS = ["test/cluster/cluster.test.ts", "test/cluster/office.test.ts", "test/cluster/fleet.test.ts"];
// The firmware on a board's memory: minutes of interpreters running, little of this process's
// time. Its own project, so that `npm test` can run it in the second vitest process, beside the
// PostgreSQL project, not after everything else in the first.
const BOARD_TEST = "test/firmware/memory.test.ts";

export default defineConfig({
  test: {
    testTimeout: 30000,
    hookTimeout: 30000,
    projects: [
      { extends: true, test: { name: "sqlite", include: ["test/**/*.test.ts", "!test/**/*.pg.test.ts", "!" + BOARD_TEST, ...(HAS_PG ? CLUSTER_TESTS.map((t) => "!" + t) : [])] } },
      { extends: true, test: { name: "board", include: [BOARD_TEST] } },
      {
        extends: true,
        test: {
          name: "postgres",
          include: [...(HAS_PG ? [...STORE_TESTS, ...CLUSTER_TESTS] : []), "test/**/*.pg.test.ts"],
          env: { GATEWAY_TEST_DB: "postgres" },
          globalSetup: ["test/helpers/postgres-setup.ts"],
        },
      },
    ],
  },
});
