// Progress of a long pass over the store, as the admin CLI shows it on stderr (stdout keeps the
// verdict, for scripts): "audit verify: 400000 of 1200000 entries". On a terminal one line is
// rewritten in place; into a file or a pipe, a line at most every few seconds, so a log of a
// night's run stays short. A pass over in under a second prints nothing.
export interface ProgressOptions {
  /** Where the lines go (process.stderr). */
  out?: { write(s: string): unknown; isTTY?: boolean };
  now?: () => number;
  /** Nothing before this many ms into the pass (1000). */
  firstMs?: number;
  /** Not a file's line more often than this (5000 ms); a terminal's is rewritten at most every 200 ms. */
  everyMs?: number;
}

/** A (done, total) callback that shows "label: done of total unit" as the pass goes, and `end()` to finish its line. */
export function progressReporter(label: string, unit: string, o: ProgressOptions = {}): { tick: (done: number, total: number) => void; end: () => void } {
  const out = o.out ?? process.stderr;
  const now = o.now ?? Date.now;
  const tty = out.isTTY === true;
  const start = now();
  const first = o.firstMs ?? 1000;
  const every = tty ? 200 : o.everyMs ?? 5000;
  let shown = -Infinity;
  let last: [number, number] | null = null;
  let printed = "";
  const line = (done: number, total: number) => `${label}: ${done} of ${total} ${unit}`;
  return {
    tick(done, total) {
      last = [done, total];
      const t = now();
      if (t - start < first || t - shown < every) return;
      shown = t;
      printed = line(done, total);
      out.write(tty ? `\r${printed}\x1b[K` : `${printed}\n`);
    },
    end() {
      // A pass that showed progress ends with its last figure, so the last line says where it stopped.
      if (shown === -Infinity || !last) return;
      const text = line(...last);
      if (tty) out.write(`\r${text}\x1b[K\n`);
      else if (text !== printed) out.write(`${text}\n`);
    },
  };
}
