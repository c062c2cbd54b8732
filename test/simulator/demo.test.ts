// npm run demo's options: its help, and an option it does not know or a bad value refused before
// anything starts (it ran a whole minute's demo on any ports, whatever it was given).
import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = (...args: string[]) => promisify(execFile)(process.execPath, ["--import", "tsx", "simulator/demo.ts", ...args], { timeout: 50000 })
  .then((r) => ({ code: 0, out: r.stdout, err: r.stderr }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }));

describe("npm run demo", () => {
  it("prints its options with --help, and refuses an unknown option or a bad value with the usage, exit 2", async () => {
    const [help, port, devices, duration] = await Promise.all([run("--help"), run("--port", "1883"), run("--devices", "many"), run("--duration", "1m")]);
    expect(help.code).toBe(0);
    for (const w of ["--devices N", "--duration", "--mqtt-port", "--http-port"]) expect(help.out).toContain(w);
    expect(port).toMatchObject({ code: 2, err: expect.stringMatching(/^demo: USAGE: unknown option --port\n/) });
    expect(devices).toMatchObject({ code: 2, err: expect.stringMatching(/^demo: USAGE: --devices is a whole number from 1 to 50, got "many"/) });
    expect(duration).toMatchObject({ code: 2, err: expect.stringMatching(/^demo: USAGE: --duration is seconds/) });
  }, 60000);
});
