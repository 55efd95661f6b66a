import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { gelu, layerNorm } from "../../src/model/layers.js";

before(async () => {
  await selectBackend("wasm");
});

test("gelu is the tanh-form GELU", () => {
  const xs = [-3, -1, -0.2, 0, 0.5, 1, 2.5];
  const values = tf.tidy(() => gelu(tf.tensor1d(xs)).dataSync());
  xs.forEach((x, i) => {
    const expected = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    assert.ok(Math.abs(values[i]! - expected) < 1e-6, `gelu(${x}) = ${values[i]} vs ${expected}`);
  });
  assert.ok(Math.abs(values[5]! - 0.841192) < 1e-5);
});

test("layerNorm normalises the last axis, then applies gain and bias", () => {
  const rows = tf.tidy(() =>
    layerNorm(tf.tensor2d([[1, 2, 3, 6], [-1, -1, 1, 1]]), {
      gain: tf.tensor1d([1, 1, 2, 2]) as unknown as tf.Variable<tf.Rank.R1>,
      bias: tf.tensor1d([0, 0, 0, 1]) as unknown as tf.Variable<tf.Rank.R1>,
    }).arraySync(),
  ) as number[][];
  const row = [1, 2, 3, 6];
  const mean = 3;
  const std = Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / 4 + 1e-5);
  const expected = row.map((v, i) => ((v - mean) / std) * [1, 1, 2, 2][i]! + [0, 0, 0, 1][i]!);
  rows[0]!.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-5));
  rows[1]!.forEach((v, i) => assert.ok(Math.abs(v - [-1, -1, 2, 3][i]!) < 1e-4));
});
