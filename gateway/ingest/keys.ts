// Per-recording keys K_1 from a device's state key S_0 (SPEC.md R-KEY-6), with the state keys
// cached: deriving S_{r-1} costs the steps from the nearest cached state key, not r−1 steps from
// S_0 each time a recording is touched. The gateway bounds r before it gets here (R-ACK-7), so
// one call costs at most a window of steps. Key material is wiped when it leaves the cache.
import { copyBytes, wipe } from "../../protocol/bytes.js";
import { recordingKey, stateStep } from "../../protocol/chain.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";

/** A state key kept every this many epochs, and the highest one derived. */
const STRIDE = 256;

interface DeviceStates { s0: Uint8Array; marks: Uint8Array[]; hi: number; hiKey: Uint8Array }

export class StateKeys {
  private devices = new Map<string, DeviceStates>();
  /** State-key steps computed so far: the work a message could make the gateway do before its tag is checked. */
  steps = 0;
  constructor(private maxDevices = 20000) {}

  /** K_1 of `recording` (≥ 1) for a device whose S_0 is `s0`. The caller wipes the result. */
  k1(device: string, s0: Uint8Array, recording: number): Uint8Array {
    const epoch = recording - 1;
    let d = this.devices.get(device);
    if (d && !equal(d.s0, s0)) {
      this.forget(device); // re-keyed
      d = undefined;
    }
    if (!d) {
      d = { s0: copyBytes(s0), marks: [copyBytes(s0)], hi: 0, hiKey: copyBytes(s0) };
      this.devices.set(device, d);
      while (this.devices.size > this.maxDevices) this.forget(this.devices.keys().next().value as string);
    } else {
      this.devices.delete(device);
      this.devices.set(device, d); // most recently used last
    }
    // Start from the nearest state key at or below the epoch: a stride mark or the highest derived.
    let at = Math.min(Math.floor(epoch / STRIDE), d.marks.length - 1) * STRIDE;
    let s = copyBytes(d.marks[at / STRIDE]);
    if (d.hi <= epoch && d.hi > at) {
      wipe(s);
      s = copyBytes(d.hiKey);
      at = d.hi;
    }
    while (at < epoch) {
      const n = stateStep(sha, s);
      wipe(s);
      s = n;
      at++;
      this.steps++;
      if (at % STRIDE === 0 && at / STRIDE === d.marks.length) d.marks.push(copyBytes(s));
    }
    if (epoch > d.hi) {
      wipe(d.hiKey);
      d.hiKey = copyBytes(s);
      d.hi = epoch;
    }
    const k = recordingKey(sha, s, recording);
    wipe(s);
    return k;
  }

  forget(device: string): void {
    const d = this.devices.get(device);
    if (!d) return;
    for (const m of d.marks) wipe(m);
    wipe(d.hiKey);
    wipe(d.s0);
    this.devices.delete(device);
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
