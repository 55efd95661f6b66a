import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { Rng } from "../../src/runtime/rng.js";
import { actionLoss, createModel, type ModelConfig } from "../../src/model/index.js";
import { Dropout, dropoutMask } from "../../src/model/layers.js";
import { mergeHeads, mergeHeadsOps, qkvHeads, qkvHeadsOps } from "../../src/model/heads.js";
import { CONTINUOUS, disposeAll, randomRaw, tinyConfig, toInputs } from "./tiny.js";

before(async () => {
  await selectBackend("wasm");
});

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

const TWO_LAYERS: [string, ModelConfig][] = [
  ["dt", tinyConfig({ kind: "dt", n_layers: 2, dropout: 0.2 })],
  ["dt continuous", tinyConfig({ kind: "dt", n_layers: 2, dropout: 0.2, action_space: CONTINUOUS })],
  ["snn-dt full", tinyConfig({ variant: "full", n_layers: 2, dropout: 0.2 })],
  ["snn-dt baseline", tinyConfig({ variant: "baseline", n_layers: 2, dropout: 0.2 })],
];

for (const [name, config] of TWO_LAYERS) {
  test(`${name}: the final block on state tokens only gives the full pass's actions, loss and gradients (dropout on)`, () => {
    const model = createModel(config, 3);
    const inputs = toInputs(randomRaw(config, 3, 4, [2, 0, 1]));
    // collectStats counts every token, so it runs the final block on all tokens: the reference.
    const run = (collectStats: boolean) =>
      tf.tidy(() => {
        let actions: number[] = [];
        const { value, grads } = tf.variableGrads(() => {
          const out = model.forward(inputs, { training: true, dropoutSeed: 11, collectStats });
          actions = Array.from(out.actions.dataSync());
          return actionLoss(out.actions, inputs, config.action_space);
        }, model.variables);
        return { actions, loss: value.dataSync()[0]!, grads: model.variables.map((v) => grads[v.name]!.dataSync()) };
      });
    const trimmed = run(false);
    const full = run(true);
    assert.ok(maxDiff(trimmed.actions, full.actions) < 1e-5, "actions");
    assert.ok(Math.abs(trimmed.loss - full.loss) < 1e-5, `loss ${trimmed.loss} vs ${full.loss}`);
    trimmed.grads.forEach((g, i) => assert.ok(maxDiff(g, full.grads[i]!) < 1e-5, `gradient of ${model.parameterNames[i]}`));
    disposeAll(inputs);
    model.dispose();
  });
}

test("dropout masks: kept share near 1 - rate, scaled by 1 / (1 - rate), fixed by the Rng, state rows equal the full stream's", () => {
  const shape = [4, 30, 16];
  const mask = dropoutMask(shape, 0.25, Rng.derive(7, "dropout.1"), false);
  const kept = mask.filter((m) => m !== 0);
  assert.ok(Math.abs(kept.length / mask.length - 0.75) < 0.03, `kept share ${kept.length / mask.length}`);
  assert.ok(kept.every((m) => m === Math.fround(1 / 0.75)));
  assert.deepEqual(dropoutMask(shape, 0.25, Rng.derive(7, "dropout.1"), false), mask);
  assert.notDeepEqual(dropoutMask(shape, 0.25, Rng.derive(8, "dropout.1"), false), mask);
  const stateRows = dropoutMask([4, 10, 16], 0.25, Rng.derive(7, "dropout.1"), true);
  for (let b = 0; b < 4; b++) {
    for (let k = 0; k < 10; k++) {
      const full = mask.subarray((b * 30 + 3 * k + 1) * 16, (b * 30 + 3 * k + 2) * 16);
      assert.deepEqual(stateRows.subarray((b * 10 + k) * 16, (b * 10 + k + 1) * 16), full, `batch ${b} step ${k}`);
    }
  }
});

test("Dropout: y = x m and dx = dy m with the mask of Rng.derive(seed, 'dropout.n'); inactive without a seed", () => {
  tf.tidy(() => {
    const x = tf.randomNormal([3, 6, 5], 0, 1, "float32", 3);
    const dy = tf.randomNormal([3, 6, 5], 0, 1, "float32", 4);
    const mask = tf.tensor(dropoutMask(x.shape, 0.3, Rng.derive(9, "dropout.1"), false), x.shape);
    const y = new Dropout(0.3, 9).apply(x);
    assert.deepEqual(Array.from(y.dataSync()), Array.from(tf.mul(x, mask).dataSync()));
    const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(new Dropout(0.3, 9).apply(input), dy)))(x);
    assert.deepEqual(Array.from(dx.dataSync()), Array.from(tf.mul(dy, mask).dataSync()));
    assert.equal(new Dropout(0.3, null).apply(x), x);
    assert.equal(new Dropout(0, 9).apply(x), x);
  });
});

test("qkvHeads and mergeHeads (copy kernels) equal their tf-op forms in value and gradient, for every query-row choice", () => {
  const [batch, length, d, heads] = [2, 9, 8, 2];
  tf.tidy(() => {
    const x = tf.randomNormal([batch, length, 3 * d], 0, 1, "float32", 31) as tf.Tensor3D;
    for (const rows of [
      { start: 0, stride: 1, count: length },
      { start: 1, stride: 3, count: length / 3 },
      { start: length - 1, stride: 1, count: 1 },
    ]) {
      const fast = qkvHeads(x, heads, rows);
      const ops = qkvHeadsOps(x, heads, rows);
      for (const part of ["q", "kT", "v"] as const) {
        assert.deepEqual(fast[part].shape, ops[part].shape, `${part} shape`);
        assert.deepEqual(Array.from(fast[part].dataSync()), Array.from(ops[part].dataSync()), `${part} values (rows ${JSON.stringify(rows)})`);
      }
      const weights = ["q", "kT", "v"].map((part, i) => tf.randomNormal(ops[part as "q"].shape, 0, 1, "float32", 40 + i));
      const loss = (split: typeof qkvHeads) => (input: tf.Tensor) => {
        const parts = split(input as tf.Tensor3D, heads, rows);
        return tf.addN([tf.sum(tf.mul(parts.q, weights[0]!)), tf.sum(tf.mul(parts.kT, weights[1]!)), tf.sum(tf.mul(parts.v, weights[2]!))]);
      };
      assert.deepEqual(Array.from(tf.grad(loss(qkvHeads))(x).dataSync()), Array.from(tf.grad(loss(qkvHeadsOps))(x).dataSync()), "gradient");
      const y = tf.randomNormal([batch * heads, rows.count, d / heads], 0, 1, "float32", 50) as tf.Tensor3D;
      assert.deepEqual(Array.from(mergeHeads(y, batch, heads).dataSync()), Array.from(mergeHeadsOps(y, batch, heads).dataSync()));
      const r = tf.randomNormal([batch, rows.count, d], 0, 1, "float32", 51);
      const mergeLoss = (merge: typeof mergeHeads) => (input: tf.Tensor) => tf.sum(tf.mul(merge(input as tf.Tensor3D, batch, heads), r));
      assert.deepEqual(Array.from(tf.grad(mergeLoss(mergeHeads))(y).dataSync()), Array.from(tf.grad(mergeLoss(mergeHeadsOps))(y).dataSync()));
    }
  });
});
