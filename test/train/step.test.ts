/**
 * The trainer's optimizer step (src/train/step.ts) on what the PyTorch cross-check leaves out:
 * dropout (the reference has none), the tensors a step keeps, and a non-finite loss.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { actionLoss, createModel, disposeInputs, type ModelInputs, type SequenceModel } from "../../src/model/index.js";
import { AdamW } from "../../src/train/optimizer.js";
import { NonFiniteLoss, TrainingStep, type MicroBatch } from "../../src/train/step.js";
import { CONTINUOUS, randomRaw, tinyConfig, toInputs } from "../model/tiny.js";

function microBatch(model: SequenceModel, seed: number, padding: number[], dropoutSeed: number): MicroBatch {
  const raw = randomRaw(model.config, 3, seed, padding);
  return { inputs: toInputs(raw), realSteps: raw.mask.reduce((a, b) => a + b, 0), dropoutSeed };
}

before(async () => {
  await selectBackend("wasm");
});

const adamW = (model: SequenceModel) => new AdamW(model.variables, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4 });

function lossOf(model: SequenceModel, { inputs, dropoutSeed }: MicroBatch): number {
  return tf.tidy(() => actionLoss(model.forward(inputs, { training: true, dropoutSeed }).actions, inputs, model.config.action_space).dataSync()[0]!);
}

test("a step trains with dropout, each micro-batch under its own seed, and its loss is their mean over real steps", async () => {
  const model = createModel(tinyConfig({ action_space: CONTINUOUS, dropout: 0.3 }), 0);
  const optimizer = adamW(model);
  const step = new TrainingStep(model, optimizer, CONTINUOUS, 1);
  // The same windows twice, with different dropout seeds and different padding weights.
  const first = microBatch(model, 5, [2], 11);
  const second = microBatch(model, 5, [2], 12);
  const third = microBatch(model, 6, [0, 1, 3], 13);
  const batches = [first, second, third];
  const losses = batches.map((b) => lossOf(model, b));
  const undropped = tf.tidy(() => actionLoss(model.forward(first.inputs, { training: false }).actions, first.inputs, CONTINUOUS).dataSync()[0]!);
  assert.notEqual(losses[0], losses[1], "another dropout seed, another mask");
  assert.notEqual(losses[0], undropped, "dropout is on in training");
  assert.notEqual(first.realSteps, third.realSteps);
  const expected = batches.reduce((sum, b, i) => sum + losses[i]! * b.realSteps, 0) / batches.reduce((n, b) => n + b.realSteps, 0);
  const outcome = await step.apply(batches, 1e-3);
  outcome.gradNorm.dispose();
  assert.ok(Math.abs(outcome.loss - expected) < 1e-6 * expected, `loss ${outcome.loss}, expected ${expected}`);
  batches.forEach(({ inputs }) => disposeInputs(inputs));
  step.dispose();
  optimizer.dispose();
  model.dispose();
});

test("a step keeps no tensor, with one micro-batch or several; a non-finite loss throws before anything changes", async () => {
  const model = createModel(tinyConfig({ dropout: 0.1, plasticity: { enabled: true, eta_local: 0.01, lambda: 0.9 } }), 0);
  const optimizer = adamW(model);
  const step = new TrainingStep(model, optimizer, model.config.action_space, 1);
  const batches = [microBatch(model, 1, [1], 1), microBatch(model, 2, [], 2)];
  const run = async (micro: MicroBatch[]) => (await step.apply(micro, 1e-3)).gradNorm.dispose();
  for (const micro of [batches, batches.slice(0, 1)]) {
    await run(micro); // the first step with several micro-batches makes the accumulator
    const count = tf.memory().numTensors;
    await run(micro);
    await run(micro);
    assert.equal(tf.memory().numTensors, count, `${micro.length} micro-batch(es): tensors leaked`);
  }

  const weights = () => model.variables.map((v) => v.dataSync().slice());
  const trace = () => model.plasticityState!.dataSync().slice();
  const [before, traceBefore, updates, count] = [weights(), trace(), optimizer.step, tf.memory().numTensors];
  const returnsToGo = batches[1]!.inputs.returnsToGo;
  const poisoned: ModelInputs = { ...batches[1]!.inputs, returnsToGo: tf.fill(returnsToGo.shape, NaN) as tf.Tensor3D };
  await assert.rejects(step.apply([batches[0]!, { ...batches[1]!, inputs: poisoned }], 1e-3), (err: unknown) => err instanceof NonFiniteLoss && err.microBatch === 1);
  poisoned.returnsToGo.dispose();
  assert.deepEqual(weights(), before);
  assert.deepEqual(trace(), traceBefore);
  assert.equal(optimizer.step, updates);
  assert.equal(tf.memory().numTensors, count, "the failed step kept tensors");
  await run(batches); // and the accumulator starts the next step empty
  assert.equal(optimizer.step, updates + 1);

  await assert.rejects(step.apply([{ ...batches[0]!, realSteps: 0 }], 1e-3), /real steps must be a positive integer, got 0/);
  batches.forEach(({ inputs }) => disposeInputs(inputs));
  step.dispose();
  optimizer.dispose();
  model.dispose();
});
