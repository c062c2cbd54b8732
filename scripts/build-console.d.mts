/** Build the console into `out` (default dist/console); each file's size in bytes. */
export function buildConsole(out?: string, opts?: { quiet?: boolean }): Promise<Record<string, number>>;
