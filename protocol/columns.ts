// How many terminal columns text takes: East Asian wide characters take two. Shared by the CLI's
// tables and the offline verifier's lines, so Chinese lines up under Chinese.

/** Columns a string takes in a terminal. */
export function columns(s: string): number {
  let w = 0;
  for (const ch of s) w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/.test(ch) ? 2 : 1;
  return w;
}
