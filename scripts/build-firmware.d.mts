// Types for scripts/build-firmware.mjs.
export const ENTRY: string;
export const OUT: string;
export const OUT_MIN: string;
export const BUDGET: number;
/** The recorder's state while recording (REC_RECORDING), which the boot line tests. */
export const RECORDING_STATE: number;
export function buildFirmware(): Promise<{ plain: string; min: string }>;
export function ensureBundle(): Promise<string>;
/** The i-th short name the minifier gives the firmware's own properties. */
export function propName(i: number): string;
