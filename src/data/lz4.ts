/**
 * LZ4 frame decoder (the LZ4_FRAME codec of Arrow IPC bodies). Written here because lz4js reads a
 * block checksum as if it preceded the block (the format puts it after), which garbles frames that
 * polars and other Rust/C writers produce with block checksums on.
 *
 * Frame: magic 0x184D2204, FLG (version 01, B.Indep, B.Checksum, C.Size, C.Checksum, DictID bits),
 * BD (block max size index 4..7 = 64 KiB..4 MiB), [content size u64], [dict id u32], HC byte; then
 * blocks of u32 size (high bit: stored uncompressed), data, [u32 block checksum]; a 0 end mark;
 * [u32 content checksum]. Several frames may follow each other, and skippable frames
 * (magic 0x184D2A5?) are skipped. Every checksum a frame carries (header, block, content: XXH32) is
 * verified, so a damaged file is an error, never quietly different numbers.
 *
 * Block: sequences of a token (high nibble: literal length, low nibble: match length - 4, 15 meaning
 * "more length bytes follow, each added until one is < 255"), literals, a u16 little-endian match
 * offset back into the output, and the match copy (which may overlap its own output). The last
 * sequence has literals only.
 */
const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const BLOCK_MAX_SIZES: Record<number, number> = { 4: 1 << 16, 5: 1 << 18, 6: 1 << 20, 7: 1 << 22 };

/**
 * XXH32 with seed 0, the checksum of LZ4 frames: four 32-bit lanes over 16-byte stripes (or
 * PRIME5 for inputs under 16 bytes), then the length, the remaining 4-byte words and bytes, and an
 * avalanche of shifts and multiplies; all arithmetic mod 2^32.
 */
const PRIME1 = 0x9e3779b1;
const PRIME2 = 0x85ebca77;
const PRIME3 = 0xc2b2ae3d;
const PRIME4 = 0x27d4eb2f;
const PRIME5 = 0x165667b1;

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));
const lane = (src: Uint8Array, at: number): number => src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16) | (src[at + 3]! << 24);
const round = (acc: number, input: number): number => Math.imul(rotl((acc + Math.imul(input, PRIME2)) | 0, 13), PRIME1);

export function xxh32(src: Uint8Array, begin = 0, end = src.length): number {
  let p = begin;
  let h: number;
  if (end - begin >= 16) {
    let v1 = (PRIME1 + PRIME2) | 0;
    let v2 = PRIME2;
    let v3 = 0;
    let v4 = -PRIME1 | 0;
    for (; p + 16 <= end; p += 16) {
      v1 = round(v1, lane(src, p));
      v2 = round(v2, lane(src, p + 4));
      v3 = round(v3, lane(src, p + 8));
      v4 = round(v4, lane(src, p + 12));
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = PRIME5;
  }
  h = (h + (end - begin)) | 0;
  for (; p + 4 <= end; p += 4) h = Math.imul(rotl((h + Math.imul(lane(src, p), PRIME3)) | 0, 17), PRIME4);
  for (; p < end; p++) h = Math.imul(rotl((h + Math.imul(src[p]!, PRIME5)) | 0, 11), PRIME1);
  h = Math.imul(h ^ (h >>> 15), PRIME2);
  h = Math.imul(h ^ (h >>> 13), PRIME3);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Byte offsets in its messages count from the start of the LZ4 frame (one compressed Arrow buffer), not of the file. */
class Lz4Error extends Error {
  constructor(message: string) {
    super(`LZ4 frame, byte offsets from its start: ${message}`);
  }
}

function u32(src: Uint8Array, at: number): number {
  if (at + 4 > src.length) throw new Lz4Error(`truncated at byte ${at}`);
  return (src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16) | (src[at + 3]! << 24)) >>> 0;
}

interface FrameHeader {
  /** Position of the first block size. */
  blocksAt: number;
  blockChecksum: boolean;
  contentChecksum: boolean;
  blockMax: number;
  contentSize: number | null;
}

function readHeader(src: Uint8Array, at: number): FrameHeader {
  const flg = src[at + 4];
  const bd = src[at + 5];
  if (flg === undefined || bd === undefined) throw new Lz4Error(`truncated frame header at byte ${at}`);
  if (flg >> 6 !== 1) throw new Lz4Error(`unsupported frame version ${flg >> 6} at byte ${at + 4}`);
  const blockMax = BLOCK_MAX_SIZES[(bd >> 4) & 7];
  if (blockMax === undefined) throw new Lz4Error(`invalid block maximum size index ${(bd >> 4) & 7}`);
  let p = at + 6;
  let contentSize: number | null = null;
  if (flg & 0x08) {
    contentSize = u32(src, p) + u32(src, p + 4) * 2 ** 32;
    p += 8;
  }
  if (flg & 0x01) p += 4; // dictionary id: dictionaries are not used by Arrow
  const checksum = src[p];
  if (checksum === undefined) throw new Lz4Error(`truncated frame header at byte ${at}`);
  if (checksum !== (xxh32(src, at + 4, p) >>> 8) % 256) throw new Lz4Error(`frame header checksum mismatch at byte ${p}: the file is corrupt`);
  p += 1;
  return { blocksAt: p, blockChecksum: (flg & 0x10) !== 0, contentChecksum: (flg & 0x04) !== 0, blockMax, contentSize };
}

/** Upper bound of the decompressed size of all frames, from their headers and block sizes. */
function decodedBound(src: Uint8Array): number {
  let at = 0;
  let total = 0;
  while (at < src.length) {
    const magic = u32(src, at);
    if ((magic & SKIPPABLE_MASK) === (SKIPPABLE_MAGIC & SKIPPABLE_MASK)) {
      at += 8 + u32(src, at + 4);
      continue;
    }
    if (magic !== FRAME_MAGIC) throw new Lz4Error(`bad magic 0x${magic.toString(16)} at byte ${at}`);
    const h = readHeader(src, at);
    let p = h.blocksAt;
    let frameTotal = 0;
    for (;;) {
      const size = u32(src, p);
      p += 4;
      if (size === 0) break;
      const stored = (size & 0x80000000) !== 0;
      const length = size & 0x7fffffff;
      frameTotal += stored ? length : h.blockMax;
      p += length + (h.blockChecksum ? 4 : 0);
      if (p > src.length) throw new Lz4Error(`block at byte ${p - length} runs past the end (${src.length} bytes)`);
    }
    total += h.contentSize ?? frameTotal;
    at = p + (h.contentChecksum ? 4 : 0);
  }
  return total;
}

/** Decode one compressed block src[begin, end) into dst at `out`; returns the new output position. */
function decodeBlock(src: Uint8Array, begin: number, end: number, dst: Uint8Array, out: number): number {
  let p = begin;
  while (p < end) {
    const token = src[p++]!;
    let literals = token >> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (p >= end) throw new Lz4Error("truncated literal length");
        b = src[p++]!;
        literals += b;
      } while (b === 255);
    }
    if (p + literals > end || out + literals > dst.length) throw new Lz4Error("literals run past the block or the output");
    dst.set(src.subarray(p, p + literals), out);
    p += literals;
    out += literals;
    if (p >= end) break; // the last sequence has no match
    if (p + 2 > end) throw new Lz4Error("truncated match offset");
    const offset = src[p]! | (src[p + 1]! << 8);
    p += 2;
    if (offset === 0 || offset > out) throw new Lz4Error(`match offset ${offset} points before the output start`);
    let matchLength = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: number;
      do {
        if (p >= end) throw new Lz4Error("truncated match length");
        b = src[p++]!;
        matchLength += b;
      } while (b === 255);
    }
    if (out + matchLength > dst.length) throw new Lz4Error("match runs past the output");
    let from = out - offset;
    if (offset >= matchLength) {
      dst.copyWithin(out, from, from + matchLength);
      out += matchLength;
    } else {
      // Overlapping copy repeats the last `offset` bytes: byte by byte.
      for (let i = 0; i < matchLength; i++) dst[out++] = dst[from++]!;
    }
  }
  return out;
}

/** Decompress one or more concatenated LZ4 frames. Throws on malformed or truncated input. */
export function decodeLz4Frame(src: Uint8Array): Uint8Array {
  const dst = new Uint8Array(decodedBound(src));
  let out = 0;
  let at = 0;
  while (at < src.length) {
    const magic = u32(src, at);
    if ((magic & SKIPPABLE_MASK) === (SKIPPABLE_MAGIC & SKIPPABLE_MASK)) {
      at += 8 + u32(src, at + 4);
      continue;
    }
    const h = readHeader(src, at);
    const frameStart = out;
    let p = h.blocksAt;
    for (;;) {
      const size = u32(src, p);
      p += 4;
      if (size === 0) break;
      const length = size & 0x7fffffff;
      if (size & 0x80000000) {
        if (p + length > src.length || out + length > dst.length) throw new Lz4Error(`stored block at byte ${p} runs past the input or the declared size`);
        dst.set(src.subarray(p, p + length), out);
        out += length;
      } else {
        out = decodeBlock(src, p, p + length, dst, out);
      }
      if (h.blockChecksum && xxh32(src, p, p + length) !== u32(src, p + length)) {
        throw new Lz4Error(`block checksum mismatch in the block at byte ${p - 4}: the file is corrupt`);
      }
      p += length + (h.blockChecksum ? 4 : 0);
    }
    if (h.contentSize !== null && out - frameStart !== h.contentSize) {
      throw new Lz4Error(`decoded ${out - frameStart} bytes but the frame header declares ${h.contentSize}`);
    }
    if (h.contentChecksum && xxh32(dst, frameStart, out) !== u32(src, p)) {
      throw new Lz4Error(`content checksum mismatch for the frame at byte ${at}: the file is corrupt`);
    }
    at = p + (h.contentChecksum ? 4 : 0);
  }
  return dst.subarray(0, out);
}
