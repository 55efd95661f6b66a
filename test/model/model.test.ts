import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { InputError, UsageError } from "../../src/runtime/errors.js";
import { actionLoss, createModel, type ModelConfig, type SequenceModel } from "../../src/model/index.js";
import type { ActionSpace } from "../../src/data/types.js";
import { TokenEmbedding } from "../../src/model/embeddings.js";
import { PositionalSpikeEncoder } from "../../src/model/positional-spikes.js";
import { ParamStore } from "../../src/model/params.js";
import { Rng } from "../../src/runtime/rng.js";
import { CONTINUOUS, DISCRETE, VARIANTS, disposeAll, randomRaw, rawRows, tinyConfig, toInputs, type RawInputs } from "./tiny.js";

before(async () => {
  await selectBackend("wasm");
});

function predictions(model: SequenceModel, raw: RawInputs): number[][][] {
  const inputs = toInputs(raw);
  const out = model.forward(inputs, { training: false });
  const values = out.actions.arraySync() as number[][][];
  out.actions.dispose();
  disposeAll(inputs);
  return values;
}

function lossOf(model: SequenceModel, raw: RawInputs): number {
  const inputs = toInputs(raw);
  const value = tf.tidy(() => actionLoss(model.forward(inputs, { training: false }).actions, inputs, model.config.action_space).dataSync()[0]!);
  disposeAll(inputs);
  return value;
}

const CONFIGS: [string, ModelConfig][] = [
  ...VARIANTS.map((variant): [string, ModelConfig] => [`snn-dt ${variant}`, tinyConfig({ variant })]),
  ["dt", tinyConfig({ kind: "dt" })],
];

test("all four variants and the plain DT build and run, discrete and continuous, with the right output shapes", () => {
  for (const [name, config] of CONFIGS) {
    for (const space of [DISCRETE, CONTINUOUS]) {
      const model = createModel({ ...config, action_space: space }, 1);
      const out = predictions(model, randomRaw(model.config, 3, 2, [0, 2, 3]));
      const width = space.kind === "discrete" ? space.n : space.dim;
      assert.deepEqual([out.length, out[0]!.length, out[0]![0]!.length], [3, 4, width], name);
      for (const action of out.flat()) {
        action.forEach((a, i) => {
          assert.ok(Number.isFinite(a), `${name}: non-finite output`);
          if (space.kind === "continuous") assert.ok(a >= space.low[i]! && a <= space.high[i]!, `${name}: ${a} outside the box`);
        });
      }
      assert.equal(new Set(model.parameterNames).size, model.variables.length, `${name}: names are unique`);
      model.dispose();
    }
  }
});

test("variants have the parts they claim: positional spikes, router, timestep embedding", () => {
  const names = (variant: (typeof VARIANTS)[number]) => {
    const model = createModel(tinyConfig({ variant }), 0);
    const result = model.parameterNames;
    model.dispose();
    return result;
  };
  const has = (list: string[], part: string) => list.some((n) => n.includes(part));
  const baseline = names("baseline");
  const full = names("full");
  assert.ok(has(baseline, "embed.timestep") && !has(baseline, ".pos.") && !has(baseline, "router"));
  assert.ok(!has(full, "embed.timestep") && has(full, "embed.pos.frequency") && has(full, "embed.pos.phase") && has(full, "embed.pos.weight"));
  assert.ok(has(full, "attn.router"));
  assert.ok(has(names("pos-only"), ".pos.") && !has(names("pos-only"), "router"));
  assert.ok(has(names("route-only"), "router") && has(names("route-only"), "embed.timestep"));
});

test("every trainable variable gets a finite, non-zero gradient", () => {
  for (const [name, config] of CONFIGS) {
    for (const space of [DISCRETE, CONTINUOUS]) {
      const model = createModel({ ...config, action_space: space, n_layers: 2 }, 3);
      const inputs = toInputs(randomRaw(model.config, 6, 4, [0, 1, 3]));
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => actionLoss(model.forward(inputs, { training: false }).actions, inputs, space), model.variables);
        model.variables.forEach((variable, i) => {
          const g = grads[variable.name]!;
          const [absMax, sum] = tf.stack([tf.max(tf.abs(g)), tf.sum(g)]).dataSync();
          assert.ok(Number.isFinite(sum!), `${name} ${space.kind}: ${model.parameterNames[i]} gradient is not finite`);
          assert.ok(absMax! > 0, `${name} ${space.kind}: ${model.parameterNames[i]} gradient is zero`);
        });
      });
      disposeAll(inputs);
      model.dispose();
    }
  }
});

/** Directional finite difference of the loss along a random direction of one variable vs the gradient. */
function finiteDifferenceCheck(model: SequenceModel, raw: RawInputs, parameter: string): void {
  const index = model.parameterNames.indexOf(parameter);
  assert.ok(index >= 0, parameter);
  const variable = model.variables[index]!;
  const inputs = toInputs(raw);
  const grad = tf.tidy(() => {
    const { grads } = tf.variableGrads(() => actionLoss(model.forward(inputs, { training: false }).actions, inputs, model.config.action_space), [variable]);
    return tf.keep(grads[variable.name]!);
  });
  const original = variable.clone();
  const direction = tf.randomNormal(variable.shape, 0, 1, "float32", 11);
  const eps = 1e-2;
  variable.assign(tf.tidy(() => tf.add(original, tf.mul(direction, eps))));
  const up = lossOf(model, raw);
  variable.assign(tf.tidy(() => tf.sub(original, tf.mul(direction, eps))));
  const down = lossOf(model, raw);
  variable.assign(original);
  const fd = (up - down) / (2 * eps);
  const analytic = tf.tidy(() => tf.sum(tf.mul(grad, direction)).dataSync()[0]!);
  assert.ok(Math.abs(fd - analytic) <= 2e-3 + 2e-2 * Math.abs(analytic), `${parameter}: finite difference ${fd} vs gradient ${analytic}`);
  tf.dispose([grad, original, direction]);
  disposeAll(inputs);
}

test("finite differences match the gradient on the smooth parts", () => {
  // The plain DT is smooth everywhere; in the spiking model the layers after the last spike are.
  const dt = createModel(tinyConfig({ kind: "dt", action_space: CONTINUOUS }), 5);
  const raw = randomRaw(dt.config, 4, 6, [0, 2]);
  for (const name of ["embed.state.weight", "embed.timestep", "blocks.0.attn.q.weight", "blocks.0.attn.v.weight", "blocks.0.mlp.hidden.weight", "head.weight"]) {
    finiteDifferenceCheck(dt, raw, name);
  }
  dt.dispose();
  const snn = createModel(tinyConfig({ action_space: DISCRETE }), 5);
  for (const name of ["head.weight", "head.bias", "ln_f.weight"]) finiteDifferenceCheck(snn, randomRaw(snn.config, 4, 7, [1]), name);
  snn.dispose();
});

test("causality: changing a later step never changes an earlier prediction", () => {
  for (const [name, config] of CONFIGS) {
    const model = createModel({ ...config, action_space: CONTINUOUS }, 8);
    const raw = randomRaw(model.config, 2, 9);
    const base = predictions(model, raw);
    for (let t = 0; t < raw.context; t++) {
      // Change the action of step t (a_t comes after s_t) and everything of later steps.
      const changed: RawInputs = { ...raw, returnsToGo: [...raw.returnsToGo], states: [...raw.states], actions: [...raw.actions] };
      for (let b = 0; b < raw.batch; b++) {
        for (let s = t; s < raw.context; s++) {
          const row = b * raw.context + s;
          for (let i = 0; i < raw.actionWidth; i++) changed.actions[row * raw.actionWidth + i] = -0.9 + 0.3 * i + 0.1 * s;
          if (s > t) {
            changed.returnsToGo[row] = 5 + s;
            for (let i = 0; i < raw.obsDim; i++) changed.states[row * raw.obsDim + i] = 3 - i - s;
          }
        }
      }
      const after = predictions(model, changed);
      for (let b = 0; b < raw.batch; b++) {
        for (let s = 0; s <= t; s++) assert.deepEqual(after[b]![s], base[b]![s], `${name}: step ${s} changed when steps >= ${t} changed`);
      }
      if (t < raw.context - 1) assert.notDeepEqual(after[0]![raw.context - 1], base[0]![raw.context - 1], `${name}: the change reaches later steps`);
    }
    model.dispose();
  }
});

test("a window's predictions do not depend on the other windows of its batch", () => {
  for (const [name, config] of CONFIGS) {
    const model = createModel({ ...config, n_layers: 2, action_space: CONTINUOUS }, 4);
    const raw = randomRaw(model.config, 4, 9, [0, 3, 1, 2]);
    const together = predictions(model, raw);
    for (let b = 0; b < raw.batch; b++) {
      const alone = predictions(model, rawRows(raw, b, b + 1))[0]!;
      // Batched matrix products may sum in another order than a batch of one: equal to float32 rounding.
      alone.flat().forEach((v, i) => assert.ok(Math.abs(v - together[b]!.flat()[i]!) < 1e-5, `${name}: window ${b} moved by ${Math.abs(v - together[b]!.flat()[i]!)} with its batch`));
    }
    model.dispose();
  }
});

test("padding never changes the predictions of real steps", () => {
  for (const [name, config] of CONFIGS) {
    const model = createModel({ ...config, action_space: DISCRETE }, 10);
    const raw = randomRaw(model.config, 3, 11, [2, 1, 3]);
    const base = predictions(model, raw);
    const noisy: RawInputs = { ...raw, returnsToGo: [...raw.returnsToGo], states: [...raw.states], actions: [...raw.actions] };
    raw.mask.forEach((m, row) => {
      if (m === 1) return;
      noisy.returnsToGo[row] = 7;
      for (let i = 0; i < raw.obsDim; i++) noisy.states[row * raw.obsDim + i] = -4 + i;
      noisy.actions[row] = 2;
    });
    const after = predictions(model, noisy);
    raw.mask.forEach((m, row) => {
      const b = Math.floor(row / raw.context);
      const t = row % raw.context;
      if (m === 1) assert.deepEqual(after[b]![t], base[b]![t], `${name}: real step ${b},${t} changed`);
    });
    model.dispose();
  }
});

test("a timestep >= max_ep_len is an error, never clipped", () => {
  for (const [name, config] of CONFIGS) {
    const model = createModel(config, 0);
    const raw = randomRaw(model.config, 2, 1);
    raw.timesteps[5] = model.config.max_ep_len;
    const inputs = toInputs(raw);
    assert.throws(() => model.forward(inputs, { training: false }), (err: Error) => err instanceof InputError && /max_ep_len/.test(err.message), name);
    disposeAll(inputs);
    raw.timesteps[5] = model.config.max_ep_len - 1;
    assert.doesNotThrow(() => predictions(model, raw));
    model.dispose();
  }
});

test("bad shapes, an unseeded training dropout and plasticity on the plain DT are clear errors", () => {
  const model = createModel(tinyConfig({ dropout: 0.2 }), 0);
  const inputs = toInputs(randomRaw(model.config, 2, 1));
  assert.throws(() => model.forward(inputs, { training: true }), UsageError);
  const seeded = (seed: number) => {
    const out = model.forward(inputs, { training: true, dropoutSeed: seed });
    const values = Array.from(out.actions.dataSync());
    out.actions.dispose();
    return values;
  };
  assert.deepEqual(seeded(4), seeded(4), "equal dropout seeds give equal passes");
  assert.notDeepEqual(seeded(4), seeded(5));
  const wrongStates = { ...inputs, states: tf.zeros([2, 4, 5]) as tf.Tensor3D };
  assert.throws(() => model.forward(wrongStates, { training: false }), /states.*expected \[2, 4, 3\]/);
  wrongStates.states.dispose();
  disposeAll(inputs);
  model.dispose();
  assert.throws(() => createModel(tinyConfig({ kind: "dt", plasticity: { enabled: true, eta_local: 0.05, lambda: 0.95 } }), 0), UsageError);
  assert.throws(() => createModel(tinyConfig({ d_model: 9 }), 0), /multiple of "n_heads"/);
});

test("equal seeds give equal weights; different seeds differ", () => {
  const weights = (seed: number) => {
    const model = createModel(tinyConfig(), seed);
    const values = model.variables.map((v) => Array.from(v.dataSync()));
    model.dispose();
    return values;
  };
  assert.deepEqual(weights(3), weights(3));
  assert.notDeepEqual(weights(3), weights(4));
});

test("no tensor leaks across repeated forward/backward/update steps", () => {
  for (const [name, config] of CONFIGS) {
    const model = createModel({ ...config, dropout: 0.1, plasticity: { enabled: config.kind === "snn-dt", eta_local: 0.05, lambda: 0.95 } }, 0);
    const inputs = toInputs(randomRaw(model.config, 3, 2, [1]));
    const optimizer = tf.train.adam(1e-3);
    const step = (i: number) => {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(
          () => actionLoss(model.forward(inputs, { training: true, dropoutSeed: i }).actions, inputs, model.config.action_space),
          model.variables,
        );
        optimizer.applyGradients(model.variables.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
      });
      model.applyPlasticity([inputs]);
      model.forward(inputs, { training: false, collectStats: true }).actions.dispose();
    };
    step(0);
    const count = tf.memory().numTensors;
    for (let i = 1; i < 4; i++) step(i);
    assert.equal(tf.memory().numTensors, count, `${name}: tensors leaked`);
    optimizer.dispose();
    disposeAll(inputs);
    model.dispose();
  }
});

test("plasticity: the first update is W += eta E with E the modulated Hebbian term; deterministic; off = no-op", () => {
  const run = (enabled: boolean) => {
    const model = createModel(tinyConfig({ plasticity: { enabled, eta_local: 0.05, lambda: 0.9 } }), 2);
    const inputs = toInputs(randomRaw(model.config, 4, 3, [1, 0, 2]));
    const head = model.variables[model.parameterNames.indexOf("head.weight")]!;
    const before = Array.from(head.dataSync());
    model.applyPlasticity([inputs]);
    const after = Array.from(head.dataSync());
    const trace = model.plasticityState ? Array.from(model.plasticityState.dataSync()) : null;
    disposeAll(inputs);
    model.dispose();
    return { before, after, trace };
  };
  const tensorsBefore = tf.memory().numTensors;
  const off = run(false);
  assert.deepEqual(off.after, off.before);
  assert.equal(off.trace, null);
  const on = run(true);
  const again = run(true);
  assert.deepEqual(on.after, again.after);
  assert.ok(on.trace!.some((e) => Math.abs(e) > 1e-4), "the eligibility trace is non-zero");
  on.after.forEach((w, i) => assert.ok(Math.abs(w - on.before[i]! - 0.05 * on.trace![i]!) < 1e-6));
  assert.equal(tf.memory().numTensors, tensorsBefore, "a disposed model, its trace included, keeps no tensor");
});

test("plasticity over micro-batches equals plasticity over the one batch they make, and keeps no tensor", () => {
  const config = tinyConfig({ plasticity: { enabled: true, eta_local: 0.05, lambda: 0.9 } });
  const raw = randomRaw(config, 5, 4, [1, 0, 3, 0, 2]);
  const headAfter = (batches: RawInputs[][]) => {
    const model = createModel(config, 2);
    const head = model.variables[model.parameterNames.indexOf("head.weight")]!;
    batches.forEach((step, i) => {
      const inputs = step.map(toInputs);
      const tensors = tf.memory().numTensors;
      model.applyPlasticity(inputs);
      // The first pass builds the model's cached fused projections; later ones keep nothing.
      if (i > 0) assert.equal(tf.memory().numTensors, tensors, "applyPlasticity keeps no tensor");
      inputs.forEach(disposeAll);
    });
    const values = Array.from(head.dataSync());
    model.dispose();
    return values;
  };
  // Two optimizer steps, so the eligibility trace carries the first into the second (and the second is checked for leaks).
  const whole = headAfter([[raw], [raw]]);
  // Rows 0-1 and 2-4 of the same batch, as two micro-batches.
  const split = headAfter([[rawRows(raw, 0, 2), rawRows(raw, 2, 5)], [rawRows(raw, 0, 2), rawRows(raw, 2, 5)]]);
  const lastOnly = headAfter([[rawRows(raw, 2, 5)], [rawRows(raw, 2, 5)]]);
  whole.forEach((w, i) => assert.ok(Math.abs(w - split[i]!) < 1e-6, `head[${i}]: ${split[i]} vs ${w}`));
  assert.ok(whole.some((w, i) => Math.abs(w - lastOnly[i]!) > 1e-4), "the first micro-batch must matter");
});

test("variables carry the stable names; a second live model gets suffixed tfjs names; dispose frees everything", () => {
  const before = tf.memory().numTensors;
  const first = createModel(tinyConfig(), 0);
  const second = createModel(tinyConfig(), 0);
  assert.deepEqual(first.variables.map((v) => v.name), first.parameterNames);
  assert.ok(first.parameterNames.includes("blocks.0.attn.q.weight"));
  assert.deepEqual(second.parameterNames, first.parameterNames);
  assert.ok(second.variables.every((v, i) => v.name !== first.variables[i]!.name && v.name.startsWith(`${first.parameterNames[i]}#`)));
  first.dispose();
  second.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test("the layer norm of the tokens keeps the size of a scalar return-to-go and a 1-D action, in every model, at initialisation", () => {
  const oneDim: ActionSpace = { kind: "continuous", dim: 1, low: [-2], high: [2] };
  // Timestep embedding (baseline, route-only, dt) or positional spikes (pos-only, full).
  for (const clock of ["timestep embedding", "positional spikes"]) {
    const store = new ParamStore(new Rng(3));
    const time = clock === "timestep embedding" ? { maxEpLen: 50 } : { spikes: new PositionalSpikeEncoder(store, "embed.pos", 8, 2, 50, 5, 10) };
    const embedding = new TokenEmbedding(store, 8, 3, oneDim, time);
    const tokens = (returnToGo: number, action: number) =>
      tf.tidy(() =>
        embedding.apply(
          {
            returnsToGo: tf.tensor3d([[[returnToGo]]]),
            states: tf.tensor3d([[[0.1, -0.2, 0.3]]]),
            actions: tf.tensor3d([[[action]]]),
            timesteps: tf.tensor2d([[7]], undefined, "int32"),
          },
          null,
        ).arraySync()[0]!,
      );
    const distance = (a: number[], b: number[]) => Math.hypot(...a.map((v, i) => v - b[i]!));
    // Same sign, different size: a layer norm of w*G alone would make these identical.
    const [near, far] = [tokens(-0.2, 0.5), tokens(-1.5, 1.8)];
    assert.ok(distance(near[0]!, far[0]!) > 0.1, `return-to-go token (${clock}) ignores |G|`);
    assert.ok(distance(near[2]!, far[2]!) > 0.1, `action token (${clock}) ignores |a|`);
    tf.dispose(store.variables);
  }
});
