// `npm run witness -- --name NAME --log LOG-VERIFIER-KEY [...]`: a transparency log witness for
// an outside body to run. Prints its own verifier key (give it to the station's admin for
// --witnesses, and to anyone who verifies exports) and serves C2SP tlog-witness.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { takePidLock } from "../protocol/pid-lock.js";
import { makeDir } from "../protocol/make-dir.js";
import { Witness, WitnessError } from "./witness.js";
import { serveWitness } from "./server.js";
import { argPath } from "../protocol/shell-path.js";

/** The witness's lock in its data directory: one process on a state at a time. */
const LOCK_FILE = "witness.lock";

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

const fail = (code: string, message: string): number => {
  console.error(`witness: ${code}: ${message}`);
  return 2;
};

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
    else if (a === "--logs-file") {
      let text: string;
      try { text = readFileSync(argPath(v), "utf8"); } catch (e) { return fail("FILE_UNREADABLE", `can't read --logs-file ${argPath(v)}: ${(e as Error).message}`); }
      o.logs.push(...text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")));
    } else if (a === "--data-dir") o.dir = argPath(v);
    else if (a === "--host") o.host = v;
    else if (a === "--port") {
      if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) return fail("BAD_PORT", `--port ${v}: a port is 0 to 65535 (0 takes any free one)`);
      o.port = Number(v);
    } else { console.error(`witness: unknown option ${a} (see --help)`); return 2; }
  }
  const dir = resolve(o.dir);
  let w: Witness;
  try {
    makeDir(dir, 0o700);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return fail(err.code === "ENOTDIR" ? "DATA_DIR_NOT_DIR" : "DATA_DIR_UNWRITABLE", `data directory ${dir} can't be made: ${err.message}`);
  }
  try {
    // One witness on a state at a time: two would each cosign from their own copy of it.
    const lock = takePidLock(join(dir, LOCK_FILE));
    if (!("release" in lock)) return fail("DATA_DIR_LOCKED", `another witness${lock.heldBy ? ` (pid ${lock.heldBy})` : ""} is running on ${dir}: two on one state could each cosign a different tree of the same size, the split view a witness is there to refuse. Stop it first, or give this one its own --data-dir (and name)`);
    process.on("exit", lock.release);
    w = Witness.open(dir, { name: o.name });
    for (const l of o.logs) w.addLog(l);
  } catch (e) {
    const err = e as Error & { code?: string };
    // The file system's own refusals (a data directory that is a file, or not writable) by their errno.
    const code = err instanceof WitnessError ? err.code : err.code === "EEXIST" || err.code === "ENOTDIR" ? "DATA_DIR_NOT_DIR" : err.code?.startsWith("E") ? "DATA_DIR_UNWRITABLE" : err.code ?? "ERROR";
    return fail(code, err.message.replace(/^[A-Z_]+: /, ""));
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
  }, (e: NodeJS.ErrnoException) => {
    const code = e.code === "EADDRINUSE" ? "PORT_IN_USE" : "LISTEN_FAILED";
    console.error(`witness: ${code}: cannot listen on ${o.host}:${o.port}: ${e.message}${e.code === "EADDRINUSE" ? " (choose another with --port, 0 for any)" : ""}`);
    process.exit(1);
  });
}

const r = main(process.argv.slice(2));
if (typeof r === "number") process.exitCode = r;
