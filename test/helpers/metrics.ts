// Reading a gateway's or a worker's Prometheus text in tests.

/** How many messages or connections the process refused with `code` (evrec_refusals_total, over its series). */
export const refused = (text: string, code: string): number =>
  [...text.matchAll(new RegExp(`^evrec_refusals_total\\{[^}]*code="${code}"[^}]*\\} (\\S+)$`, "gm"))].reduce((a, m) => a + Number(m[1]), 0);
