// Reading a bundle's ZIP with yauzl: the central directory once, then each entry read when it is
// checked, so a bundle of any size is read with memory for one recording at a time.
import yauzl from "yauzl";
import type { Entry, ZipFile } from "yauzl";

export interface Archive {
  names: string[];
  duplicates: string[];
  size(name: string): number | undefined;
  read(name: string): Promise<Buffer>;
  close(): void;
}

export function openArchive(path: string): Promise<Archive> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true, autoClose: false, strictFileNames: true, validateEntrySizes: true }, (err, zip?: ZipFile) => {
      if (err || !zip) return reject(err ?? new Error("not a ZIP file"));
      const entries = new Map<string, Entry>();
      const duplicates: string[] = [];
      zip.on("entry", (e: Entry) => {
        if (entries.has(e.fileName)) duplicates.push(e.fileName);
        entries.set(e.fileName, e);
        zip.readEntry();
      });
      zip.on("error", reject);
      zip.on("end", () => resolve({
        names: [...entries.keys()],
        duplicates,
        size: (name) => entries.get(name)?.uncompressedSize,
        read: (name) => new Promise<Buffer>((res, rej) => {
          const e = entries.get(name);
          if (!e) return rej(new Error(`${name} is not in the bundle`));
          zip.openReadStream(e, (err2, s) => {
            if (err2 || !s) return rej(err2 ?? new Error(`can't read ${name}`));
            // One buffer of the entry's size, filled in place: no list of pieces to join.
            const out = Buffer.allocUnsafe(e.uncompressedSize);
            let at = 0;
            s.on("data", (c: Buffer) => { if (at + c.length > out.length) { s.destroy(new Error(`${name} is longer than its directory entry says`)); return; } c.copy(out, at); at += c.length; });
            s.on("error", rej);
            s.on("end", () => (at === out.length ? res(out) : rej(new Error(`${name} is shorter than its directory entry says`))));
          });
        }),
        close: () => zip.close(),
      }));
      zip.readEntry();
    });
  });
}
