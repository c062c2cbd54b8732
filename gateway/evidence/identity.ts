// The station's signing identity: one Ed25519 key, made at first start in the data directory
// (PKCS#8 PEM, mode 0600), and the name it signs under, which is also the transparency log's
// origin (SPEC.md R-LOG-1). It signs log checkpoints and recording manifests as C2SP signed
// notes; its X.509 certificate (x509.ts) carries the same key for C2PA.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as edSign } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { formatVerifierKey, noteKey, parseNote, signNote, validKeyName, SIG_ED25519 } from "../../protocol/note.js";
import type { NoteKey } from "../../protocol/note.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { toHex } from "../../protocol/bytes.js";
import { toBase64 } from "../../protocol/base64.js";

export const SIGNING_KEY_FILE = "station-signing.pem";
export const IDENTITY_FILE = "station-identity.json";

export class IdentityError extends Error {
  constructor(public code: string, message: string) {
    super(message);
    this.name = "IdentityError";
  }
}

/** The raw 32-byte public key of an Ed25519 KeyObject. */
export function rawEd25519(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: "jwk" }) as { crv?: string; x?: string };
  if (jwk.crv !== "Ed25519" || !jwk.x) throw new IdentityError("KEY_TYPE", "not an Ed25519 key");
  return new Uint8Array(Buffer.from(jwk.x, "base64url"));
}

/**
 * Whether a stored checkpoint carries a signature line of `key` (its name and key id). Whether that
 * signature verifies is `admin log verify`'s to say (CHECKPOINT_SIGNATURE): a row changed in the
 * database is evidence to report, not a reason to stop the station; a log signed by no line of this
 * key at all is another station's. A note that does not parse is left to the same check.
 */
function signedBy(note: string, key: NoteKey): boolean {
  let sigs;
  try { sigs = parseNote(note).signatures; } catch { return true; }
  return sigs.some((s) => s.name === key.name && s.keyId === key.keyId);
}

const entries = (n: number) => `${n} ${n === 1 ? "entry" : "entries"}`;

/** The origin a checkpoint note names (its first line), for saying whose a log is. */
function logOrigin(note: string): string {
  return JSON.stringify(note.slice(0, Math.max(0, note.indexOf("\n"))));
}

export class StationIdentity {
  /** The note key (type 1, Ed25519) checkpoints and manifests are signed with. */
  readonly noteKey: NoteKey;

  private constructor(
    /** Key name and log origin: a schema-less URL naming the station. */
    readonly name: string,
    private privateKey: KeyObject,
    readonly publicKey: Uint8Array,
    /** Path of the PEM private key (openssl reads it to request the signing certificate). */
    readonly keyFile: string,
  ) {
    this.noteKey = noteKey(sha, name, SIG_ED25519, publicKey);
  }

  /**
   * Load the station's key and name from the data directory, or make them on first start.
   * `wantedName` (config stationName) names a new station; for an existing one it must match
   * the recorded name, since the log's origin can never change. `logged`: the latest checkpoint
   * the database's transparency log holds, if any. A log already signed is this station's only if
   * the key verifies it: no key is made for it (a new key would sign the same log as another
   * station, and every witness and verifier holding the old key would refuse what followed), and a
   * key that does not verify it is another station's (a data directory beside another's database).
   */
  static loadOrCreate(dir: string, wantedName = "", logged: { note: string; size: number } | null = null): { identity: StationIdentity; created: boolean } {
    const keyFile = join(dir, SIGNING_KEY_FILE);
    const idFile = join(dir, IDENTITY_FILE);
    if (wantedName && !validKeyName(wantedName)) throw new IdentityError("STATION_NAME", `station name ${JSON.stringify(wantedName)}: a schema-less URL without spaces or '+', e.g. zfj.example.gov.cn/station-1`);
    let created = false;
    let privateKey: KeyObject;
    if (existsSync(keyFile)) {
      const mode = statSync(keyFile).mode & 0o777;
      if (mode & 0o077) chmodSync(keyFile, 0o600);
      try {
        privateKey = createPrivateKey(readFileSync(keyFile));
      } catch (e) {
        throw new IdentityError("KEY_UNREADABLE", `station signing key ${keyFile} can't be read: ${(e as Error).message}; refusing to start`);
      }
      if (privateKey.asymmetricKeyType !== "ed25519") throw new IdentityError("KEY_TYPE", `station signing key ${keyFile} is ${privateKey.asymmetricKeyType}, not Ed25519; refusing to start`);
    } else {
      if (existsSync(idFile)) throw new IdentityError("KEY_MISSING", `station signing key ${keyFile} is missing but ${idFile} names a station: restore the key from backup (a new key would be another station)`);
      if (logged) throw new IdentityError("KEY_MISSING", `station signing key ${keyFile} is missing but the database holds a transparency log of ${entries(logged.size)} signed as ${logOrigin(logged.note)}: restore ${SIGNING_KEY_FILE} and ${IDENTITY_FILE} from the station's backup, or give the data directory that belongs to this database (a new key would sign its log as another station)`);
      privateKey = generateKeyPairSync("ed25519").privateKey;
      writeFileSync(keyFile, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600, flag: "wx" });
      chmodSync(keyFile, 0o600);
      created = true;
    }
    const publicKey = rawEd25519(createPublicKey(privateKey));
    let name: string;
    if (existsSync(idFile)) {
      let rec: { name?: unknown; publicKey?: unknown };
      try { rec = JSON.parse(readFileSync(idFile, "utf8")); } catch (e) { throw new IdentityError("IDENTITY_FILE", `${idFile}: ${(e as Error).message}`); }
      if (typeof rec.name !== "string" || !validKeyName(rec.name)) throw new IdentityError("IDENTITY_FILE", `${idFile} holds no valid station name`);
      if (rec.publicKey !== toBase64(publicKey)) throw new IdentityError("KEY_MISMATCH", `${keyFile} is not the key ${idFile} records: restore the station's own key`);
      name = rec.name;
      if (wantedName && wantedName !== name) throw new IdentityError("STATION_NAME", `this station's log is named ${name}; --station-name ${wantedName} would start another log: leave it unset or set it to ${name}`);
    } else {
      // A name unique to this key unless the admin chose one: two stations never share an origin.
      name = wantedName || `evrec.station/${toHex(createHash("sha256").update(publicKey).digest()).slice(0, 16)}`;
      writeFileSync(idFile, JSON.stringify({ name, publicKey: toBase64(publicKey), created: new Date().toISOString() }, null, 1) + "\n", { mode: 0o600, flag: "wx" });
    }
    const identity = new StationIdentity(name, privateKey, publicKey, keyFile);
    if (logged && !signedBy(logged.note, identity.noteKey)) {
      throw new IdentityError("LOG_KEY_MISMATCH", `the database's transparency log (${entries(logged.size)}) is signed as ${logOrigin(logged.note)}, not by this data directory's key (${name}): this data directory and this database belong to different stations. Give the data directory that belongs to the database (--data-dir), or the database that belongs to it (--db)`);
    }
    return { identity, created };
  }

  /** `name+keyid+base64(0x01 ‖ key)`: what a monitor, a witness or Go's note.NewVerifier is given. */
  get verifierKey(): string {
    return formatVerifierKey(this.noteKey);
  }

  /** A raw Ed25519 signature (RFC 8032). */
  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(edSign(null, message, this.privateKey));
  }

  /** A signed note of `text` (which ends with a newline) under the station's key. */
  signNote(text: string): string {
    return signNote(text, this.noteKey, (m) => this.sign(m));
  }
}
