/** The action loss by hand: its mean over action dimensions and over real steps only. */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { actionLoss, type ModelInputs } from "../../src/model/index.js";
import type { ActionSpace } from "../../src/data/types.js";

before(async () => {
  await selectBackend("wasm");
});

/** A batch of one window of two steps with these actions and mask (the rest is unused). */
function batch(actions: number[][], mask: number[]): ModelInputs {
  return {
    returnsToGo: tf.zeros([1, 2, 1]) as tf.Tensor3D,
    states: tf.zeros([1, 2, 1]) as tf.Tensor3D,
    actions: tf.tensor3d([actions]),
    timesteps: tf.zeros([1, 2], "int32") as tf.Tensor2D,
    mask: tf.tensor2d([mask]),
  };
}

function loss(output: number[][], inputs: ModelInputs, space: ActionSpace): number {
  const value = tf.tidy(() => actionLoss(tf.tensor3d([output]), inputs, space).dataSync()[0]!);
  tf.dispose(Object.values(inputs));
  return value;
}

test("continuous: the squared error's mean over action dimensions, then over real steps", () => {
  const space: ActionSpace = { kind: "continuous", dim: 2, low: [-5, -5], high: [5, 5] };
  const output = [[1, 2], [3, 4]];
  const actions = [[0, 0], [1, 1]];
  // Steps: (1 + 4) / 2 = 2.5 and (4 + 9) / 2 = 6.5.
  assert.ok(Math.abs(loss(output, batch(actions, [1, 1]), space) - 4.5) < 1e-6);
  assert.ok(Math.abs(loss(output, batch(actions, [0, 1]), space) - 6.5) < 1e-6, "a padded step counts for nothing");
});

test("discrete: the cross entropy of the logits at the action index, over real steps", () => {
  const space: ActionSpace = { kind: "discrete", n: 3 };
  const output = [[0, 0, 0], [Math.log(2), 0, 0]];
  // -log(1/3) and -log(2/4).
  assert.ok(Math.abs(loss(output, batch([[1], [0]], [1, 1]), space) - (Math.log(3) + Math.log(2)) / 2) < 1e-6);
  assert.ok(Math.abs(loss(output, batch([[1], [0]], [1, 0]), space) - Math.log(3)) < 1e-6);
});
