// Seeded randomness, so a simulated run repeats exactly: a stream generator (E.hwRand) and a
// counter-based hash (media noise, where sample n must not depend on how the stream was chunked).

/** 32-bit mix of two integers (a murmur3-style finaliser): same inputs, same output, any platform. */
export function mix32(a: number, b: number): number {
  let h = Math.imul(a ^ Math.imul(b, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** splitmix32: a stream of signed 32-bit integers from a seed. */
export class Rand {
  state: number;

  constructor(seed: number, stream: number) {
    this.state = mix32(seed | 0, stream | 0);
  }

  next(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) | 0;
  }
}

/** Sub-stream ids, so hwRand and media noise of one seed are independent. */
export const STREAM_HWRAND = 1;
export const STREAM_MEDIA = 2;
