// Attack scenarios: what an adversary does with a seized device or on the network, and the
// verdicts the gateway must reach. Filled in below.
import type { Scenario } from "./scenarios.js";

export const ATTACKS: Record<string, Scenario> = {};
