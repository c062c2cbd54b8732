// Writes the golden vectors (SPEC.md section 11): `npm run vectors`. Rerun only when the
// protocol changes on purpose; the tests fail whenever any SHA-256 path disagrees with these files.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeSha256 } from "../sha256-node.js";
import { HISTORY, ROOT_HEX, buildDownlink, buildHistory, buildKeys, messageSamples } from "./build.js";
import { buildNegative } from "./negative.js";
import { encode } from "../codec.js";
import { toHex } from "../bytes.js";
import { hmacCases } from "./rfc4231.js";

const here = dirname(fileURLToPath(import.meta.url));

/** Everything the vector files hold, built with one SHA-256 path. */
export function allVectors(sha = nodeSha256) {
  return {
    "keys.json": buildKeys(sha),
    "history.json": { deviceId: "BWC-0042", recordings: buildHistory(sha, ROOT_HEX, HISTORY) },
    "downlink.json": buildDownlink(sha),
    "negative.json": buildNegative(sha),
    "messages.json": messageSamples().map((m) => ({ type: m.type, name: m.name, value: jsonable(m.value), hex: toHex(encode(m.type, m.value)) })),
    "hmac-rfc4231.json": hmacCases,
  };
}

/** Bytes as hex strings, so the file is plain JSON. */
export function jsonable(v: unknown): unknown {
  if (v instanceof Uint8Array) return { hex: toHex(v) };
  if (Array.isArray(v)) return v.map(jsonable);
  if (v && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = jsonable(x);
    return o;
  }
  return v;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [name, data] of Object.entries(allVectors())) {
    writeFileSync(join(here, name), JSON.stringify(data, null, 1) + "\n");
    console.log("wrote protocol/vectors/" + name);
  }
}
