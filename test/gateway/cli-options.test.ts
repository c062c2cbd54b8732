// The admin CLI refuses an option its command does not take (gateway/cli-text.ts COMMAND_OPTIONS):
// the table and the help text must name the same options, or the help would offer one the CLI
// refuses, or the CLI take one nobody is told of.
import { describe, expect, it } from "vitest";
import { COMMAND_OPTIONS, GLOBAL, usage } from "../../gateway/cli-text.js";
import { EVIDENCE_USAGE } from "../../gateway/evidence/cli.js";
import { EXPORT_USAGE } from "../../gateway/evidence/export-cli.js";

const flagsIn = (text: string) => new Set(text.match(/--[a-z][a-z0-9-]*/g) ?? []);

describe("the admin CLI's options", () => {
  for (const lang of ["en", "zh"] as const) {
    it(`are those its help names (${lang})`, () => {
      const help = flagsIn(usage(lang, EVIDENCE_USAGE + EXPORT_USAGE));
      // --help is the one option the help need not name.
      const table = new Set([...GLOBAL, ...Object.values(COMMAND_OPTIONS).flat()].filter((f) => f.startsWith("--") && f !== "--help"));
      expect([...help].filter((f) => !table.has(f)).sort(), "named by the help, refused by the CLI").toEqual([]);
      expect([...table].filter((f) => !help.has(f)).sort(), "taken by the CLI, named nowhere in the help").toEqual([]);
    });
  }
});
