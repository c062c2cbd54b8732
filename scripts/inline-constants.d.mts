/** `text` (a minified bundle: one outer function) with its top-level numeric constants inlined. */
export function inlineConstants(text: string, slack?: number): { text: string; inlined: string[]; refs: number; saved: number };
import type ts from "typescript";
/** A TypeScript checker over one JavaScript text. */
export function checkerFor(text: string): { sf: ts.SourceFile; checker: ts.TypeChecker };
/** The statements of the bundle's outer function `(()=>{ ... })();`; throws when there is none. */
export function outerStatements(sf: ts.SourceFile): ts.NodeArray<ts.Statement>;
