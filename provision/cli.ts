// `npm run provision -- ...`: provision a recorder over its USB serial console (or TCP), or retire it.
// Exit codes: 0 done, 1 refused or failed (with a PROVISION_* reason code), 2 bad arguments.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { validDeviceId } from "../protocol/blocks.js";
import { argPath } from "../protocol/shell-path.js";
import { DEFAULT_CHUNK, DEFAULT_PRE_EVENT_S } from "../protocol/device-files.js";
import { ProvisionError } from "./errors.js";
import { PIECE } from "./device.js";
import { provision, retire } from "./provision.js";
import type { Options, ProvisionSummary, RetireSummary } from "./provision.js";

export const USAGE = `Usage:
  npm run provision -- --port PORT --serial ID --broker HOST:PORT --gateway URL (--token T | --token-file F) [options]
  npm run provision -- --retire --port PORT --serial ID --gateway URL (--token T | --token-file F) [--force]

Provision: writes the firmware bundle, a boot file, rec.cfg and rec.key (fresh keys) into the
device's Storage, reads each back, then registers the device with the gateway. Nothing is
registered unless the device holds verified files; if the gateway refuses, the device is put
back as it was.

  --port PORT          serial device (/dev/ttyACM0) or tcp://host:port (an interpreter's telnet REPL)
  --serial ID          device id, 1-16 of A-Z a-z 0-9 . _ - (e.g. BWC-0001): its MQTT username
  --broker HOST:PORT   the gateway's MQTT address as the device will reach it
  --gateway URL        the gateway's HTTP API, e.g. http://10.0.0.2:8080
  --token T            an admin API token (data/admin.token, or npm run admin -- token issue NAME)
  --token-file F       read the token from a file instead (keeps it out of the shell history)
  --unit U             unit name or id the device is issued to (checked before the device is touched)
  --force              re-provision a device that already holds a config, or an id the gateway
                       knows (a new root; refused for ids with recordings or revoked ids)
  --retire             erase the recorder's files from the device and retire the id at the gateway
  --reason TEXT        audit reason for --force re-keying or --retire
  --bundle FILE        firmware bundle (default dist/recorder.min.js, made by npm run build:firmware)
  --chunk BYTES        recorder chunk size (default ${DEFAULT_CHUNK})
  --pre SECONDS        pre-event buffer (default ${DEFAULT_PRE_EVENT_S})
  --wifi-ssid S --wifi-pass P   Wi-Fi network, for boards with Wi-Fi
  --media SOURCE       media source: mic (the firmware's default) or file:<name>[:<speed>]
  --baud N             serial baud rate (default 115200)
  --piece BYTES        file bytes per REPL line when writing (default ${PIECE}; lower it for a board
                       that drops long lines, raise it on a fast link)
  --no-start           do not start the firmware when done (it starts at the next power-on)
  --help

Key material is never printed. Reason codes and what to do: provision/README.md.
`;

/** Parse the command line into Options (and whether to retire); bad arguments are PROVISION_USAGE. */
export function parseCli(argv: string[]): { help: true } | { help: false; retire: boolean; options: Options } {
  let v;
  try {
    v = parseArgs({
      args: argv, strict: true, allowPositionals: false, options: {
        port: { type: "string" }, serial: { type: "string" }, unit: { type: "string" }, broker: { type: "string" },
        gateway: { type: "string" }, token: { type: "string" }, "token-file": { type: "string" }, force: { type: "boolean" },
        retire: { type: "boolean" }, reason: { type: "string" }, bundle: { type: "string" }, chunk: { type: "string" },
        pre: { type: "string" }, "wifi-ssid": { type: "string" }, "wifi-pass": { type: "string" }, media: { type: "string" }, baud: { type: "string" },
        piece: { type: "string" }, "no-start": { type: "boolean" }, help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    throw new ProvisionError("PROVISION_USAGE", (e as Error).message);
  }
  if (v.help) return { help: true };
  const need = (name: string, val: string | undefined): string => {
    if (val === undefined || val === "") throw new ProvisionError("PROVISION_USAGE", `--${name} is required`);
    return val;
  };
  const int = (name: string, val: string | undefined, def: number, min: number, max: number): number => {
    if (val === undefined) return def;
    if (!/^\d+$/.test(val) || Number(val) < min || Number(val) > max) throw new ProvisionError("PROVISION_USAGE", `--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(val)}`);
    return Number(val);
  };
  const retireMode = !!v.retire;
  const port = need("port", v.port);
  const serial = need("serial", v.serial);
  if (!validDeviceId(serial)) throw new ProvisionError("PROVISION_USAGE", `--serial must be 1-16 characters of A-Z a-z 0-9 . _ -, got ${JSON.stringify(serial)}`);
  const gateway = need("gateway", v.gateway);
  if (!/^https?:\/\/[^/\s]+/.test(gateway)) throw new ProvisionError("PROVISION_USAGE", `--gateway must be an http:// or https:// URL, got ${JSON.stringify(gateway)}`);
  if (v.token && v["token-file"]) throw new ProvisionError("PROVISION_USAGE", "give --token or --token-file, not both");
  let token = v.token;
  if (v["token-file"]) {
    try { token = readFileSync(argPath(v["token-file"]), "utf8").trim(); } catch (e) {
      throw new ProvisionError("PROVISION_USAGE", `--token-file ${v["token-file"]}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`);
    }
  }
  if (!token) throw new ProvisionError("PROVISION_USAGE", "--token or --token-file is required");
  let broker: Options["broker"];
  if (v.broker !== undefined) {
    const m = /^(\[[^\]]+\]|[^:\s]+):(\d+)$/.exec(v.broker);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new ProvisionError("PROVISION_USAGE", `--broker must be host:port, got ${JSON.stringify(v.broker)}`);
    broker = { host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]) };
  } else if (!retireMode) need("broker", undefined);
  if ((v["wifi-ssid"] === undefined) !== (v["wifi-pass"] === undefined)) throw new ProvisionError("PROVISION_USAGE", "give --wifi-ssid and --wifi-pass together");
  if (v.reason !== undefined && v.reason.trim().length < 3) throw new ProvisionError("PROVISION_USAGE", "--reason needs at least 3 characters");
  return {
    help: false, retire: retireMode,
    options: {
      port, serial, gateway, token, unit: v.unit, broker, force: !!v.force,
      bundle: v.bundle ? argPath(v.bundle) : "dist/recorder.min.js",
      chunk: int("chunk", v.chunk, DEFAULT_CHUNK, 1, 1 << 20), pre: int("pre", v.pre, DEFAULT_PRE_EVENT_S, 0, 600),
      wifi: v["wifi-ssid"] !== undefined ? { ssid: v["wifi-ssid"], pass: v["wifi-pass"]! } : undefined,
      media: v.media,
      baud: int("baud", v.baud, 115200, 300, 4000000), reason: v.reason, start: !v["no-start"],
      piece: int("piece", v.piece, PIECE, 64, 8192),
    },
  };
}

export function formatSummary(s: ProvisionSummary): string[] {
  const rate = s.bundleMs > 0 ? `${(s.bundleBytes / 1024 / (s.bundleMs / 1000)).toFixed(1)} KiB/s` : "-";
  return [
    `provisioned ${s.serial} (${s.registered === "new" ? "registered" : "re-keyed"} at the gateway)`,
    `  serial       ${s.serial}`,
    `  chip serial  ${s.chipSerial}`,
    `  board        ${s.board}, Espruino ${s.firmwareVersion}`,
    `  broker       ${s.broker}`,
    `  gateway      ${s.gateway}`,
    ...(s.unit ? [`  unit         ${s.unit}`] : []),
    `  chunk        ${s.chunk} bytes, pre-event ${s.pre} s${s.media ? `, media ${s.media}` : ""}`,
    `  bundle       ${s.bundle}: ${s.bundleBytes} bytes in ${(s.bundleMs / 1000).toFixed(1)} s (${rate})`,
    `  written      ${s.written.join(", ")}`,
    `  verified     ${s.verified.join(", ")}`,
    `  started      ${s.started ? "yes (load())" : "no: it starts at the next power-on"}`,
    ...(s.previousId ? [`  note         the device held ${s.previousId} before; ${s.previousId} stays registered at the gateway (retire it there if it is gone)`] : []),
    ...s.warnings.map((w) => `  WARNING      ${w}`),
    `  took         ${(s.ms / 1000).toFixed(1)} s`,
  ];
}

export function formatRetire(s: RetireSummary): string[] {
  return [
    `retired ${s.serial}`,
    `  chip serial  ${s.chipSerial}`,
    `  gateway      ${s.gatewayState}`,
    `  erased       ${s.erased.length ? s.erased.join(", ") : "(nothing to erase)"}`,
    `  took         ${(s.ms / 1000).toFixed(1)} s`,
  ];
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCli(argv);
  } catch (e) {
    console.error(`provision: ${(e as ProvisionError).code}: ${(e as Error).message}\n(npm run provision -- --help)`);
    return 2;
  }
  if (parsed.help) { console.log(USAGE); return 0; }
  const say = (line: string) => console.log(line);
  try {
    if (parsed.retire) for (const l of formatRetire(await retire(parsed.options, say))) console.log(l);
    else for (const l of formatSummary(await provision(parsed.options, say))) console.log(l);
    return 0;
  } catch (e) {
    if (e instanceof ProvisionError) {
      console.error(`provision: ${e.code}: ${e.message}`);
      return e.code === "PROVISION_USAGE" ? 2 : 1;
    }
    throw e;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = await main(process.argv.slice(2));
