// Espruino entry for the MQTT client. Two uses:
//   - the gate (test/firmware/mqtt.test.ts) checks that firmware/core/mqtt.ts and
//     firmware/hosts/espruino-net.ts stay inside the interpreter's subset;
//   - the real-interpreter test prepends `var MQTT_PORT = <port>;` to the bundle, and then this runs
//     the client against that broker on 127.0.0.1: it publishes 3 QoS 1 messages (topic rec/esp/up,
//     payload = 256 bytes whose first byte is the message number) and prints `PUBACK <id>` for each,
//     then `DONE <ms> <memory usage>`, disconnects and leaves no timer, so the interpreter exits.
import { MqttClient } from "../../firmware/core/mqtt.js";
import { espruinoNet } from "../../firmware/hosts/espruino-net.js";
import type { EspruinoNetModule } from "../../firmware/hosts/espruino-net.js";

declare const MQTT_PORT: number;
declare function getTime(): number;

const memoryUsage = function (): number {
  return (process as unknown as { memory(): { usage: number } }).memory().usage;
};

if (typeof MQTT_PORT !== "undefined") {
  const client = new MqttClient(espruinoNet(require("net") as EspruinoNetModule), {
    host: "127.0.0.1", port: MQTT_PORT, clientId: "esp-test", keepalive: 30, clean: true, responseTimeout: 5000,
  });
  const started = getTime();
  let acked = 0;
  // A stuck run must end on its own, with a line that says why.
  const guard = setTimeout(function () {
    console.log("TIMEOUT " + acked);
    client.end();
  }, 10000);
  client.onConnect = function () {
    console.log("CONNECTED");
    for (let i = 0; i < 3; i++) {
      const payload = new Uint8Array(256);
      for (let j = 0; j < 256; j++) payload[j] = j;
      payload[0] = i + 1;
      client.publishParts("rec/esp/up", [payload.subarray(0, 10), payload.subarray(10)], 1);
    }
  };
  client.onPuback = function (id: number) {
    console.log("PUBACK " + id);
    if (++acked === 3) {
      console.log("DONE " + Math.round((getTime() - started) * 1000) + " " + memoryUsage());
      clearTimeout(guard);
      client.end();
    }
  };
  client.onClose = function (reason: string) {
    console.log("CLOSE " + reason);
  };
  client.connect();
}
