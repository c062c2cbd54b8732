// The gateway's MQTT layer alone: the same aedes the gateway embeds, created with the same
// timeouts, taking publishes in (parsed, PUBACKed, handed to the process's listeners) with no
// admission, verification or storage. `npm run bench` loads it as it loads the gateway: what Node
// and aedes take in is the most the gateway could reach however cheap its own work became.
// node --import tsx test/bench/aedes-pipe.ts PORT
import { createServer } from "node:net";
import { Aedes } from "aedes";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: aedes-pipe.ts PORT");
  process.exit(2);
}
const broker = await Aedes.createBroker({ drainTimeout: 30000, connectTimeout: 10000 } as never);
const server = createServer(broker.handle);
server.listen(port, "127.0.0.1", () => console.log(`aedes pipe on ${port}`));
process.on("SIGTERM", () => { server.close(); broker.close(() => process.exit(0)); });
