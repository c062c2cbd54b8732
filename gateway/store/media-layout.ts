// Where each byte of a recording kept as messages (media-nats.ts) comes from, worked out from the
// messages' offsets and lengths alone, without holding their bytes: so a recording of any length
// is read a message at a time. Sans-IO.
//
// The messages, replayed in stream order, mean what writes and truncations mean to a file: a write
// puts its bytes at its offset; a cut to T makes the recording T bytes long, and bytes a later
// write leaves unwritten past it read as zeros. So a byte is the last write's to reach it, unless
// a cut after that write came at or below it. Worked backwards, from the last message: a write
// claims what no later write claimed, below the lowest cut made after it.

/** One message of a recording: a write of `length` bytes at `at`, or a cut to `trim` bytes. */
export interface Op {
  seq: number;
  at?: number;
  length?: number;
  trim?: number;
  /** The write's bytes, if the reader kept them. */
  data?: Uint8Array;
}

/** Bytes [start, end) of the recording are the bytes of message `seq` from `from`. */
export interface Piece {
  start: number;
  end: number;
  seq: number;
  from: number;
  data?: Uint8Array;
}

/** The recording's pieces, in offset order, disjoint; what none covers below its size reads as zeros. */
export function piecesOf(ops: Op[]): Piece[] {
  const claimed: [number, number][] = [];
  const pieces: Piece[] = [];
  let cut = Infinity;
  for (let i = ops.length - 1; i >= 0; i--) {
    const o = ops[i];
    if (o.trim !== undefined) {
      cut = Math.min(cut, o.trim);
      continue;
    }
    const a = o.at!, b = Math.min(a + o.length!, cut);
    if (b <= a) continue;
    for (const [s, e] of claim(claimed, a, b)) pieces.push({ start: s, end: e, seq: o.seq, from: s - a, data: o.data });
  }
  return pieces.sort((x, y) => x.start - y.start);
}

/** The recording's length after its messages: the end of the furthest write, cut by any cut after it. */
export function sizeOf(ops: Op[]): number {
  let size = 0;
  for (const o of ops) size = o.trim !== undefined ? Math.min(size, o.trim) : Math.max(size, o.at! + o.length!);
  return size;
}

/** Index of the first piece ending after `offset`. */
export function firstEndingAfter(pieces: Piece[], offset: number): number {
  let lo = 0, hi = pieces.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pieces[mid].end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The parts of [a, b) not yet in `claimed` (sorted, disjoint, adjacent ones merged), which then
 * takes [a, b) in. Written backwards from a recording's end, each write lands just below the one
 * before, so this is a search and one splice at the front.
 */
function claim(claimed: [number, number][], a: number, b: number): [number, number][] {
  let lo = 0, hi = claimed.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (claimed[mid][1] <= a) lo = mid + 1;
    else hi = mid;
  }
  const free: [number, number][] = [];
  let at = a, j = lo;
  for (; j < claimed.length && claimed[j][0] < b; j++) {
    if (claimed[j][0] > at) free.push([at, claimed[j][0]]);
    at = Math.max(at, claimed[j][1]);
  }
  if (at < b) free.push([at, b]);
  let s = a, e = b, from = lo, to = j;
  if (from < to) {
    s = Math.min(s, claimed[from][0]);
    e = Math.max(e, claimed[to - 1][1]);
  }
  if (from > 0 && claimed[from - 1][1] === s) s = claimed[--from][0];
  if (to < claimed.length && claimed[to][0] === e) e = claimed[to++][1];
  claimed.splice(from, to - from, [s, e]);
  return free;
}
