import { test } from "node:test";
import assert from "node:assert/strict";
import * as lz4js from "lz4js";
import * as referenceXxh32 from "lz4js/xxh32.js";
import { decodeLz4Frame } from "../../src/data/lz4.js";
import { Rng } from "../../src/runtime/rng.js";

/** XXH32 (seed 0) by lz4js, not by the code under test. */
const xxh32 = (bytes: number[] | Uint8Array): number => referenceXxh32.hash(0, Uint8Array.from(bytes), 0, bytes.length) >>> 0;

/** A frame header: magic, FLG, BD (4 MiB blocks), optional content size, header checksum byte. */
function header(flags: { blockChecksum?: boolean; contentSize?: number; contentChecksum?: boolean }): number[] {
  let flg = 0x40 | 0x20;
  if (flags.blockChecksum) flg |= 0x10;
  if (flags.contentSize !== undefined) flg |= 0x08;
  if (flags.contentChecksum) flg |= 0x04;
  const bytes = [0x04, 0x22, 0x4d, 0x18, flg, 0x70];
  if (flags.contentSize !== undefined) bytes.push(flags.contentSize & 0xff, (flags.contentSize >> 8) & 0xff, 0, 0, 0, 0, 0, 0);
  bytes.push((xxh32(bytes.slice(4)) >>> 8) & 0xff);
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

/** A frame of one compressed block "abc"x7 + "a!" and one stored block 1..5, with every checksum. */
function checkedFrame(): { frame: Uint8Array; expected: number[]; blockChecksumAt: number; contentChecksumAt: number } {
  // Block: token 0x3F = 3 literals "abc", match length 15+4 (extra byte 0) at offset 3: "abc" repeated.
  const block = [0x3f, 0x61, 0x62, 0x63, 0x03, 0x00, 0x00, 0x10, 0x21];
  const stored = [1, 2, 3, 4, 5];
  // 3 literals + 19 matched bytes, then the final sequence: token 0x10 -> 1 literal "!".
  const expected = [..."abc".repeat(8).slice(0, 22)].map((c) => c.charCodeAt(0));
  expected.push(0x21, ...stored);
  const head = header({ blockChecksum: true, contentSize: 28, contentChecksum: true });
  const frame = Uint8Array.from([
    ...head,
    ...u32(block.length),
    ...block,
    ...u32(xxh32(block)), // block checksum: after the block, over its stored bytes
    ...u32(0x80000000 | stored.length),
    ...stored,
    ...u32(xxh32(stored)),
    ...u32(0),
    ...u32(xxh32(expected)), // content checksum: over the decoded frame
  ]);
  return { frame, expected, blockChecksumAt: head.length + 4 + block.length, contentChecksumAt: frame.length - 4 };
}

test("reads block checksums after the block, content size and checksum, stored blocks and overlapping matches", () => {
  const { frame, expected } = checkedFrame();
  const decoded = decodeLz4Frame(frame);
  assert.equal(decoded.length, 28);
  assert.deepEqual([...decoded], expected);
});

test("a header, block or content checksum that does not match is an error, not quietly different data", () => {
  const { frame, blockChecksumAt, contentChecksumAt } = checkedFrame();
  for (const [at, message] of [
    [6, /frame header checksum mismatch at byte 14/], // the content size (28 read as 29)
    [blockChecksumAt, /block checksum mismatch in the block at byte 15/],
    [contentChecksumAt, /content checksum mismatch for the frame at byte 0/],
  ] as const) {
    const damaged = Uint8Array.from(frame);
    damaged[at]! ^= 0x01;
    assert.throws(() => decodeLz4Frame(damaged), message);
  }
  // lz4js writes a real header checksum (its frames carry no others): accepted as it is, refused when damaged.
  const real = lz4js.compress(new Uint8Array(100).fill(3));
  assert.deepEqual(decodeLz4Frame(real), new Uint8Array(100).fill(3));
  real[5]! ^= 0x10;
  assert.throws(() => decodeLz4Frame(real), /frame header checksum mismatch|block maximum size/);
});

test("malformed frames throw instead of returning garbage", () => {
  const good = lz4js.compress(new Uint8Array(5000).fill(7));
  assert.throws(() => decodeLz4Frame(good.subarray(0, good.length - 6)), /LZ4 frame, byte offsets from its start: /);
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
