// PCM to a WAV file (RIFF, format 1 = integer PCM), for listening to a recording and for export
// checks. The canonical 44-byte header: "RIFF" size "WAVE", a 16-byte "fmt " chunk, a "data" chunk.

export interface WavFormat {
  /** Default 8000 (MEDIA_PCM_8K_S16LE). */
  sampleRate?: number;
  /** Default 1. */
  channels?: number;
  /** Default 16 (little-endian signed; 8 would be unsigned, as WAV defines). */
  bitsPerSample?: number;
}

export const WAV_HEADER = 44;

/** The WAV file holding `chunks` of PCM back to back. Throws if the data does not fit a WAV (4 GiB). */
export function wav(chunks: Uint8Array[], format?: WavFormat): Uint8Array {
  const rate = format && format.sampleRate ? format.sampleRate : 8000;
  const channels = format && format.channels ? format.channels : 1;
  const bits = format && format.bitsPerSample ? format.bitsPerSample : 16;
  const block = channels * (bits >> 3);
  let size = 0;
  for (const c of chunks) size += c.length;
  if (size % block) throw new RangeError("wav: " + size + " bytes is not a whole number of " + block + "-byte frames");
  const pad = size & 1; // RIFF chunks are word-aligned
  if (WAV_HEADER - 8 + size + pad > 0xffffffff) throw new RangeError("wav: too long for a RIFF size field");
  const out = new Uint8Array(WAV_HEADER + size + pad);
  const dv = new DataView(out.buffer);
  const tag = (off: number, s: string) => { for (let i = 0; i < 4; i++) out[off + i] = s.charCodeAt(i); };
  tag(0, "RIFF");
  dv.setUint32(4, WAV_HEADER - 8 + size + pad, true);
  tag(8, "WAVE");
  tag(12, "fmt ");
  dv.setUint32(16, 16, true);
  dv.setUint16(20, 1, true); // integer PCM
  dv.setUint16(22, channels, true);
  dv.setUint32(24, rate, true);
  dv.setUint32(28, rate * block, true); // bytes per second
  dv.setUint16(32, block, true);
  dv.setUint16(34, bits, true);
  tag(36, "data");
  dv.setUint32(40, size, true);
  let off = WAV_HEADER;
  for (const c of chunks) { out.set(c, off); off += c.length; }
  return out;
}
