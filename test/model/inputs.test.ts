import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { InputError } from "../../src/runtime/errors.js";
import { allocateBatch, writeWindow, type WindowSpec } from "../../src/data/windows.js";
import { createModel, disposeInputs, inputsFromBatch } from "../../src/model/index.js";
import { CONTINUOUS, tinyConfig } from "./tiny.js";

before(async () => {
  await selectBackend("wasm");
});

const SPEC: WindowSpec = {
  context: 4,
  obsDim: 3,
  actionSpace: CONTINUOUS,
  rtgScale: 10,
  stateStats: { mean: [0, 0, 0], std: [1, 1, 1] },
  maxEpLen: 50,
};

test("inputsFromBatch turns a window batch into model tensors of the right shapes and types", () => {
  const batch = allocateBatch(2, SPEC);
  const episode = {
    observations: Float32Array.from({ length: 6 * 3 }, (_, i) => i / 10),
    actions: Float32Array.from({ length: 6 * 2 }, (_, i) => (i % 2 === 0 ? 0.5 : -1)),
    returnsToGo: [6, 5, 4, 3, 2, 1],
  };
  writeWindow(batch, 0, episode, 1, SPEC); // left-padded: steps 0..1
  writeWindow(batch, 1, episode, 5, SPEC); // steps 2..5
  const inputs = inputsFromBatch(batch);
  assert.deepEqual(inputs.returnsToGo.shape, [2, 4, 1]);
  assert.deepEqual(inputs.states.shape, [2, 4, 3]);
  assert.deepEqual(inputs.actions.shape, [2, 4, 2]);
  assert.equal(inputs.timesteps.dtype, "int32");
  assert.deepEqual(inputs.timesteps.arraySync(), [[0, 0, 0, 1], [2, 3, 4, 5]]);
  assert.deepEqual(inputs.mask.arraySync(), [[0, 0, 1, 1], [1, 1, 1, 1]]);
  const model = createModel(tinyConfig({ action_space: CONTINUOUS }), 0);
  const out = model.forward(inputs, { training: false });
  assert.deepEqual(out.actions.shape, [2, 4, 2]);
  out.actions.dispose();
  model.dispose();
  disposeInputs(inputs);
});

test("inputsFromBatch rejects arrays of the wrong length", () => {
  const batch = allocateBatch(2, SPEC);
  const before = tf.memory().numTensors;
  assert.throws(() => inputsFromBatch({ ...batch, states: new Float32Array(5) }), (err: Error) => err instanceof InputError && /"states" has 5 values, expected 24/.test(err.message));
  assert.equal(tf.memory().numTensors, before);
});

test("inputsFromBatch copies the batch: refilling it leaves earlier tensors as they were, on the cpu and wasm backends", async () => {
  const episode = {
    observations: Float32Array.from({ length: 6 * 3 }, (_, i) => i / 10),
    actions: Float32Array.from({ length: 6 * 2 }, (_, i) => (i % 2 === 0 ? 0.5 : -1)),
    returnsToGo: [6, 5, 4, 3, 2, 1],
  };
  try {
    for (const backend of ["cpu", "wasm"] as const) {
      await selectBackend(backend);
      const batch = allocateBatch(1, SPEC);
      writeWindow(batch, 0, episode, 2, SPEC);
      const inputs = inputsFromBatch(batch);
      const before = [inputs.returnsToGo, inputs.states, inputs.actions, inputs.timesteps, inputs.mask].map((t) => Array.from(t.dataSync()));
      writeWindow(batch, 0, episode, 5, SPEC); // the sampler refilling the buffer for the next micro-batch
      const after = [inputs.returnsToGo, inputs.states, inputs.actions, inputs.timesteps, inputs.mask].map((t) => Array.from(t.dataSync()));
      assert.deepEqual(after, before, backend);
      assert.notDeepEqual(Array.from(batch.states), before[1], "the refill changed the batch");
      disposeInputs(inputs);
    }
  } finally {
    await selectBackend("wasm");
  }
});
