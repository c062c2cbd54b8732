// What scrub, export, downloads and retention may expect of any media store's read side
// (store/media.ts MediaReader): the files of a station and a cluster's JetStream stream alike.
import { expect } from "vitest";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import type { Media } from "../../gateway/store/media.js";

async function all(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of r) parts.push(Buffer.from(p as Uint8Array));
  return Buffer.concat(parts);
}

/** Write a recording through `media`, then read it back every way a reader does, and erase it. */
export async function readerContract(media: Media, device: string): Promise<void> {
  const rel = media.pathFor(device, 1);
  const missing = media.pathFor(device, 2);
  const a = randomBytes(5000), b = randomBytes(7000);
  await media.writev(rel, 0, [a, b]);
  await media.sync(rel);
  expect(await media.size(rel)).toBe(12000);
  expect(Buffer.compare((await media.readRange(rel, 4000, 3000))!, Buffer.concat([a, b]).subarray(4000, 7000))).toBe(0);
  // Past its end: nothing rather than fewer bytes.
  expect(await media.readRange(rel, 11000, 2000)).toBeNull();
  // A download: the bytes the database vouches for, not a tail beyond them.
  expect(Buffer.compare(await all(media.readStream(rel, 9000)), Buffer.concat([a, b]).subarray(0, 9000))).toBe(0);
  // A recording with no media: none, and reading it makes none.
  expect(await media.size(missing)).toBeNull();
  expect(await media.readRange(missing, 0, 1)).toBeNull();
  expect(await media.size(missing)).toBeNull();
  // Erased: gone, and erasing it again is fine.
  await media.remove(rel);
  expect(await media.size(rel)).toBeNull();
  expect(await media.readRange(rel, 0, 100)).toBeNull();
  await media.remove(rel);
}
