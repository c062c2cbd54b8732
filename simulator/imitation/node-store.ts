// QueueStore hosts for Node: a directory with fsync (the simulator's SD card), and FaultyStore, a
// wrapper for tests that tears a write and "loses power" or reports little free space.
import * as fs from "node:fs";
import * as path from "node:path";
import type { QueueStore } from "../../firmware/core/queue.js";

/**
 * Files in one directory. Durable means fsync'd: `append` returns after fsync of the file, and of
 * the directory when the append created the file (else a power loss could lose the directory entry
 * of data that was reported written). `remove` fsyncs the directory too.
 * `capacity` (bytes) makes `free()` a quota over the directory, so tests need no small disk; without
 * it `free()` is what statfs gives an unprivileged user.
 */
export class NodeStore implements QueueStore {
  dir: string;
  capacity: number;

  constructor(dir: string, capacity?: number) {
    this.dir = dir;
    this.capacity = capacity || 0;
    fs.mkdirSync(dir, { recursive: true });
  }

  syncDir(): void {
    const fd = fs.openSync(this.dir, "r");
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  }

  append(name: string, parts: Uint8Array[]): boolean {
    const file = path.join(this.dir, name);
    const created = !fs.existsSync(file);
    let fd = -1;
    try {
      fd = fs.openSync(file, "a");
      for (const p of parts) {
        let off = 0;
        while (off < p.length) off += fs.writeSync(fd, p, off, p.length - off);
      }
      fs.fsyncSync(fd);
    } catch {
      return false; // ENOSPC, EIO...: the queue treats the file's tail as torn
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
    if (created) this.syncDir();
    return true;
  }

  read(name: string, offset: number, length: number): Uint8Array | null {
    let fd = -1;
    try {
      fd = fs.openSync(path.join(this.dir, name), "r");
      const b = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = fs.readSync(fd, b, got, length - got, offset + got);
        if (n <= 0) return null;
        got += n;
      }
      return b;
    } catch {
      return null;
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }

  size(name: string): number {
    try { return fs.statSync(path.join(this.dir, name)).size; } catch { return 0; }
  }

  remove(name: string): void {
    try { fs.unlinkSync(path.join(this.dir, name)); } catch { return; }
    this.syncDir();
  }

  list(prefix: string): string[] {
    return fs.readdirSync(this.dir).filter((n) => n.startsWith(prefix));
  }

  used(): number {
    let n = 0;
    for (const f of fs.readdirSync(this.dir)) n += this.size(f);
    return n;
  }

  free(): number {
    if (this.capacity) return Math.max(0, this.capacity - this.used());
    const s = fs.statfsSync(this.dir);
    return s.bavail * s.bsize;
  }
}

/** Thrown by FaultyStore when it "loses power". */
export class PowerLoss extends Error {
  constructor() {
    super("power loss (injected)");
  }
}

/**
 * Fault injection over any store. The queue's interface has only durable writes (each `append`
 * syncs before it returns), so the faults that matter are the write in progress at power loss and
 * a full medium:
 *   - `tearNextAfter(k)`: the next append writes only its first k bytes (across its parts) to the
 *     inner store, then throws PowerLoss; every later call throws too until `reboot()`, as a dead
 *     board does nothing more. Bytes that reached the inner store stay: the torn record.
 *   - `failNext()`: the next append writes nothing and returns false (a write error).
 *   - `freeBytes`: when set, `free()` reports it instead of the inner store's figure.
 * Writes that did not return are the only ones torn (DESIGN.md "Durable means written").
 */
export class FaultyStore implements QueueStore {
  inner: QueueStore;
  tearAt: number;
  dead: boolean;
  failing: boolean;
  freeBytes: number | null;
  appends: number;

  constructor(inner: QueueStore) {
    this.inner = inner;
    this.tearAt = -1;
    this.dead = false;
    this.failing = false;
    this.freeBytes = null;
    this.appends = 0;
  }

  tearNextAfter(k: number): void { this.tearAt = k; }
  failNext(): void { this.failing = true; }
  reboot(): void { this.dead = false; this.tearAt = -1; this.failing = false; }

  alive(): void { if (this.dead) throw new PowerLoss(); }

  append(name: string, parts: Uint8Array[]): boolean {
    this.alive();
    this.appends++;
    if (this.failing) { this.failing = false; return false; }
    if (this.tearAt < 0) return this.inner.append(name, parts);
    let left = this.tearAt;
    const kept: Uint8Array[] = [];
    for (const p of parts) {
      if (left <= 0) break;
      kept.push(p.subarray(0, Math.min(left, p.length)));
      left -= p.length;
    }
    if (kept.length) this.inner.append(name, kept);
    this.tearAt = -1;
    this.dead = true;
    throw new PowerLoss();
  }

  read(name: string, offset: number, length: number): Uint8Array | null { this.alive(); return this.inner.read(name, offset, length); }
  size(name: string): number { this.alive(); return this.inner.size(name); }
  remove(name: string): void { this.alive(); this.inner.remove(name); }
  list(prefix: string): string[] { this.alive(); return this.inner.list(prefix); }
  free(): number { this.alive(); return this.freeBytes !== null ? this.freeBytes : this.inner.free(); }
}
