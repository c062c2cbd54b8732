/** `text` (a minified bundle: one outer function) with its top-level numeric constants inlined. */
export function inlineConstants(text: string, slack?: number): { text: string; inlined: string[]; refs: number; saved: number };
