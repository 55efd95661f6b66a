import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { actionLoss, createModel, type ModelConfig } from "../../src/model/index.js";
import { CONTINUOUS, DISCRETE, disposeAll, randomRaw, tinyConfig, toInputs } from "./tiny.js";

before(async () => {
  await selectBackend("wasm");
});

const MAX_STEPS = 400;

/** Train on one fixed batch with Adam; returns the first loss and the step at which it fell 10x (or -1). */
function overfit(config: ModelConfig): { first: number; last: number; steps: number } {
  const model = createModel(config, 1);
  const raw = randomRaw(config, 8, 2, [0, 1, 2, 3]);
  // Targets as a fixed function of the state, so the data are consistent (and learnable) per step.
  for (let row = 0; row < raw.batch * raw.context; row++) {
    const s = raw.states.slice(row * raw.obsDim, (row + 1) * raw.obsDim);
    if (raw.mask[row] === 0) continue;
    if (config.action_space.kind === "discrete") raw.actions[row] = (s[0]! > 0 ? 1 : 0) + (s[1]! > 0 ? 1 : 0);
    else {
      raw.actions[2 * row] = 0.8 * Math.tanh(s[0]! - s[2]!);
      raw.actions[2 * row + 1] = -0.75 + 1.0 * Math.tanh(s[1]!);
    }
  }
  const inputs = toInputs(raw);
  const optimizer = tf.train.adam(1e-2);
  let first = NaN;
  let last = NaN;
  let steps = -1;
  for (let step = 0; step < MAX_STEPS; step++) {
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () => actionLoss(model.forward(inputs, { training: false }).actions, inputs, config.action_space),
        model.variables,
      );
      optimizer.applyGradients(model.variables.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
      return value.dataSync()[0]!;
    });
    if (step === 0) first = loss;
    last = loss;
    if (loss <= first / 10) {
      steps = step;
      break;
    }
  }
  optimizer.dispose();
  disposeAll(inputs);
  model.dispose();
  return { first, last, steps };
}

const CASES: [string, Partial<ModelConfig>][] = [
  ["snn-dt full, discrete", { action_space: DISCRETE }],
  ["snn-dt full, continuous", { action_space: CONTINUOUS }],
  ["snn-dt baseline, discrete", { variant: "baseline", action_space: DISCRETE }],
  ["dt, discrete", { kind: "dt", action_space: DISCRETE }],
  ["dt, continuous", { kind: "dt", action_space: CONTINUOUS }],
];

for (const [name, overrides] of CASES) {
  test(`a tiny model overfits a tiny dataset (loss falls 10x): ${name}`, () => {
    const result = overfit(tinyConfig({ d_model: 16, n_heads: 2, n_layers: 1, ...overrides }));
    assert.ok(result.steps >= 0, `${name}: loss went from ${result.first} to ${result.last} in ${MAX_STEPS} steps`);
  });
}
