import { test } from "node:test";
import assert from "node:assert/strict";
import * as lz4js from "lz4js";
import { decodeLz4Frame } from "../../src/data/lz4.js";
import { Rng } from "../../src/runtime/rng.js";

/** A frame header: magic, FLG, BD (4 MiB blocks), optional content size, header checksum byte (not verified). */
function header(flags: { blockChecksum?: boolean; contentSize?: number; contentChecksum?: boolean }): number[] {
  let flg = 0x40 | 0x20;
  if (flags.blockChecksum) flg |= 0x10;
  if (flags.contentSize !== undefined) flg |= 0x08;
  if (flags.contentChecksum) flg |= 0x04;
  const bytes = [0x04, 0x22, 0x4d, 0x18, flg, 0x70];
  if (flags.contentSize !== undefined) bytes.push(flags.contentSize & 0xff, (flags.contentSize >> 8) & 0xff, 0, 0, 0, 0, 0, 0);
  bytes.push(0x00);
  return bytes;
}
const u32 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];

test("decodes lz4js frames of repetitive, random and multi-megabyte data", () => {
  const rng = new Rng(11);
  const floats = Float32Array.from({ length: 300_000 }, (_, i) => Math.round(Math.sin(i / 50) * 8) / 4);
  const random = Uint8Array.from({ length: 100_000 }, () => rng.int(256));
  for (const data of [new Uint8Array(floats.buffer), random, new Uint8Array(10), new Uint8Array(0)]) {
    const decoded = decodeLz4Frame(lz4js.compress(data));
    assert.deepEqual(decoded, data);
  }
});

test("reads block checksums after the block, content size and checksum, stored blocks and overlapping matches", () => {
  // Block: token 0x3F = 3 literals "abc", match length 15+4 (extra byte 0) at offset 3: "abc" repeated.
  const block = [0x3f, 0x61, 0x62, 0x63, 0x03, 0x00, 0x00, 0x10, 0x21];
  const frame = Uint8Array.from([
    ...header({ blockChecksum: true, contentSize: 28, contentChecksum: true }),
    ...u32(block.length),
    ...block,
    ...u32(0xdeadbeef), // block checksum: after the block
    ...u32(0x80000000 | 5),
    ...[1, 2, 3, 4, 5], // stored block
    ...u32(0x12345678),
    ...u32(0),
    ...u32(0xcafebabe), // content checksum
  ]);
  const decoded = decodeLz4Frame(frame);
  // 3 literals + 19 matched bytes, then the final sequence: token 0x10 -> 1 literal "!".
  const expected = [..."abc".repeat(8).slice(0, 22)].map((c) => c.charCodeAt(0));
  expected.push(0x21, 1, 2, 3, 4, 5);
  assert.equal(decoded.length, 28);
  assert.deepEqual([...decoded], expected);
});

test("malformed frames throw instead of returning garbage", () => {
  const good = lz4js.compress(new Uint8Array(5000).fill(7));
  assert.throws(() => decodeLz4Frame(good.subarray(0, good.length - 6)), /LZ4 frame: /);
  const badMagic = Uint8Array.from(good);
  badMagic[0] = 0;
  assert.throws(() => decodeLz4Frame(badMagic), /bad magic/);
  const badOffset = Uint8Array.from([...header({}), ...u32(4), 0x10, 0x61, 0x09, 0x00, ...u32(0)]);
  assert.throws(() => decodeLz4Frame(badOffset), /match offset 9 points before the output start/);
  const wrongSize = Uint8Array.from([...header({ contentSize: 9 }), ...u32(0x80000000 | 3), 1, 2, 3, ...u32(0)]);
  assert.throws(() => decodeLz4Frame(wrongSize), /decoded 3 bytes but the frame header declares 9/);
  const tooBig = Uint8Array.from([...header({ contentSize: 2 }), ...u32(0x80000000 | 3), 1, 2, 3, ...u32(0)]);
  assert.throws(() => decodeLz4Frame(tooBig), /stored block at byte \d+ runs past the input or the declared size/);
});
