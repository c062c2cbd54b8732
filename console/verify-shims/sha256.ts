// SHA-256 for the in-browser verifier, in place of protocol/sha256-node.ts: @noble/hashes.
import { sha256 } from "@noble/hashes/sha2.js";
import type { Sha256 } from "../../protocol/bytes.js";

export const nodeSha256: Sha256 = (data) => sha256(data);
