// The log's side of C2SP tlog-witness: send each new checkpoint with a consistency proof from
// the size the witness last cosigned, keep the cosignature it returns (SPEC.md R-LOG-9).
import type { Db } from "../store/db.js";
import { ConfigError } from "../config.js";
import * as store from "../store/tlog.js";
import type { TransparencyLog, SignedCheckpoint } from "./tlog.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { nodeEd25519Verify } from "../../protocol/ed25519-node.js";
import { toBase64 } from "../../protocol/base64.js";
import { checkCosignature, parseNote, parseVerifierKey, SIG_COSIGNATURE_V1 } from "../../protocol/note.js";
import type { NoteKey } from "../../protocol/note.js";

export interface WitnessConfig {
  /** The witness's submission prefix: add-checkpoint is POSTed below it. */
  url: string;
  key: NoteKey;
}

/** A bad `witnesses` option: the gateway refuses to start, as for any bad option. */
export class WitnessConfigError extends ConfigError {
  override code = "WITNESS_CONFIG";
}

/** Parse `URL VERIFIER-KEY[,URL VERIFIER-KEY...]` (config `witnesses`). */
export function parseWitnesses(s: string): WitnessConfig[] {
  if (!s.trim()) return [];
  return s.split(",").map((part) => {
    const [url, vkey, extra] = part.trim().split(/\s+/);
    if (!url || !vkey || extra) throw new WitnessConfigError(`witness ${JSON.stringify(part.trim())}: give "URL VERIFIER-KEY"`);
    if (!/^https?:\/\//.test(url)) throw new WitnessConfigError(`witness URL ${url}: http:// or https://`);
    let key: NoteKey;
    try { key = parseVerifierKey(sha, vkey); } catch (e) { throw new WitnessConfigError(`witness ${url}: ${(e as Error).message}`); }
    if (key.type !== SIG_COSIGNATURE_V1) throw new WitnessConfigError(`witness ${url}: its key must be a cosignature/v1 key (type 4)`);
    return { url: url.replace(/\/+$/, ""), key };
  });
}

export type CosignOutcome =
  | { witness: string; status: "cosigned"; size: number; timestamp: number }
  | { witness: string; status: "refused"; code: string; detail: string }
  | { witness: string; status: "unreachable"; detail: string };

async function post(url: string, body: string): Promise<{ status: number; type: string; text: string }> {
  const r = await fetch(url, { method: "POST", body, headers: { "content-type": "text/plain; charset=utf-8" }, signal: AbortSignal.timeout(15000) });
  return { status: r.status, type: r.headers.get("content-type") || "", text: await r.text() };
}

/** The station-signed note alone: witnesses get the log's own signature, not others' cosignatures. */
function stationNote(note: string): string {
  const n = parseNote(note);
  return n.text + "\n" + n.signatures[0].line;
}

/**
 * Ask one witness to cosign `cp`. A 409 tells the size the witness holds: the request is made
 * again once from there. Refusals come back with a code for the alarm.
 */
export async function requestCosignature(db: Db, tlog: TransparencyLog, w: WitnessConfig, cp: SignedCheckpoint, now: () => number): Promise<CosignOutcome> {
  let old = await store.witnessSize(db, w.key.name);
  for (let attempt = 0; attempt < 2; attempt++) {
    if (old > cp.size) return { witness: w.key.name, status: "refused", code: "WITNESS_AHEAD", detail: `the witness holds a checkpoint of size ${old}, larger than the log's ${cp.size}: the log was cut back or forked` };
    const proof = await tlog.consistencyProof(old, cp.size);
    const body = `old ${old}\n` + proof.map((h) => toBase64(h) + "\n").join("") + "\n" + stationNote(cp.note);
    let r;
    try {
      r = await post(w.url + "/add-checkpoint", body);
    } catch (e) {
      return { witness: w.key.name, status: "unreachable", detail: (e as Error).message };
    }
    if (r.status === 200) {
      const text = parseNote(cp.note).text;
      for (const line of r.text.split("\n")) {
        if (!line) continue;
        let sig;
        try { sig = parseNote(text + "\n" + line + "\n").signatures[0]; } catch { continue; }
        const t = checkCosignature(w.key, text, sig, nodeEd25519Verify);
        if (t === null) continue;
        await db.transaction(async () => {
          await store.putCosignature(db, cp.size, w.key.name, sig.line, now());
          await store.setWitnessSize(db, w.key.name, cp.size, now());
        });
        return { witness: w.key.name, status: "cosigned", size: cp.size, timestamp: t };
      }
      return { witness: w.key.name, status: "refused", code: "WITNESS_BAD_COSIGNATURE", detail: "the witness answered without a valid cosignature by its configured key" };
    }
    if (r.status === 409 && /^text\/x\.tlog\.size/.test(r.type) && /^\d+\n?$/.test(r.text) && attempt === 0 && Number(r.text) !== old) {
      old = Number(r.text);
      await store.setWitnessSize(db, w.key.name, old, now());
      continue;
    }
    const what: Record<number, string> = {
      400: "the witness found the request malformed", 403: "the witness does not accept the station's signature", 404: "the witness does not know this log",
      409: "the witness holds a different checkpoint at this size: the log's history differs from what it saw", 422: "the consistency proof from the witness's checkpoint does not verify: the log was rewritten",
    };
    return { witness: w.key.name, status: "refused", code: r.status === 422 || r.status === 409 ? "WITNESS_INCONSISTENT" : "WITNESS_REFUSED", detail: `HTTP ${r.status}: ${what[r.status] || "unexpected answer"}${r.text ? ` (${r.text.trim().slice(0, 200)})` : ""}` };
  }
  return { witness: w.key.name, status: "refused", code: "WITNESS_INCONSISTENT", detail: "the witness keeps answering with another size" };
}
