// The house's walls: protocol/ imports nothing of the others; firmware/, gateway/, simulator/ and
// provision/ never import each other's sources (the simulator and the provisioning tool take the
// firmware's types, never its code: they run its bundle as a file); outside tools reach the gateway
// through client/ (its public command and its API), as any tool would.
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";

const ROOT = join(import.meta.dirname, "..");
const PARTS = ["protocol", "firmware", "gateway", "simulator", "provision", "witness", "client", "console", "verifier"];
/** What each part may import besides itself. */
const MAY: Record<string, string[]> = {
  protocol: [], firmware: ["protocol"], gateway: ["protocol"], witness: ["protocol"], client: ["protocol"], verifier: ["protocol"],
  // The console is a page the gateway serves: it talks to the gateway over HTTP only, and runs the
  // offline verifier in the browser.
  console: ["protocol", "verifier"],
  simulator: ["protocol", "client", "scripts"], provision: ["protocol", "client", "scripts"],
};
/** What each part may import types from, besides what it may import. */
const TYPES: Record<string, string[]> = { simulator: ["firmware"], provision: ["firmware"] };

/** Build tools beside what they build may use the project's scripts (the Espruino gate). */
const TOOLS: Record<string, string[]> = { "firmware/build/": ["scripts"] };

function files(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.(ts|mts|mjs)$/.test(n)) out.push(p);
  }
  return out;
}

describe("the house", () => {
  it("has no import across the walls: the simulator and the provisioning tool import no gateway source, and no firmware source but its types", () => {
    const crossings: string[] = [];
    for (const part of PARTS) {
      let all: string[];
      try { all = files(join(ROOT, part)); } catch { continue; }
      for (const f of all) {
        for (const m of readFileSync(f, "utf8").matchAll(/^\s*(?:import|export)[^"'`]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm)) {
          const spec = m[1] || m[2];
          if (!spec.startsWith(".")) continue;
          const target = relative(ROOT, resolve(dirname(f), spec)).split("/")[0];
          const tool = Object.entries(TOOLS).some(([dir, may]) => relative(ROOT, f).startsWith(dir) && may.includes(target));
          // The firmware's build tool makes the bundle the simulator and the provisioning tool use as a file.
          const builds = relative(ROOT, resolve(dirname(f), spec)).startsWith("firmware/build/") && (part === "simulator" || part === "provision");
          const typesOnly = /^\s*(?:import|export)\s+type\b/.test(m[0]);
          if (target !== part && !MAY[part].includes(target) && !tool && !builds && !(typesOnly && (TYPES[part] || []).includes(target))) crossings.push(`${relative(ROOT, f)} imports ${spec}`);
        }
      }
    }
    expect(crossings).toEqual([]);
  });

  it("has no circle of imports in the simulator", () => {
    const graph = new Map<string, string[]>();
    for (const f of files(join(ROOT, "simulator"))) {
      const deps: string[] = [];
      for (const m of readFileSync(f, "utf8").matchAll(/^\s*import\s+(?!type\b)[^"'`]*?from\s+["'](\.[^"']+)["']/gm)) deps.push(resolve(dirname(f), m[1]).replace(/\.js$/, ".ts"));
      graph.set(f, deps);
    }
    const circles: string[] = [];
    const state = new Map<string, number>();
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 2) return;
      if (state.get(f) === 1) { circles.push([...path.slice(path.indexOf(f)), f].map((x) => relative(ROOT, x)).join(" → ")); return; }
      state.set(f, 1);
      for (const d of graph.get(f) || []) visit(d, [...path, f]);
      state.set(f, 2);
    };
    for (const f of graph.keys()) visit(f, []);
    expect(circles).toEqual([]);
  });
});
