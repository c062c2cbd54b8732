// The anchor file read without holding it whole: the gateway writes a checkpoint line per entry by
// default, so after months the file has as many lines as the audit log has entries (a million
// entries, 135 MB). A start needs only its last good line; verify reads it forward a block at a
// time, beside the log's pages. A final fragment without its newline is a checkpoint write torn by
// a crash; it was never acknowledged to anyone, so it is not a line.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { open as openFile } from "node:fs/promises";

export interface AnchorLine {
  line: number;
  count: number;
  head: string;
  mac: string;
}

const LINE = /^(\d{1,16}) ([0-9a-f]{64}) ([0-9a-f]{64})$/;
const BLOCK = 1 << 16;

/** A line of the anchor as written, or null when it is not one (malformed). */
export function parseAnchorLine(text: string, line: number): AnchorLine | null {
  const m = LINE.exec(text);
  return m && Number.isSafeInteger(Number(m[1])) ? { line, count: Number(m[1]), head: m[2], mac: m[3] } : null;
}

/**
 * The anchor's lines, in file order, from its first `size` bytes (what the file held when the
 * caller looked): each well-formed line, or its number when malformed. Read a block at a time.
 */
export async function* anchorLines(file: string, size: number): AsyncGenerator<AnchorLine | number> {
  const fh = await openFile(file, "r");
  try {
    const buf = Buffer.alloc(BLOCK);
    let at = 0;
    let rest = "";
    let n = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(BLOCK, size - at), at);
      if (bytesRead === 0) break;
      at += bytesRead;
      const parts = (rest + buf.toString("latin1", 0, bytesRead)).split("\n");
      rest = parts.pop()!;
      for (const p of parts) {
        n++;
        yield parseAnchorLine(p, n) ?? n;
      }
    }
  } finally {
    await fh.close();
  }
}

/**
 * The anchor's end, read backwards a block at a time: its length without a torn final fragment
 * (`whole`), and its last line that `accept` takes (a valid MAC), or null when none does. Costs
 * what lies after that line, not the file.
 */
export function anchorEnd(file: string, accept: (l: AnchorLine) => boolean): { whole: number; last: AnchorLine | null } {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(BLOCK);
    let pos = size;
    // The start of a line whose beginning lies before `pos` (its end, a newline, read already).
    let carry = "";
    let whole = -1;
    while (pos > 0) {
      const from = Math.max(0, pos - BLOCK);
      readSync(fd, buf, 0, pos - from, from);
      const parts = (buf.toString("latin1", 0, pos - from) + carry).split("\n");
      pos = from;
      carry = pos > 0 ? parts.shift()! : "";
      let lines = parts;
      if (whole < 0) {
        // No newline yet: all of it is carried back. Else the part after the file's last newline is
        // a torn fragment ("" when the file ends with one).
        if (!parts.length) continue;
        whole = size - parts[parts.length - 1].length;
        lines = parts.slice(0, -1);
      }
      for (let i = lines.length - 1; i >= 0; i--) {
        const l = parseAnchorLine(lines[i], 0);
        if (l && accept(l)) return { whole, last: l };
      }
    }
    return { whole: Math.max(whole, 0), last: null };
  } finally {
    closeSync(fd);
  }
}
