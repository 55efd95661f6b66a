import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { fastSigmoidGrad, spikeFunction, strictSpikeFunction } from "../../src/model/surrogate.js";

before(async () => {
  await selectBackend("wasm");
});

const U = [-2, -0.3, -0.05, 0, 0.01, 0.1, 0.5, 3];

test("spike forward is the exact Heaviside step 1[u >= 0], strict form 1[u > 0]", () => {
  const u = tf.tensor1d(U);
  assert.deepEqual(Array.from(spikeFunction(10)(u).dataSync()), [0, 0, 0, 1, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(strictSpikeFunction(10)(u).dataSync()), [0, 0, 0, 0, 1, 1, 1, 1]);
  u.dispose();
});

test("spike gradient is the fast-sigmoid 1/(1+|k u|)^2 at sample points", () => {
  for (const k of [10, 2.5]) {
    const u = tf.tensor1d(U);
    const grad = Array.from(tf.grad((x: tf.Tensor) => tf.sum(spikeFunction(k)(x)))(u).dataSync());
    const strictGrad = Array.from(tf.grad((x: tf.Tensor) => tf.sum(strictSpikeFunction(k)(x)))(u).dataSync());
    U.forEach((value, i) => {
      const expected = 1 / (1 + Math.abs(k * value)) ** 2;
      assert.ok(Math.abs(grad[i]! - expected) < 1e-6, `k=${k} u=${value}: ${grad[i]} vs ${expected}`);
      assert.ok(Math.abs(strictGrad[i]! - expected) < 1e-6);
    });
    assert.ok(Math.abs(fastSigmoidGrad(tf.scalar(0.1), 10).dataSync()[0]! - 0.25) < 1e-7);
    u.dispose();
  }
});

test("the upstream gradient is multiplied in (chain rule)", () => {
  const u = tf.tensor1d([0.2, -0.1]);
  const grad = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(spikeFunction(10)(x), tf.tensor1d([3, -2]))))(u).dataSync();
  assert.ok(Math.abs(grad[0]! - 3 / 9) < 1e-6);
  assert.ok(Math.abs(grad[1]! + 2 / 4) < 1e-6);
});
