// `npm run witness -- --name NAME --log LOG-VERIFIER-KEY [...]`: a transparency log witness for
// an outside body to run. Prints its own verifier key (give it to the station's admin for
// --witnesses, and to anyone who verifies exports) and serves C2SP tlog-witness.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Witness, WitnessError } from "./witness.js";
import { serveWitness } from "./server.js";

const USAGE = `Usage: npm run witness -- [options]

A transparency log witness (C2SP tlog-witness, cosignature/v1): keeps the latest checkpoint it
cosigned for each log it trusts, and cosigns a new one only with a consistency proof from it.

Options:
  --name NAME          the witness's name, a schema-less URL (required on first start)
  --log KEY            trust a log: its note verifier key (npm run admin -- station-key); repeatable
  --logs-file FILE     trust the logs whose verifier keys are listed in FILE, one per line
  --data-dir DIR       key and state (default ./witness-data)
  --host HOST          address to listen on (default 127.0.0.1)
  --port PORT          port (default 7380; 0 for any)
  --help               this text
`;

function main(argv: string[]): Promise<void> | number {
  const o: { name?: string; logs: string[]; dir: string; host: string; port: number } = { logs: [], dir: "./witness-data", host: "127.0.0.1", port: 7380 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === "--help" || a === "-h") { console.log(USAGE); return 0; }
    if (v === undefined) { console.error(`witness: ${a} needs a value (see --help)`); return 2; }
    i++;
    if (a === "--name") o.name = v;
    else if (a === "--log") o.logs.push(v);
    else if (a === "--logs-file") o.logs.push(...readFileSync(v, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")));
    else if (a === "--data-dir") o.dir = v;
    else if (a === "--host") o.host = v;
    else if (a === "--port") o.port = Number(v);
    else { console.error(`witness: unknown option ${a} (see --help)`); return 2; }
  }
  let w: Witness;
  try {
    w = Witness.open(resolve(o.dir), { name: o.name });
    for (const l of o.logs) w.addLog(l);
  } catch (e) {
    console.error(`witness: ${(e as WitnessError).code ?? "ERROR"}: ${(e as Error).message.replace(/^[A-Z_]+: /, "")}`);
    return 2;
  }
  if (!o.logs.length) console.error("witness: warning: no --log given: every checkpoint will be refused as from an unknown log");
  const log = {
    info: (f: object, msg: string) => console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...f })),
    warn: (f: object, msg: string) => console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...f })),
  };
  return serveWitness(w, o.host, o.port, log).then(({ server, port }) => {
    console.log(`witness ${w.key.name}: verifier key ${w.verifierKey}`);
    console.log(`witness: listening on http://${o.host}:${port} (POST /add-checkpoint); trusting ${o.logs.length} log(s); state in ${resolve(o.dir)}`);
    const stop = () => server.close(() => process.exit(0));
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  }, (e: Error) => {
    console.error(`witness: cannot listen on ${o.host}:${o.port}: ${e.message}`);
    process.exit(1);
  });
}

const r = main(process.argv.slice(2));
if (typeof r === "number") process.exitCode = r;
