// The real-interpreter lane: the minified firmware bundle, loaded from a Storage file as on a board,
// on the Espruino interpreter (ESPRUINO_BIN), config in its Storage, media from a file, the queue on
// fs (or in Storage, for a board without an SD card), against a real test gateway or broker. Prints the budgets (bundle size, variables) and the
// per-chunk cost beside the native floor. Skipped, saying so, where no interpreter is installed.
import { it, expect, beforeAll, afterEach } from "vitest";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { Aedes } from "aedes";
import { eachBuild } from "../espruino/builds.js";
import { buildFirmware, BUDGET } from "../../firmware/build/build.js";
import { decode, encode } from "../../protocol/codec.js";
import { deriveDeviceKeys } from "../../protocol/chain.js";
import { deviceIdBytes, parseHeader } from "../../protocol/blocks.js";
import { DownlinkSigner } from "../../protocol/downlink.js";
import { nodeSha256 } from "../../protocol/sha256-node.js";
import { testGateway } from "../gateway/harness.js";
import { EspruinoDevice, clean, deviceFiles, tone, laneRecordings, until, LOAD_FROM_STORAGE } from "./lane.js";


let bundle = "";
const devices: EspruinoDevice[] = [];
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) await d.dispose();
  for (const c of cleanup.splice(0).reverse()) await c();
});

/**
 * The bare chain step of DESIGN.md section 7, as a function of (payload, seq): the header's
 * variable fields by DataView, payload hash, chain hash, tag, key step (four native hashes, about
 * ten statements), then the append of header, payload and tag to a file. No queue record, no
 * check, no publish, no error handling: a lower bound for the recorder's path, not a recorder.
 */
const LEAN_STEP = `(function () {
  var C = require("crypto"), hb = new Uint8Array(24 + 128), h = hb.subarray(24), dv = new DataView(hb.buffer, 24, 128);
  var tb = new Uint8Array(24 + 64), kb = new Uint8Array(24 + 32), key = new Uint8Array(32);
  return function (p, seq) {
    dv.setUint32(12, seq); dv.setUint32(44, p.length);
    h.set(new Uint8Array(C.SHA256(p)), 48);
    var c = new Uint8Array(C.SHA256(hb));
    tb.set(key, 24); tb.set(c, 56); var tag = E.toString(new Uint8Array(C.SHA256(tb)));
    kb.set(key, 24); key.set(new Uint8Array(C.SHA256(kb)));
    var f = E.openFile("lean.bin", "a"); f.write(E.toString(h)); f.write(E.toString(p)); f.write(tag); f.close();
  };
})()`;

async function gateway() {
  const g = await testGateway();
  cleanup.push(() => g.close());
  return g;
}

/** A device directory with rec.cfg, rec.key and the bundle in Storage, and 60 s of media. */
function device(bin: string, id: string, root: Uint8Array, port: number, over: Record<string, unknown> = {}, more: Record<string, string> = {}): EspruinoDevice {
  const d = new EspruinoDevice(bin);
  devices.push(d);
  const f = deviceFiles(id, root, port, { media: "file:media.raw:8", pre: 0, ...over });
  const out = d.storage({ "rec.cfg": f.cfg, "rec.key": f.key, "rec.js": bundle, ...more });
  expect(out.join("\n")).toMatch(/STORAGE \d+/);
  d.file("media.raw", tone(60));
  return d;
}

const recordings = laneRecordings;

/**
 * Restart a device killed mid-recording on the same directory: it seals recording 1 as interrupted
 * after a chunk at or past `atLeast`, and the gateway verifies the recording with exactly that many.
 */
async function restartSealsInterrupted(g: Awaited<ReturnType<typeof gateway>>, d: EspruinoDevice, id: string, atLeast: number): Promise<void> {
  d.start(`${LOAD_FROM_STORAGE}\n`);
  const line = await d.waitLine(/recording 1 sealed as interrupted after chunk \d+/);
  const held = Number(/after chunk (\d+)/.exec(line)![1]);
  expect(held).toBeGreaterThanOrEqual(atLeast);
  await until(async () => (await recordings(g, id))[0]?.verdict === "verified", `${id}'s interrupted recording verified`);
  expect((await recordings(g, id))[0]).toMatchObject({ linked_seq: held, interrupted: 1 });
}

eachBuild("firmware bundle on the real Espruino interpreter", (build) => {
  const bin = build.bin;
  beforeAll(async () => {
    bundle = (await buildFirmware()).min;
    console.log(`firmware lane: minified bundle ${bundle.length} bytes (budget ${BUDGET})`);
  });

  it("boots from Storage, records from a file, uploads: the whole recording arrives and verifies", async () => {
    expect(bundle.length).toBeLessThanOrEqual(BUDGET);
    const g = await gateway();
    const root = new Uint8Array(randomBytes(32));
    await g.gw.registry.add("ESP-1", { root });
    const d = device(bin, "ESP-1", root, g.gw.mqttPort);
    d.boot(`var RECORDER_PROBE = 1;
${LOAD_FROM_STORAGE}
console.log("BOOTMEM " + process.memory().usage);
// Stopped after 5 chunks, and read once the queue drained (or 30 s on): counts, not wall time,
// so a busy machine makes the run slower, not different.
var t0, stopped;
setTimeout(function () { recorder.record(""); t0 = Date.now(); }, 1000);
var poll = setInterval(function () {
  if (!t0) return;
  var i = info();
  if (i.chunks >= 5 && !stopped) { stopped = 1; recorder.stop(); return; }
  if ((stopped && i.queueDepth === 0) || Date.now() - t0 > 30000) {
    clearInterval(poll);
    console.log("PEAK " + i.memoryPeak + " DEPTH " + i.queueDepth + " CHUNKS " + i.chunks);
  }
}, 100);
`);
    const boot = Number((await d.waitLine(/^BOOTMEM \d+/)).split(" ")[1]);
    const [, peak, depth, chunks] = (await d.waitLine(/^PEAK \d+ DEPTH \d+ CHUNKS \d+/)).split(" ").filter((_, i) => i % 2 === 1).map(Number).reduce((a, v) => [...a, v], [0] as number[]);
    // The budgets bind on the board-sized build (test/firmware/memory.test.ts checks them in every run).
    console.log(`firmware lane [${build.name} build]: variables after boot ${boot} (budget 1500); hot-path peak while recording and uploading at the default chunk size (8 KiB) ${peak} (budget 5000)`);
    if (build.board) expect(boot).toBeLessThanOrEqual(1500);
    expect(chunks).toBeGreaterThanOrEqual(5);
    await until(async () => (await recordings(g, "ESP-1"))[0]?.verdict === "verified", "recording verified");
    expect((await recordings(g, "ESP-1"))[0]).toMatchObject({ linked_seq: chunks, interrupted: 0 });
    expect(depth).toBe(0); // every chunk freed on its authenticated Ack
    expect(d.lines().join("\n")).not.toMatch(/Uncaught|error [A-Z_]+/);
  });

  it("kill -9 mid-recording, restarted on the same directory: nothing is lost", async () => {
    const g = await gateway();
    const root = new Uint8Array(randomBytes(32));
    await g.gw.registry.add("ESP-2", { root });
    const d = device(bin, "ESP-2", root, g.gw.mqttPort);
    d.start(`${LOAD_FROM_STORAGE}\nsetTimeout(function () { recorder.record(""); }, 1000);\n`);
    await until(async () => ((await recordings(g, "ESP-2"))[0]?.linked_seq || 0) >= 3, "3 chunks stored", 20000);
    await d.kill();
    const before = (await recordings(g, "ESP-2"))[0].linked_seq;
    await restartSealsInterrupted(g, d, "ESP-2", before);
  });

  it("without an SD card (\"sd\": 0) the queue is in Storage: kept while offline, through kill -9, then uploaded and verified", async () => {
    const g = await gateway();
    const root = new Uint8Array(randomBytes(32));
    // Not yet registered: the gateway refuses the device, so every chunk stays queued.
    const d = device(bin, "ESP-5", root, g.gw.mqttPort, { sd: 0, media: "file:media.raw:1" });
    d.start(`${LOAD_FROM_STORAGE}
setTimeout(function () { recorder.record(""); }, 500);
setTimeout(function () {
  var q = require("fs").readdirSync(".").filter(function (n) { return n.charAt(0) === "q"; });
  console.log("PIECES " + require("Storage").list(/~/).length + " QFILES " + q.length + " CHUNKS " + info().chunks);
}, 3200);
`);
    const [, pieces, , qfiles, , chunks] = (await d.waitLine(/^PIECES \d+ QFILES \d+ CHUNKS \d+/)).split(" ").map(Number);
    expect(chunks).toBeGreaterThanOrEqual(3);
    expect(pieces).toBeGreaterThanOrEqual(chunks + 1); // the start and each chunk, one Storage file each
    expect(qfiles).toBe(0); // nothing on the card
    await d.kill();
    await g.gw.registry.add("ESP-5", { root });
    await restartSealsInterrupted(g, d, "ESP-5", chunks);
  });

  (build.board ? it.skip : it)(build.board
    ? "the bundle loaded into RAM instead of from rec.js: not on the board-sized build, where 48 KB of code in RAM is more than its 7,100 variables hold"
    : "the bundle loaded into RAM instead of from rec.js says rec.js is missing, and the interpreter does not die of an internal assertion", async () => {
    // As `npx espruino … dist/recorder.min.js` does: the bundle is the program, and Storage holds no rec.js.
    const d = new EspruinoDevice(bin);
    devices.push(d);
    d.file("bundle.js", bundle);
    const r = spawnSync(bin, ["bundle.js"], { cwd: d.dir, encoding: "latin1", timeout: 20000, killSignal: "SIGKILL" });
    const out = clean(r.stdout || "").join("\n");
    expect(out).toMatch(/no Storage file rec\.js: the firmware reads its functions from it/);
    expect(out).not.toMatch(/ASSERT|EXITING/);
  });

  it("a forged Ack from the broker frees nothing, and gets at most one Hello again per helloWaitMs (R-DL-6)", async () => {
    // A broker that forges: it answers every uplink with an Ack for everything, MAC'd with a wrong key.
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanup.push(() => new Promise<void>((r) => { server.close(() => r()); broker.close(); }));
    let counter = 0, hellos = 0;
    broker.on("publish", (packet, client) => {
      if (!client || packet.topic !== "rec/ESP-3/up") return;
      if (decode("Uplink", new Uint8Array(packet.payload as Buffer)).hello) hellos++;
      const body = encode("DownBody", { ack: { recording: 1, state: 1, cumulative: 1000 } });
      broker.publish({ cmd: "publish", topic: "rec/ESP-3/down", qos: 1, retain: false, dup: false,
        payload: Buffer.from(encode("Downlink", { schema: 1, counter: ++counter, body, mac: new Uint8Array(randomBytes(32)) })) }, () => {});
    });
    const d = device(bin, "ESP-3", new Uint8Array(randomBytes(32)), (server.address() as AddressInfo).port);
    // Recording starts once the link is up and stops after at least 3 chunks, not at fixed times: a
    // board build starved of CPU (a loaded machine) connects and records more slowly, and the bound
    // on Hellos is over the time the run really took.
    d.start(`${LOAD_FROM_STORAGE}
var t0 = Date.now(), upAt = 0, recAt = 0, stopAt = 0;
var poll = setInterval(function () {
  var i = info();
  if (!upAt && i.link === "up") upAt = Date.now();
  if (upAt && !recAt && Date.now() - upAt >= 700) { recorder.record(""); recAt = Date.now(); }
  if (recAt && !stopAt && i.chunks >= 3 && Date.now() - recAt >= 1000) { recorder.stop(); stopAt = Date.now(); }
  if ((stopAt && i.downlinkRejected >= 3 && Date.now() - stopAt >= 1500) || Date.now() - t0 > 20000) {
    clearInterval(poll);
    console.log("RESULT " + i.queueDepth + " " + i.chunks + " " + i.downlinkRejected + " " + i.lastError + " " + (Date.now() - t0));
  }
}, 100);
`);
    const [, depth, chunks, rejected, last, elapsed] = (await d.waitLine(/^RESULT /, 30000)).split(" ");
    expect(Number(chunks)).toBeGreaterThanOrEqual(3);
    expect(Number(depth)).toBe(Number(chunks) + 2); // nothing freed: the start, every chunk, the seal
    expect(Number(rejected)).toBeGreaterThanOrEqual(3);
    expect(last).toBe("DOWNLINK_MAC");
    // Three refused in a row: Hello again (R-DL-6), at most once per helloWaitMs (1.5 s) of the time
    // the run took on the recorder's clock (about 3.5 s on an idle machine: at most 3 Hellos).
    expect(hellos).toBeGreaterThanOrEqual(2);
    expect(hellos).toBeLessThanOrEqual(1 + Math.floor(Number(elapsed) / 1500));
  });

  it("a Hello the gateway never got: after 3 Acks MAC'd under an older nonce it says Hello again, and the Acks under the new one free its queue (R-DL-6)", async () => {
    // A gateway in the broker: it answers every start, chunk and seal with an honest Ack under the
    // device's key, but under the nonce of an earlier session, as a cluster worker does whose
    // stream lost the device's Hello (PUBACKed, never stored). The first Hello is dropped; from the
    // second on it answers under that Hello's nonce, counter from 1, each held recording at once.
    const id = "ESP-6";
    const root = new Uint8Array(randomBytes(32));
    const keys = deriveDeviceKeys(nodeSha256, root);
    const dev = deviceIdBytes(id);
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanup.push(() => new Promise<void>((r) => { server.close(() => r()); broker.close(); }));
    const hellos: Uint8Array[] = [];
    let signer = new DownlinkSigner(nodeSha256, keys.downlinkKey, dev, new Uint8Array(randomBytes(16)));
    let staleSent = 0;
    let cum = 0, sealed = false, started = false;
    const answer = () => {
      const body = encode("DownBody", { ack: { recording: 1, state: sealed ? 1 : 0, cumulative: cum } });
      const m = signer.sign(body);
      if (hellos.length < 2) staleSent++;
      broker.publish({ cmd: "publish", topic: `rec/${id}/down`, qos: 1, retain: false, dup: false,
        payload: Buffer.from(encode("Downlink", { schema: 1, counter: m.counter, body, mac: m.mac })) }, () => {});
    };
    broker.on("publish", (packet, client) => {
      if (!client || packet.topic !== `rec/${id}/up`) return;
      const up = decode("Uplink", new Uint8Array(packet.payload as Buffer));
      if (up.hello) {
        const h = decode("Hello", (up.hello as { body: Uint8Array }).body);
        hellos.push(h.nonce as Uint8Array);
        if (hellos.length === 1) return; // lost
        signer = new DownlinkSigner(nodeSha256, keys.downlinkKey, dev, h.nonce as Uint8Array);
        if ((h.held as unknown[]).length && started) answer();
        return;
      }
      if (up.start) started = true;
      else if (up.chunk) {
        const seq = parseHeader((up.chunk as { header: Uint8Array }).header).seq;
        if (seq === cum + 1) cum = seq;
      } else if (up.seal) sealed = true;
      else return; // a Status: no Ack
      answer();
    });
    const d = device(bin, id, root, (server.address() as AddressInfo).port);
    d.start(`${LOAD_FROM_STORAGE}
var t0 = Date.now(), recAt = 0, stopAt = 0;
var poll = setInterval(function () {
  var i = info();
  if (!recAt && i.link === "up") { recorder.record(""); recAt = Date.now(); }
  if (recAt && !stopAt && i.chunks >= 3) { recorder.stop(); stopAt = Date.now(); }
  if ((stopAt && i.queueDepth === 0) || Date.now() - t0 > 20000) {
    clearInterval(poll);
    console.log("RESULT " + i.queueDepth + " " + i.chunks + " " + i.downlinkRejected + " " + i.acks);
  }
}, 100);
`);
    const [, depth, chunks, rejected, acks] = (await d.waitLine(/^RESULT /, 30000)).split(" ").map(Number);
    expect(chunks).toBeGreaterThanOrEqual(3);
    expect(hellos).toHaveLength(2);
    expect(Buffer.from(hellos[1]).equals(Buffer.from(hellos[0]))).toBe(false);
    expect(staleSent).toBeGreaterThanOrEqual(3);
    expect(rejected).toBe(staleSent); // every Ack under the older nonce refused, none freed anything
    expect(acks).toBeGreaterThanOrEqual(1);
    expect(depth).toBe(0); // freed by the Acks under the second Hello's nonce
    expect(d.lines().filter((l) => /hello again: 3 downlinks in a row refused \(DOWNLINK_MAC\)/.test(l))).toHaveLength(1);
    expect(d.lines().join("\n")).not.toMatch(/Uncaught/);
  });
});

/**
 * The cost test's driver: the recorder through its factory (its code loaded by `load`), with a
 * media source the driver calls. Per size, two phases of K rounds, 150 ms apart, so that PUBACKs and
 * Acks keep the window open:
 *   - the native floor, with the recorder idle between chunks: the payload's native SHA256, the hash
 *     and the append of the chunk to a file, and one native socket write of the payload to a sink on
 *     `sinkPort` (what a publish costs the interpreter at the least); beside them the bare chain step
 *     of DESIGN.md section 7 (four hashes, the header, one append, no queue record and no publish),
 *     run from a Storage file and from RAM: the least any recorder can do per chunk on this
 *     interpreter, and how much reading code from the emulated flash file costs (a board maps its
 *     flash; the Linux build reads it with fread);
 *   - the recorder's whole path: the call that takes a chunk in (hash, header, chain, tag, queue
 *     append, publish), timed, and the time spent in the socket's 'data' and 'drain' handlers
 *     meanwhile: the PUBACK and the Ack each chunk brings back, checked and acted on (the chunk
 *     freed, the next sent), and the transport handing the socket the chunk's slices.
 * Prints one line per size: COST n whole hash floor peak bareFlash bareRam socketWrite handlers
 * (µs; handlers per chunk; peak = the recorder's hot-path peak of variables in use).
 */
const costDriver = (load: string, sizes: number[], sinkPort: number) => `var RECORDER_NO_BOOT = 1;
${load}
var leanFlash = eval(require("Storage").read("lean.js")), leanRam = eval(${JSON.stringify(LEAN_STEP)});
var cb = null;
var media = { media: 1, start: function (b, f) { cb = f; }, stop: function () { cb = null; } };
// The socket's handlers timed: what the Acks and PUBACKs each chunk brings back cost, and the slices.
var sockUs = 0, realNet = require("net");
var net = { connect: function (o, cb) {
  var s = realNet.connect(o, cb), on = s.on;
  s.on = function (ev, f) { return on.call(s, ev, ev !== "data" && ev !== "drain" ? f : function (d) { var t = getTime(); f(d); sockUs += (getTime() - t) * 1e6; }); };
  return s;
} };
var env = { Storage: require("Storage"), fs: require("fs"), net: net, crypto: require("crypto"), E: E,
  getTime: function () { return getTime(); }, setTime: function (s) { setTime(s); },
  setTimeout: function (f, ms) { return setTimeout(f, ms); }, clearTimeout: function (h) { clearTimeout(h); },
  memory: function () { return process.memory().usage; }, memInfo: function (gc) { return process.memory(!!gc); },
  log: function (l) { }, board: { media: media } };
var r = Recorder.start(env);
var sink = require("net").connect({ host: "127.0.0.1", port: ${sinkPort} });
var sizes = ${JSON.stringify(sizes)}, K = 12;
function median(a) { a.sort(function (x, y) { return x - y; }); return a[a.length >> 1]; }
function us(t) { return (getTime() - t) * 1e6; }
function measure(si) {
  if (si >= sizes.length) { r.stop(); console.log("DONE"); return; }
  var n = sizes[si], p = new Uint8Array(n), step = [], hash = [], floor = [], lf = [], lr = [], sw = [], k = 0, handlers = 0;
  p.fill(7);
  var base = function () {
    var t = getTime(); require("crypto").SHA256(p); hash.push(us(t));
    t = getTime(); require("crypto").SHA256(p); var f = E.openFile("floor.bin", "a"); f.write(E.toString(p)); f.close(); floor.push(us(t));
    t = getTime(); leanFlash(p, k + 1); lf.push(us(t));
    t = getTime(); leanRam(p, k + 1); lr.push(us(t));
    var ps = E.toString(p); t = getTime(); sink.write(ps); sw.push(us(t)); ps = 0;
    require("fs").unlinkSync("floor.bin"); require("fs").unlinkSync("lean.bin");
    if (++k < K) setTimeout(base, 150);
    else { k = 0; setTimeout(function () { sockUs = 0; whole(); }, 300); }
  };
  var whole = function () {
    var q = new Uint8Array(p); // the media source hands over a buffer of its own: not timed
    var t = getTime(); cb(q, n / 16); step.push(us(t)); q = 0;
    if (++k < K) { setTimeout(whole, 150); return; }
    // The last chunk's PUBACK, Ack and slices come after it.
    setTimeout(function () {
      handlers = sockUs / K;
      console.log("COST " + [n, median(step), median(hash), median(floor), r.info().memoryPeak, median(lf), median(lr), median(sw), handlers].map(Math.round).join(" "));
      setTimeout(function () { measure(si + 1); }, 300);
    }, 300);
  };
  base();
}
var wait = setInterval(function () { if (r.info().link === "up") { clearInterval(wait); r.record(""); setTimeout(function () { measure(0); }, 300); } }, 50);
`;

/** Run the cost driver on a fresh device; the rows it printed. */
async function cost(bin: string, id: string, load: string, sizes: number[], files: Record<string, string> = {}): Promise<number[][]> {
  const g = await gateway();
  const root = new Uint8Array(randomBytes(32));
  await g.gw.registry.add(id, { root });
  // A TCP sink that reads and drops everything, for the bare socket write.
  const sink = createServer((c) => { c.on("data", () => {}); c.on("error", () => {}); });
  await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
  cleanup.push(() => new Promise<void>((r) => sink.close(() => r())));
  const d = device(bin, id, root, g.gw.mqttPort, {}, { "lean.js": LEAN_STEP });
  d.nice = 0; // it times: no lower priority
  for (const [name, text] of Object.entries(files)) d.file(name, text);
  d.start(costDriver(load, sizes, (sink.address() as AddressInfo).port));
  // A fixed number of rounds per size: a busy machine makes it slower, not different (20 s alone,
  // over 60 s seen beside the whole suite on 2 cores).
  await d.waitLine(/^DONE$/, 240000);
  const rows = d.lines().filter((l) => l.startsWith("COST ")).map((l) => l.split(" ").slice(1).map(Number));
  expect(rows.length).toBe(sizes.length);
  await until(async () => (await recordings(g, id))[0]?.verdict === "verified", "measured recording verified");
  return rows;
}

eachBuild("firmware cost on the real Espruino interpreter", (build) => {
  const bin = build.bin;
  beforeAll(async () => {
    if (!bundle) bundle = (await buildFirmware()).min;
  });

  it("per-chunk cost at 4, 8 and 16 KiB beside the native floor and a bare chain step (printed)", async () => {
    const rows = await cost(bin, "ESP-4", LOAD_FROM_STORAGE, [4096, 8192, 16384]);
    for (const [n, step, hash, floor, peak, lf, lr, sw, acks] of rows) {
      // The speed goal's ratio: the whole per-chunk path (the chunk's call, and its share of the
      // socket's handlers: PUBACK, Ack, the slices) over the native floor (hash, append, one socket write).
      console.log(`firmware lane [${build.name} build]: ${n / 1024} KiB chunk: SPEED RATIO ${((step + acks) / (floor + sw)).toFixed(2)} ` +
        `(whole path ${step} µs + socket handlers ${acks} µs, over the native floor ${floor + sw} µs: hash + append ${floor} µs, one socket write of the payload ${sw} µs); ` +
        `native SHA256 ${hash} µs; bare chain step + append ${lf} µs from Storage (${(lf / floor).toFixed(2)} times hash + append), ${lr} µs from RAM (${(lr / floor).toFixed(2)}); ` +
        `the recorder's hot-path peak ${peak} variables`);
      expect(step).toBeGreaterThan(hash); // the path does hash the payload: a sanity check, not a target
    }
  }, 300000);

  (build.board ? it.skip : it)(build.board ? "the whole path with the bundle's code in RAM: not on the board-sized build, where 48 KB of code read into RAM would take more than its 7,100 variables"
    : "the whole path with the bundle's code in RAM, at the default chunk size (printed)", async () => {
    // The same recorder with its code read from a plain file into RAM, nearer to a board, whose
    // flash is mapped into memory: the Linux build reads code from Storage with fseek and fread.
    // RECORDER_TEXT: the bundle's functions kept as text (firmware/build/overlay.ts) are made from it too.
    const [[n, step, hash, floor, , , , sw, acks]] = await cost(bin, "ESP-6", 'var RECORDER_TEXT = require("fs").readFileSync("ram.js"); eval(RECORDER_TEXT);', [8192], { "ram.js": bundle });
    console.log(`firmware lane [${build.name} build]: ${n / 1024} KiB chunk, code in RAM: SPEED RATIO ${((step + acks) / (floor + sw)).toFixed(2)} ` +
      `(whole path ${step} µs + socket handlers ${acks} µs, over the native floor ${floor + sw} µs: hash + append ${floor} µs, one socket write of the payload ${sw} µs)`);
    expect(step).toBeGreaterThan(hash); // and cost() saw its recording verified
  }, 300000);
});
