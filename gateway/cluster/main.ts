// `npm start -- --cluster FILE`: one gateway worker as a process. Clean stop on SIGINT and SIGTERM
// (its partitions handed over at once); a killed worker's partitions move after the lease time.
import { ConfigError } from "../config.js";
import { createLogger } from "../log.js";
import { clusterHelpText, loadClusterConfig } from "./config.js";
import { startWorker } from "./worker.js";

export async function runWorker(argv: string[]): Promise<void> {
  const i = argv.indexOf("--cluster");
  if (argv.includes("--cluster-help") || argv.includes("--help") || i < 0 || !argv[i + 1]) {
    console.log(clusterHelpText());
    process.exit(argv.includes("--cluster-help") || argv.includes("--help") ? 0 : 2);
  }
  let cfg;
  try {
    cfg = loadClusterConfig(argv[i + 1]);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`gateway: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(cfg.gateway.logLevel).child({ worker: cfg.cluster.worker });
  const w = await startWorker(cfg, log);
  console.log(`gateway: cluster worker ${w.name} on ${cfg.cluster.natsServers}, partitions ${w.partitions().join(",") || "none yet"}, metrics on :${w.metricsPort}/metrics`);
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig }, "shutting down");
    await w.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}
