// Device root secrets are stored encrypted (AES-256-GCM, the device id as associated data)
// under a station key kept in a file outside the database, mode 0600 (RULES.md §3).
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync, chmodSync } from "node:fs";

export class StationKey {
  private key: Buffer;
  private constructor(key: Buffer) {
    this.key = key;
  }

  /** Load the station key, or create it on first start. */
  static loadOrCreate(file: string): { key: StationKey; created: boolean } {
    if (existsSync(file)) {
      const k = readFileSync(file);
      if (k.length !== 32) throw new Error(`station key ${file} is ${k.length} bytes, expected 32: refusing to start`);
      return { key: new StationKey(k), created: false };
    }
    const k = randomBytes(32);
    writeFileSync(file, k, { mode: 0o600, flag: "wx" });
    chmodSync(file, 0o600);
    return { key: new StationKey(k), created: true };
  }

  /** A key for one purpose, derived from the station key (HMAC-SHA-256 of the purpose's name). */
  derive(purpose: string): Buffer {
    return createHmac("sha256", this.key).update(purpose).digest();
  }

  seal(plain: Uint8Array, aad: string): Buffer {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key, iv);
    c.setAAD(Buffer.from(aad));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([iv, body, c.getAuthTag()]);
  }

  open(box: Uint8Array, aad: string): Buffer {
    const b = Buffer.from(box);
    const d = createDecipheriv("aes-256-gcm", this.key, b.subarray(0, 12));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(b.subarray(b.length - 16));
    return Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()]);
  }
}
