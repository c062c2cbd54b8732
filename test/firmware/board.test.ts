// The board's peripherals (firmware/hosts/board.ts) against fakes of the interpreter's globals:
// none of them exists on the Linux interpreter. What an officer sees and presses on the recorder.
import { describe, it, expect } from "vitest";
import { makeBoard, batteryFromAnalog } from "../../firmware/hosts/board.js";
import type { BoardGlobals } from "../../firmware/hosts/board.js";
import type { Pins } from "../../protocol/device-files.js";
import { MEDIA_PCM_8K_U16LE } from "../../protocol/constants.js";

/** Fake globals: pins by name, watches, LED levels, intervals run by hand, an analog level, a Waveform. */
function fakeGlobals(opts: { analog?: number; wifiError?: string; noWaveform?: boolean; noMemory?: boolean } = {}) {
  const watches: { fn: (e: { state: boolean }) => void; pin: unknown; opts: { repeat: boolean; edge: string; debounce: number } }[] = [];
  const level = new Map<unknown, number>();
  const intervals = new Map<number, { fn: () => void; ms: number }>();
  let nextId = 1;
  const waves: FakeWave[] = [];
  const wifi: { ssid: string; password: string }[] = [];
  class FakeWave {
    buffer: Uint16Array;
    buffer2: Uint16Array;
    handlers: ((b: Uint16Array) => void)[] = [];
    started: { pin: unknown; freq: number } | null = null;
    stopped = false;
    constructor(public samples: number, public opts: { doubleBuffer: boolean; bits: number }) {
      this.buffer = new Uint16Array(samples);
      this.buffer2 = new Uint16Array(samples);
      waves.push(this);
    }
    on(ev: string, fn: (b: Uint16Array) => void) { if (ev === "buffer") this.handlers.push(fn); }
    startInput(pin: unknown, freq: number) { this.started = { pin, freq }; }
    stop() { this.stopped = true; }
    fill(b: Uint16Array) { for (const h of this.handlers) h(b); }
  }
  const g: BoardGlobals = {
    setWatch: (fn, pin, o) => { watches.push({ fn, pin, opts: o }); return watches.length; },
    digitalWrite: (pin, v) => { level.set(pin, v ? 1 : 0); },
    analogRead: () => opts.analog ?? 0.5,
    setInterval: (fn, ms) => { intervals.set(nextId, { fn, ms }); return nextId++; },
    clearInterval: (h) => { intervals.delete(h as number); },
    pin: (name) => (/^(BTN|LED|[A-D])\d+$/.test(name) ? "pin:" + name : undefined),
    ...(opts.noWaveform ? {} : { Waveform: FakeWave as unknown as BoardGlobals["Waveform"] }),
    wifi: { connect: (ssid, o, cb) => { wifi.push({ ssid, password: o.password }); cb(opts.wifiError); } },
    // Espruino's E: toString with two arguments makes a new binary string (undefined without the
    // memory for it); toArrayBuffer gives that string's bytes.
    E: {
      toString: (a: Uint8Array, b: string) => (opts.noMemory ? undefined : Buffer.from(a).toString("latin1") + b),
      toArrayBuffer: (str: string) => new Uint8Array(Buffer.from(str, "latin1")).buffer,
    },
  };
  /** Run every live interval once (a blink tick). */
  const tick = () => { for (const i of [...intervals.values()]) i.fn(); };
  return { g, watches, level, intervals, tick, waves, wifi };
}

describe("the board's peripherals, against fakes", () => {
  it("the record and marker buttons call the recorder on each rising edge, debounced", () => {
    const f = fakeGlobals();
    const board = makeBoard(f.g, { rec: "BTN1", mark: "B3" } as Pins);
    const pressed: string[] = [];
    board.watchButtons!((n) => pressed.push(n));
    expect(f.watches.map((w) => [w.pin, w.opts])).toEqual([
      ["pin:BTN1", { repeat: true, edge: "rising", debounce: 50 }],
      ["pin:B3", { repeat: true, edge: "rising", debounce: 50 }],
    ]);
    f.watches[0].fn({ state: true });
    f.watches[1].fn({ state: true });
    f.watches[0].fn({ state: true });
    expect(pressed).toEqual(["record", "marker", "record"]);
    // Without a marker pin, only the record button (BTN1 by default) is watched.
    const g2 = fakeGlobals();
    makeBoard(g2.g, {} as Pins).watchButtons!(() => {});
    expect(g2.watches.map((w) => w.pin)).toEqual(["pin:BTN1"]);
  });

  it("LED patterns: steady red while recording, blinking for the rest, one LED at a time", () => {
    const f = fakeGlobals();
    const board = makeBoard(f.g, {} as Pins);
    board.led!("recording");
    expect(f.level.get("pin:LED1")).toBe(1);
    expect(f.level.get("pin:LED2")).toBe(0);
    expect(f.intervals.size).toBe(0);
    board.led!("idle"); // LED2, 50 ms flash
    expect(f.level.get("pin:LED1")).toBe(0);
    expect([...f.intervals.values()].map((i) => i.ms)).toEqual([50]);
    f.tick();
    expect(f.level.get("pin:LED2")).toBe(1);
    f.tick();
    expect(f.level.get("pin:LED2")).toBe(0);
    // Each pattern replaces the last: never two blinking at once.
    const seen: [string, number, string][] = [];
    for (const p of ["boot", "uploading", "full", "noconfig", "revoked", "error", "no such pattern"]) {
      board.led!(p);
      expect(f.intervals.size).toBe(1);
      const [i] = [...f.intervals.values()];
      f.tick();
      seen.push([p, i.ms, f.level.get("pin:LED1") ? "LED1" : "LED2"]);
    }
    expect(seen).toEqual([
      ["boot", 100, "LED1"], ["uploading", 100, "LED2"], ["full", 100, "LED1"], ["noconfig", 50, "LED1"],
      ["revoked", 2000, "LED1"], ["error", 300, "LED1"], ["no such pattern", 300, "LED1"], // unknown: as error
    ]);
    // A board with one LED shows every pattern on it.
    const one = fakeGlobals();
    makeBoard(one.g, { led: ["LED1"] } as Pins).led!("idle");
    one.tick();
    expect(one.level.get("pin:LED1")).toBe(1);
  });

  it("battery from the analog pin through a 1:2 divider, clamped to 0..100 %", () => {
    expect(batteryFromAnalog(0.6)).toEqual({ mv: 3960, pct: 73 });
    expect(batteryFromAnalog(0.4)).toEqual({ mv: 2640, pct: 0 });
    expect(batteryFromAnalog(0.7)).toEqual({ mv: 4620, pct: 100 });
    const f = fakeGlobals({ analog: 0.6 });
    expect(makeBoard(f.g, { bat: "A5" } as Pins).battery!()).toEqual({ mv: 3960, pct: 73 });
    expect(makeBoard(f.g, {} as Pins).battery).toBeUndefined(); // no pin: the host reports none
  });

  it("the microphone: 8 kHz 16-bit through Waveform's double buffer, each buffer one chunk of the ADC's samples, copied", () => {
    const f = fakeGlobals();
    const board = makeBoard(f.g, { mic: "A1" } as Pins);
    const media = board.media!;
    // Unsigned, as the ADC gave them: no JavaScript runs per sample (R-HDR-6 type 4).
    expect(media.media).toBe(MEDIA_PCM_8K_U16LE);
    const got: [Uint8Array, number][] = [];
    media.start(8, (p, d) => got.push([p, d]));
    media.start(8, () => { throw new Error("started twice"); }); // a second start is ignored
    expect(f.waves).toHaveLength(1);
    const w = f.waves[0];
    expect([w.samples, w.opts, w.started]).toEqual([4, { doubleBuffer: true, bits: 16 }, { pin: "pin:A1", freq: 8000 }]);
    w.buffer.set([32768, 32769, 0, 65535]);
    w.fill(w.buffer);
    expect(got).toHaveLength(1);
    expect([...got[0][0]]).toEqual([0x00, 0x80, 0x01, 0x80, 0x00, 0x00, 0xff, 0xff]); // little-endian
    expect(got[0][1]).toBe(0.5); // 4 samples at 8 kHz: 0.5 ms
    // Waveform fills the same buffer again a chunk later: the chunk handed over does not change.
    w.buffer.fill(7);
    expect([...new Uint16Array(got[0][0].buffer)]).toEqual([32768, 32769, 0, 65535]);
    media.stop();
    expect(w.stopped).toBe(true);
    // No memory for the copy: the buffer's own bytes, rather than a chunk lost.
    const tight = fakeGlobals({ noMemory: true });
    const lean: Uint8Array[] = [];
    makeBoard(tight.g, { mic: "A1" } as Pins).media!.start(8, (p) => lean.push(p));
    tight.waves[0].buffer.set([1, 2, 3, 4]);
    tight.waves[0].fill(tight.waves[0].buffer);
    expect([...new Uint16Array(lean[0].buffer)]).toEqual([1, 2, 3, 4]);
    // No microphone pin, or no Waveform: the board has no media source of its own.
    expect(makeBoard(f.g, {} as Pins).media).toBeUndefined();
    expect(makeBoard(fakeGlobals({ noWaveform: true }).g, { mic: "A1" } as Pins).media).toBeUndefined();
  });

  it("Wi-Fi: joins with the configured credentials and says why when it can't", () => {
    const ok = fakeGlobals();
    const done: string[] = [];
    makeBoard(ok.g, {} as Pins).network!({ ssid: "station", pass: "secret" }, (e) => done.push(e));
    expect(ok.wifi).toEqual([{ ssid: "station", password: "secret" }]);
    const bad = fakeGlobals({ wifiError: "auth failed" });
    makeBoard(bad.g, {} as Pins).network!({ ssid: "station", pass: "wrong" }, (e) => done.push(e));
    makeBoard(ok.g, {} as Pins).network!(null, (e) => done.push(e)); // no Wi-Fi in rec.cfg: nothing to join
    expect(done).toEqual(["", "WIFI: auth failed", ""]);
    expect(ok.wifi).toHaveLength(1);
  });
});
