import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors } from "../../src/train/safetensors.js";
import { InputError } from "../../src/runtime/errors.js";

/** Build a file by hand from a header object and raw data bytes (independent of the encoder). */
function handMade(header: unknown, data: number[] | Uint8Array, pad = true): Uint8Array {
  let json = Buffer.from(JSON.stringify(header), "utf8");
  if (pad && json.length % 8 !== 0) json = Buffer.concat([json, Buffer.alloc(8 - (json.length % 8), " ")]);
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  Buffer.from(data).copy(out, 8 + json.length);
  return new Uint8Array(out);
}

function assertInput(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

test("the encoder writes the exact documented layout", () => {
  const bytes = encodeSafetensors([["w", { shape: [2], data: new Float32Array([1, -2]) }]], { k: "v" });
  const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0);
  const headerText = Buffer.from(bytes.subarray(8, 8 + n)).toString("utf8");
  assert.equal(headerText.trimEnd(), '{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}');
  assert.match(headerText, /^\{.*\} *$/);
  // 1.0f = 0x3f800000, -2.0f = 0xc0000000, little-endian.
  assert.deepEqual([...bytes.subarray(8 + n)], [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]);
});

test("a hand-made file decodes: F32, F64, I32, I64, a scalar, an empty tensor and unaligned (unpadded) headers", () => {
  const data = [
    ...Buffer.from(new Float32Array([1.5, 2.5]).buffer),
    ...Buffer.from(new Float64Array([Math.PI]).buffer),
    ...Buffer.from(new Int32Array([-7]).buffer),
    ...Buffer.from(new BigInt64Array([123456789012n]).buffer),
    ...Buffer.from(new Float32Array([9]).buffer),
  ];
  const header = {
    a: { dtype: "F32", shape: [1, 2], data_offsets: [0, 8] },
    b: { dtype: "F64", shape: [1], data_offsets: [8, 16] },
    c: { dtype: "I32", shape: [1], data_offsets: [16, 20] },
    d: { dtype: "I64", shape: [1], data_offsets: [20, 28] },
    s: { dtype: "F32", shape: [], data_offsets: [28, 32] },
    e: { dtype: "F32", shape: [0, 3], data_offsets: [32, 32] },
    __metadata__: { step: "3" },
  };
  for (const pad of [true, false]) {
    const { tensors, metadata } = decodeSafetensors(handMade(header, data, pad), "x.safetensors");
    assert.deepEqual(metadata, { step: "3" });
    assert.deepEqual([...tensors.keys()], ["a", "b", "c", "d", "s", "e"]);
    assert.deepEqual(tensors.get("a"), { dtype: "F32", shape: [1, 2], data: new Float32Array([1.5, 2.5]) });
    assert.deepEqual(tensors.get("b")!.data, new Float64Array([Math.PI]));
    assert.deepEqual(tensors.get("c")!.data, new Int32Array([-7]));
    assert.deepEqual(tensors.get("d")!.data, new BigInt64Array([123456789012n]));
    assert.deepEqual(tensors.get("s"), { dtype: "F32", shape: [], data: new Float32Array([9]) });
    assert.equal(tensors.get("e")!.data.length, 0);
  }
});

test("write -> read round-trips every dtype bit-exactly, in order, atomically", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-st-"));
  const file = path.join(dir, "m.safetensors");
  const weight = new Float32Array(3 * 5).map((_, i) => Math.fround(Math.sin(i) * 1e-3));
  weight[0] = -0;
  weight[1] = Number.MIN_VALUE;
  const tensors: [string, { shape: number[]; data: Float32Array | Float64Array | Int32Array | BigInt64Array }][] = [
    ["blocks.0.attn.q.weight", { shape: [3, 5], data: weight }],
    ["f64", { shape: [2], data: new Float64Array([1 / 3, -1e300]) }],
    ["i32", { shape: [2], data: new Int32Array([2 ** 31 - 1, -(2 ** 31)]) }],
    ["i64", { shape: [1], data: new BigInt64Array([-(2n ** 63n)]) }],
  ];
  await writeSafetensors(file, tensors, { producer: "snndt" });
  const back = await readSafetensors(file);
  assert.deepEqual([...back.tensors.keys()], tensors.map(([n]) => n));
  for (const [name, t] of tensors) {
    assert.deepEqual(back.tensors.get(name)!.shape, t.shape);
    assert.deepEqual(Buffer.from(back.tensors.get(name)!.data.buffer), Buffer.from(t.data.buffer), name);
  }
  assert.deepEqual(back.metadata, { producer: "snndt" });
});

test("the encoder refuses mismatched shapes and duplicate names", () => {
  assert.throws(() => encodeSafetensors([["w", { shape: [2, 2], data: new Float32Array(3) }]]), /shape \[2,2\] holds 4 elements, data has 3/);
  assert.throws(
    () => encodeSafetensors([["w", { shape: [1], data: new Float32Array(1) }], ["w", { shape: [1], data: new Float32Array(1) }]]),
    /duplicate tensor name "w"/,
  );
});

test("corrupt files are refused with the file and tensor named", async () => {
  const good = { w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } };
  const eight = [0, 0, 0, 0, 0, 0, 0, 0];
  assertInput(() => decodeSafetensors(new Uint8Array(5), "f.st"), /f\.st is not a valid safetensors file: it is truncated \(5 bytes/);
  const full = handMade(good, eight);
  assertInput(() => decodeSafetensors(full.subarray(0, 20), "f.st"), /header length \d+ runs past the end of the file/);
  assertInput(() => decodeSafetensors(full.subarray(0, full.length - 1), "f.st"), /tensor "w": data_offsets \[0, 8\] run past the end of the data \(7 bytes\); the file is truncated/);
  assertInput(() => decodeSafetensors(handMade(good, [...eight, 1]), "f.st"), /the data is 9 bytes but the tensors cover 8/);
  assertInput(
    () => decodeSafetensors(handMade({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, eight), "f.st"),
    /tensors "a" and "b" overlap/,
  );
  assertInput(
    () => decodeSafetensors(handMade({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, eight), "f.st"),
    /gap of 4 bytes before tensor "a"/,
  );
  assertInput(() => decodeSafetensors(handMade({ w: { dtype: "F16", shape: [4], data_offsets: [0, 8] } }, eight), "f.st"), /tensor "w": dtype F16 is not supported/);
  assertInput(() => decodeSafetensors(handMade({ w: { dtype: "Q4", shape: [4], data_offsets: [0, 8] } }, eight), "f.st"), /tensor "w": unknown dtype "Q4"/);
  assertInput(
    () => decodeSafetensors(handMade({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, eight), "f.st"),
    /tensor "w": shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/,
  );
  assertInput(() => decodeSafetensors(handMade({ w: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, eight), "f.st"), /tensor "w": shape \[-2\] is not a list/);
  assertInput(() => decodeSafetensors(handMade({ w: { dtype: "F32", shape: [2], data_offsets: [8, 0] } }, eight), "f.st"), /end before they begin/);
  assertInput(() => decodeSafetensors(handMade({ w: { dtype: "F32", shape: [2] } }, eight), "f.st"), /tensor "w": data_offsets undefined/);
  assertInput(() => decodeSafetensors(handMade({ __metadata__: { step: 3 } }, []), "f.st"), /"__metadata__\.step" is 3, not a string/);
  assertInput(() => decodeSafetensors(handMade([1, 2], []), "f.st"), /header does not start with "\{"/);
  const notJson = Buffer.alloc(16, " ");
  notJson.writeBigUInt64LE(8n, 0);
  notJson.write("{oops", 8);
  assertInput(() => decodeSafetensors(new Uint8Array(notJson), "f.st"), /header is not valid JSON/);
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-st-"));
  await assert.rejects(readSafetensors(path.join(dir, "missing.safetensors")), (err: unknown) => err instanceof InputError && /missing\.safetensors: no such file/.test(err.message));
  writeFileSync(path.join(dir, "text.safetensors"), "this is a text file, not tensors");
  await assert.rejects(readSafetensors(path.join(dir, "text.safetensors")), /text\.safetensors is not a valid safetensors file: the header length \d+ runs past/);
  assert.ok(readFileSync(path.join(dir, "text.safetensors")).length > 0);
});
