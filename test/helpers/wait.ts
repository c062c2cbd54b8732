// Waiting in tests for something another process does: poll until it holds, or fail saying what
// was waited for.

/** Poll `pred` every 100 ms until it holds; after `ms`, throw naming `what` (and `detail()`). */
export const until = async (what: string, pred: () => boolean | Promise<boolean>, ms: number, detail: () => string = () => ""): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} ${detail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};
