// `npm run provision`: arguments, exit codes, messages, and a whole run through the CLI whose
// output must hold no key material.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCli } from "../../provision/cli.js";
import { ProvisionError } from "../../provision/errors.js";
import { testGateway } from "../gateway/harness.js";
import { DEVICE_TEST_MS, SKIP_REASON, removeTempDirs, deviceFiles, espruinoOnPty, tempDir, testBundle, useInterpreter } from "./devices.js";
import { eachBuild } from "../espruino/builds.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BASE = ["--port", "/dev/null", "--serial", "BWC-0001", "--broker", "10.0.0.2:1883", "--gateway", "http://10.0.0.2:8080", "--token", "evr_x"];

const usage = (argv: string[]): string => {
  try {
    parseCli(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(ProvisionError);
    expect((e as ProvisionError).code).toBe("PROVISION_USAGE");
    return (e as Error).message;
  }
  return "(accepted)";
};

/** Run the CLI as an admin would; resolves with its exit code and output. */
function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", "provision/cli.ts", ...args], { cwd: ROOT });
    let out = "", err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("close", (code) => resolve({ code: code ?? -1, out, err }));
  });
}

describe("provision CLI arguments", () => {
  it("takes the documented options, with the firmware's defaults", () => {
    const r = parseCli([...BASE, "--unit", "Traffic Brigade", "--wifi-ssid", "station", "--wifi-pass", "pw", "--chunk", "4096", "--pre", "10"]);
    expect(r).toMatchObject({ help: false, retire: false, options: {
      port: "/dev/null", serial: "BWC-0001", broker: { host: "10.0.0.2", port: 1883 }, gateway: "http://10.0.0.2:8080", token: "evr_x",
      unit: "Traffic Brigade", wifi: { ssid: "station", pass: "pw" }, chunk: 4096, pre: 10, force: false, bundle: "dist/recorder.min.js", start: true,
    } });
    expect(parseCli(["--help"])).toEqual({ help: true });
    expect(parseCli([...BASE, "--broker", "[fd00::2]:1883"])).toMatchObject({ options: { broker: { host: "fd00::2", port: 1883 } } });
    // Retiring needs no broker.
    expect(parseCli(BASE.filter((_, i) => i < 4 || i > 5).concat("--retire"))).toMatchObject({ retire: true });
  });

  it("refuses bad arguments with PROVISION_USAGE and says which", () => {
    expect(usage(BASE.slice(2))).toMatch(/--port is required/);
    expect(usage([...BASE, "--serial", "BWC 0001"])).toMatch(/--serial must be/);
    expect(usage([...BASE, "--serial", "A-VERY-LONG-DEVICE-ID"])).toMatch(/--serial must be/);
    expect(usage([...BASE, "--broker", "10.0.0.2"])).toMatch(/--broker must be host:port/);
    expect(usage([...BASE, "--broker", "h:70000"])).toMatch(/--broker/);
    expect(usage([...BASE, "--gateway", "10.0.0.2:8080"])).toMatch(/--gateway must be an http/);
    expect(usage([...BASE, "--wifi-ssid", "x"])).toMatch(/together/);
    expect(usage([...BASE, "--pre", "-1"])).toMatch(/--pre/);
    expect(usage([...BASE, "--chunk", "lots"])).toMatch(/--chunk/);
    expect(usage([...BASE, "--bogus"])).toMatch(/bogus/);
    expect(usage([...BASE, "--token-file", "/nonexistent/token"])).toMatch(/not both/);
    expect(usage([...BASE.slice(0, 8), "--token-file", "/nonexistent/token"])).toMatch(/ENOENT/);
    expect(usage(BASE.slice(0, 8))).toMatch(/--token or --token-file is required/);
  });

  it("reads the token from --token-file", () => {
    const f = join(tempDir(), "admin.token");
    writeFileSync(f, "evr_from_file\n");
    expect(parseCli([...BASE.slice(0, 8), "--token-file", f])).toMatchObject({ options: { token: "evr_from_file" } });
  });

  it("run through npm, reads --token-file and --bundle from the folder it was typed in, not the project's", async () => {
    const folder = tempDir();
    writeFileSync(join(folder, "admin.token"), "evr_from_file\n");
    writeFileSync(join(folder, "recorder.min.js"), "print(1);\n");
    const r = await new Promise<{ code: number; err: string }>((resolve) => {
      const p = spawn("npm", ["--prefix", ROOT, "run", "-s", "provision", "--", "--port", "/dev/nonexistent-tty", "--serial", "BWC-0001", "--broker", "10.0.0.2:1883", "--gateway", "http://127.0.0.1:1", "--token-file", "admin.token", "--bundle", "recorder.min.js"], { cwd: folder });
      let err = "";
      p.stderr.on("data", (d) => (err += d));
      p.on("close", (code) => resolve({ code: code ?? -1, err }));
    });
    // Both files read: it went on to ask the gateway, which is not there.
    expect(r.err).toMatch(/PROVISION_GATEWAY_DOWN: the gateway at http:\/\/127\.0\.0\.1:1 did not answer/);
    expect(r.code).toBe(1);
  }, 30000);

  it("exit codes: 0 for --help, 2 for bad arguments, 1 for a missing bundle (before any port is opened)", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/--retire/);
    const bad = await cli(["--serial", "x"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/PROVISION_USAGE: --port is required/);
    const nob = await cli([...BASE, "--bundle", "/nonexistent/recorder.min.js", "--port", "/dev/nonexistent-tty"]);
    expect(nob.code).toBe(1);
    expect(nob.err).toMatch(/PROVISION_NO_BUNDLE: bundle not found: \/nonexistent\/recorder\.min\.js: run npm run build:firmware/);
    // A chunk the firmware would refuse is caught before anything is touched.
    const small = await cli([...BASE, "--chunk", "100"]);
    expect(small.code).toBe(2);
    expect(small.err).toMatch(/CONFIG_FIELD:chunk/);
  }, 30000);
});

let g: Awaited<ReturnType<typeof testGateway>>;
beforeAll(async () => { if (!SKIP_REASON) g = await testGateway(); });
afterAll(async () => { if (g) await g.close(); removeTempDirs(); });

eachBuild("provision CLI on the real interpreter", (build) => {
  // A fresh gateway: each interpreter build's tests register the same ids.
  beforeAll(async () => { useInterpreter(build.bin); if (g) await g.close(); g = await testGateway(); });
  it("provisions through the CLI: exit 0, a summary, and no key material in anything it prints", async () => {
    const dev = await espruinoOnPty();
    try {
      const r = await cli(["--port", dev.port, "--serial", "BWC-C001", "--broker", `127.0.0.1:${g.gw.mqttPort}`, "--gateway", `http://127.0.0.1:${g.gw.httpPort}`,
        "--token-file", g.gw.adminTokenFile!, "--bundle", testBundle(dev.dir), "--chunk", "8192"]);
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^provisioned BWC-C001 \(registered at the gateway\)$/m);
      expect(r.out).toMatch(/chip serial +00000000-addeadde-addeadde/);
      expect(r.out).toMatch(/verified +rec\.js \(SHA-256\), rec\.cfg, rec\.key, \.boot0/);
      expect(r.out).toMatch(/bundle +.*: \d+ bytes in/);
      const { files } = await deviceFiles(dev.port);
      const cfg = JSON.parse(String(files["rec.cfg"]));
      const keys = JSON.parse(String(files["rec.key"]));
      for (const k of [cfg.login, cfg.dl, cfg.ctl, keys.s]) expect(r.out + r.err).not.toContain(k);
      expect(r.out + r.err).not.toMatch(/[0-9a-f]{32}/);
      expect(readFileSync(g.gw.adminTokenFile!, "utf8")).not.toBe("");
      // A second run is refused with the reason code and exit 1.
      const again = await cli(["--port", dev.port, "--serial", "BWC-C001", "--broker", `127.0.0.1:${g.gw.mqttPort}`, "--gateway", `http://127.0.0.1:${g.gw.httpPort}`,
        "--token-file", g.gw.adminTokenFile!, "--bundle", testBundle(dev.dir)]);
      expect(again.code).toBe(1);
      expect(again.err).toMatch(/^provision: PROVISION_ALREADY: the device is already provisioned \(serial BWC-C001\)/);
    } finally {
      await dev.kill();
    }
  }, DEVICE_TEST_MS);
});
