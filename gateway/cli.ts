// `npm run admin -- <command>`: the station admin's CLI. It opens the gateway's data directory
// directly (stop the gateway first if it runs on another machine's disk).
import { writeFileSync } from "node:fs";
import { ConfigError, loadConfig } from "./config.js";
import { openStore } from "./gateway.js";
import { DeviceError } from "./devices.js";
import { AccountError } from "./api/accounts.js";
import type { Role } from "./api/accounts.js";
import { toHex } from "../protocol/bytes.js";

const USAGE = `Usage: npm run admin -- <command> [--data-dir DIR] [--json]

Commands:
  device add <ID> --root-out <FILE> [--kind body|fixed]
                         register a device; its root secret goes to FILE (mode 0600), never to the screen
  device list            devices with state and last contact
  device revoke <ID>     revoke a device (it may only say Hello, and is answered with Revoke)
  device lost <ID>       mark a device lost (still admitted; its uploads are flagged)
  recording list [ID]    recordings with their verdicts
  account add <NAME> <ROLE> [--badge B]   ROLE: admin, supervisor, legal_reviewer, officer (officers need --badge)
  account list
  token issue <NAME>     a new API token for an account, shown once (only its hash is kept)
`;

async function main(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const take = (name: string) => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    argv.splice(i, 2);
    return v;
  };
  const rootOut = take("--root-out");
  const kind = take("--kind");
  const dataDir = take("--data-dir");
  const badge = take("--badge");
  const args = argv.filter((a) => a !== "--json");
  if (!args.length || args[0] === "--help" || args[0] === "help") { console.log(USAGE); return args.length ? 0 : 2; }
  const { config } = loadConfig(dataDir ? ["--data-dir", dataDir] : [], process.env);
  const store = await openStore(config);
  const out = (rows: object[]) => {
    if (json) console.log(JSON.stringify(rows, null, 1));
    else if (!rows.length) console.log("(none)");
    else console.table(rows);
  };
  try {
    const [noun, verb, id] = args;
    if (noun === "device" && verb === "add") {
      if (!id || !rootOut) throw new DeviceError("USAGE", "device add needs <ID> and --root-out <FILE>");
      if (kind && kind !== "body" && kind !== "fixed") throw new DeviceError("USAGE", "--kind is body or fixed");
      const root = await store.registry.add(id, { kind: (kind as "body" | "fixed") || "body" });
      writeFileSync(rootOut, toHex(root) + "\n", { mode: 0o600, flag: "wx" });
      root.fill(0);
      console.log(`device ${id} registered; root secret written to ${rootOut} (mode 0600). MQTT username: ${id}`);
    } else if (noun === "device" && verb === "list") out(await store.registry.list());
    else if (noun === "device" && (verb === "revoke" || verb === "lost")) {
      if (!id) throw new DeviceError("USAGE", `device ${verb} needs <ID>`);
      await store.registry.setState(id, verb === "revoke" ? "revoked" : "lost");
      console.log(`device ${id}: ${verb === "revoke" ? "revoked" : "lost"}`);
    } else if (noun === "account" && verb === "add") {
      if (!id || !args[3]) throw new DeviceError("USAGE", "account add needs <NAME> <ROLE>");
      await store.accounts.create(id, args[3] as Role, badge);
      console.log(`account ${id} (${args[3]}) created; issue its token with: npm run admin -- token issue ${id}`);
    } else if (noun === "account" && verb === "list") out(await store.accounts.list());
    else if (noun === "token" && verb === "issue") {
      if (!id) throw new DeviceError("USAGE", "token issue needs <NAME>");
      console.log(await store.accounts.issueToken(id));
      console.error("(shown once: store it now)");
    } else if (noun === "recording" && verb === "list") {
      out(await store.db.all("SELECT device_id AS device, recording_id AS recording, verdict, final, linked_seq AS chunks, total_bytes AS bytes, interrupted, case_tag FROM recordings" + (id ? " WHERE device_id = ?" : "") + " ORDER BY device_id, recording_id", id ? [id] : []));
    } else {
      console.error(USAGE);
      return 2;
    }
    return 0;
  } catch (e) {
    if (e instanceof DeviceError || e instanceof ConfigError || e instanceof AccountError) {
      console.error(`admin: ${(e as DeviceError).code ? (e as DeviceError).code + ": " : ""}${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    await store.db.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
