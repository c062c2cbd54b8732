// Run by media-reader.test.ts under a low open-file limit: the station's media read when this
// process has no file handle left to open it with. Prints what each read gave, as JSON.
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MediaStore } from "../../gateway/store/media.js";

const dir = process.argv[2];
mkdirSync(join(dir, "dev"), { recursive: true });
writeFileSync(join(dir, "dev", "000001.media"), Buffer.from("evidence bytes"));
const media = new MediaStore(dir);
const held: number[] = [];
try {
  for (;;) held.push(openSync("/dev/null", "r"));
} catch (e) {
  if ((e as NodeJS.ErrnoException).code !== "EMFILE") throw e;
}
const outcome = (p: Promise<unknown>) => p.then((v) => ({ ok: v === null ? null : String(v) }), (e: Error & { code?: string }) => ({ err: e.code, name: e.name, message: e.message }));
const out = { handles: held.length, readRange: await outcome(media.readRange("dev/000001.media", 0, 8)), size: await outcome(media.size("dev/000001.media")) };
process.stdout.write(JSON.stringify(out) + "\n");
