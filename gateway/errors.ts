// One error type for everything a person or a tool asked for and can't have: a reason code (a
// stable word a script can test), a readable message, and the HTTP status the API answers with.
// The older per-part errors (DeviceError, ModelError, ...) are this type under their own names.

/** The HTTP status a reason code maps to; anything not listed is bad input (400). */
const STATUS: Record<string, number> = {
  AUTH_REQUIRED: 401, AUTH_BAD_TOKEN: 401, TOKEN_FILE: 401, SIGNIN_FAILED: 401, SESSION_ENDED: 401, SIGNIN_LOCKED: 429, CSRF: 403,
  ROLE_FORBIDDEN: 403, OUTSIDE_UNIT: 403, NO_UNIT_SCOPE: 403, NOT_YOUR_CLIP: 403, CONFIDENTIALITY: 403, ACCOUNT_DISABLED: 403,
  PURGED: 410, STORAGE_CORRUPT: 409, MEDIA_MISSING: 409, EMPTY_RECORDING: 409,
  // The database or the media store, not the request: down, gone, or a conflict it ended (DB_CONFLICT); asked again later, it may work.
  DB_UNREACHABLE: 503, DB_CONNECTION_LOST: 503, DB_CLOSED: 503, DB_REFUSED: 503, DB_THREAD: 503, DB_CONFLICT: 503, DB_LOCKED: 503, DB_FULL: 503, DB_IO: 503, MEDIA_UNAVAILABLE: 503,
  // A request the API refuses before any service sees it: a body field the route does not take, a body too big, a body not JSON.
  UNKNOWN_FIELD: 400, BODY_TOO_LARGE: 413, UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_YOUR_EXPORT: 403, EXPORT_NOT_KEPT: 410, EXPORT_DAMAGED: 409, NO_GRANT: 403, GRANT_EXPIRED: 403, GRANT_SCOPE: 403,
};

/** The status for a code: listed ones, then by shape (…_NOT_FOUND / UNKNOWN_… 404; …_EXISTS / DUPLICATE_… / ALREADY_… / …_BUSY 409). */
export function statusFor(code: string): number {
  if (STATUS[code]) return STATUS[code];
  if (code.startsWith("UNKNOWN") || code.endsWith("NOT_FOUND")) return 404;
  if (code.endsWith("EXISTS") || code.startsWith("DUPLICATE") || code.startsWith("ALREADY") || code.endsWith("_BUSY") || code === "ASSIGNMENT_OVERLAP" || code === "BAD_TRANSITION" || code === "DEVICE_REVOKED" || code === "REKEY_HAS_RECORDINGS" || code.startsWith("CHECKOUT_")) return 409;
  return 400;
}

export class GatewayError extends Error {
  constructor(public code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GatewayError";
  }
  /** The HTTP status the API answers this error with. */
  get status(): number {
    return statusFor(this.code);
  }
}
