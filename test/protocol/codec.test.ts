// The hand codec against protobufjs (byte for byte, both directions) and against protoc,
// and its refusal of truncated and garbage input with a reason code (SPEC.md R-ENV-3..5).
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import protobuf from "protobufjs";
import fc from "fast-check";
import { chunkFrame, decode, encode, readDownlink, which } from "../../protocol/codec.js";
import { SCHEMA_VERSION } from "../../protocol/constants.js";
import { encodeAckBlock, parseAckBlock } from "../../protocol/blocks.js";
import type { CodecError } from "../../protocol/codec.js";
import { AckState, schemaTable, F_ONEOF, F_REPEATED, T_BOOL, T_BYTES, T_ENUM, T_MESSAGE, T_SINT64, T_STRING, T_UINT32, T_UINT64 } from "../../protocol/schema.js";
const SCHEMA = schemaTable();
import type { FieldDesc } from "../../protocol/schema.js";
import { REASONS } from "../../protocol/reasons.js";
import { concat, fromUtf8, toHex } from "../../protocol/bytes.js";
import { messageSamples } from "../../protocol/vectors/build.js";

const PROTO = new URL("../../protocol/recorder.proto", import.meta.url).pathname;
const root = protobuf.loadSync(PROTO);
const T = (name: string) => root.lookupType("evrec.v1." + name);

function viaProtobufjs(type: string, value: Record<string, unknown>): Uint8Array {
  return T(type).encode(T(type).fromObject(value)).finish();
}

/** protobufjs's decoded object in the hand decoder's shape: defaults filled, numbers not Longs. */
function pbjsObject(type: string, bytes: Uint8Array): unknown {
  const t = T(type);
  return normal(t.toObject(t.decode(bytes), { longs: Number, enums: Number, defaults: true, bytes: Array }), type);
}

function normal(v: unknown, type: string): unknown {
  const fields = SCHEMA[type];
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const d of fields) {
    const x = o[d[1]];
    if (x === undefined || x === null) continue;
    if (d[4] & F_REPEATED) out[d[1]] = (x as unknown[]).map((e) => (d[2] === T_MESSAGE ? normal(e, d[3]) : e));
    else if (d[2] === T_MESSAGE) out[d[1]] = normal(x, d[3]);
    else if (d[2] === T_BYTES) out[d[1]] = toHex(Uint8Array.from(x as ArrayLike<number>));
    else out[d[1]] = x;
  }
  return out;
}

function handObject(type: string, bytes: Uint8Array): unknown {
  return normal(decode(type, bytes), type);
}

const hasProtoc = (() => { try { execFileSync("protoc", ["--version"]); return true; } catch { return false; } })();

describe("hand codec and protobufjs agree", () => {
  it.each(messageSamples().map((m) => [m.name, m] as const))("%s: same bytes, same decoded message", (_n, m) => {
    const hand = encode(m.type, m.value);
    expect(toHex(hand)).toBe(toHex(viaProtobufjs(m.type, m.value)));
    expect(handObject(m.type, hand)).toEqual(pbjsObject(m.type, hand));
  });

  it("agree on random messages of every type (fast-check)", () => {
    for (const type of Object.keys(SCHEMA)) {
      fc.assert(fc.property(arbMessage(type, 0), (value) => {
        const hand = encode(type, value);
        expect(toHex(hand)).toBe(toHex(viaProtobufjs(type, value)));
        expect(handObject(type, hand)).toEqual(pbjsObject(type, hand));
      }), { numRuns: 150 });
    }
  });

  it("decodes what protobufjs encodes with fields in another order and unknown fields", () => {
    // protobuf allows any field order and unknown fields; a decoder must take both.
    const w = protobuf.Writer.create();
    w.uint32((3 << 3) | 0).uint32(41); // cumulative
    w.uint32((99 << 3) | 2).bytes(new Uint8Array([1, 2, 3])); // unknown field
    w.uint32((1 << 3) | 0).uint32(3); // recording
    const bytes = w.finish();
    expect(handObject("Ack", bytes)).toEqual(pbjsObject("Ack", bytes));
  });

  it("splits a chunk frame around the payload exactly where encode puts it", () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.uint8Array({ minLength: 0, maxLength: 20000 }), fc.uint8Array({ minLength: 0, maxLength: 40 }),
      (header, payload, tag) => {
        const f = chunkFrame(header, payload.length, tag);
        expect(toHex(concat([f.prefix, payload, f.suffix]))).toBe(toHex(encode("Uplink", { schema: SCHEMA_VERSION, chunk: { header, payload, tag } })));
      }), { numRuns: 100 });
  });

  it("frames of the same lengths, one after another, each carry their own header and tag (the reused frame)", () => {
    const frames = [1, 2, 3].map((k) => {
      const header = new Uint8Array(128).fill(k), tag = new Uint8Array(32).fill(16 * k), payload = new Uint8Array(8192).fill(k + 100);
      const f = chunkFrame(header, payload.length, tag);
      return { f, want: encode("Uplink", { schema: SCHEMA_VERSION, chunk: { header, payload, tag } }), payload };
    });
    for (const { f, want, payload } of frames) expect(toHex(concat([f.prefix, payload, f.suffix]))).toBe(toHex(want));
    expect(frames[0].f.prefix).not.toBe(frames[1].f.prefix); // each frame owns its bytes: the first is still published
  });
});

describe.skipIf(!hasProtoc)("protoc, a foreign implementation, reads the hand encoding", () => {
  it.each(messageSamples().map((m) => [m.name, m] as const))("%s: protoc --decode then --encode gives the same bytes", (_n, m) => {
    const hand = encode(m.type, m.value);
    const text = execFileSync("protoc", ["--decode=evrec.v1." + m.type, "-I", PROTO.replace(/\/[^/]+$/, ""), PROTO], { input: hand }).toString();
    const back = execFileSync("protoc", ["--encode=evrec.v1." + m.type, "-I", PROTO.replace(/\/[^/]+$/, ""), PROTO], { input: text });
    expect(toHex(back)).toBe(toHex(hand));
    if (m.type === "Uplink" && m.name === "uplink-chunk") expect(text).toMatch(/^schema: 2\nchunk \{\n  header: "/);
  });
});

describe("hand decoder refuses bad input with a reason", () => {
  const isCodecError = (e: unknown) => {
    const code = (e as CodecError).code;
    expect(e).toBeInstanceOf(Error);
    expect(code).toMatch(/^DECODE_/);
    expect(REASONS[code]).toBeDefined();
  };
  it("every truncation of every sample either decodes or names DECODE_TRUNCATED", () => {
    for (const m of messageSamples()) {
      const b = encode(m.type, m.value);
      for (let n = 0; n < b.length; n++) {
        try { decode(m.type, b.subarray(0, n)); } catch (e) { isCodecError(e); expect((e as CodecError).code).toBe("DECODE_TRUNCATED"); }
      }
    }
  });
  it("random bytes never throw anything but a named CodecError", () => {
    fc.assert(fc.property(fc.constantFrom(...Object.keys(SCHEMA)), fc.uint8Array({ maxLength: 300 }), (type, bytes) => {
      try { decode(type, bytes); } catch (e) { isCodecError(e); }
    }), { numRuns: 3000 });
  });
  it("names the fault: wire type, oversized field, bad UTF-8, long varint, field 0", () => {
    const code = (type: string, hex: string) => { try { decode(type, Uint8Array.from(Buffer.from(hex, "hex"))); return "ok"; } catch (e) { return (e as CodecError).code; } };
    expect(code("Ack", "0a0103")).toBe("DECODE_WIRE_TYPE");        // recording sent as bytes
    expect(code("Ack", "0b")).toBe("DECODE_WIRE_TYPE");            // a group
    expect(code("Revoke", "0a02c328")).toBe("DECODE_UTF8");
    expect(code("Ack", "08ffffffffffffffffffff01")).toBe("DECODE_VARINT_TOO_LONG");
    expect(code("Ack", "0880808080 10".replace(/ /g, ""))).toBe("DECODE_VARINT_RANGE");
    expect(code("Ack", "0001")).toBe("DECODE_FIELD_NUMBER");
    const big = "12" + "818008" + "00".repeat(131073);          // Chunk.payload of 131073 bytes
    expect(code("Chunk", big)).toBe("DECODE_FIELD_SIZE");
  });
  it("tells which oneof member an envelope carries, and none for an empty one", () => {
    expect(which(decode("Uplink", encode("Uplink", { schema: 1, seal: { block: new Uint8Array(1) } })), "Uplink")).toBe("seal");
    expect(which(decode("Uplink", new Uint8Array([8, 1])), "Uplink")).toBe("");
  });
});

// ---- random messages from the schema ----
function arbField(d: FieldDesc, depth: number): fc.Arbitrary<unknown> {
  const max = d[5] ? Math.min(d[5], 300) : 100;
  switch (d[2]) {
    case T_UINT32: return fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 4294967295 }));
    case T_ENUM: return fc.integer({ min: 0, max: 3 });
    case T_UINT64: return fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 40 }), fc.maxSafeNat());
    case T_SINT64: return fc.oneof(fc.constant(0), fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -(2 ** 52 - 1), max: 2 ** 52 - 1 }));
    case T_BOOL: return fc.boolean();
    // The limit is in UTF-8 bytes: a grapheme can take more than 4 (𝅘𝅥𝅮 is three code points, 12 bytes),
    // so a count of graphemes alone sometimes made a string the decoder rightly refused.
    case T_STRING: return fc.string({ unit: "grapheme", maxLength: Math.floor(max / 4) }).filter((x) => Buffer.byteLength(x) <= max);
    case T_BYTES: return fc.uint8Array({ maxLength: max });
    default: return depth > 2 ? fc.constant({}) : arbMessage(d[3], depth + 1);
  }
}

function arbMessage(type: string, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const fields = SCHEMA[type];
  const plain = fields.filter((d) => !(d[4] & F_ONEOF));
  const oneofs = fields.filter((d) => d[4] & F_ONEOF);
  const rec: Record<string, fc.Arbitrary<unknown>> = {};
  for (const d of plain) rec[d[1]] = d[4] & F_REPEATED ? fc.array(arbField(d, depth), { maxLength: 3 }) : arbField(d, depth);
  const base = fc.record(rec, { requiredKeys: [] });
  if (!oneofs.length) return base as fc.Arbitrary<Record<string, unknown>>;
  return fc.tuple(base, fc.option(fc.constantFrom(...oneofs)), fc.nat()).chain(([b, d]) =>
    d ? arbField(d, depth).map((v) => ({ ...b, [d[1]]: v })) : fc.constant(b)) as fc.Arbitrary<Record<string, unknown>>;
}

describe("UTF-8 strings (fromUtf8: MQTT topics and every string field)", () => {
  it("decodes as Node's TextDecoder does, ASCII and not, short and long, and refuses ill-formed bytes", () => {
    const dec = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }); // a BOM is kept, as fromUtf8 keeps it
    for (const s of ["", "er/dn/REC-1", "案件-2026/粤B", "a".repeat(256), "a".repeat(300), "x".repeat(255) + "é", "\u0000\u007f", "😀"]) {
      const b = new TextEncoder().encode(s);
      expect(fromUtf8(b)).toBe(dec.decode(b));
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
      let want: string | null;
      try { want = dec.decode(b); } catch { want = null; }
      expect(fromUtf8(b)).toBe(want);
    }));
    expect(fromUtf8(new Uint8Array([0x61, 0xc0, 0x80]))).toBeNull(); // overlong
    expect(fromUtf8(new Uint8Array([0xed, 0xa0, 0x80]))).toBeNull(); // a surrogate
  });
});

describe("Ack block (R-ACKB-1): the Ack a board reads with a few DataView calls", () => {
  it("is version, state, bitmap length, recording, cumulative, settled, big-endian, then the bitmap; read back in place", () => {
    const b = encodeAckBlock({ recording: 0x01020304, state: AckState.ACK_OPEN, cumulative: 0x0a0b0c0d, selective: new Uint8Array([0b101, 0x80]), settled: 0x0a0b0c10 });
    expect(toHex(b)).toBe("01" + "00" + "0002" + "01020304" + "0a0b0c0d" + "0a0b0c10" + "0580");
    const a = parseAckBlock(b)!;
    expect({ ...a, selective: toHex(a.selective) }).toEqual({ recording: 0x01020304, state: AckState.ACK_OPEN, cumulative: 0x0a0b0c0d, selective: "0580", settled: 0x0a0b0c10 });
    expect(a.selective.buffer).toBe(b.buffer); // a view, no copy
    expect(toHex(encodeAckBlock({ recording: 7, state: AckState.ACK_SEALED, cumulative: 9 }))).toBe("0101000000000007" + "00000009" + "00000000");
  });

  it("is refused (null) when its version is not 1 or its length is not its bitmap's", () => {
    const b = encodeAckBlock({ recording: 1, state: 0, cumulative: 1, selective: new Uint8Array([1]) });
    expect(parseAckBlock(b.subarray(0, 12))).toBeNull();
    expect(parseAckBlock(concat([b, new Uint8Array(1)]))).toBeNull();
    const v2 = new Uint8Array(b);
    v2[0] = 2;
    expect(parseAckBlock(v2)).toBeNull();
    expect(parseAckBlock(new Uint8Array(3))).toBeNull();
    expect(() => encodeAckBlock({ recording: 1, state: 0, cumulative: 1, selective: new Uint8Array(513) })).toThrow(/512/);
  });

  it("travels in DownBody.ack_block, which protobufjs and protoc read as the same bytes", () => {
    const block = encodeAckBlock({ recording: 3, state: AckState.ACK_SEALED, cumulative: 40 });
    const body = encode("DownBody", { ackBlock: block });
    expect(toHex(body.subarray(0, 2))).toBe("32" + block.length.toString(16).padStart(2, "0")); // field 6, one length byte
    expect(toHex(decode("DownBody", body).ackBlock as Uint8Array)).toBe(toHex(block));
  });
});

describe("readDownlink: a Downlink in its canonical shape, read without the schema", () => {
  it("reads what encode writes, and otherwise says null or agrees with decode, on random Downlinks and random bytes", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4294967295 }), fc.uint8Array({ minLength: 1, maxLength: 4096 }), fc.integer({ min: 0, max: 127 }), (counter, body, schema) => {
      const mac = new Uint8Array(32).fill(counter & 255);
      const b = encode("Downlink", { schema: schema || 2, counter, body, mac });
      const r = readDownlink(b)!;
      expect(r).not.toBeNull();
      expect([r.schema, r.counter, toHex(r.body), toHex(r.mac)]).toEqual([schema || 2, counter, toHex(body), toHex(mac)]);
    }), { numRuns: 200 });
    fc.assert(fc.property(arbMessage("Downlink", 0), (value) => {
      const b = encode("Downlink", value);
      const r = readDownlink(b);
      if (r) expect({ ...decode("Downlink", b), body: toHex(decode("Downlink", b).body as Uint8Array), mac: toHex(decode("Downlink", b).mac as Uint8Array) })
        .toEqual({ schema: r.schema, counter: r.counter, body: toHex(r.body), mac: toHex(r.mac) });
    }), { numRuns: 500 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      const r = readDownlink(b);
      if (!r) return;
      const d = decode("Downlink", b);
      expect([d.schema, d.counter, toHex(d.body as Uint8Array), toHex(d.mac as Uint8Array)]).toEqual([r.schema, r.counter, toHex(r.body), toHex(r.mac)]);
    }), { numRuns: 2000 });
  });

  it("leaves every other shape to the decoder: a missing counter or body, another MAC length, trailing bytes", () => {
    const mac = new Uint8Array(32);
    expect(readDownlink(encode("Downlink", { schema: 2, counter: 0, body: new Uint8Array(5), mac }))).toBeNull();
    expect(readDownlink(encode("Downlink", { schema: 2, counter: 1, body: new Uint8Array(0), mac }))).toBeNull();
    expect(readDownlink(encode("Downlink", { schema: 2, counter: 1, body: new Uint8Array(5), mac: new Uint8Array(31) }))).toBeNull();
    expect(readDownlink(concat([encode("Downlink", { schema: 2, counter: 1, body: new Uint8Array(5), mac }), new Uint8Array(1)]))).toBeNull();
  });
});
