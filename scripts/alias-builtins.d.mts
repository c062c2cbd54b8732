/** `text` (a minified bundle: one outer function) with its most used built-in constructors aliased. */
export function aliasBuiltins(text: string, names?: string[]): { text: string; aliased: Record<string, number> };
