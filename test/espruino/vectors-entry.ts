// Runs ON the Espruino interpreter (bundled by test/espruino/interpreter.test.ts with the gate's
// esbuild options): rebuilds the golden vectors with the protocol code and the board's native
// SHA-256, and compares them with the JSON files. The vectors are fed in pieces: the test writes them
// into the interpreter's working directory one small file per item (vectorFiles() in
// interpreter.test.ts), and each is read, compared and dropped before the next, so that they fit a
// board-sized store beside the code.
// Output, one line each: `PASS <name>` | `FAIL <name> expected <x> got <y>`, then `DONE <passed> <failed>`,
// `MEM <variables in use>` and `TIME <seconds>`. Anything else on stdout means the script broke.
// Espruino subset throughout (the gate lints this file too).
import { fromHex, toHex } from "../../protocol/bytes.js";
import { hmacSha256 } from "../../protocol/hmac.js";
import { decode, encode } from "../../protocol/codec.js";
import { HISTORY, ROOT_HEX, buildDownlink, buildHistory, buildKeys, messageSamples } from "../../protocol/vectors/build.js";

declare function getTime(): number;

type Any = { [k: string]: unknown };

/** One vector file of the working directory, parsed (see the top of the file). */
function load(name: string): unknown {
  return JSON.parse(require("fs").readFileSync(name));
}

var sha = function (d: Uint8Array): Uint8Array { return new Uint8Array(require("crypto").SHA256(d)); };

const t0 = getTime();
let passed = 0;
let failed = 0;

function check(name: string, problem: string | null): void {
  if (problem === null) { passed++; console.log("PASS " + name); }
  else { failed++; console.log("FAIL " + name + " " + problem); }
}

function show(v: unknown): string {
  if (v instanceof Uint8Array) return "bytes:" + toHex(v);
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

// First difference between a JSON value and a rebuilt one, as "expected <path>=<x> got <path>=<y>".
// `subset`: only the expected object's keys count (decoded messages also carry proto3 defaults), and
// {hex} stands for bytes (how generate.ts writes Uint8Array values).
function diff(exp: unknown, got: unknown, at: string, subset: boolean): string | null {
  const bad = "expected " + at + "=" + show(exp) + " got " + at + "=" + show(got);
  if (exp === null || typeof exp !== "object") return exp === got ? null : bad;
  const e = exp as Any;
  if (subset && typeof e.hex === "string" && Object.keys(e).length === 1)
    return got instanceof Uint8Array && toHex(got) === e.hex ? null : "expected " + at + "=" + e.hex + " got " + at + "=" + show(got);
  if (got === null || typeof got !== "object") return bad;
  if (Array.isArray(exp) !== Array.isArray(got)) return bad;
  const g = got as Any;
  if (Array.isArray(exp) && exp.length !== (got as unknown[]).length) return "expected " + at + ".length=" + exp.length + " got " + (got as unknown[]).length;
  const keys = Object.keys(e);
  if (!subset) for (const k of Object.keys(g)) if (g[k] !== undefined && keys.indexOf(k) < 0) return "expected no " + at + "." + k + " got " + show(g[k]);
  for (let i = 0; i < keys.length; i++) {
    const d = diff(e[keys[i]], g[keys[i]], at ? at + "." + keys[i] : keys[i], subset);
    if (d !== null) return d;
  }
  return null;
}

// keys.json: one check per field.
const keys = buildKeys(sha) as unknown as Any;
const kj = load("keys.json") as Any;
for (const f of Object.keys(kj)) check("keys.json " + f, diff(kj[f], keys[f], f, false));

// history.json: one check per recording (chunks, chain values, tags, keys, genesis, seal).
const history = buildHistory(sha, ROOT_HEX, HISTORY) as unknown as Any[];
const hn = load("history.json") as number;
check("history.json recordings", hn === history.length ? null : "expected " + hn + " got " + history.length);
for (let i = 0; i < hn; i++) {
  const hr = load("history-" + i + ".json") as Any;
  check("history.json recording " + hr.recordingId, diff(hr, history[i], "", false));
  history[i] = {};
}

// downlink.json: one check per scalar field and per message / control tag.
const dl = buildDownlink(sha) as unknown as Any;
const dj = load("downlink.json") as Any;
for (const f of Object.keys(dj)) {
  const v = dj[f];
  if (Array.isArray(v)) for (let i = 0; i < v.length; i++) check("downlink.json " + f + " " + v[i].name, diff(v[i], (dl[f] as Any[])[i], f + "[" + i + "]", false));
  else check("downlink.json " + f, diff(v, dl[f], f, false));
}

// RFC 4231 HMAC-SHA256 cases 1-7 (case 5 compares the first 16 bytes).
const hm = load("hmac-rfc4231.json") as { case: number; key: string; data: string; mac: string; truncate?: number }[];
for (let i = 0; i < hm.length; i++) {
  const c = hm[i];
  let mac = toHex(hmacSha256(sha, fromHex(c.key), fromHex(c.data)));
  if (c.truncate) mac = mac.substring(0, 2 * c.truncate);
  check("hmac-rfc4231 case " + c.case, mac === c.mac ? null : "expected " + c.mac + " got " + mac);
}

// messages.json: the board encodes every sample to the same bytes, and decodes those bytes back.
const samples = messageSamples();
const mn = load("messages.json") as number;
for (let i = 0; i < mn; i++) {
  const m = load("message-" + i + ".json") as { type: string; name: string; value: Any; hex: string };
  const s = samples[i];
  let problem: string | null = null;
  if (!s || s.name !== m.name) problem = "expected sample " + m.name + " got " + (s ? s.name : "none");
  else {
    const hex = toHex(encode(m.type, s.value));
    if (hex !== m.hex) problem = "expected " + m.hex + " got " + hex;
  }
  check("messages.json encode " + m.name, problem);
  let got: unknown;
  try {
    got = decode(m.type, fromHex(m.hex));
  } catch (e) {
    got = "threw " + e;
  }
  check("messages.json decode " + m.name, diff(m.value, got, "", true));
}

console.log("DONE " + passed + " " + failed);
console.log("MEM " + (process as unknown as { memory(): { usage: number } }).memory().usage);
console.log("TIME " + (getTime() - t0).toFixed(3));
