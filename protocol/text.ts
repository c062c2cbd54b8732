// What text people type may hold: names on one line, reasons over lines, no control characters; and
// how much a reason must say. One rule for the gateway (its services, CLI and API) and the console's
// forms.

/**
 * The first control character `v` holds, as U+XXXX, or null: C0, DEL, C1, the line and paragraph
 * separators, and the bidirectional overrides and isolates (they make a name read otherwise than it
 * is); with `lines` (a reason), tab and newline allowed.
 */
export function controlIn(v: string, lines: boolean): string | null {
  const m = (lines ? CONTROL_IN_TEXT : CONTROL_IN_NAME).exec(v);
  return m ? `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}` : null;
}
const CONTROL_IN_NAME = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const CONTROL_IN_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** The most a reason may hold, in characters. */
export const REASON_MAX = 500;

/**
 * Whether a reason says too little: under 3 characters, or under 2 where it holds a Chinese
 * character (复核, 同意: a whole reason in two).
 */
export function reasonTooShort(v: string): boolean {
  const n = [...v.trim()].length;
  return n < (/\p{Script=Han}/u.test(v) ? 2 : 3);
}

/**
 * Why a reason is refused, or null: missing or too short (REASON_REQUIRED), longer than REASON_MAX or
 * holding a control character (BAD_INPUT; tab and newline allowed). `why` reads after what needs it:
 * "an export needs a reason: ...".
 */
export function reasonProblem(v: unknown): { code: "REASON_REQUIRED" | "BAD_INPUT"; why: string } | null {
  if (typeof v !== "string" || reasonTooShort(v)) return { code: "REASON_REQUIRED", why: "needs a reason: at least 3 characters, or 2 Chinese ones" };
  if ([...v].length > REASON_MAX) return { code: "BAD_INPUT", why: `takes a reason of at most ${REASON_MAX} characters` };
  const bad = controlIn(v, true);
  if (bad) return { code: "BAD_INPUT", why: `takes a reason of printable text, over lines if need be: this one holds a control character (${bad})` };
  return null;
}

/**
 * A message's words filled in: each `{name}` of `template` becomes its value in `args` (a string
 * or number as it is; another value as `other` says it; nothing when absent). One way for every
 * catalogue said in two languages (the alarms' details, the verifier's findings).
 */
export function fillIn<T>(template: string, args: Readonly<Record<string, string | number | T>> | undefined, other: (v: T) => string): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = args?.[k];
    if (v === undefined) return "";
    return typeof v === "string" || typeof v === "number" ? String(v) : other(v);
  });
}
