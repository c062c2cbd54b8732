#!/usr/bin/env node
// `npm test`: checks the Debian tools the tests talk to, installs what is missing when it can
// (root with apt-get), otherwise stops with the apt-get line to run; then runs the Espruino
// gate and the test suite, and ends with one plain "N passed, N failed" line.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

/** The first lines of a failure's message, without the test runner's own frames, indented under its name. */
const firstLines = (text = "") => text.split("\n").filter((l) => !/node_modules|<anonymous>/.test(l)).slice(0, 8).map((l) => `    ${l}`).join("\n");

/** Debian packages the tests need, with a command (or, for a library, a path) each provides. */
const NEEDED = [["protobuf-compiler", "protoc"], ["mosquitto-clients", "mosquitto_pub"], ["openssl", "openssl"], ["socat", "socat"],
  // The media store's durability test traces its system calls.
  ["strace", "strace"],
  // The transparency log's peer test builds a Go program against golang.org/x/mod/sumdb.
  ["golang-go", "go"], ["golang-golang-x-mod-dev", "/usr/share/gocode/src/golang.org/x/mod/sumdb/tlog"],
  // The README's admin walkthrough, run as written, ends with a curl.
  ["curl", "curl"],
  // The store's tests run a second time against a PostgreSQL 15 they start (vitest project "postgres").
  ["postgresql", "/usr/lib/postgresql/15/bin/postgres"],
  // Gateway workers on a 3-node NATS cluster (test/cluster): its MQTT listener and JetStream.
  ["nats-server", "/usr/sbin/nats-server"]];

const has = (cmd) => (cmd.startsWith("/") ? existsSync(cmd) : spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0);

const missing = NEEDED.filter(([, cmd]) => !has(cmd)).map(([pkg]) => pkg);
if (missing.length) {
  const line = `apt-get update && apt-get install -y ${missing.join(" ")}`;
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  if (root && has("apt-get")) {
    console.log(`test: installing ${missing.join(", ")}: ${line}`);
    const r = spawnSync("sh", ["-c", `${line} >/dev/null`], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    if (r.status !== 0) { console.error(`test: could not install ${missing.join(", ")}; run as root:\n  ${line}`); process.exit(1); }
  } else {
    console.error(`test: missing ${missing.join(", ")}. Install with:\n  sudo ${line}`);
    process.exit(1);
  }
}

// The real-interpreter lane runs on each build named: ESPRUINO_BIN (the default Linux build) and
// ESPRUINO_BOARD_BIN (a fixed store of 7,100 variables, as a board has); take them from the PATH.
const env = { ...process.env };
const onPath = (cmd) => execFileSync("sh", ["-c", `command -v ${cmd}`]).toString().trim();
if (!env.ESPRUINO_BIN && has("espruino-linux")) env.ESPRUINO_BIN = onPath("espruino-linux");
if (!env.ESPRUINO_BOARD_BIN && has("espruino-board")) env.ESPRUINO_BOARD_BIN = onPath("espruino-board");
console.log(env.ESPRUINO_BIN ? `test: real-interpreter lane, default build: ${env.ESPRUINO_BIN}` : "test: ESPRUINO_BIN not set and no espruino-linux on the PATH: the lane skips the default build");
console.log(env.ESPRUINO_BOARD_BIN ? `test: real-interpreter lane, board-sized build: ${env.ESPRUINO_BOARD_BIN}` : "test: ESPRUINO_BOARD_BIN not set and no espruino-board on the PATH: the lane skips the board-sized build");

const gate = spawnSync(process.execPath, ["scripts/espruino-gate.mjs"], { stdio: "inherit", env });
if (gate.status !== 0) { console.log("tests: 0 passed, 1 failed"); process.exit(1); }
// The firmware bundle: gated, built, within its size budget; the lanes and the simulator run it.
const fw = spawnSync(process.execPath, ["--import", "tsx", "firmware/build/build.ts"], { stdio: "inherit", env });
if (fw.status !== 0) { console.log("tests: 0 passed, 1 failed"); process.exit(1); }

const dir = mkdtempSync(join(tmpdir(), "evrec-test-"));
// Three vitest runs. The store's tests on PostgreSQL and the NATS cluster (the project "postgres":
// their own servers, mostly waiting on them) and the firmware on a board's memory (the project
// "board": interpreters running for minutes) run beside the rest (the project "sqlite"), which keeps
// the whole suite within CI's half hour on 2 cores. The console's browser tests
// (*.browser.test.ts) run after both, on their own: a Chromium beside the tests that spawn a
// process per CLI command would slow those past their timeouts.
const extra = process.argv.slice(2);
const stages = extra.length ? [[extra]] : [
  [["--project", "sqlite", "--exclude", "**/*.browser.test.ts"], ["--project", "postgres", "--project", "board"]],
  [["--project", "sqlite", ".browser.test.ts"]],
];
let passed = 0, failed = 0, skipped = 0, ok = true, read = 0, n = 0;
/** What failed, named again at the very end: three runs' output interleave, and a log is often read from its tail. */
const failures = [];
const vitest = (more) => new Promise((resolveRun) => {
  const report = join(dir, `vitest-${n++}.json`);
  const child = spawn("npx", ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile=${report}`, ...more], { stdio: "inherit", env });
  child.on("exit", (code) => {
    if (code !== 0) ok = false;
    if (existsSync(report)) {
      const j = JSON.parse(readFileSync(report, "utf8"));
      passed += j.numPassedTests; failed += j.numFailedTests; skipped += j.numPendingTests + j.numTodoTests;
      for (const file of j.testResults ?? []) {
        const name = relative(process.cwd(), file.name);
        const bad = (file.assertionResults ?? []).filter((a) => a.status === "failed");
        for (const a of bad) failures.push(`${name} > ${a.fullName}\n${firstLines(a.failureMessages?.join("\n"))}`);
        // A file that failed outside any test (it did not load, or a hook threw).
        if (file.status === "failed" && !bad.length) failures.push(`${name}\n${firstLines(file.message)}`);
      }
      read++;
    }
    resolveRun();
  });
});
for (const stage of stages) await Promise.all(stage.map(vitest));
const runs = stages.flat();
const summary = read === runs.length ? `tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}` : `tests: ${passed} passed, ${failed + 1} failed`;
rmSync(dir, { recursive: true, force: true });
if (failures.length) console.log(`\ntests that failed:\n${failures.map((f) => `- ${f}`).join("\n")}\n`);
console.log(summary);
process.exit(ok ? 0 : 1);
