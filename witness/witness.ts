// A transparency log witness (C2SP tlog-witness, tlog-cosignature v1 with Ed25519), small
// enough for an outside body (a procuratorate, a court) to run and read. For each log it trusts
// it keeps the latest checkpoint it cosigned, and cosigns a new one only with a consistency
// proof from that one: a log rewritten behind a checkpoint it has seen is refused. It imports
// only protocol/, never the gateway.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as edSign } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { chmodSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nodeSha256 as sha } from "../protocol/sha256-node.js";
import { makeDir } from "../protocol/make-dir.js";
import { nodeEd25519Verify } from "../protocol/ed25519-node.js";
import { fromBase64, toBase64 } from "../protocol/base64.js";
import { cosignatureLine, formatVerifierKey, noteKey, openNote, parseCheckpoint, parseNote, parseVerifierKey, validKeyName, SIG_COSIGNATURE_V1, SIG_ED25519 } from "../protocol/note.js";
import type { NoteKey } from "../protocol/note.js";
import { verifyConsistency } from "../protocol/merkle.js";

/** What one add-checkpoint request gets back (C2SP tlog-witness). */
export interface WitnessReply {
  status: number;
  contentType: string;
  body: string;
  /** A reason code for the witness's own log line. */
  code: string;
}

interface LogState {
  size: number;
  root: string;
  note: string;
  at: number;
}

export class WitnessError extends Error {
  constructor(public code: string, message: string) {
    super(message);
    this.name = "WitnessError";
  }
}

const MAX_PROOF = 63;

function fsyncPath(p: string): void {
  const fd = openSync(p, "r");
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

export class Witness {
  private logs = new Map<string, NoteKey[]>();
  private state: Record<string, LogState>;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly key: NoteKey,
    private privateKey: KeyObject,
    private now: () => number,
  ) {
    const f = join(dir, "state.json");
    this.state = existsSync(f) ? JSON.parse(readFileSync(f, "utf8")).logs : {};
  }

  /**
   * Open the witness's directory: its Ed25519 key (made on first start, 0600), its name, and
   * the latest checkpoint it cosigned for each log. `name` is required the first time.
   */
  static open(dir: string, o: { name?: string; now?: () => number } = {}): Witness {
    makeDir(dir, 0o700);
    const keyFile = join(dir, "witness.pem");
    const idFile = join(dir, "witness.json");
    let priv: KeyObject;
    let name: string;
    if (existsSync(keyFile)) {
      priv = createPrivateKey(readFileSync(keyFile));
      name = JSON.parse(readFileSync(idFile, "utf8")).name;
      if (o.name && o.name !== name) throw new WitnessError("WITNESS_NAME", `this witness is named ${name}, not ${o.name}`);
    } else {
      if (!o.name || !validKeyName(o.name)) throw new WitnessError("WITNESS_NAME", "a new witness needs --name, a schema-less URL such as witness.procuratorate.example/w1");
      name = o.name;
      priv = generateKeyPairSync("ed25519").privateKey;
      writeFileSync(keyFile, priv.export({ format: "pem", type: "pkcs8" }), { mode: 0o600, flag: "wx" });
      chmodSync(keyFile, 0o600);
      writeFileSync(idFile, JSON.stringify({ name }) + "\n", { flag: "wx" });
    }
    const jwk = createPublicKey(priv).export({ format: "jwk" }) as { x: string };
    const key = noteKey(sha, name, SIG_COSIGNATURE_V1, new Uint8Array(Buffer.from(jwk.x, "base64url")));
    return new Witness(dir, key, priv, o.now ?? Date.now);
  }

  /** The witness's verifier key (type 4, cosignature/v1): what a log and a verifier are given. */
  get verifierKey(): string {
    return formatVerifierKey(this.key);
  }

  /** Trust a log: its verifier key names its origin. */
  addLog(vkey: string): NoteKey {
    const k = parseVerifierKey(sha, vkey);
    if (k.type !== SIG_ED25519) throw new WitnessError("LOG_KEY", "a log's key is an Ed25519 note key (type 1)");
    this.logs.set(k.name, [...(this.logs.get(k.name) ?? []), k]);
    return k;
  }

  /** The latest checkpoint cosigned for a log, or null. */
  latest(origin: string): { size: number; root: Uint8Array } | null {
    const s = this.state[origin];
    return s ? { size: s.size, root: fromBase64(s.root) } : null;
  }

  /** The size of the latest checkpoint cosigned, per log origin. */
  holdings(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.state)) out[k] = v.size;
    return out;
  }

  /** Handle one add-checkpoint body; requests are taken one at a time, so check and update are atomic. */
  addCheckpoint(body: string): Promise<WitnessReply> {
    const run = () => this.handle(body);
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private handle(body: string): WitnessReply {
    const reply = (status: number, code: string, text: string, contentType = "text/plain; charset=utf-8"): WitnessReply => ({ status, code, body: text, contentType });
    const split = body.indexOf("\n\n");
    if (split < 0) return reply(400, "MALFORMED", "expected: old size line, proof lines, an empty line, the checkpoint\n");
    const head = body.slice(0, split).split("\n");
    const m = /^old (0|[1-9][0-9]{0,15})$/.exec(head[0]);
    if (!m) return reply(400, "MALFORMED", "the first line is `old <size>`\n");
    const old = Number(m[1]);
    const proof: Uint8Array[] = [];
    if (head.length - 1 > MAX_PROOF) return reply(400, "MALFORMED", `at most ${MAX_PROOF} proof lines\n`);
    for (const line of head.slice(1)) {
      let h: Uint8Array;
      try { h = fromBase64(line); } catch { return reply(400, "MALFORMED", "a proof line is not base64\n"); }
      if (h.length !== 32) return reply(400, "MALFORMED", "a proof line is not a 32-byte hash\n");
      proof.push(h);
    }
    const noteText = body.slice(split + 2);
    let cp;
    let text: string;
    try {
      text = parseNote(noteText).text;
      cp = parseCheckpoint(text);
    } catch (e) {
      return reply(400, "MALFORMED", `${(e as Error).message}\n`);
    }
    const keys = this.logs.get(cp.origin);
    if (!keys) return reply(404, "UNKNOWN_LOG", `unknown log ${cp.origin}\n`);
    try {
      openNote(noteText, keys, nodeEd25519Verify);
    } catch (e) {
      return reply(403, "BAD_SIGNATURE", `${(e as Error).message}\n`);
    }
    if (old > cp.size) return reply(400, "OLD_ABOVE_SIZE", `old size ${old} is above the checkpoint's size ${cp.size}\n`);
    const have = this.state[cp.origin];
    const haveSize = have ? have.size : 0;
    // C2SP tlog-witness: the old size must be the size this witness last cosigned.
    if (old !== haveSize) return reply(409, "SIZE_MISMATCH", `${haveSize}\n`, "text/x.tlog.size");
    if (have) {
      const haveRoot = fromBase64(have.root);
      if (old === cp.size) {
        if (toBase64(haveRoot) !== toBase64(cp.root)) return reply(409, "ROOT_MISMATCH", `${haveSize}\n`, "text/x.tlog.size");
      } else if (!verifyConsistency(sha, old, cp.size, haveRoot, cp.root, proof)) {
        return reply(422, "INCONSISTENT", `the consistency proof from size ${old} does not verify: this checkpoint is not an extension of the one cosigned\n`);
      }
    } else if (proof.length) return reply(422, "INCONSISTENT", "a first checkpoint takes no consistency proof\n");
    const at = Math.floor(this.now() / 1000);
    this.state[cp.origin] = { size: cp.size, root: toBase64(cp.root), note: noteText, at };
    this.persist();
    return reply(200, "COSIGNED", cosignatureLine(this.key, at, text, (msg) => new Uint8Array(edSign(null, msg, this.privateKey))));
  }

  // The new state is on the disk before the cosignature leaves (C2SP tlog-witness: persist first).
  private persist(): void {
    const f = join(this.dir, "state.json");
    const tmp = f + ".tmp";
    writeFileSync(tmp, JSON.stringify({ logs: this.state }, null, 1) + "\n");
    fsyncPath(tmp);
    renameSync(tmp, f);
    fsyncPath(this.dir);
  }
}
