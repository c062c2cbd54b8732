// `npm start`: the station gateway as a process. Clean shutdown on SIGINT and SIGTERM.
import { ConfigError, helpText, loadConfig } from "./config.js";
import { startGateway } from "./gateway.js";
import { IdentityError } from "./evidence/identity.js";
import { resolve } from "node:path";
import { GatewayError } from "./errors.js";
import { dbLabel } from "./store/db.js";

// `--cluster FILE` (or --cluster=FILE, as every option takes its value): a worker on a NATS
// cluster instead of the station (docs/SCALE.md).
const argv = process.argv.slice(2).flatMap((a) => (a.startsWith("--cluster=") ? ["--cluster", a.slice("--cluster=".length)] : [a]));
if (argv.includes("--cluster") || argv.includes("--cluster-help")) {
  const { runWorker } = await import("./cluster/main.js");
  await runWorker(argv);
} else {
  await runStation();
}

async function runStation(): Promise<void> {
  let parsed;
  try {
    parsed = loadConfig(process.argv.slice(2), process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`gateway: ${e.code}: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  if (parsed.help) {
    console.log(helpText());
    process.exit(0);
  }
  let gw: Awaited<ReturnType<typeof startGateway>>;
  try {
    gw = await startGateway(parsed.config);
  } catch (e) {
    // A bad --witnesses, or a station identity that does not match (renamed, key missing): say why.
    if (e instanceof ConfigError || e instanceof IdentityError || e instanceof GatewayError) {
      console.error(`gateway: ${(e as { code?: string }).code ? (e as { code: string }).code + ": " : ""}${e.message}`);
      process.exit(2);
    }
    // A port already taken: said in one line, not a stack trace.
    const err = e as NodeJS.ErrnoException & { port?: number; address?: string };
    if (err.code === "EADDRINUSE" || err.code === "EACCES") {
      console.error(`gateway: PORT_IN_USE: ${err.address ?? parsed.config.host}:${err.port ?? "?"} is ${err.code === "EACCES" ? "not allowed" : "in use (another gateway?)"}; choose others with --mqtt-port, --http-port, --tls-port`);
      process.exit(2);
    }
    throw e;
  }
  const apiHost = parsed.config.host === "0.0.0.0" ? "127.0.0.1" : parsed.config.host;
  console.log(`gateway: MQTT on ${parsed.config.host}:${gw.mqttPort}, data in ${resolve(parsed.config.dataDir)}${parsed.config.db ? `, metadata in PostgreSQL ${dbLabel(parsed.config.db)}` : ""}`);
  if (gw.broker.tlsPort) console.log(`gateway: MQTT over TLS on ${parsed.config.host}:${gw.broker.tlsPort}`);
  console.log(`gateway: API on ${gw.apiScheme}://${apiHost}:${gw.httpPort}/api (OpenAPI at /api/docs)`);
  console.log(`gateway: station console at ${gw.apiScheme}://${apiHost}:${gw.httpPort}/ (sign in with an account's password: npm run admin -- account password NAME)`);
  if (gw.adminTokenFile) console.log(`gateway: first start: admin account created, its token is in ${gw.adminTokenFile} (mode 0600)`);
  console.log("gateway: register a device with `npm run admin -- device add <ID> --root-out <FILE>`; stop with Ctrl-C");
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    gw.log.info({ sig }, "shutting down");
    await gw.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}
