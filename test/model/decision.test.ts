import { test, before } from "node:test";
import assert from "node:assert/strict";
import { EpisodeHistory, type WindowBatch } from "../../src/data/windows.js";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { InputError } from "../../src/runtime/errors.js";
import { Rng } from "../../src/runtime/rng.js";
import { createDecisionRunner, createModel, inputsFromBatch, disposeInputs, type ModelConfig } from "../../src/model/index.js";
import { CONTINUOUS, DISCRETE, VARIANTS, randomRaw, tinyConfig, windowBatch } from "./tiny.js";

before(async () => {
  await selectBackend("wasm");
});

/** forward's output for the last step of a batch-1 window. */
function forwardLast(config: ModelConfig, model: ReturnType<typeof createModel>, batch: WindowBatch): Float32Array {
  const inputs = inputsFromBatch(batch);
  const output = model.forward(inputs, { training: false });
  const values = output.actions.dataSync() as Float32Array;
  const width = output.actions.shape[2];
  output.actions.dispose();
  disposeInputs(inputs);
  return values.slice((config.context - 1) * width);
}

const CASES: { name: string; config: ModelConfig }[] = [
  ...VARIANTS.map((variant) => ({ name: `snn-dt ${variant}`, config: tinyConfig({ variant, n_layers: 2, context: 5 }) })),
  { name: "snn-dt full, continuous", config: tinyConfig({ n_layers: 2, context: 5, action_space: CONTINUOUS }) },
  { name: "snn-dt full, one layer", config: tinyConfig({ context: 5 }) },
  { name: "dt", config: tinyConfig({ kind: "dt", n_layers: 2, context: 5 }) },
  { name: "dt, continuous, one layer", config: tinyConfig({ kind: "dt", context: 5, action_space: CONTINUOUS }) },
];

for (const { name, config } of CASES) {
  test(`decide equals forward's last step (${name}), with and without left padding, and leaks nothing`, () => {
    const model = createModel({ ...config, lif: { ...config.lif, current_scale: 2 } }, 3);
    const runner = createDecisionRunner(model);
    for (const [seed, pad] of [[1, 0], [2, 1], [3, 3], [4, 4]] as const) {
      const batch = windowBatch(randomRaw(config, 1, seed, [pad]));
      const expected = forwardLast(config, model, batch);
      // The first decision at a window length may cache that length's causal mask; later ones add nothing.
      runner.decide(batch);
      const before = tf.memory().numTensors;
      const { action, stats } = runner.decide(batch);
      assert.equal(tf.memory().numTensors, before, "tensors leaked");
      assert.equal(stats, undefined);
      assert.equal(action.length, expected.length);
      action.forEach((a, i) => assert.ok(Math.abs(a - expected[i]!) < 1e-4, `pad ${pad}: action[${i}] ${a} vs forward ${expected[i]}`));
    }
    model.dispose();
  });
}

for (const { name, config } of CASES) {
  test(`decisions along an episode reuse the earlier steps' token rows and equal a fresh runner's (${name})`, () => {
    const model = createModel({ ...config, lif: { ...config.lif, current_scale: 2 } }, 8);
    const space = config.action_space;
    const spec = {
      context: config.context,
      obsDim: config.obs_dim,
      actionSpace: space,
      rtgScale: 1,
      stateStats: { mean: new Array<number>(config.obs_dim).fill(0), std: new Array<number>(config.obs_dim).fill(1) },
      maxEpLen: config.max_ep_len,
    };
    const runner = createDecisionRunner(model);
    const history = new EpisodeHistory(spec);
    const rng = new Rng(21);
    const steps = config.context + 4;
    let tensors = 0;
    for (let t = 0; t < steps; t++) {
      history.observe(Array.from({ length: config.obs_dim }, () => rng.normal()), 2 - 0.1 * t);
      const window = history.window();
      const decision = runner.decide(window);
      // Once the window is full (its causal mask cached), deciding keeps no tensor.
      if (t > config.context) assert.equal(tf.memory().numTensors, tensors, `step ${t}: tensors leaked`);
      tensors = tf.memory().numTensors;
      // A new runner has seen nothing, so it computes every token row of this window.
      const fresh = createDecisionRunner(model).decide(window);
      assert.equal(fresh.reusedSteps, 0);
      assert.deepEqual(Array.from(decision.action), Array.from(fresh.action), `step ${t}`);
      // New: step t, and step t - 1, whose action token held the placeholder 0 until now (the actions
      // taken here are never 0). Every other real step of the window is reused.
      assert.equal(decision.reusedSteps, Math.max(0, Math.min(t + 1, config.context) - 2), `step ${t}`);
      history.act(space.kind === "discrete" ? [1 + (t % (space.n - 1))] : space.low.map((low, i) => low + (0.3 + 0.1 * (t % 3)) * (space.high[i]! - low)));
    }
    // Earlier steps seen with other inputs (the last state component, a return-to-go, the last
    // action component) are recomputed.
    const window = history.window();
    runner.decide(window);
    const { obsDim, actionWidth } = window;
    window.states[2 * obsDim - 1] = window.states[2 * obsDim - 1]! + 0.5;
    window.returnsToGo[2] = window.returnsToGo[2]! + 0.25;
    window.actions[4 * actionWidth - 1] = space.kind === "discrete" ? 0 : window.actions[4 * actionWidth - 1]! + 0.1;
    const changed = runner.decide(window);
    assert.equal(changed.reusedSteps, config.context - 3);
    assert.deepEqual(Array.from(changed.action), Array.from(createDecisionRunner(model).decide(window).action));
    model.dispose();
  });
}

test("decide with collectStats returns forward's stats and the same action as without them", () => {
  const config = tinyConfig({ n_layers: 2, context: 5 });
  const model = createModel(config, 4);
  const batch = windowBatch(randomRaw(config, 1, 9, [2]));
  const inputs = inputsFromBatch(batch);
  const output = model.forward(inputs, { training: false, collectStats: true });
  output.actions.dispose();
  disposeInputs(inputs);
  const runner = createDecisionRunner(model);
  runner.decide(batch, { collectStats: true });
  const before = tf.memory().numTensors;
  const decision = runner.decide(batch, { collectStats: true });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  assert.equal(decision.reusedSteps, config.context - 2, "the real steps were seen by the first decision");
  assert.deepEqual(decision.stats, output.stats);
  assert.ok(decision.stats!.totalSpikes > 0);
  // Counting spikes must not change the policy: the action is bit-identical to a decision without stats.
  assert.deepEqual(Array.from(decision.action), Array.from(createDecisionRunner(model).decide(batch).action));
  const expected = forwardLast(config, model, batch);
  decision.action.forEach((a, i) => assert.ok(Math.abs(a - expected[i]!) < 1e-4, `action[${i}] ${a} vs forward ${expected[i]}`));
  model.dispose();
});

test("decide rejects a batch of two, a mask with holes, an all-padding window, a short field and an out-of-range timestep", () => {
  const config = tinyConfig({ context: 4, action_space: DISCRETE });
  const model = createModel(config, 5);
  const runner = createDecisionRunner(model);
  assert.throws(() => runner.decide(windowBatch(randomRaw(config, 2, 1))), (e: unknown) => e instanceof InputError && /exactly 1/.test(e.message));
  const holes = windowBatch(randomRaw(config, 1, 1));
  holes.mask[2] = 0;
  assert.throws(() => runner.decide(holes), (e: unknown) => e instanceof InputError && /mask\[3\] is 1|left-padded/.test(e.message));
  const empty = windowBatch(randomRaw(config, 1, 1, [4]));
  assert.throws(() => runner.decide(empty), (e: unknown) => e instanceof InputError && /no real step/.test(e.message));
  const short = windowBatch(randomRaw(config, 1, 1));
  short.mask = short.mask.subarray(1);
  assert.throws(() => runner.decide(short), (e: unknown) => e instanceof InputError && /"mask" has 3 values, expected 4/.test(e.message));
  const late = windowBatch(randomRaw(config, 1, 1));
  late.timesteps[3] = config.max_ep_len;
  assert.throws(() => runner.decide(late), (e: unknown) => e instanceof InputError && /timestep 50 is outside \[0, 50\)/.test(e.message));
  model.dispose();
});

test("decisions follow weight updates (the fused projection and the runner's token rows are rebuilt after an assign)", () => {
  for (const kind of ["snn-dt", "dt"] as const) {
    const config = tinyConfig({ kind, n_layers: 2, context: 5, lif: { ...tinyConfig().lif, current_scale: 2 } });
    const used = createModel(config, 6);
    const fresh = createModel(config, 6);
    const batch = windowBatch(randomRaw(config, 1, 12, [1]));
    // One runner before and after: its token rows of this window must not outlive the update.
    const runner = createDecisionRunner(used);
    const before = runner.decide(batch).action;
    for (const model of [used, fresh]) {
      const index = model.parameterNames.indexOf("blocks.0.attn.k.weight");
      const variable = model.variables[index]!;
      tf.tidy(() => variable.assign(tf.add(variable, tf.mul(tf.randomNormal(variable.shape, 0, 1, "float32", 3), 0.5))));
    }
    const after = runner.decide(batch).action;
    assert.deepEqual(Array.from(after), Array.from(createDecisionRunner(fresh).decide(batch).action), kind);
    assert.notDeepEqual(Array.from(after), Array.from(before), `${kind}: the update changes the decision`);
    used.dispose();
    fresh.dispose();
  }
});
