import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import "../../src/model/index.js";

before(async () => {
  await selectBackend("wasm");
});

test("on WASM a clone shares the data (no copy) and outlives the original", () => {
  const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength;
  const x = tf.randomNormal([512, 512], 0, 1, "float32", 1);
  const values = x.dataSync().slice();
  const bytes = heap();
  const buffers = tf.memory().numDataBuffers;
  const clones = Array.from({ length: 20 }, () => tf.clone(x));
  assert.equal(tf.memory().numDataBuffers, buffers, "clones made new buffers");
  assert.equal(heap(), bytes, "clones grew the heap");
  x.dispose();
  assert.deepEqual(clones[7]!.dataSync(), values);
  // The data is freed with the last reference.
  tf.dispose(clones);
  assert.equal(tf.memory().numDataBuffers, buffers - 1);
});
