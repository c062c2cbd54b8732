// Reading a bundle's ZIP from a File (a Blob) in the browser, in place of verifier/zip.ts (yauzl):
// the central directory once (ZIP64 too), then each entry read when it is checked: stored, or
// inflated with the browser's DecompressionStream. Sizes are checked against the directory.
import type { Archive } from "../../verifier/zip.js";

interface Entry { name: string; method: number; compressed: number; size: number; offset: number }

const SIG_EOCD = 0x06054b50, SIG_Z64_LOC = 0x07064b50, SIG_Z64_EOCD = 0x06064b50, SIG_CEN = 0x02014b50, SIG_LOC = 0x04034b50;

async function slice(b: Blob, from: number, len: number): Promise<DataView> {
  return new DataView(await b.slice(from, from + len).arrayBuffer());
}
const u64 = (v: DataView, o: number) => Number(v.getBigUint64(o, true));

export async function openBlobArchive(b: Blob): Promise<Archive> {
  const tailLen = Math.min(b.size, 65557);
  const tail = await slice(b, b.size - tailLen, tailLen);
  let e = -1;
  for (let i = tailLen - 22; i >= 0; i--) if (tail.getUint32(i, true) === SIG_EOCD) { e = i; break; }
  if (e < 0) throw new Error("no end of central directory: not a ZIP file");
  let count = tail.getUint16(e + 10, true), cdSize = tail.getUint32(e + 12, true), cdOff = tail.getUint32(e + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOff === 0xffffffff) {
    if (e < 20 || tail.getUint32(e - 20, true) !== SIG_Z64_LOC) throw new Error("ZIP64 locator missing");
    const z = await slice(b, u64(tail, e - 20 + 8), 56);
    if (z.getUint32(0, true) !== SIG_Z64_EOCD) throw new Error("ZIP64 end of central directory missing");
    count = u64(z, 32); cdSize = u64(z, 40); cdOff = u64(z, 48);
  }
  if (cdOff + cdSize > b.size) throw new Error("central directory outside the file");
  const cd = await slice(b, cdOff, cdSize);
  const entries = new Map<string, Entry>();
  const duplicates: string[] = [];
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cd.byteLength || cd.getUint32(p, true) !== SIG_CEN) throw new Error("central directory entry malformed");
    const method = cd.getUint16(p + 10, true);
    let compressed = cd.getUint32(p + 20, true), size = cd.getUint32(p + 24, true);
    const nameLen = cd.getUint16(p + 28, true), extraLen = cd.getUint16(p + 30, true), commentLen = cd.getUint16(p + 32, true);
    let offset = cd.getUint32(p + 42, true);
    const name = utf8.decode(new Uint8Array(cd.buffer, cd.byteOffset + p + 46, nameLen));
    // ZIP64 extra field: the values that overflowed, in this order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = cd.getUint16(x, true), len = cd.getUint16(x + 2, true);
      if (id === 1) {
        let q = x + 4;
        if (size === 0xffffffff) { size = u64(cd, q); q += 8; }
        if (compressed === 0xffffffff) { compressed = u64(cd, q); q += 8; }
        if (offset === 0xffffffff) { offset = u64(cd, q); }
      }
      x += 4 + len;
    }
    if (entries.has(name)) duplicates.push(name);
    entries.set(name, { name, method, compressed, size, offset });
    p = xEnd + commentLen;
  }
  const read = async (name: string): Promise<Uint8Array> => {
    const en = entries.get(name);
    if (!en) throw new Error(`${name} is not in the bundle`);
    const loc = await slice(b, en.offset, 30);
    if (loc.getUint32(0, true) !== SIG_LOC) throw new Error(`${name}: local header missing`);
    const start = en.offset + 30 + loc.getUint16(26, true) + loc.getUint16(28, true);
    const raw = b.slice(start, start + en.compressed);
    let out: Uint8Array;
    if (en.method === 0) out = new Uint8Array(await raw.arrayBuffer());
    else if (en.method === 8) out = new Uint8Array(await new Response(raw.stream().pipeThrough(new DecompressionStream("deflate-raw"))).arrayBuffer());
    else throw new Error(`${name}: compression method ${en.method} is not one a bundle uses`);
    if (out.length !== en.size) throw new Error(`${name} is ${out.length > en.size ? "longer" : "shorter"} than its directory entry says`);
    return out;
  };
  return {
    names: [...entries.keys()],
    duplicates,
    size: (name) => entries.get(name)?.size,
    read: read as Archive["read"],
    close: () => undefined,
  };
}

/** The verifier's own entry point is by path; in the browser there are only Files. */
export function openArchive(): Promise<Archive> {
  return Promise.reject(new Error("open a File with openBlobArchive"));
}
