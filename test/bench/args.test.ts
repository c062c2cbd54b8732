// The benches' command lines (test/bench/args.ts): what an operator typing one sees.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { benchHelp, parseBenchArgs } from "./args.js";
import type { BenchOption } from "./args.js";

const SPEC = {
  sizes: { kind: "numbers", default: [4, 16], help: "chunk sizes, KiB" },
  rounds: { kind: "number", default: 3, integer: true, min: 1, help: "rounds" },
  rate: { kind: "number", help: "chunks a second" },
  db: { kind: "string", default: "sqlite", choices: ["sqlite", "postgres"], help: "metadata" },
  "gateway-only": { kind: "flag", help: "the gateway alone" },
} satisfies Record<string, BenchOption>;

const refused = (argv: string[]) => {
  try {
    parseBenchArgs(SPEC, argv);
  } catch (e) {
    return `${(e as { code: string }).code}: ${(e as Error).message}`;
  }
  return "accepted";
};

describe("a bench's options", () => {
  it("takes the defaults, and what is given in their kinds", () => {
    expect(parseBenchArgs(SPEC, []).values).toEqual({ sizes: [4, 16], rounds: 3, rate: undefined, db: "sqlite", "gateway-only": false });
    const { values } = parseBenchArgs(SPEC, ["--sizes", "64", "--rounds=5", "--rate", "7600.5", "--db", "postgres", "--gateway-only"]);
    expect(values).toEqual({ sizes: [64], rounds: 5, rate: 7600.5, db: "postgres", "gateway-only": true });
  });

  it("refuses what it does not know, and says why", () => {
    expect(refused(["--rouns", "2"])).toMatch(/^BAD_BENCH_ARGUMENT: .*'--rouns'/);
    expect(refused(["--rounds"])).toMatch(/^BAD_BENCH_ARGUMENT: .*argument missing/);
    expect(refused(["--rounds", "two"])).toBe('BAD_BENCH_ARGUMENT: --rounds takes a number, not "two"');
    expect(refused(["--rounds", "2.5"])).toBe('BAD_BENCH_ARGUMENT: --rounds takes a whole number, not "2.5"');
    expect(refused(["--rounds", "0"])).toBe('BAD_BENCH_ARGUMENT: --rounds takes a number of at least 1, not "0"');
    expect(refused(["--sizes", "4,,16"])).toBe('BAD_BENCH_ARGUMENT: --sizes takes numbers separated by commas, not "4,,16"');
    expect(refused(["--db", "mysql"])).toBe('BAD_BENCH_ARGUMENT: --db takes sqlite or postgres, not "mysql"');
    expect(refused(["4"])).toMatch(/^BAD_BENCH_ARGUMENT: .*positional/);
  });

  it("refuses to start without an option it requires, and says so in its help", () => {
    const spec = { rate: { kind: "number", min: 1, required: true, help: "chunks a second" }, size: { kind: "number", default: 4, help: "KiB" } } satisfies Record<string, BenchOption>;
    expect(() => parseBenchArgs(spec, ["--size", "16"])).toThrow("--rate is required: chunks a second");
    expect(parseBenchArgs(spec, ["--rate", "7600"]).values).toEqual({ rate: 7600, size: 4 });
    expect(benchHelp("npm run bench:x -- --rate N", "x.", spec)).toMatch(/--rate N +chunks a second \(required\)\n/);
  });

  it("lists every option with its default in its help", () => {
    const text = benchHelp("npm run bench:x [-- OPTIONS]", "What x measures.", SPEC);
    expect(text).toMatch(/^usage: npm run bench:x \[-- OPTIONS\]\n\nWhat x measures\.\n/);
    expect(text).toMatch(/--sizes N,N,\.\.\. +chunk sizes, KiB \(default 4,16\)/);
    expect(text).toMatch(/--rate N +chunks a second\n/);
    expect(text).toMatch(/--db sqlite\|postgres +metadata \(default sqlite\)/);
    expect(text).toMatch(/--gateway-only +the gateway alone\n/);
    expect(text).toMatch(/--help +this text\n$/);
  });
});

describe("npm run bench's command line", () => {
  // The bench's TMPDIR, its own: where it would make its directory had it started.
  const tmp = mkdtempSync(join(tmpdir(), "evrec-bench-args-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const bench = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "test/bench/compare.bench.ts", ...args], { encoding: "utf8", timeout: 20000, env: { ...process.env, TMPDIR: tmp } });
  const benchDirs = () => readdirSync(tmp).filter((f) => !f.startsWith("tsx-")); // tsx keeps its compile cache there

  it("prints its options on --help, and runs nothing", () => {
    const r = bench("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run bench \[-- OPTIONS\]/);
    for (const o of ["sizes", "rounds", "seconds", "devices", "window", "json", "gateway-only", "latency-rate", "warmup", "db", "ahead"]) expect(r.stdout).toContain(`--${o}`);
    expect(r.stdout).not.toContain("bench: 50 clients");
    expect(benchDirs()).toEqual([]);
  });

  it("refuses a mistyped option before it starts anything", () => {
    const r = bench("--sizes", "4", "--rouns", "1");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^bench: BAD_BENCH_ARGUMENT: .*'--rouns'.*\(see --help\)\n$/);
    expect(r.stdout).toBe("");
    expect(benchDirs()).toEqual([]);
  });

  it("bench:commit refuses to start without its rate", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "test/bench/commit-alone.ts", "--seconds", "1"], { encoding: "utf8", timeout: 20000, env: { ...process.env, TMPDIR: tmp } });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("bench:commit: BAD_BENCH_ARGUMENT: --rate is required: chunks a second (see --help)\n");
    expect(benchDirs()).toEqual([]);
  });
});
