/**
 * snndt's models against a second implementation: docs/reference/snndt_torch.py (PyTorch, autograd)
 * evaluated checkpoints that snndt trained (test/fixtures/torch-reference/, made by its make.py) on a
 * batch of windows, and recorded the outputs and the gradient of every parameter. snndt must give
 * the same numbers through each of its paths: the training forward (the final block on the state
 * tokens only), the full forward that counts spikes, the batch-1 decision along sliding windows
 * (reusing the steps it has seen), and the gradients of its fused kernels (LIF, layer norm, the
 * attention copies), on the WASM backend (SIMD kernels) and the cpu backend (their JS forms).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { largest, relativeError } from "../helpers/compare.js";
import { FIXTURES } from "../helpers/paths.js";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { readSafetensors, type TensorEntry } from "../../src/train/safetensors.js";
import { loadPolicy } from "../../src/eval/policy.js";
import { fixtureInputs, fixtureTensor } from "../helpers/reference-fixtures.js";
import type { WindowBatch } from "../../src/data/windows.js";

const MODELS = ["cartpole-full", "pendulum-baseline", "cartpole-dt"];

const entry = (tensors: Map<string, TensorEntry>, name: string): TensorEntry => fixtureTensor(tensors, "expected.safetensors", name);

for (const [name, backend] of MODELS.flatMap((model) => (["wasm", "cpu"] as const).map((backend) => [model, backend] as const))) {
  test(`${name} on ${backend}: outputs and gradients equal the PyTorch reference's`, async () => {
    await selectBackend(backend);
    const dir = path.join(FIXTURES, "torch-reference", name);
    const expected = await readSafetensors(path.join(dir, "expected.safetensors"));
    const tensors = expected.tensors;
    // A spiking model's inputs keep every membrane (and oscillator) clear of its threshold, where
    // float32 rounding in another order could flip a spike.
    const margin = expected.metadata["smallest_margin"];
    assert.equal(margin === undefined, name.endsWith("-dt"));
    if (margin !== undefined) assert.ok(Number(margin) >= 1e-5, `smallest margin ${margin}`);
    const policy = await loadPolicy(dir);
    const { model, runner } = policy;
    try {
      const inputs = fixtureInputs(tensors, "expected.safetensors", "input.");
      const output = entry(tensors, "output");
      const [batch, context, width] = output.shape as [number, number, number];

      const trained = model.forward(inputs, { training: false });
      assert.ok(relativeError(trained.actions.dataSync(), output.data as Float32Array) < 1e-5, "training forward");
      const counted = model.forward(inputs, { training: false, collectStats: true });
      assert.ok(relativeError(counted.actions.dataSync(), output.data as Float32Array) < 1e-5, "forward with statistics");
      tf.dispose([trained.actions, counted.actions]);

      // The batch-1 decision of each window, in order: the last state token's output. Windows 1-3
      // slide along one episode, so the decision path reuses the rows of the steps it has seen.
      for (let b = 0; b < batch; b++) {
        const rows = (key: string, perStep: number) => (entry(tensors, key).data as Float32Array).slice(b * context * perStep, (b + 1) * context * perStep);
        const obsDim = entry(tensors, "input.states").shape[2]!;
        const actionWidth = entry(tensors, "input.actions").shape[2]!;
        const window: WindowBatch = {
          size: 1,
          context,
          obsDim,
          actionWidth,
          returnsToGo: rows("input.returns_to_go", 1),
          states: rows("input.states", obsDim),
          actions: rows("input.actions", actionWidth),
          timesteps: (entry(tensors, "input.timesteps").data as Int32Array).slice(b * context, (b + 1) * context),
          mask: rows("input.mask", 1),
        };
        const last = (output.data as Float32Array).slice(((b + 1) * context - 1) * width, (b + 1) * context * width);
        const decision = runner.decide(window);
        assert.ok(relativeError(decision.action, last) < 1e-5, `decision of window ${b}`);
        if (b === 2 || b === 3) assert.equal(decision.reusedSteps, context - 1, `window ${b} reuses the steps it shares with the one before`);
      }

      // d sum(output * cotangent) / d parameter, for every parameter.
      const cotangent = tf.tensor(entry(tensors, "cotangent").data as Float32Array, entry(tensors, "cotangent").shape);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.forward(inputs, { training: false }).actions, cotangent)) as tf.Scalar, model.variables);
      const expectedGrad = (parameter: string) => entry(tensors, `grad.${parameter}`).data as Float32Array;
      const floor = 1e-3 * Math.max(...model.parameterNames.map((parameter) => largest(expectedGrad(parameter))));
      model.variables.forEach((variable, i) => {
        const parameter = model.parameterNames[i]!;
        // The floor: a gradient that is zero in exact arithmetic (a float DT's key bias, which shifts
        // every score of a query alike) is rounding noise on both sides.
        const error = relativeError(grads[variable.name]!.dataSync(), expectedGrad(parameter), floor);
        assert.ok(error < 1e-4, `gradient of ${parameter}: relative error ${error}`);
      });
      assert.equal(model.variables.length, [...tensors.keys()].filter((key) => key.startsWith("grad.")).length, "every parameter of the reference is one of snndt's");
      tf.dispose([value, cotangent, ...Object.values(grads), ...Object.values(inputs)]);
    } finally {
      model.dispose();
    }
  });
}
