// The station's signing identity as an admin meets it: a key made once (0600) that
// `admin station-key` prints as a verifier key anyone can check notes with, and an X.509 chain
// for C2PA that fits the signer profile c2pa-rs enforces, or an agency's certificate instead.
import { afterAll, describe, expect, it } from "vitest";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { StationIdentity } from "../../gateway/evidence/identity.js";
import { c2paProfileProblems, signingCredentials } from "../../gateway/evidence/x509.js";
import { openNote, parseVerifierKey } from "../../protocol/note.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { nodeEd25519Verify } from "../../protocol/ed25519-node.js";

const run = promisify(execFile);
const base = mkdtempSync(join(tmpdir(), "evrec-identity-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const fresh = () => mkdtempSync(join(base, `d${n++}-`));

const admin = async (dir: string, ...args: string[]) => {
  try {
    const r = await run(process.execPath, ["--import", "tsx", "gateway/cli.ts", ...args, "--data-dir", dir]);
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
};
const ossl = (cwd: string, ...args: string[]) => execFileSync("openssl", args, { cwd, stdio: "pipe" }).toString();

describe("station signing identity", () => {
  it("makes one Ed25519 key at first start, 0600, and keeps it and its name across restarts", () => {
    const dir = fresh();
    const a = StationIdentity.loadOrCreate(dir, "zfj.example.gov.cn/station-1");
    expect(a.created).toBe(true);
    expect(statSync(join(dir, "station-signing.pem")).mode & 0o777).toBe(0o600);
    const b = StationIdentity.loadOrCreate(dir);
    expect(b.created).toBe(false);
    expect(b.identity.verifierKey).toBe(a.identity.verifierKey);
    expect(b.identity.name).toBe("zfj.example.gov.cn/station-1");
  });

  it("refuses to rename the log, to start without the key its identity names, or a name with spaces", () => {
    const dir = fresh();
    StationIdentity.loadOrCreate(dir, "a.example/station");
    expect(() => StationIdentity.loadOrCreate(dir, "b.example/station")).toThrow(/this station's log is named a\.example\/station/);
    unlinkSync(join(dir, "station-signing.pem"));
    expect(() => StationIdentity.loadOrCreate(dir)).toThrow(/restore the key from backup/);
    expect(() => StationIdentity.loadOrCreate(fresh(), "no spaces please")).toThrow(/schema-less URL/);
  });

  it("prints a verifier key with `admin station-key` that opens the notes the station signs", async () => {
    const dir = fresh();
    const r = await admin(dir, "station-key", "--json");
    expect(r.code, r.err).toBe(0);
    const out = JSON.parse(r.out);
    const key = parseVerifierKey(sha, out.verifierKey);
    expect(key.name).toBe(out.name);
    expect(Buffer.from(key.publicKey).toString("base64")).toBe(out.publicKey);
    const id = StationIdentity.loadOrCreate(dir).identity;
    expect(openNote(id.signNote("a statement\n"), [key], nodeEd25519Verify).text).toBe("a statement\n");
    const text = (await admin(dir, "station-key")).out;
    expect(text).toContain(`note verifier key    ${out.verifierKey}`);
  });

  it("issues a C2PA signing certificate for the station key from a station CA: v3, digitalSignature, emailProtection, AKI, not self-signed", () => {
    const dir = fresh();
    const id = StationIdentity.loadOrCreate(dir).identity;
    const cred = signingCredentials(dir, id);
    expect(cred.source).toBe("station");
    expect(c2paProfileProblems(cred.chainPem)).toEqual([]);
    const x = join(dir, "x509");
    expect(ossl(x, "verify", "-CAfile", "station-ca.crt", "-purpose", "smimesign", "station-signing.crt")).toContain("OK");
    const text = ossl(x, "x509", "-in", "station-signing.crt", "-noout", "-text");
    expect(text).toMatch(/Key Usage: critical\n\s+Digital Signature\n/);
    expect(text).toMatch(/Extended Key Usage: \n\s+E-mail Protection/);
    const aki = /Authority Key Identifier: \n\s+(?:keyid:)?([0-9A-F:]+)/.exec(text)![1];
    const ski = /Subject Key Identifier: \n\s+([0-9A-F:]+)/.exec(ossl(x, "x509", "-in", "station-ca.crt", "-noout", "-text"))![1];
    expect(aki).toBe(ski);
    // The certificate carries the very key that signs the log's checkpoints.
    const pub = ossl(x, "x509", "-in", "station-signing.crt", "-noout", "-pubkey");
    expect(pub).toContain(Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), id.publicKey]).toString("base64"));
    expect(statSync(join(x, "station-ca.key")).mode & 0o777).toBe(0o600);
    // And the profile check is not vacuous: a self-signed certificate fails it.
    ossl(x, "req", "-x509", "-key", join(dir, "station-signing.pem"), "-subj", "/CN=self", "-days", "1", "-addext", "keyUsage=critical,digitalSignature", "-addext", "extendedKeyUsage=emailProtection", "-out", "self.crt");
    expect(c2paProfileProblems(readFileSync(join(x, "self.crt"), "utf8"))).toContain("it is self-signed");
  });

  it("installs an agency certificate issued for the station key's request, and refuses one outside the profile", async () => {
    const dir = fresh();
    expect((await admin(dir, "x509", "csr", "--out", join(dir, "station.csr"), "--subject", "/C=CN/O=Agency/CN=station-1")).code).toBe(0);
    // Never written over a file, nor where it can't be: said with a reason code.
    const again = await admin(dir, "x509", "csr", "--out", join(dir, "station.csr"));
    expect(again.code).toBe(1);
    expect(again.err).toContain(`admin: OUT_EXISTS: ${join(dir, "station.csr")} exists: choose another file`);
    const nowhere = await admin(dir, "x509", "csr", "--out", join(dir, "no-dir", "station.csr"));
    expect(nowhere.err).toContain(`admin: OUT_UNWRITABLE: ${join(dir, "no-dir", "station.csr")} can't be made`);
    const ag = fresh();
    ossl(ag, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30", "-subj", "/O=Agency/CN=Agency Root",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign");
    writeFileSync(join(ag, "good.ext"), "[v3]\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\nauthorityKeyIdentifier=keyid:always\n");
    writeFileSync(join(ag, "bad.ext"), "[v3]\nkeyUsage=critical,digitalSignature\nauthorityKeyIdentifier=keyid:always\n");
    for (const p of ["good", "bad"]) ossl(ag, "x509", "-req", "-in", join(dir, "station.csr"), "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "7", "-days", "30", "-extfile", `${p}.ext`, "-extensions", "v3", "-out", `${p}.crt`);
    const bad = await admin(dir, "x509", "install", "--cert", join(ag, "bad.crt"));
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("admin: PROFILE: the certificate does not fit the C2PA signer profile: no Extended Key Usage extension");
    const good = await admin(dir, "x509", "install", "--cert", join(ag, "good.crt"), "--anchor", join(ag, "ca.crt"));
    expect(good.code, good.err).toBe(0);
    const shown = JSON.parse((await admin(dir, "x509", "show", "--json")).out);
    expect(shown.source).toBe("installed");
    expect(shown.chain[0].issuer).toContain("Agency Root");
    expect(shown.anchor.subject).toContain("Agency Root");
    const audit = JSON.parse((await admin(dir, "audit", "list", "--json")).out);
    expect(audit[0]).toMatchObject({ action: "x509.install" });
  });
});
