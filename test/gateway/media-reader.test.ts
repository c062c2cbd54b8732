// The station's media files read and erased through the store, as scrub, export, downloads and
// retention do (the same expectations a cluster's JetStream media meets: test/cluster/media-nats).
import { afterAll, describe, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MediaStore } from "../../gateway/store/media.js";
import { readerContract } from "../helpers/media-reader.js";

const dir = mkdtempSync(join(tmpdir(), "evrec-media-reader-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("media files read through the store", () => {
  it("reads ranges, streams what the database vouches for, says none for a recording without media, and erases", async () => {
    await readerContract(new MediaStore(join(dir, "media")), "dev-r1");
  });
});
