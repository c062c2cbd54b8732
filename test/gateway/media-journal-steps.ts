// Run by media-journal.test.ts, which kills it (SIGKILL) once it says "synced": a media store with
// its journal writes what argv[3] asks, syncs it, reports the journal's counts, and waits to die.
//   turns:  2 files, 64 KiB writes (the most the journal takes) until the journals have turned twice
//   cut:    a file written, synced, then cut back to 5 bytes
//   plain:  2 files of several writes each
//   fill:   2 files, 64 KiB writes, until 6 MiB wait in one journal (not turned, not checkpointed)
import { writeSync } from "node:fs";
import { MediaStore, MIN_JOURNAL_BYTES } from "../../gateway/store/media.js";

const [dir, mode] = process.argv.slice(2);
const media = new MediaStore(dir);
await media.journal(MIN_JOURNAL_BYTES);
/** Byte i of a file: a pattern its own, so a byte in the wrong place shows. */
const bytes = (file: number, at: number, n: number) => Uint8Array.from({ length: n }, (_, i) => (at + i) * 7 + file * 31);
const put = async (file: number, at: number, n: number) => {
  const rel = `dev${file}/00000${file}.media`;
  await media.writev(rel, at, [bytes(file, at, Math.floor(n / 2)), bytes(file, at + Math.floor(n / 2), n - Math.floor(n / 2))]);
  await media.sync(rel);
};
if (mode === "plain") {
  for (let k = 0; k < 4; k++) await Promise.all([put(1, k * 1000, 1000), put(2, k * 3000, 3000)]);
} else if (mode === "cut") {
  await put(1, 0, 4000);
  await media.trimTo("dev1/000001.media", 5);
} else if (mode === "fill") {
  for (let k = 0; k < 48; k++) await Promise.all([put(1, k << 16, 1 << 16), put(2, k << 16, 1 << 16)]);
} else if (mode === "turns") {
  for (let k = 0; media.journalStats!.checkpoints < 2; k++) await Promise.all([put(1, k << 16, 1 << 16), put(2, k << 16, 1 << 16)]);
}
writeSync(1, `synced ${JSON.stringify(media.journalStats)}\n`);
setInterval(() => undefined, 1000);
