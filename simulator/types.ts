// The simulator's device model: whatever engine runs a device (the firmware bundle in this Node
// process, or a real Espruino interpreter process), the fleet drives it through SimDevice.

/** What a device reports about itself (the recorder's info(), the parts the simulator uses). */
export interface DeviceInfo {
  state: string;
  recording: number;
  queueDepth: number;
  chunks: number;
  published: number;
  acks: number;
  alarm: boolean;
  lastError: string;
  downlinkRejected: number;
  link: string;
  memory: number;
  /** The most variables it has used (its info()), never below `memory`. */
  memoryPeak: number;
  /** Bytes the queue's store can still take (the SD card, or Storage on a board without one). */
  storeFree: number;
}

/** How one simulated device is set up (rec.cfg fields and host options). */
export interface DeviceSpec {
  id: string;
  /** Hex of the root secret; registered at the gateway, keys derived into rec.cfg / rec.key. */
  root: Uint8Array;
  /** Where the device connects: the simulator's per-device proxy in front of the gateway. */
  host: string;
  port: number;
  chunk: number;
  pre: number;
  caseTag: string;
  /** Bytes the SD card may hold (flash-full scenario), 0 for the default, -1 for no SD card (the queue in Storage). */
  sdBytes: number;
  /** Seed of this device's synthetic media. */
  seed: number;
  /** Media plays this many times faster than real time (short CI runs). */
  speed: number;
  /** Working directory (flash file and SD card); where in it each lives is the engine's layout (DeviceMedia). */
  dir: string;
}

/**
 * Where a device's data lies on the host, as a thief with the device in hand finds it. The engine
 * that runs the device says so (its layout, one place); the attack scenarios read and cut the
 * device's stored data only through this.
 */
export interface DeviceMedia {
  /** Its Storage: `espruino.flash`, the interpreter's own format (rec.cfg, rec.key, rec.js). */
  flash: string;
  /** The directory its `fs` and `E.openFile` see: its SD card. */
  card: string;
  /**
   * Where its firmware keeps the upload queue: on the card, or in Storage on a board without one
   * (`"sd": 0` in rec.cfg, `--store flash`), as `<segment>~<k>` files, one per append.
   */
  queue: "card" | "storage";
}

export interface SimDevice {
  readonly id: string;
  /** Where its flash, its card and its upload queue are (the engine's layout). */
  readonly media: DeviceMedia;
  /** Press a button: "record" toggles recording, "marker" flags the current chunk. */
  press(name: "record" | "marker"): Promise<void>;
  info(): Promise<DeviceInfo>;
  /** Power lost: the process or the device's timers, sockets and unsynced writes die. */
  powerCut(): Promise<void>;
  /** Power back: boot the same flash and SD card. */
  boot(): Promise<void>;
  /** Move the device's clock by `ms` (skew), or set it to `toMs` since 1970 (reset). */
  clock(skewMs: number, toMs?: number): Promise<void>;
  /** The device's own log lines (console), newest last. */
  logs(): string[];
  close(): Promise<void>;
}

export interface Engine {
  readonly name: string;
  create(spec: DeviceSpec): Promise<SimDevice>;
  close(): Promise<void>;
}
