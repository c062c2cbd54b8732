// Structured logs (pino), one logger for the process; refusals carry a reason code field.
import { pino } from "pino";
import type { Logger } from "pino";

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: "gateway" } });
}
