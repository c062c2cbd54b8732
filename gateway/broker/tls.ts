// The TLS listener's certificate: the admin's, or a self-signed one generated once with
// Debian's openssl (Node has no API that makes an X.509 certificate) and kept in the data
// directory, key mode 0600.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface TlsMaterial { cert: Buffer; key: Buffer; certFile: string; generated: boolean }

export function tlsMaterial(dataDir: string, certFile: string, keyFile: string): TlsMaterial {
  if (certFile || keyFile) {
    if (!certFile || !keyFile) throw new Error("TLS: give both --tls-cert and --tls-key, or neither for a self-signed pair");
    return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, generated: false };
  }
  const dir = join(dataDir, "tls");
  const cert = join(dir, "gateway.crt");
  const key = join(dir, "gateway.key");
  let generated = false;
  if (!existsSync(cert) || !existsSync(key)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "825",
        "-subj", "/CN=evidence-recorder gateway", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "pipe" });
    } catch (e) {
      throw new Error(`TLS: could not generate a self-signed certificate with openssl (apt-get install openssl), or give --tls-cert and --tls-key: ${(e as Error).message}`);
    }
    chmodSync(key, 0o600);
    generated = true;
  }
  return { cert: readFileSync(cert), key: readFileSync(key), certFile: cert, generated };
}
