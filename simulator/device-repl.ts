// One node-engine device with Espruino's REPL on standard input and output (simulator/imitation/
// repl.ts): provisioning without hardware and without an Espruino interpreter. Put it behind a
// pseudo-terminal and give the provisioning tool that as its serial port (from the repository's
// directory, where `--import tsx` resolves):
//
//   socat PTY,link=/tmp/dev1/tty,raw,echo=0 \
//     EXEC:"node --import tsx simulator/device-repl.ts --dir /tmp/dev1",pty,raw,echo=0
//   npm run provision -- --port /tmp/dev1/tty --serial BWC-0001 ...
//
//   --dir DIR   the device: DIR/espruino.flash is its Storage, DIR/sd its SD card (created if
//               missing; the same directory is the same device at the next start)
//   --seed S    seeds E.hwRand (default 1)
//
// Ctrl-C twice on an empty line ends it, as on the Linux interpreter.
import { DeviceRepl } from "./imitation/repl.js";

const USAGE = "usage: node --import tsx simulator/device-repl.ts --dir DIR [--seed S]\n";

function parse(argv: string[]): { dir: string; seed: number } {
  let dir = "";
  let seed = 1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    const v = argv[i + 1];
    if (a === "--dir" && v) { dir = v; i++; }
    else if (a === "--seed" && v && /^-?\d+$/.test(v)) { seed = Number(v); i++; }
    else {
      process.stderr.write(`device-repl: bad argument ${JSON.stringify(a)}\n${USAGE}`);
      process.exit(2);
    }
  }
  if (!dir) {
    process.stderr.write("device-repl: --dir is required\n" + USAGE);
    process.exit(2);
  }
  return { dir, seed };
}

const { dir, seed } = parse(process.argv.slice(2));
const out = process.stdout;
const tty = !!out.isTTY;

// On a terminal Node writes standard output synchronously: when nothing reads the pty (the
// provisioning tool has closed it, socat holds the master), every write would block, and with it
// the whole device (timers, the upload). A board never waits for its USB console. So the writes
// are made non-blocking, and output is dropped while more than CONSOLE_QUEUE bytes wait, as a
// board's console drops what nobody reads. The same for a pipe, which Node also writes
// synchronously. (setBlocking is the handle's own switch; Node has no public one. A file has no
// such handle and is written as usual.)
const CONSOLE_QUEUE = 16 * 1024;
{
  const handle = (out as unknown as { _handle?: { setBlocking?: (b: boolean) => unknown } })._handle;
  if (handle && handle.setBlocking) handle.setBlocking(false);
}

let gone = false;
const repl = new DeviceRepl({
  dir,
  seed,
  write: (b) => {
    if (gone || out.writableLength > CONSOLE_QUEUE) return;
    out.write(b);
  },
  exit: () => quit(0),
});

function quit(code: number): void {
  repl.close();
  process.exit(code);
}

/**
 * The console went away (socat ended: end of input, EIO, SIGHUP or its SIGTERM). The device ends
 * with it. Not through process.exit when the console was a pty: Node's exit restores the
 * terminal's modes and aborts on a pty that no longer exists (an assertion in ResetStdio), so the
 * process ends itself by signal once the device is closed (its files are written synchronously).
 */
function consoleGone(): void {
  if (gone) return;
  gone = true;
  repl.close();
  if (tty || process.stdin.isTTY) process.kill(process.pid, "SIGKILL");
  else process.exit(0);
}

out.on("error", consoleGone);
process.stdin.on("error", consoleGone);
process.stdin.on("end", consoleGone);
process.on("SIGHUP", consoleGone);
process.on("SIGTERM", consoleGone);
// Started from a shell with a pipe for input, Ctrl-C in that terminal is a signal, not a key.
process.on("SIGINT", () => quit(130));
if (process.stdin.isTTY) process.stdin.setRawMode(true);
process.stdin.on("data", (d: Buffer) => repl.input(d));
repl.start();
