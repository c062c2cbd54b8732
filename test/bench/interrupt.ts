// A bench stopped before its end, by Ctrl-C (SIGINT) or by `kill` or `timeout` (SIGTERM) or a
// closed terminal (SIGHUP), stops what it started: its servers (gateways, nats-server nodes,
// PostgreSQL, mosquitto), its load generators, and its temporary directories. Node's default on
// these signals is to die at once, running no `finally` and no "exit" handler: a bench stopped with
// `kill` left three nats-server nodes and a gateway worker running, holding their ports, and
// their directory behind. Ctrl-C alone often hid it, the terminal signalling the children too.
const stops = new Set<() => unknown>();
const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
/** The most a bench's stops may take before it exits anyway. */
const GRACE_MS = 15000;
let stopping = false;

async function interrupted(signal: keyof typeof SIGNALS): Promise<void> {
  // A second signal while stopping (Ctrl-C again): out at once, as one expects.
  if (stopping) process.exit(128 + SIGNALS[signal]);
  stopping = true;
  process.stderr.write(`\nbench: ${signal}: stopping what it started (again to leave at once)\n`);
  const all = Promise.allSettled([...stops].reverse().map(async (f) => f()));
  await Promise.race([all, new Promise((r) => setTimeout(r, GRACE_MS))]);
  process.exit(128 + SIGNALS[signal]);
}

for (const s of Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]) process.on(s, () => void interrupted(s));

/**
 * Run `stop` if the bench is interrupted (the last registered first); call the function returned
 * once what it stops is stopped the ordinary way. Synchronous work in `stop` (killing a child,
 * removing a directory) is done before any other's awaits.
 */
export function onInterrupt(stop: () => unknown): () => void {
  stops.add(stop);
  return () => { stops.delete(stop); };
}
