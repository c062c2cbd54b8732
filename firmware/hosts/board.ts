// The board-specific part of the Espruino host, kept to this one thin file: buttons (setWatch), LEDs
// (digitalWrite), battery (analogRead), microphone audio (Waveform) and Wi-Fi. None of it exists on
// the Linux interpreter (no analog input, no LED1/BTN1, no Wifi module), so it is exercised in tests
// against fakes of these globals only; firmware/README.md lists what has not been tried on hardware.
// Targets: Espruino WiFi (STM32F411 + ESP8266), Pico with an ESP8266 module, ESP32. Espruino subset.
import type { MediaSource } from "../core/host.js";
import type { Pins } from "../../protocol/device-files.js";
import type { EspBoard } from "./env.js";
import { MEDIA_PCM_8K_U16LE } from "../../protocol/constants.js";

/** The interpreter globals this file uses, passed in so tests can fake them. */
export interface BoardGlobals {
  setWatch(fn: (e: { state: boolean }) => void, pin: unknown, opts: { repeat: boolean; edge: string; debounce: number }): unknown;
  digitalWrite(pin: unknown, v: boolean | number): void;
  analogRead(pin: unknown): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(h: unknown): void;
  /** Pin by name ("BTN1", "LED1", "A5"): the global of that name on a board. */
  pin(name: string): unknown;
  Waveform?: new (samples: number, opts: { doubleBuffer: boolean; bits: number }) => {
    buffer: Uint16Array;
    buffer2: Uint16Array;
    on(ev: string, fn: (buf: Uint16Array) => void): void;
    startInput(pin: unknown, freq: number, opts: { repeat: boolean }): void;
    stop(): void;
  };
  wifi?: { connect(ssid: string, opts: { password: string }, cb: (err: unknown) => void): void };
  /** The interpreter's E: a copy of a buffer as a string, and that string's bytes without a copy. */
  E: { toString(a: Uint8Array, b: string): string | undefined; toArrayBuffer(s: string): ArrayBuffer };
}

/**
 * LED patterns: [led index, on ms, off ms]; one LED blinks, the others are off. A function, not a
 * table: a table of arrays stays in RAM (about 45 variables), where a function called only like
 * this one is kept as text until it is called (build/overlay.ts).
 */
function ledPattern(p: string): number[] {
  return p === "boot" || p === "full" ? [0, 100, 100] : p === "idle" ? [1, 50, 2950] : p === "recording" ? [0, 1000, 0]
    : p === "uploading" ? [1, 100, 400] : p === "noconfig" ? [0, 50, 450] : p === "revoked" ? [0, 2000, 2000] : [0, 300, 300];
}

/** Battery: a 1:2 divider on `bat`, Li-ion 3.3 V empty to 4.2 V full (analogRead is 0..1 of 3.3 V). */
export function batteryFromAnalog(v: number): { mv: number; pct: number } {
  const mv = Math.round(v * 3300 * 2);
  let pct = Math.round(((mv - 3300) / 900) * 100);
  if (pct < 0) pct = 0;
  if (pct > 100) pct = 100;
  return { mv: mv, pct: pct };
}

export function makeBoard(g: BoardGlobals, pins: Pins): EspBoard {
  const leds: unknown[] = [];
  const names = pins.led || ["LED1", "LED2"];
  for (let i = 0; i < names.length; i++) leds.push(g.pin(names[i]));
  let blink: unknown = null;
  const board: EspBoard = {
    watchButtons: function (fn: (name: string) => void) {
      const rec = g.pin(pins.rec || "BTN1");
      if (rec) g.setWatch(function () { fn("record"); }, rec, { repeat: true, edge: "rising", debounce: 50 });
      const mark = pins.mark ? g.pin(pins.mark) : null;
      if (mark) g.setWatch(function () { fn("marker"); }, mark, { repeat: true, edge: "rising", debounce: 50 });
    },
    led: function (p: string) {
      const pat = ledPattern(p);
      if (blink !== null) g.clearInterval(blink);
      blink = null;
      for (let i = 0; i < leds.length; i++) g.digitalWrite(leds[i], 0);
      const led = leds[pat[0] < leds.length ? pat[0] : 0];
      if (!led) return;
      if (!pat[2]) { g.digitalWrite(led, 1); return; }
      let on = false;
      blink = g.setInterval(function () { on = !on; g.digitalWrite(led, on ? 1 : 0); }, pat[1]);
    },
    battery: pins.bat ? function () { return batteryFromAnalog(g.analogRead(g.pin(pins.bat as string))); } : undefined,
    network: function (wifi: { ssid: string; pass: string } | null, done: (err: string) => void) {
      if (!wifi || !g.wifi) { done(""); return; }
      g.wifi.connect(wifi.ssid, { password: wifi.pass }, function (err: unknown) { done(err ? "WIFI: " + err : ""); });
    },
  };
  if (pins.mic && g.Waveform) board.media = micMedia(g, g.pin(pins.mic));
  return board;
}

/**
 * 8 kHz audio from a microphone on an analog pin, through Waveform's double buffer: each full buffer
 * is one chunk, its samples as the ADC gave them (unsigned, MEDIA_PCM_8K_U16LE): no JavaScript per
 * sample. Re-centring them to signed PCM with `map` called a function per sample: 23 ms per 8 KiB
 * chunk on the Linux interpreter (about 4 times the chunk's whole path), 10 to 50 times that on a
 * board, where a chunk lasts 512 ms. The buffer is copied (one native copy: E.toString with a
 * second argument always makes a new string; with one it may hand back the buffer's own storage)
 * because Waveform fills it again one chunk later, and the chunk's bytes must not change while
 * its publish is in flight.
 */
function micMedia(g: BoardGlobals, pin: unknown): MediaSource {
  let w: { stop(): void } | null = null;
  return {
    media: MEDIA_PCM_8K_U16LE,
    start: function (bytes: number, onChunk: (p: Uint8Array, d: number) => void) {
      if (w || !g.Waveform) return;
      const samples = bytes >> 1;
      const wf = new g.Waveform(samples, { doubleBuffer: true, bits: 16 });
      wf.on("buffer", function (buf: Uint16Array) {
        const v = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
        const s = g.E.toString(v, "");
        // No memory for the copy: the buffer itself rather than nothing. The recorder stores and
        // sends a chunk before this returns, and sends it again only from its queue (the MQTT
        // window is discarded on a disconnect), so only a reference kept in the window sees it change.
        onChunk(s === undefined ? v : new Uint8Array(g.E.toArrayBuffer(s)), samples / 8);
      });
      wf.startInput(pin, 8000, { repeat: true });
      w = wf;
    },
    stop: function () {
      if (w) w.stop();
      w = null;
    },
  };
}
