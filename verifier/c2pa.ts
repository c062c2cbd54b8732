// C2PA validation of exported media with c2pa-rs (through its WebAssembly build), trusting only
// the bundle's anchor, whose fingerprint the station signed (R-EXP-8). Reading needs no browser
// API: WasmReader.fromBytes takes the bytes as they are.
import { initSync, WasmReader } from "@contentauth/c2pa-wasm";
import { c2paWasm } from "./wasm-source.js";

let ready = false;

export interface C2paResult {
  /** c2pa-rs's verdict: Trusted, Valid (signed, anchor unknown) or Invalid. */
  state: string;
  /** Failure codes (assertion.dataHash.mismatch, signingCredential.untrusted, ...). */
  failures: string[];
  /** Our assertion's data, if present. */
  assertion: Record<string, unknown> | null;
  actions: string[];
}

/** Validate one asset (audio/wav, image/jpeg) with `anchorPem` as the only trust anchor. */
export async function validateC2pa(format: string, bytes: Uint8Array, anchorPem: string | null, label: string): Promise<C2paResult> {
  if (!ready) {
    initSync({ module: c2paWasm() });
    ready = true;
  }
  const ctx = anchorPem ? JSON.stringify({ trust: { trust_anchors: anchorPem }, verify: { verify_trust: true } }) : null;
  let reader: WasmReader;
  try {
    reader = await WasmReader.fromBytes(format, bytes, ctx);
  } catch (e) {
    // c2pa-wasm's errors arrive as strings.
    return { state: "Invalid", failures: [typeof e === "string" ? e : String((e as Error).message ?? e)], assertion: null, actions: [] };
  }
  try {
    const j = JSON.parse(reader.json()) as { validation_state?: string; active_manifest?: string; manifests?: Record<string, { assertions?: { label: string; data: unknown }[] }>; validation_results?: { activeManifest?: { failure?: { code: string }[] } }; validation_status?: { code: string }[] };
    const m = j.active_manifest && j.manifests ? j.manifests[j.active_manifest] : undefined;
    const assertions = m?.assertions ?? [];
    const ours = assertions.find((a) => a.label === label);
    const acts = assertions.filter((a) => a.label.startsWith("c2pa.actions")).flatMap((a) => ((a.data as { actions?: { action: string }[] }).actions ?? []).map((x) => x.action));
    const failures = (j.validation_results?.activeManifest?.failure ?? []).map((f) => f.code).concat((j.validation_status ?? []).map((s) => s.code));
    return { state: j.validation_state ?? "Invalid", failures: [...new Set(failures)], assertion: (ours?.data as Record<string, unknown>) ?? null, actions: acts };
  } finally {
    reader.free();
  }
}
