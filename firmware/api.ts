// The bundle's API: what the world outside the bundle calls on it (a board's boot, the REPL, the
// simulator, the lane). main.ts defines it; the build keeps every member name it reaches from its
// minifier's renaming (firmware/build/mangle.ts), as it does the fields of the device's files
// (protocol/device-files.ts). Types only. Espruino subset.
import type { EspruinoEnv } from "./hosts/env.js";
import type { RecorderOptions } from "./core/recorder.js";

/** The recorder as the REPL and the simulator see it (`recorder` on a board). */
export interface RecorderConsole {
  /** REC_* of protocol/schema.ts. */
  state: number;
  alarm: boolean;
  lastError: string;
  record(caseTag: string): string;
  stop(): string;
  button(name: string): void;
  info(): { [k: string]: unknown };
  selftest(): string;
  halt(): void;
  setCaseTag(tag: string): void;
}

/** The global `Recorder`. */
export interface RecorderApi {
  /** Make a recorder on `env` and start it (the simulator, once per device). */
  start(env: EspruinoEnv, options?: Partial<RecorderOptions>): RecorderConsole;
  /** Start one recorder from the interpreter's globals (a board's boot). */
  boot(): RecorderConsole;
  version: string;
}
