import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { gelu, layerNorm, layerNormOps } from "../../src/model/layers.js";

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

test("the fused layer norm equals the tf-op form in value and in the gradients of x, gain and bias (wasm and cpu)", async () => {
  const run = (norm: typeof layerNorm) =>
    tf.tidy(() => {
      const x = tf.randomNormal([6, 5, 16], 0.3, 2, "float32", 1);
      const gain = tf.randomNormal([16], 1, 0.3, "float32", 2);
      const bias = tf.randomNormal([16], 0, 0.3, "float32", 3);
      const w = tf.randomNormal([6, 5, 16], 0, 1, "float32", 4);
      const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(norm(a, { gain: g, bias: b } as unknown as Parameters<typeof layerNorm>[1]), w));
      const value = norm(x, { gain, bias } as unknown as Parameters<typeof layerNorm>[1]).dataSync();
      const grads = tf.grads(f)([x, gain, bias]).map((g) => g.dataSync());
      return [value, ...grads];
    });
  const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    assert.ok(worst < 1e-4, `${what}: largest difference ${worst}`);
  };
  const reference = run(layerNormOps);
  for (const backend of ["wasm", "cpu"] as const) {
    await selectBackend(backend);
    try {
      const fused = run(layerNorm);
      ["value", "dx", "dgain", "dbias"].forEach((what, i) => close(fused[i]!, reference[i]!, `${backend} ${what}`));
    } finally {
      await selectBackend("wasm");
    }
  }
});
