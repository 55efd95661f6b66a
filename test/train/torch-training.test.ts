/**
 * snndt's training step against a second implementation: docs/reference/snndt_torch.py continued
 * each checkpoint of test/fixtures/torch-reference/ (made by its make.py) for four updates with
 * torch.optim.AdamW and torch's gradient clipping, taking each update's two micro-batches as one
 * batch, and recorded the learning rates, losses, gradient norms and the weights, moments and
 * plasticity trace after them. snndt's TrainingStep (what the trainer runs each step), resumed from
 * the same checkpoint with its optimizer state, must give the same, on the WASM and cpu backends:
 * the schedule, the loss over real steps, the micro-batches' weighting by real steps, the global
 * norm and clipping, AdamW's bias correction at the resumed step and its decoupled weight decay on
 * matrices only, and (cartpole-full) the three-factor plasticity update.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { largest, relativeError } from "../helpers/compare.js";
import { FIXTURES } from "../helpers/paths.js";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { readSafetensors, type TensorEntry } from "../../src/train/safetensors.js";
import { loadCheckpoint, restoreOptimizer, restoreVariables } from "../../src/train/checkpoint.js";
import type { ResolvedConfig } from "../../src/train/config.js";
import { learningRate, scheduleFromConfig } from "../../src/train/schedule.js";
import { createOptimizer, TrainingStep, type MicroBatch } from "../../src/train/step.js";
import { modelConfigOf } from "../../src/train/trainer.js";
import { createModel } from "../../src/model/index.js";
import { fixtureInputs, fixtureTensor } from "../helpers/reference-fixtures.js";

const MODELS = ["cartpole-full", "pendulum-baseline", "cartpole-dt"];

/**
 * The plain DT's key biases: b_k adds q . b_k to every score of a query alike, which the softmax
 * ignores, so their gradient is zero in exact arithmetic (rounding noise on both sides).
 */
const UNMOVED_BY_THE_LOSS = /^blocks\.\d+\.attn\.k\.bias$/;

interface ReferenceStep {
  lr: number;
  loss: number;
  grad_norm: number;
}

const difference = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a, (value, i) => value - b[i]!);

for (const [name, backend] of MODELS.flatMap((model) => (["wasm", "cpu"] as const).map((backend) => [model, backend] as const))) {
  test(`${name} on ${backend}: four training updates from the checkpoint equal the PyTorch reference's`, async () => {
    await selectBackend(backend);
    const dir = path.join(FIXTURES, "torch-reference", name);
    const fixture = await readSafetensors(path.join(dir, "training.safetensors"));
    const tensors = fixture.tensors;
    const entry = (key: string): TensorEntry => fixtureTensor(tensors, "training.safetensors", key);
    const margin = fixture.metadata["smallest_margin"];
    if (margin !== undefined) assert.ok(Number(margin) >= 1e-5, `smallest margin ${margin}`);
    const config = JSON.parse(fixture.metadata["config"]!) as ResolvedConfig;
    const steps = JSON.parse(fixture.metadata["steps"]!) as ReferenceStep[];
    assert.equal(config.model.plasticity.enabled, name === "cartpole-full", "the full model trains with plasticity");

    const loaded = await loadCheckpoint(dir);
    const { normalisation } = loaded.state;
    const model = createModel(modelConfigOf(config, normalisation), config.seed);
    const optimizer = createOptimizer(model, config.train);
    const trainingStep = new TrainingStep(model, optimizer, normalisation.actionSpace, config.train.grad_clip);
    try {
      restoreVariables(model, loaded.weights, dir);
      restoreOptimizer(model, optimizer, loaded.optimizer);
      const first = Number(fixture.metadata["first_step"]);
      assert.equal(optimizer.step, first, "the optimizer resumes at the checkpoint's update count");
      const before = new Map(model.parameterNames.map((parameter, i) => [parameter, model.variables[i]!.dataSync().slice()]));
      const schedule = scheduleFromConfig(config.train);
      let unequalWeights = false;

      for (const [s, reference] of steps.entries()) {
        const lr = learningRate(first + s, schedule);
        assert.ok(Math.abs(lr - reference.lr) <= 1e-12 * reference.lr, `update ${s}: learning rate ${lr}, the reference's ${reference.lr}`);
        const microBatches: MicroBatch[] = Array.from({ length: config.train.grad_accum }, (_, i) => {
          const prefix = `step${s}.micro${i}.`;
          const inputs = fixtureInputs(tensors, "training.safetensors", prefix);
          const realSteps = (entry(`${prefix}mask`).data as Float32Array).reduce((sum, m) => sum + m, 0);
          return { inputs, realSteps, dropoutSeed: 0 };
        });
        unequalWeights ||= microBatches[0]!.realSteps !== microBatches[1]!.realSteps;
        const outcome = await trainingStep.apply(microBatches, lr);
        const gradNorm = (await outcome.gradNorm.data())[0]!;
        outcome.gradNorm.dispose();
        microBatches.forEach(({ inputs }) => tf.dispose(Object.values(inputs)));
        assert.ok(Math.abs(outcome.loss - reference.loss) <= 1e-5 * reference.loss, `update ${s}: loss ${outcome.loss}, the reference's ${reference.loss}`);
        assert.ok(Math.abs(gradNorm - reference.grad_norm) <= 1e-5 * reference.grad_norm, `update ${s}: gradient norm ${gradNorm}, the reference's ${reference.grad_norm}`);
      }
      assert.ok(unequalWeights, "some update's micro-batches hold different numbers of real steps");
      const clipped = steps.map((step) => step.grad_norm > config.train.grad_clip);
      assert.ok(clipped.includes(true) && clipped.includes(false), "grad_clip clips some updates and not others");
      assert.ok(first < config.train.warmup_steps && first + steps.length > config.train.warmup_steps + 1, "the updates cross from warm-up into the cosine");

      // What the four updates moved each weight by, against what the reference's moved it by.
      const state = await optimizer.getState();
      const moves = model.variables.map((variable, i) => difference(variable.dataSync(), before.get(model.parameterNames[i]!)!));
      const largestMove = Math.max(...moves.map(largest));
      model.variables.forEach((variable, i) => {
        const parameter = model.parameterNames[i]!;
        const moved = moves[i]!;
        const expectedMove = difference(entry(`after.${parameter}`).data as Float32Array, before.get(parameter)!);
        if (config.model.kind === "dt" && UNMOVED_BY_THE_LOSS.test(parameter)) {
          // Its gradient is rounding noise, which Adam scales up differently on each side: it must
          // only stay noise-sized.
          for (const move of [moved, expectedMove]) assert.ok(largest(move) < 0.05 * largestMove, `${parameter} moved by ${largest(move)}`);
          return;
        }
        const error = relativeError(moved, expectedMove);
        assert.ok(error < 1e-4, `${parameter} moved by ${largest(moved)}, off the reference's move by ${error} of its size`);
        const moments = state.moments.get(variable.name)!;
        for (const [which, values] of [["exp_avg", moments.m], ["exp_avg_sq", moments.v]] as const) {
          const momentError = relativeError(values, entry(`${which}/${parameter}`).data as Float32Array);
          assert.ok(momentError < 1e-4, `${which} of ${parameter}: relative error ${momentError}`);
        }
      });
      assert.equal(state.step, first + steps.length);
      const trace = model.plasticityState;
      assert.equal(trace !== null, tensors.has("head.eligibility"), "a plasticity trace on both sides or neither");
      if (trace) {
        const error = relativeError(trace.dataSync(), entry("head.eligibility").data as Float32Array);
        assert.ok(error < 1e-5, `plasticity trace: relative error ${error}`);
      }
    } finally {
      trainingStep.dispose();
      optimizer.dispose();
      model.dispose();
    }
  });
}
