// Types for scripts/overlay.mjs.
/** The Storage file the bundle is stored in on a board, where the records are read from. */
export const OVERLAY_FILE: string;
/** First half, on the wrapped bundle: calls rewritten, the taken functions and methods gathered as records. */
export function overlayPrepare(text: string): { text: string; count: number; functions: number; methods: number };
/** Second half, on the final text: the records moved into the trailing comment behind their table of offsets. */
export function overlayFinish(text: string): { text: string; count: number };
