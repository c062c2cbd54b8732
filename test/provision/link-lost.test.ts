// A board whose link goes away in the middle of a run (the interpreter killed, the cable pulled,
// the board reset): the tool must notice at once, with PROVISION_LINK_LOST naming the port and the
// OS error, and say that the device could not be put back and what it may hold, instead of waiting
// for the 5 s answer timeout and guessing "an echo" (a real run said that, then "Putting the device
// back FAILED (Cannot call write after a stream was destroyed)").
//
// The board is the node engine's REPL (simulator/imitation/repl.ts) in this process, behind a TCP
// server: no Espruino interpreter (its telnet port is fixed and shared). The server powers the
// board off and drops the connection when a chosen command line starts to arrive, by a reset (RST:
// ECONNRESET here) or a plain close (FIN). The same server behind a socat pty stands for a serial
// port whose board went away. A new connection powers the board on again with the same flash.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { testGateway } from "../gateway/harness.js";
import { provision, retire } from "../../provision/provision.js";
import type { Options } from "../../provision/provision.js";
import { ProvisionError } from "../../provision/errors.js";
import { LinkLostError, Repl } from "../../provision/repl.js";
import type { Link } from "../../provision/repl.js";
import { DeviceRepl } from "../../simulator/imitation/repl.js";
import { HAS_SOCAT, deviceFiles, refusingProxy, removeTempDirs, socatPty, tempDir } from "./devices.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The answer timeout the bug waited for: a lost link must be told well before it. */
const TIMEOUT_MS = 5000;
/** Well before the answer timeout: a wait ended by the loss, not by the timeout (a loaded machine's stalls included). */
const PROMPT_MS = TIMEOUT_MS / 2;

interface Drop {
  /** Drop when the `nth` match of `at` arrives (counted over what this connection received). */
  at: RegExp;
  nth: number;
  how: "reset" | "close";
}

/** A node-engine board on a TCP port; `drop` arms a loss of the link for the next connection. */
async function fakeBoard(dir: string): Promise<{ port: number; drop(d: Drop): void; droppedAt: () => number; connections: () => number; close(): Promise<void> }> {
  mkdirSync(join(dir, "sd"), { recursive: true });
  let armed: Drop | null = null;
  let droppedAt = 0;
  let connections = 0;
  const open = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    connections++;
    open.add(sock);
    sock.on("close", () => open.delete(sock));
    sock.on("error", () => undefined);
    const drop = armed;
    armed = null;
    let seen = "";
    let dead = false;
    const repl = new DeviceRepl({ dir, seed: 1, write: (b) => { if (!dead && !sock.destroyed) sock.write(b); } });
    const kill = () => {
      dead = true;
      droppedAt = Date.now();
      repl.close(); // the interpreter is gone: its flash keeps what it had written
      if (drop!.how === "reset") sock.resetAndDestroy();
      else sock.destroy();
    };
    sock.on("data", (d: Buffer) => {
      if (dead) return;
      const s = d.toString("latin1");
      const from = seen.length;
      seen += s;
      if (drop) {
        // Where the nth match starts: the bytes before it reach the board, the rest never do.
        const re = new RegExp(drop.at.source, "g");
        let m: RegExpExecArray | null;
        let n = 0;
        while ((m = re.exec(seen))) {
          if (++n === drop.nth) {
            const cut = m.index + Math.floor(m[0].length / 2);
            if (cut > from) repl.input(s.slice(0, cut - from));
            return kill();
          }
        }
      }
      repl.input(s);
    });
    sock.on("close", () => { if (!dead) { dead = true; repl.close(); } });
    repl.start();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    drop: (d) => { armed = d; droppedAt = 0; },
    droppedAt: () => droppedAt,
    connections: () => connections,
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

let g: Awaited<ReturnType<typeof testGateway>>;
let token: string;
let url: string;
beforeAll(async () => {
  g = await testGateway();
  token = readFileSync(g.gw.adminTokenFile!, "utf8").trim();
  url = `http://127.0.0.1:${g.gw.httpPort}`;
});
afterAll(async () => {
  if (g) await g.close();
  removeTempDirs();
});

/** A bundle of three pieces of 2048 bytes (the default --piece): a drop can fall in its middle. */
function bundle(dir: string): string {
  let js = "var evrTestBundle = 1;\n";
  for (let i = 0; js.length < 5000; i++) js += `// padding line ${i} ${"-".repeat(60)}\n`;
  const p = join(dir, "bundle.js");
  writeFileSync(p, js);
  return p;
}

const opts = (port: string, dir: string, serial: string, over: Partial<Options> = {}): Options => ({
  port, serial, gateway: url, token, broker: { host: "127.0.0.1", port: g.gw.mqttPort }, force: false,
  bundle: bundle(dir), chunk: 16384, pre: 5, baud: 115200, start: true, ...over,
});

/** Run, expecting a ProvisionError; with the time from the drop to the error. */
async function failing(p: Promise<unknown>, droppedAt: () => number): Promise<{ e: ProvisionError; afterDrop: number }> {
  let e: unknown;
  await p.then(() => { e = new Error("no error"); }, (x) => { e = x; });
  if (!(e instanceof ProvisionError)) throw e;
  if (!droppedAt()) throw new Error(`failed before the link was dropped: ${e.code}: ${e.message}`);
  return { e, afterDrop: Date.now() - droppedAt() };
}

const rootEnc = async (id: string) => (await g.gw.db.get<{ root_enc: Buffer }>("SELECT root_enc FROM devices WHERE id = ?", [id]))?.root_enc.toString("hex");

/** What no message about a lost link may say any more. */
function expectNoGuess(msg: string): void {
  expect(msg).not.toMatch(/echo|loopback|Cannot call write|stream was destroyed|within \d+ ms/);
}

/** A link in this process: writes go nowhere (or never finish), `lose` is the link going away. */
function fakeLink(o: { writes?: "ok" | "hang" | "fail"; onLost?: boolean } = {}): { link: Link; lose(why: string): void; answer(s: string): void } {
  let data: (d: string) => void = () => undefined;
  let lost: (why: string) => void = () => undefined;
  const link: Link = {
    name: "/dev/ttyFAKE0",
    write: (d) => (o.writes === "hang" ? new Promise(() => undefined) : o.writes === "fail" ? Promise.reject(Object.assign(new Error("write EIO"), { code: "EIO" })) : (void d, Promise.resolve())),
    onData: (cb) => { data = cb; },
    close: async () => undefined,
  };
  if (o.onLost !== false) link.onLost = (cb) => { lost = cb; };
  return { link, lose: (why) => lost(why), answer: (s) => data(s) };
}

/** How long `p` took to reject, and with what. */
async function rejection(p: Promise<unknown>): Promise<{ e: ProvisionError; ms: number }> {
  const t = Date.now();
  const e = await p.then(() => new Error("no error"), (x: unknown) => x);
  if (!(e instanceof ProvisionError)) throw e;
  return { e, ms: Date.now() - t };
}

describe("the REPL driver: a link that goes away ends every wait at once", () => {
  it("a command waiting for its answer: PROVISION_LINK_LOST naming the port, the OS error and the step, not an echo after the timeout", async () => {
    const f = fakeLink();
    const repl = new Repl(f.link);
    const p = repl.call("return 1", { what: "hashing rec.js" });
    setTimeout(() => { f.answer("\r\n>"); f.lose("EIO: input/output error"); }, 50);
    const { e, ms } = await rejection(p);
    expect(e).toBeInstanceOf(LinkLostError);
    expect(e.code).toBe("PROVISION_LINK_LOST");
    expect(e.message).toBe('the link to /dev/ttyFAKE0 went away (EIO: input/output error) in the step "hashing rec.js": the board was reset, unplugged or switched off, or its interpreter ended. Reconnect the board and run again');
    expect(ms).toBeLessThan(PROMPT_MS);
    expect(repl.linkLost).toBe(true);
    // And every wait after it, at once, without writing.
    expect((await rejection(repl.call("return 2", { what: "the device check" }))).e.message).toContain('in the step "the device check"');
    expect((await rejection(repl.sync())).e.code).toBe("PROVISION_LINK_LOST");
  });

  it("an answer that came before the link went away is still the answer", async () => {
    const f = fakeLink();
    const repl = new Repl(f.link);
    const p = repl.call("return 1", { what: "hello" });
    await sleep(10);
    f.answer('@@EVR1:[1,7]:EVR1@@\r\n>');
    f.lose("the other end closed the connection");
    expect(await p).toBe(7);
  });

  it("waiting for a reset's banner to end (quiet): the loss ends it, it is not a quiet line", async () => {
    const f = fakeLink();
    const repl = new Repl(f.link);
    const p = repl.quiet(1000, 3000);
    setTimeout(() => f.lose("ECONNRESET: connection reset by the other end"), 50);
    const { e, ms } = await rejection(p);
    expect(e.code).toBe("PROVISION_LINK_LOST");
    expect(ms).toBeLessThan(PROMPT_MS);
  });

  it("a write the link never finishes (serialport queues writes on a closed port): the loss ends it", async () => {
    const f = fakeLink({ writes: "hang" });
    const repl = new Repl(f.link);
    const p = repl.raw("\x10reset()\n", "the reset that stops the firmware");
    setTimeout(() => f.lose("bad file descriptor"), 50);
    const { e, ms } = await rejection(p);
    expect(e.message).toContain('went away (bad file descriptor) in the step "the reset that stops the firmware"');
    expect(ms).toBeLessThan(PROMPT_MS);
  });

  it("a link that cannot tell of its loss: a failed write is the loss", async () => {
    const f = fakeLink({ writes: "fail", onLost: false });
    const repl = new Repl(f.link);
    const { e, ms } = await rejection(repl.call("return 1", { what: "writing rec.cfg at 0" }));
    expect(e.code).toBe("PROVISION_LINK_LOST");
    expect(e.message).toContain('went away (EIO: input/output error) in the step "writing rec.cfg at 0"');
    expect(ms).toBeLessThan(PROMPT_MS);
  });
});

describe("the link to the board goes away in the middle of a run (TCP)", () => {
  it("a new board, the connection reset in the middle of the bundle: PROVISION_LINK_LOST at once, nothing registered; a plain second run provisions it", async () => {
    const dir = tempDir("evrec-link-lost-");
    const board = await fakeBoard(dir);
    const port = `tcp://127.0.0.1:${board.port}`;
    try {
      board.drop({ at: /write\("rec\.js"/, nth: 2, how: "reset" });
      const lines: string[] = [];
      const t0 = Date.now();
      const { e, afterDrop } = await failing(provision(opts(port, dir, "BWC-L001"), (l) => lines.push(l)), board.droppedAt);
      const ms = Date.now() - t0;
      console.log(`link reset in the bundle: failed ${afterDrop} ms after the drop (${ms} ms in all): ${e.code}: ${e.message}`);
      expect(e.code).toBe("PROVISION_LINK_LOST");
      expect(afterDrop).toBeGreaterThanOrEqual(0);
      expect(afterDrop).toBeLessThan(PROMPT_MS);
      expect(e.message).toContain(`the link to ${port} went away (ECONNRESET: connection reset by the other end) in the step "writing rec.js at 2048"`);
      expect(e.message).toMatch(/The device could not be put back: the link is gone\. It may hold part of what this run wrote \(rec\.js\)\./);
      expect(e.message).toMatch(/The gateway was not changed \(BWC-L001 is not registered\)\. Reconnect the board and run again$/);
      expectNoGuess(e.message);
      expect(lines).not.toContain("putting the device back as it was");
      expect(await g.gw.registry.get("BWC-L001")).toBeUndefined();

      // Reconnected (powered on again, same flash): a plain run provisions it over the partial rec.js.
      const s = await provision(opts(port, dir, "BWC-L001"));
      expect(s.registered).toBe("new");
      expect(board.connections()).toBe(2);
    } finally {
      await board.close();
    }
  });

  it("--force re-key, the interpreter killed while hashing rec.js (connection closed): the old config stays, the gateway keeps the old root, run again with --force", async () => {
    const dir = tempDir("evrec-link-lost-");
    const board = await fakeBoard(dir);
    const port = `tcp://127.0.0.1:${board.port}`;
    try {
      await provision(opts(port, dir, "BWC-L002"));
      const before = await deviceFiles(port);
      const enc = await rootEnc("BWC-L002");

      board.drop({ at: /SHA256\(d\)/, nth: 1, how: "close" }); // hashFile's line
      const t0 = Date.now();
      const { e, afterDrop } = await failing(provision(opts(port, dir, "BWC-L002", { force: true })), board.droppedAt);
      const ms = Date.now() - t0;
      console.log(`link closed at the hash, --force: failed ${afterDrop} ms after the drop (${ms} ms in all): ${e.code}: ${e.message}`);
      expect(e.code).toBe("PROVISION_LINK_LOST");
      expect(afterDrop).toBeGreaterThanOrEqual(0);
      expect(afterDrop).toBeLessThan(PROMPT_MS);
      expect(e.message).toMatch(new RegExp(`^the link to ${port.replace(/[./]/g, "\\$&")} went away \\((the other end closed the connection|ECONNRESET[^)]*|EPIPE[^)]*)\\) in the step "hashing rec\\.js"`));
      expect(e.message).toContain("The device could not be put back: the link is gone. It may hold part of what this run wrote (rec.js); its previous config (BWC-L002) and keys, unchanged; its firmware stopped (.boot0 erased: it does not start the recorder at power-on).");
      expect(e.message).toMatch(/The gateway was not changed \(BWC-L002 keeps its old root\)\. Reconnect the board and run again with --force$/);
      expectNoGuess(e.message);
      expect(await rootEnc("BWC-L002")).toBe(enc);

      // What the message said: the old config and keys, no boot file.
      const after = await deviceFiles(port);
      expect(after.files["rec.cfg"]).toBe(before.files["rec.cfg"]);
      expect(after.files["rec.key"]).toBe(before.files["rec.key"]);
      expect(after.list).not.toContain(".boot0");
      // And what it said to do.
      expect((await provision(opts(port, dir, "BWC-L002", { force: true }))).registered).toBe("rekeyed");
      expect(await rootEnc("BWC-L002")).not.toBe(enc);
      expect(JSON.parse(String((await deviceFiles(port)).files["rec.cfg"])).login).toBe((await g.gw.registry.get("BWC-L002"))!.password);
    } finally {
      await board.close();
    }
  });

  it("the link closed while rec.key is written (after rec.cfg): the new keys may be on the board, so --force is needed (a plain run is PROVISION_ALREADY)", async () => {
    const dir = tempDir("evrec-link-lost-");
    const board = await fakeBoard(dir);
    const port = `tcp://127.0.0.1:${board.port}`;
    try {
      board.drop({ at: /write\("rec\.key"/, nth: 1, how: "close" });
      const { e, afterDrop } = await failing(provision(opts(port, dir, "BWC-L003")), board.droppedAt);
      expect(e.code).toBe("PROVISION_LINK_LOST");
      expect(afterDrop).toBeLessThan(PROMPT_MS);
      expect(e.message).toContain('in the step "writing rec.key at 0"');
      expect(e.message).toContain("It may hold part of what this run wrote (rec.js, rec.cfg, rec.key), with keys the gateway does not know.");
      expect(e.message).toMatch(/\(BWC-L003 is not registered\)\. Reconnect the board and run again with --force$/);
      expect(await g.gw.registry.get("BWC-L003")).toBeUndefined();
      let again = "";
      await provision(opts(port, dir, "BWC-L003")).catch((x: ProvisionError) => { again = x.code; });
      expect(again).toBe("PROVISION_ALREADY");
      expect((await provision(opts(port, dir, "BWC-L003", { force: true }))).registered).toBe("new");
    } finally {
      await board.close();
    }
  });

  it("the gateway refuses the registration and the link goes away while the device is put back: the rollback says it was cut off, not a stream error", async () => {
    const dir = tempDir("evrec-link-lost-");
    const board = await fakeBoard(dir);
    const proxy = await refusingProxy(url);
    const port = `tcp://127.0.0.1:${board.port}`;
    try {
      // A new board: the rollback's first command erases what this run wrote.
      board.drop({ at: /S\.erase\(n\)/, nth: 1, how: "reset" });
      const { e, afterDrop } = await failing(provision(opts(port, dir, "BWC-L004", { gateway: proxy.url })), board.droppedAt);
      console.log(`link reset in the rollback: failed ${afterDrop} ms after the drop: ${e.code}: ${e.message}`);
      expect(e.code).toBe("PROVISION_REGISTER");
      expect(afterDrop).toBeLessThan(PROMPT_MS);
      expect(e.message).toMatch(/503 INTERNAL/);
      expect(e.message).toMatch(new RegExp(`Putting the device back FAILED, the link being gone: the link to tcp://127\\.0\\.0\\.1:${board.port} went away \\(ECONNRESET[^)]*\\) in the step "erasing rec\\.js, \\.boot0, rec\\.cfg, rec\\.key": [^.]*\\. It may hold part of this run's files, with keys the gateway does not know; the gateway was not changed\\. Reconnect the board and run again with --force, or --retire$`));
      expectNoGuess(e.message);
      expect(await g.gw.registry.get("BWC-L004")).toBeUndefined();
    } finally {
      await board.close();
      await proxy.close();
    }
  });

  it("--retire cut off after the gateway retired the id: says the id is retired and to run --retire again, which finishes the wipe", async () => {
    const dir = tempDir("evrec-link-lost-");
    const board = await fakeBoard(dir);
    const port = `tcp://127.0.0.1:${board.port}`;
    try {
      await provision(opts(port, dir, "BWC-L005"));
      board.drop({ at: /S\.erase\(n\)/, nth: 2, how: "close" }); // the first erase stops the firmware
      const { e, afterDrop } = await failing(retire(opts(port, dir, "BWC-L005")), board.droppedAt);
      console.log(`link closed in --retire: failed ${afterDrop} ms after the drop: ${e.code}: ${e.message}`);
      expect(e.code).toBe("PROVISION_LINK_LOST");
      expect(afterDrop).toBeLessThan(PROMPT_MS);
      expect(e.message).toMatch(/BWC-L005 is retired at the gateway; the board may still hold some of its files \(.*\): reconnect it and run --retire again$/);
      expect((await g.gw.registry.get("BWC-L005"))!.state).toBe("retired");
      expect((await retire(opts(port, dir, "BWC-L005"))).gatewayState).toBe("retired");
      expect((await deviceFiles(port)).list).toEqual([]);
    } finally {
      await board.close();
    }
  });
});

(HAS_SOCAT ? describe : describe.skip)("the link to the board goes away in the middle of a run (a serial port: a socat pty)", () => {
  it("the board behind the pty goes away in the middle of the bundle: PROVISION_LINK_LOST at once, naming the port; after reconnecting, a plain run provisions it", async () => {
    const dir = tempDir("evrec-link-lost-");
    const board = await fakeBoard(dir);
    const kids: ChildProcess[] = [];
    try {
      // The pty's other end is the board's TCP console: when the board drops the connection,
      // socat ends and the pty goes away, as a board's USB serial port does when it is unplugged.
      const pty = async () => {
        // The socat before gone first: one ending removes its pty's link, which may be the new one's.
        for (const k of kids) if (k.exitCode === null && k.signalCode === null) { const gone = once(k, "exit"); k.kill("SIGKILL"); await gone; }
        const { tty, socat } = await socatPty(dir, `TCP:127.0.0.1:${board.port}`);
        kids.push(socat);
        await sleep(50);
        return tty;
      };
      board.drop({ at: /write\("rec\.js"/, nth: 2, how: "reset" }); // armed first: socat connects at once
      const tty = await pty();
      const t0 = Date.now();
      const { e, afterDrop } = await failing(provision(opts(tty, dir, "BWC-L006")), board.droppedAt);
      const ms = Date.now() - t0;
      console.log(`pty gone in the bundle: failed ${afterDrop} ms after the drop (${ms} ms in all): ${e.code}: ${e.message}`);
      expect(e.code).toBe("PROVISION_LINK_LOST");
      expect(afterDrop).toBeGreaterThanOrEqual(0);
      expect(afterDrop).toBeLessThan(PROMPT_MS);
      expect(e.message).toContain(`the link to ${tty} went away (`);
      expect(e.message).toContain('in the step "writing rec.js at 2048"');
      expect(e.message).toMatch(/The device could not be put back: the link is gone\. It may hold part of what this run wrote \(rec\.js\)\. The gateway was not changed \(BWC-L006 is not registered\)\. Reconnect the board and run again$/);
      expectNoGuess(e.message);
      expect(await g.gw.registry.get("BWC-L006")).toBeUndefined();

      const s = await provision(opts(await pty(), dir, "BWC-L006"));
      expect(s.registered).toBe("new");
    } finally {
      for (const k of kids) k.kill("SIGKILL");
      await board.close();
    }
  });
});
