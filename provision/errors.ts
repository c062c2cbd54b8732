// Errors of the provisioning tool: each carries a reason code (PROVISION_*) that the CLI prints
// and the README explains, so an admin can look up what to do.

export class ProvisionError extends Error {
  constructor(public code: string, message: string) {
    super(message);
  }
}

/**
 * Text from the device or the gateway, made safe to show: printable ASCII only, cut short, and
 * any long hex run (a key, a root secret) replaced. A device that fails to parse a line we sent
 * may echo part of it back in its error message, and some of those lines carry key material.
 */
export function redact(text: string, max = 160): string {
  const printable = text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "").replace(/[^\x20-\x7e]+/g, " ").replace(/\s+/g, " ").trim();
  const safe = printable.replace(/[0-9a-fA-F]{16,}/g, "<hex>");
  return safe.length > max ? safe.slice(0, max) + "..." : safe;
}
