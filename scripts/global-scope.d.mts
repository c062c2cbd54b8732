/** `text` (a minified bundle: one outer function) with its top level at the global scope and its top-level names renamed. */
export function toGlobalScope(text: string): { text: string; renames: Map<string, string> };
