// A bench's command line, declared once: each option with its kind, its default and a line of
// help. `--help` prints them and exits; an option the bench does not know, a number that is not
// one, or an option without its value is refused before anything starts (BAD_BENCH_ARGUMENT, exit
// 2). Before, each bench read process.argv by hand and ignored what it did not know: a mistyped
// or unknown option (`--help` among them) ran the whole bench, minutes of it, with the defaults.
// Parsing is node:util's parseArgs; this adds only the kinds, the defaults and the help.
import { parseArgs } from "node:util";

/**
 * One option: a number, a comma-separated list of numbers, a string, or a flag. `required`: the
 * bench does not start without it (it has no sensible default, as a commit bench's rate).
 */
export type BenchOption =
  | { kind: "number"; default?: number; help: string; integer?: boolean; min?: number; required?: boolean }
  | { kind: "numbers"; default?: number[]; help: string; required?: boolean }
  | { kind: "string"; default?: string; help: string; choices?: string[]; required?: boolean }
  | { kind: "flag"; help: string };

type ValueOf<O extends BenchOption> = O extends { kind: "number" } ? number
  : O extends { kind: "numbers" } ? number[]
  : O extends { kind: "flag" } ? boolean
  : string;
/** The parsed values: an option with a default (or a flag) always has one, others may be absent. */
export type BenchValues<S extends Record<string, BenchOption>> = {
  [K in keyof S]: S[K] extends { kind: "flag" } | { default: unknown } ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
};

export class BenchArgumentError extends Error {
  readonly code = "BAD_BENCH_ARGUMENT";
}

const shown = (o: BenchOption): string => {
  if (o.kind !== "flag" && o.required) return " (required)";
  if (o.kind === "flag" || o.default === undefined || o.default === "") return "";
  return ` (default ${Array.isArray(o.default) ? o.default.join(",") : o.default})`;
};

/** The help text: usage, what the bench does, and each option with its default. */
export function benchHelp(usage: string, about: string, spec: Record<string, BenchOption>): string {
  const value = (o: BenchOption) => o.kind === "flag" ? "" : o.kind === "numbers" ? " N,N,..." : o.kind === "number" ? " N" : o.choices ? ` ${o.choices.join("|")}` : " VALUE";
  const left = (name: string, o: BenchOption) => `  --${name}${value(o)}`;
  const width = Math.max(...Object.entries(spec).map(([n, o]) => left(n, o).length), 8) + 2;
  const lines = Object.entries(spec).map(([n, o]) => left(n, o).padEnd(width) + o.help + shown(o));
  lines.push("  --help".padEnd(width) + "this text");
  return `usage: ${usage}\n\n${about}\n\noptions:\n${lines.join("\n")}\n`;
}

/** Parse `argv` against `spec`; throws BenchArgumentError with the reason. `help` when --help was given. */
export function parseBenchArgs<S extends Record<string, BenchOption>>(spec: S, argv: string[]): { help: boolean; values: BenchValues<S> } {
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const [name, o] of Object.entries(spec)) options[name] = { type: o.kind === "flag" ? "boolean" : "string" };
  let raw: Record<string, string | boolean | undefined>;
  try {
    raw = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as typeof raw;
  } catch (e) {
    throw new BenchArgumentError((e as Error).message);
  }
  const values: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(spec)) {
    const v = raw[name];
    if (o.kind === "flag") { values[name] = v === true; continue; }
    if (v === undefined && o.required) throw new BenchArgumentError(`--${name} is required: ${o.help}`);
    if (v === undefined) { values[name] = o.default; continue; }
    const text = String(v);
    if (o.kind === "string") {
      if (o.choices && !o.choices.includes(text)) throw new BenchArgumentError(`--${name} takes ${o.choices.join(" or ")}, not "${text}"`);
      values[name] = text;
      continue;
    }
    const num = (s: string) => {
      const n = s.trim() === "" ? NaN : Number(s);
      if (!Number.isFinite(n)) throw new BenchArgumentError(`--${name} takes ${o.kind === "numbers" ? "numbers separated by commas" : "a number"}, not "${text}"`);
      return n;
    };
    if (o.kind === "numbers") { values[name] = text.split(",").map(num); continue; }
    const n = num(text);
    if (o.integer && !Number.isInteger(n)) throw new BenchArgumentError(`--${name} takes a whole number, not "${text}"`);
    if (o.min !== undefined && n < o.min) throw new BenchArgumentError(`--${name} takes a number of at least ${o.min}, not "${text}"`);
    values[name] = n;
  }
  return { help: raw.help === true, values: values as BenchValues<S> };
}

/** Every option's default, nothing parsed: a bench imported by another takes its importer's command line. */
export function benchDefaults<S extends Record<string, BenchOption>>(spec: S): BenchValues<S> {
  const values: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(spec)) values[name] = o.kind === "flag" ? false : o.default;
  return values as BenchValues<S>;
}

/**
 * The bench's options from process.argv: prints the help and exits 0 on --help; on a bad argument
 * prints `NAME: BAD_BENCH_ARGUMENT: reason` and exits 2, before the bench starts anything.
 */
export function benchArgs<S extends Record<string, BenchOption>>(name: string, usage: string, about: string, spec: S, argv = process.argv.slice(2)): BenchValues<S> {
  try {
    const { help, values } = parseBenchArgs(spec, argv);
    if (help) {
      process.stdout.write(benchHelp(usage, about, spec));
      process.exit(0);
    }
    return values;
  } catch (e) {
    if (!(e instanceof BenchArgumentError)) throw e;
    process.stderr.write(`${name}: ${e.code}: ${e.message} (see --help)\n`);
    process.exit(2);
  }
}
