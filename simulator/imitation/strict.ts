// Strict module objects: the face the firmware sees of each imitated Espruino module. Only the
// implemented API is reachable; anything else fails loudly, so code that works in the node engine
// but would break on a board (a Node-only method, a typo, a Buffer method on a Uint8Array-like
// module) is caught in the simulator instead of in the field.
//
// Three kinds of names besides the implemented ones:
//   - `absent`: exists on some Espruino builds but not on the Linux interpreter we imitate
//     (fs.getFree on a FAT build): reads as undefined, exactly as on that interpreter, so feature
//     detection (`if (fs.getFree)`) keeps working.
//   - `unimplemented`: on the Linux interpreter, but not imitated here: throws "not implemented in
//     the simulator", so nobody silently relies on an imitation that does not exist.
//   - anything else: throws "not on Espruino".
// Probes that JavaScript engines and tools make on any object pass through (see PROBES), and so do
// symbols and Object.prototype members (toString, hasOwnProperty...), which Espruino objects have too.

/** Names that JS itself, Node and test tooling look up on arbitrary objects. */
const PROBES = new Set([
  "then", // Promise resolution checks for a thenable
  "toJSON", // JSON.stringify
  "inspect", // old util.inspect protocol
  "nodeType", "tagName", "$$typeof", // DOM / React checks in pretty-printers
  "asymmetricMatch", "_isMockFunction", "mock", // vitest/jest matchers and printers
  "@@__IMMUTABLE_ITERABLE__@@", "@@__IMMUTABLE_RECORD__@@", "@@__IMMUTABLE_ORDERED__@@",
  "@@__IMMUTABLE_KEYED__@@", "@@__IMMUTABLE_INDEXED__@@", "@@__IMMUTABLE_MAP__@@",
  "__esModule", // ESM/CJS interop
]);

export interface StrictSpec {
  /** Names that read as undefined (present on other Espruino builds, not on the one imitated). */
  absent?: string[];
  /** Names the Linux interpreter has that this imitation does not. */
  unimplemented?: string[];
}

/**
 * Wraps `face` (an object holding exactly the API, functions already bound) in a Proxy that
 * refuses every other property read. `label` names the module in error messages ("Storage").
 */
export function strict<T extends object>(label: string, face: T, spec?: StrictSpec): T {
  const absent = new Set(spec && spec.absent ? spec.absent : []);
  const unimplemented = new Set(spec && spec.unimplemented ? spec.unimplemented : []);
  return new Proxy(face, {
    get(target, prop, receiver) {
      if (typeof prop === "symbol" || Object.prototype.hasOwnProperty.call(target, prop) || prop in Object.prototype) {
        return Reflect.get(target, prop, receiver);
      }
      if (PROBES.has(prop) || absent.has(prop)) return undefined;
      if (unimplemented.has(prop)) throw new Error("not implemented in the simulator: " + label + "." + prop);
      throw new Error("not on Espruino: " + label + "." + prop);
    },
  });
}

/** Refuses a call with more arguments than the imitation handles (a real variant not imitated). */
export function maxArgs(label: string, n: number, count: number): void {
  if (count > n) throw new Error("not implemented in the simulator: " + label + " with " + count + " arguments");
}
