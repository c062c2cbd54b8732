// A cluster worker's metadata store: the one place that says which database the workers share.
// PostgreSQL when the gateway config names one (`db`: workers on several machines share it); without
// it, a SQLite file in the shared data directory (WAL: several processes on one machine only).
//
// The station key (`station.key`, which decrypts every device's root in the registry) is the
// region's: the office makes it at its first start, in its data directory, and an operator copies
// it to each worker's (docs/SCALE.md). A worker never makes one: a worker that made its own could
// read no device's secret, and its devices were refused at connect while it logged a crypto error
// every authorization sync. So a worker without one stops (STATION_KEY_MISSING), and one whose key
// opens none of the registry's secrets (another region's) stops too (STATION_KEY_MISMATCH).
import { existsSync } from "node:fs";
import { prepareDataDir } from "../datadir.js";
import { join, resolve } from "node:path";
import type { GatewayConfig } from "../config.js";
import { Db } from "../store/db.js";
import { CLUSTER_MIGRATIONS, migrate } from "../store/schema.js";
import { ALL_MIGRATIONS } from "../gateway.js";
import { StationKey } from "../secrets.js";
import { DeviceRegistry, checkStationKey } from "../devices.js";
import { GatewayError } from "../errors.js";

/** What a worker whose station key is not the region's is told to do. */
export const WORKER_KEY_REMEDY = "it is not this region's key (one made by a worker, or another region's). Copy station.key from the office's data directory to this worker's data directory (mode 0600), replacing this one, then start the worker again";

/**
 * The shared database, migrated, the device registry over it, and the station key (it decrypts
 * device roots). `worker`: the key must be there already (it is never made here) and must open the
 * registry's secrets; without it, as for the tools that provision a region on a fresh data
 * directory, a missing key is made.
 */
export async function openMetadata(config: GatewayConfig, o: { worker?: boolean } = {}): Promise<{ db: Db; registry: DeviceRegistry; station: StationKey }> {
  const dir = resolve(config.dataDir);
  prepareDataDir(dir, { create: true });
  const keyFile = join(dir, "station.key");
  if (o.worker && !existsSync(keyFile)) {
    throw new GatewayError("STATION_KEY_MISSING", `no station key at ${keyFile}: a worker never makes one (it would open no device's secret). The office makes the region's at its first start (npm start -- --cluster FILE --office); copy station.key from the office's data directory to ${dir} (mode 0600), then start the worker again`);
  }
  let station: StationKey;
  try {
    station = StationKey.loadOrCreate(keyFile).key;
  } catch (e) {
    if (!o.worker) throw e;
    throw new GatewayError("STATION_KEY_INVALID", `${(e as Error).message}: copy station.key from the office's data directory again`, { cause: e });
  }
  const db = await Db.open(config.db || join(dir, "gateway.db"));
  try {
    // The station's tables, and the workers' own (partition fences).
    await migrate(db, [...ALL_MIGRATIONS, CLUSTER_MIGRATIONS]);
    const registry = new DeviceRegistry(db, station);
    if (o.worker) await checkStationKey(registry, keyFile, WORKER_KEY_REMEDY);
    return { db, registry, station };
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}
