// Types for scripts/espruino-gate.mjs (plain JavaScript so `node scripts/espruino-gate.mjs` runs without tsx).
import type { BuildOptions } from "esbuild";

export interface Finding {
  file: string;
  line: number;
  col: number;
  rule: string;
  message: string;
  severity: "error" | "warning";
}

export interface GateResult {
  ok: boolean;
  errors: Finding[];
  warnings: Finding[];
  bundles: { entry: string; code: string }[];
}

export interface EspruinoRun {
  lines: string[];
  status: number | null;
  signal: string | null;
  error?: Error;
  stderr: string;
  version: string;
  ms: number;
}

export const DEFAULT_ENTRY: string;
export const ESPRUINO_SUPPORTED: Record<string, boolean>;
export const ESPRUINO_BUILD_OPTIONS: BuildOptions;
export function lintSource(file: string, text: string, mode?: "source" | "bundle"): Finding[];
export function bundleForEspruino(entry: string): Promise<string>;
export function gate(entries?: string[], options?: { strict?: boolean }): Promise<GateResult>;
export function formatFinding(f: Finding): string;
export const STORAGE_PIECE: number;
export function storageFromFiles(entries: [string, string][], piece?: number): string;
export function runOnEspruino(bin: string, code: string, timeoutMs?: number, files?: Record<string, string | Uint8Array>): EspruinoRun;
export function runOnEspruinoAsync(bin: string, code: string, timeoutMs?: number, files?: Record<string, string | Uint8Array>): { done: Promise<EspruinoRun>; stop(): void };
export function espruinoBin(onPath?: boolean): string;
export function espruinoBoardBin(onPath?: boolean): string;
/** One interpreter build of the lane: `linux` (store grows) or `board` (fixed 7,100 variables). */
export interface EspruinoBuild { name: "linux" | "board"; bin: string; board: boolean }
export function espruinoBuilds(onPath?: boolean): EspruinoBuild[];
