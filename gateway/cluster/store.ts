// A cluster worker's metadata store: the one place that says which database the workers share.
// PostgreSQL when the gateway config names one (`db`: workers on several machines share it); without
// it, a SQLite file in the shared data directory (WAL: several processes on one machine only).
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { GatewayConfig } from "../config.js";
import { Db } from "../store/db.js";
import { CLUSTER_MIGRATIONS, migrate } from "../store/schema.js";
import { ALL_MIGRATIONS } from "../gateway.js";
import { StationKey } from "../secrets.js";
import { DeviceRegistry } from "../devices.js";

/** The shared database, migrated, the device registry over it, and the station key (it decrypts device roots). */
export async function openMetadata(config: GatewayConfig): Promise<{ db: Db; registry: DeviceRegistry; station: StationKey }> {
  const dir = resolve(config.dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const station = StationKey.loadOrCreate(join(dir, "station.key"));
  const db = await Db.open(config.db || join(dir, "gateway.db"));
  // The station's tables, and the workers' own (partition fences).
  await migrate(db, [...ALL_MIGRATIONS, CLUSTER_MIGRATIONS]);
  return { db, registry: new DeviceRegistry(db, station.key), station: station.key };
}
