// Default entry of scripts/espruino-gate.mjs: every protocol file that must run unmodified on
// the Espruino interpreter. The namespaces are referenced so esbuild keeps all of their code in
// the bundle it checks (tree-shaking would otherwise hide unused exports from the bundle scan).
// Run on the interpreter it only loads the modules, which runs their top-level code.
import * as bytes from "../protocol/bytes.js";
import * as hmac from "../protocol/hmac.js";
import * as constants from "../protocol/constants.js";
import * as blocks from "../protocol/blocks.js";
import * as chain from "../protocol/chain.js";
import * as writer from "../protocol/writer.js";
import * as downlink from "../protocol/downlink.js";
import * as codec from "../protocol/codec.js";
import * as schema from "../protocol/schema.js";
import * as topics from "../protocol/topics.js";
import * as deviceFiles from "../protocol/device-files.js";

const modules = [bytes, hmac, constants, blocks, chain, writer, downlink, codec, schema, topics, deviceFiles];
let names = 0;
for (let i = 0; i < modules.length; i++) names += Object.keys(modules[i]).length;
console.log("LOADED " + modules.length + " modules " + names + " exports");
