// Run under strace by media-durable.test.ts: a media store's first file in a new device directory,
// a second file beside it, then a file that exists already, opened by a store started afresh. Each
// step is marked on stdout, so the trace shows which fsyncs each sync() made.
import { writeSync } from "node:fs";
import { join } from "node:path";
import { MediaStore } from "../../gateway/store/media.js";

const dir = join(process.argv[2], "media");
const mark = (s: string) => writeSync(1, `STEP ${s}\n`);
const first = new MediaStore(dir);
mark("new-dir");
await first.writev("devA/000001.media", 0, [Buffer.from("one")]);
await first.sync("devA/000001.media");
mark("new-file");
await first.writev("devA/000002.media", 0, [Buffer.from("two")]);
await first.sync("devA/000002.media");
mark("again");
await first.writev("devA/000002.media", 3, [Buffer.from("more")]);
await first.sync("devA/000002.media");
await first.close();
const second = new MediaStore(dir);
mark("reopened");
await second.writev("devA/000001.media", 3, [Buffer.from("more")]);
await second.sync("devA/000001.media");
mark("end");
await second.close();
