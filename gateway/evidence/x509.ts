// The station's X.509 chain for C2PA: a station CA and a signing certificate for the station's
// Ed25519 key, made at first start with Debian's openssl (Node has no API that issues a
// certificate), in <data>/x509 (keys 0600). The signing certificate fits the C2PA signer
// profile that c2pa-rs checks: v3, Key Usage critical with digitalSignature, an Extended Key
// Usage of emailProtection, an Authority Key Identifier, issued by a CA rather than self-signed.
// An admin may install an agency-issued certificate instead (installCertificate): it is checked
// against the same profile, and then used for C2PA in place of the station's own.
import { execFileSync } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StationIdentity } from "./identity.js";
import { rawEd25519 } from "./identity.js";

export class X509Error extends Error {
  constructor(public code: string, message: string) {
    super(message);
    this.name = "X509Error";
  }
}

/** What signs C2PA manifests: a certificate chain (leaf first, no root) and its private key. */
export interface SigningCredentials {
  /** "station": the station CA's certificate for the station key; "installed": one an admin installed. */
  source: "station" | "installed";
  /** PEM of the signing certificate followed by any intermediates (the COSE x5chain). */
  chainPem: string;
  /** PEM of the trust anchor a verifier is given (the station CA, or the agency root if installed with one). */
  anchorPem: string | null;
  keyFile: string;
  certFile: string;
}

const DIR = "x509";
const OPENSSL_HINT = "Debian's openssl is needed (apt-get install openssl)";

function openssl(args: string[], input?: string): string {
  try {
    return execFileSync("openssl", args, { stdio: ["pipe", "pipe", "pipe"], input }).toString();
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string; code?: string };
    if (err.code === "ENOENT") throw new X509Error("OPENSSL_MISSING", OPENSSL_HINT);
    throw new X509Error("OPENSSL_FAILED", `openssl ${args[0]}: ${(err.stderr?.toString() || err.message).trim().split("\n")[0]}`);
  }
}

/** The C2PA signer profile's problems with a certificate (PEM); empty when it fits. */
export function c2paProfileProblems(certPem: string): string[] {
  const problems: string[] = [];
  let cert: X509Certificate;
  try { cert = new X509Certificate(certPem); } catch (e) { return [`not an X.509 certificate: ${(e as Error).message}`]; }
  const text = openssl(["x509", "-noout", "-text"], certPem);
  if (!/Version: 3 \(0x2\)/.test(text)) problems.push("not an X.509 v3 certificate");
  const ku = /X509v3 Key Usage: (critical)?\n\s+([^\n]*)/.exec(text);
  if (!ku) problems.push("no Key Usage extension");
  else {
    if (!ku[1]) problems.push("Key Usage is not marked critical");
    if (!/Digital Signature/.test(ku[2])) problems.push("Key Usage lacks digitalSignature");
  }
  const eku = /X509v3 Extended Key Usage: ?(?:critical)?\n\s+([^\n]*)/.exec(text);
  if (!eku) problems.push("no Extended Key Usage extension");
  else {
    if (/Any Extended Key Usage/.test(eku[1])) problems.push("Extended Key Usage must not include anyExtendedKeyUsage");
    if (!/E-mail Protection|1\.3\.6\.1\.5\.5\.7\.3\.36|Document Signing/.test(eku[1])) problems.push("Extended Key Usage has neither emailProtection nor documentSigning");
  }
  if (!/X509v3 Authority Key Identifier/.test(text)) problems.push("no Authority Key Identifier");
  if (cert.ca) problems.push("it is a CA certificate, not a signing certificate");
  if (cert.issuer === cert.subject) {
    let selfSigned = false;
    try { selfSigned = cert.verify(cert.publicKey); } catch { selfSigned = false; }
    if (selfSigned) problems.push("it is self-signed");
  }
  return problems;
}

/** Split PEM text into its certificates. */
export function pemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map((c) => (c.endsWith("\n") ? c : c + "\n")) ?? [];
}

/**
 * Make the station CA and the signing certificate for the station key, once. The CA's key stays
 * in the data directory (0600): it issued one certificate and issues its renewal.
 */
export function ensureStationChain(dataDir: string, identity: StationIdentity): { created: boolean } {
  const dir = join(dataDir, DIR);
  const caKey = join(dir, "station-ca.key");
  const caCrt = join(dir, "station-ca.crt");
  const crt = join(dir, "station-signing.crt");
  if (existsSync(caCrt) && existsSync(crt)) return { created: false };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const subj = (cn: string) => `/O=Evidence recorder station/CN=${cn.replace(/[/=\\]/g, "-")}`;
  openssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKey, "-out", caCrt,
    "-days", "10950", "-utf8", "-subj", subj(`${identity.name} station CA`),
    "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "subjectKeyIdentifier=hash"]);
  chmodSync(caKey, 0o600);
  const ext = join(dir, "signing.ext");
  writeFileSync(ext, "[v3]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n");
  const csr = openssl(["req", "-new", "-key", identity.keyFile, "-utf8", "-subj", subj(identity.name)]);
  try {
    // A positive serial of 16 random bytes (the top bit cleared).
    const serial = randomBytes(16);
    serial[0] &= 0x7f;
    openssl(["x509", "-req", "-CA", caCrt, "-CAkey", caKey, "-set_serial", "0x" + serial.toString("hex"), "-days", "3650", "-sha256",
      "-extfile", ext, "-extensions", "v3", "-out", crt], csr);
  } finally {
    rmSync(ext, { force: true });
  }
  const problems = c2paProfileProblems(readFileSync(crt, "utf8"));
  if (problems.length) throw new X509Error("PROFILE", `the generated signing certificate does not fit the C2PA profile: ${problems.join("; ")}`);
  return { created: true };
}

/** The credentials C2PA signing uses now: an installed certificate if there is one, else the station's. */
export function signingCredentials(dataDir: string, identity: StationIdentity): SigningCredentials {
  const dir = join(dataDir, DIR);
  const inst = join(dir, "installed");
  if (existsSync(join(inst, "chain.pem"))) {
    const keyFile = existsSync(join(inst, "key.pem")) ? join(inst, "key.pem") : identity.keyFile;
    return { source: "installed", chainPem: readFileSync(join(inst, "chain.pem"), "utf8"), anchorPem: existsSync(join(inst, "anchor.pem")) ? readFileSync(join(inst, "anchor.pem"), "utf8") : null, keyFile, certFile: join(inst, "chain.pem") };
  }
  ensureStationChain(dataDir, identity);
  return { source: "station", chainPem: readFileSync(join(dir, "station-signing.crt"), "utf8"), anchorPem: readFileSync(join(dir, "station-ca.crt"), "utf8"), keyFile: identity.keyFile, certFile: join(dir, "station-signing.crt") };
}

/** A certificate signing request for the station key, for an agency CA to issue from. */
export function stationCsr(identity: StationIdentity, subject?: string): string {
  const subj = subject || `/O=Evidence recorder station/CN=${identity.name.replace(/[/=\\]/g, "-")}`;
  if (!subj.startsWith("/")) throw new X509Error("USAGE", "--subject is an openssl subject such as /C=CN/O=Agency/CN=station-1");
  return openssl(["req", "-new", "-key", identity.keyFile, "-utf8", "-subj", subj]);
}

/**
 * Install an agency-issued signing certificate. `certPem` holds the signing certificate (then
 * any intermediates); `anchorPem`, optionally, the agency's root; `keyPem` its private key, or
 * none when the certificate was issued for the station key (stationCsr). Checked first: the C2PA
 * profile, that the key matches, and that the chain links up.
 */
export function installCertificate(dataDir: string, identity: StationIdentity, o: { certPem: string; anchorPem?: string; keyPem?: string }): { subject: string; issuer: string; fingerprint: string } {
  const certs = pemCertificates(o.certPem);
  if (!certs.length) throw new X509Error("NOT_A_CERTIFICATE", "the --cert file holds no PEM certificate");
  const problems = c2paProfileProblems(certs[0]);
  if (problems.length) throw new X509Error("PROFILE", `the certificate does not fit the C2PA signer profile: ${problems.join("; ")}`);
  const leaf = new X509Certificate(certs[0]);
  let keyPem = o.keyPem;
  if (keyPem) {
    let priv;
    try { priv = createPrivateKey(keyPem); } catch (e) { throw new X509Error("KEY_UNREADABLE", `the --key file is not a private key: ${(e as Error).message}`); }
    const a = createPublicKey(priv).export({ format: "der", type: "spki" });
    const b = leaf.publicKey.export({ format: "der", type: "spki" });
    if (!Buffer.from(a).equals(Buffer.from(b))) throw new X509Error("KEY_MISMATCH", "the --key is not the certificate's key");
    if (priv.asymmetricKeyType !== "ed25519" && !(priv.asymmetricKeyType === "ec" && priv.asymmetricKeyDetails?.namedCurve === "prime256v1")) throw new X509Error("KEY_TYPE", `C2PA signing here takes Ed25519 or P-256 (ES256) keys, not ${priv.asymmetricKeyType}`);
    keyPem = priv.export({ format: "pem", type: "pkcs8" }).toString();
  } else {
    if (leaf.publicKey.asymmetricKeyType !== "ed25519") throw new X509Error("KEY_MISMATCH", "the certificate is not for the station key (give its --key)");
    const leafKey = rawEd25519(leaf.publicKey);
    if (Buffer.compare(Buffer.from(leafKey), Buffer.from(identity.publicKey)) !== 0) throw new X509Error("KEY_MISMATCH", "the certificate is not for the station key: give its --key, or have the agency issue one for `admin x509 csr`");
  }
  for (let i = 0; i + 1 < certs.length; i++) {
    if (!new X509Certificate(certs[i]).checkIssued(new X509Certificate(certs[i + 1]))) throw new X509Error("CHAIN", `certificate ${i + 1} in --cert is not issued by the one after it`);
  }
  if (o.anchorPem) {
    const anchors = pemCertificates(o.anchorPem);
    if (anchors.length !== 1) throw new X509Error("CHAIN", "--anchor holds one root certificate");
    const top = new X509Certificate(certs[certs.length - 1]);
    if (!top.checkIssued(new X509Certificate(anchors[0])) || !top.verify(new X509Certificate(anchors[0]).publicKey)) throw new X509Error("CHAIN", "the chain does not lead to the --anchor certificate");
  }
  const inst = join(dataDir, DIR, "installed");
  rmSync(inst, { recursive: true, force: true });
  mkdirSync(inst, { recursive: true, mode: 0o700 });
  if (keyPem) writeFileSync(join(inst, "key.pem"), keyPem, { mode: 0o600 });
  if (o.anchorPem) writeFileSync(join(inst, "anchor.pem"), pemCertificates(o.anchorPem)[0]);
  writeFileSync(join(inst, "chain.pem"), certs.join(""));
  return { subject: leaf.subject.replace(/\n/g, ", "), issuer: leaf.issuer.replace(/\n/g, ", "), fingerprint: leaf.fingerprint256 };
}

/** Remove an installed certificate: C2PA signing goes back to the station's own chain. */
export function uninstallCertificate(dataDir: string): boolean {
  const inst = join(dataDir, DIR, "installed");
  if (!existsSync(inst)) return false;
  rmSync(inst, { recursive: true, force: true });
  return true;
}

/** What `admin station-key` prints about a certificate (PEM). */
export function describeCertificate(pem: string): { subject: string; issuer: string; validFrom: string; validTo: string; fingerprint: string; serial: string } {
  const c = new X509Certificate(pem);
  return { subject: c.subject.replace(/\n/g, ", "), issuer: c.issuer.replace(/\n/g, ", "), validFrom: c.validFrom, validTo: c.validTo, fingerprint: c.fingerprint256, serial: c.serialNumber };
}
