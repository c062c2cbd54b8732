// `npm start -- --cluster FILE`: one gateway worker as a process; with `--office`, the region's
// office (API, console, exports, transparency log, scrub) beside the workers instead. Clean stop
// on SIGINT and SIGTERM (a worker's partitions handed over at once); a killed worker's partitions
// move after the lease time.
import { ConfigError } from "../config.js";
import { createLogger } from "../log.js";
import { clusterHelpText, loadClusterConfig } from "./config.js";
import { startWorker } from "./worker.js";
import { startClusterOffice } from "./office.js";
import { IdentityError } from "../evidence/identity.js";
import { GatewayError } from "../errors.js";
import { argPath } from "../../protocol/shell-path.js";

/**
 * A worker's or an office's exit code when its start fails, by the reason's code. 1: what may pass
 * by itself, without anyone mending anything (a service manager starts the process again): NATS
 * not answering yet (NATS_UNREACHABLE), JetStream's streams without a leader yet
 * (JETSTREAM_UNAVAILABLE), PostgreSQL not up yet (DB_UNREACHABLE). 2: what must be mended first,
 * and starting again changes nothing: the file, a login refused (NATS_LOGIN_REFUSED, DB_REFUSED),
 * the station key missing or another region's, the partition count differing, a port taken, the
 * data directory in use, the region's identity.
 */
const PASSES_BY_ITSELF = new Set(["NATS_UNREACHABLE", "JETSTREAM_UNAVAILABLE", "DB_UNREACHABLE"]);
export const exitCodeFor = (code: string | undefined): 1 | 2 => (code !== undefined && PASSES_BY_ITSELF.has(code) ? 1 : 2);

export async function runWorker(argv: string[]): Promise<void> {
  const i = argv.indexOf("--cluster");
  if (argv.includes("--cluster-help") || argv.includes("--help")) {
    console.log(clusterHelpText());
    process.exit(0);
  }
  if (i < 0 || !argv[i + 1] || argv[i + 1].startsWith("--")) {
    console.error("gateway: CONFIG: --cluster needs the cluster's file: npm start -- --cluster FILE (see --cluster-help)");
    process.exit(2);
  }
  // Every other option of a worker or an office is in its file; one given here would be ignored.
  const other = argv.filter((a, j) => j !== i && j !== i + 1 && a !== "--office");
  if (other.length) {
    console.error(`gateway: CONFIG: ${other.join(" ")}: with --cluster, options go in the cluster's file (its "gateway" section for the station's; see --cluster-help)`);
    process.exit(2);
  }
  let cfg;
  try {
    cfg = loadClusterConfig(argPath(argv[i + 1]));
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`gateway: ${e.code}: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const office = argv.includes("--office");
  const log = createLogger(cfg.gateway.logLevel).child(office ? { office: cfg.cluster.worker } : { worker: cfg.cluster.worker });
  let close: () => Promise<void>;
  // A bad witness entry, a region identity that does not match, a data directory in use, NATS or
  // PostgreSQL not there or refusing the login, no station key, a partition count that differs, a
  // port taken: said in one line with its reason code, not a stack trace.
  const failed = (e: unknown): never => {
    if (e instanceof ConfigError || e instanceof IdentityError || e instanceof GatewayError) {
      const code = (e as { code?: string }).code;
      console.error(`gateway: ${code ? code + ": " : ""}${e.message}`);
      // Exit 1 for what may pass by itself, 2 for what must be mended first (exitCodeFor).
      process.exit(e instanceof GatewayError ? exitCodeFor(code) : 2);
    }
    throw e;
  };
  if (office) {
    const o = await startClusterOffice(cfg, log).catch(failed);
    console.log(`gateway: region office on ${cfg.cluster.natsServers}; API on ${o.office.apiScheme}://${cfg.gateway.host === "0.0.0.0" ? "127.0.0.1" : cfg.gateway.host}:${o.httpPort}/api`);
    if (o.adminTokenFile) console.log(`gateway: first start: admin account created, its token is in ${o.adminTokenFile} (mode 0600)`);
    close = () => o.close();
  } else {
    const w = await startWorker(cfg, log).catch(failed);
    console.log(`gateway: cluster worker ${w.name} on ${cfg.cluster.natsServers}, partitions ${w.partitions().join(",") || "none yet"}, metrics on :${w.metricsPort}/metrics`);
    close = () => w.close();
  }
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig }, "shutting down");
    await close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}
