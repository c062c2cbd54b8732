// C2PA validation of exported media with c2pa-rs (through its WebAssembly build), trusting only
// the bundle's anchor, whose fingerprint the station signed (R-EXP-8). Reading needs no browser
// API: WasmReader.fromBytes takes the bytes as they are.
import { initSync, WasmReader } from "@contentauth/c2pa-wasm";
import { c2paWasm } from "./wasm-source.js";
import { fromBase64 } from "../protocol/base64.js";
import { ctEqual } from "../protocol/bytes.js";

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

/**
 * The same validation with the hard binding checked here, natively, instead of by c2pa-rs in
 * WebAssembly (whose SHA-256 runs at a small fraction of native speed): c2pa-rs reads the
 * manifest store alone (the WAV's C2PA chunk) and checks the claim's signature, the certificate
 * chain up to the anchor and every assertion's hash, which leaves only the data hash unchecked
 * (it reports it as mismatched, having no asset); this function then hashes the asset, less
 * exactly the manifest's own chunk, and compares with the c2pa.hash.data assertion. A media
 * byte changed gives assertion.dataHash.mismatch, as c2pa-rs does.
 */
export async function validateWavC2paFast(wav: Uint8Array, anchorPem: string | null, label: string, riff: { id: string; offset: number; size: number }[], sha256: (parts: Uint8Array[]) => Uint8Array): Promise<C2paResult> {
  const chunk = riff.find((c) => c.id === "C2PA");
  if (!chunk) return { state: "Invalid", failures: ["claim.missing"], assertion: null, actions: [] };
  if (!ready) {
    initSync({ module: c2paWasm() });
    ready = true;
  }
  const ctx = anchorPem ? JSON.stringify({ trust: { trust_anchors: anchorPem }, verify: { verify_trust: true } }) : null;
  let reader: WasmReader;
  try {
    reader = await WasmReader.fromBytes("application/c2pa", wav.subarray(chunk.offset, chunk.offset + chunk.size), ctx);
  } catch (e) {
    return { state: "Invalid", failures: [typeof e === "string" ? e : String((e as Error).message ?? e)], assertion: null, actions: [] };
  }
  try {
    const j = JSON.parse(reader.json()) as { active_manifest?: string; validation_results?: { activeManifest?: { success?: { code: string }[]; failure?: { code: string }[] } } };
    const cr = JSON.parse(reader.crJson()) as { manifests?: { label: string; assertions?: Record<string, unknown> }[] };
    const m = cr.manifests?.find((x) => x.label === j.active_manifest);
    const assertions = m?.assertions ?? {};
    const success = (j.validation_results?.activeManifest?.success ?? []).map((x) => x.code);
    const failures = (j.validation_results?.activeManifest?.failure ?? []).map((x) => x.code).filter((c) => c !== "assertion.dataHash.mismatch");
    const dh = assertions["c2pa.hash.data"] as { alg?: string; exclusions?: { start: number; length: number }[]; hash?: string } | undefined;
    const acts = Object.entries(assertions).filter(([k]) => k.startsWith("c2pa.actions")).flatMap(([, v]) => ((v as { actions?: { action: string }[] }).actions ?? []).map((x) => x.action));
    const out: C2paResult = { state: "Invalid", failures, assertion: (assertions[label] as Record<string, unknown>) ?? null, actions: acts };
    if (!dh || dh.alg !== "sha256" || !dh.hash || !dh.exclusions || dh.exclusions.length !== 1) { out.failures.push("assertion.dataHash.malformed"); return out; }
    // The one exclusion must be exactly the manifest's chunk, header included: no media byte left unhashed.
    const ex = dh.exclusions[0];
    // (A chunk of odd size is followed by a pad byte, which a writer may count in or leave out.)
    if (ex.start !== chunk.offset - 8 || (ex.length !== chunk.size + 8 && ex.length !== chunk.size + 9)) { out.failures.push("assertion.dataHash.malformed"); return out; }
    let want: Uint8Array;
    try { want = fromBase64(dh.hash.replace(/^b64'|'$/g, "")); } catch { want = new Uint8Array(0); }
    const got = sha256([wav.subarray(0, ex.start), wav.subarray(ex.start + ex.length)]);
    if (got.length !== want.length || !ctEqual(got, want)) out.failures.push("assertion.dataHash.mismatch");
    if (!out.failures.length) out.state = success.includes("signingCredential.trusted") && success.includes("claimSignature.validated") ? "Trusted" : "Valid";
    return out;
  } finally {
    reader.free();
  }
}
