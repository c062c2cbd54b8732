// Node transport for MqttClient in tests: node:net sockets and the real timers and clock.
// `sockets` lets a test kill the live connection mid-stream.
import net from "node:net";
import type { Conn, Transport } from "../../firmware/core/mqtt.js";

export interface NodeTransport extends Transport {
  sockets: net.Socket[];
  /** Every byte written, per connection, for tests that look at what went out. */
  written: Uint8Array[][];
}

export function nodeNet(): NodeTransport {
  const t: NodeTransport = {
    sockets: [],
    written: [],
    connect(host: string, port: number, onData: (b: Uint8Array) => void, onClose: () => void): Conn {
      const s = net.connect(port, host);
      s.setNoDelay(true);
      const log: Uint8Array[] = [];
      t.sockets.push(s);
      t.written.push(log);
      s.on("data", (b: Buffer) => onData(new Uint8Array(b.buffer, b.byteOffset, b.length)));
      s.on("error", () => {}); // 'close' follows
      s.on("close", () => onClose());
      return {
        // The client may reuse nothing it wrote, but copy anyway: Node writes asynchronously.
        write(b: Uint8Array) {
          const c = new Uint8Array(b);
          log.push(c);
          if (!s.destroyed) s.write(c);
        },
        end() {
          s.destroy();
        },
      };
    },
    after: (fn, ms) => setTimeout(fn, ms),
    cancel: (h) => clearTimeout(h as NodeJS.Timeout),
    now: () => Date.now(),
  };
  return t;
}
