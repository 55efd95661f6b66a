/** Tiny models and random window batches shared by the model tests. */
import type { ActionSpace } from "../../src/data/types.js";
import type { WindowBatch } from "../../src/data/windows.js";
import { tf } from "../../src/runtime/backend.js";
import { Rng } from "../../src/runtime/rng.js";
import { DEFAULT_MODEL_CONFIG, type ModelConfig, type ModelInputs } from "../../src/model/index.js";

export const DISCRETE: ActionSpace = { kind: "discrete", n: 3 };
export const CONTINUOUS: ActionSpace = { kind: "continuous", dim: 2, low: [-1, -2], high: [1, 0.5] };

export function tinyConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    ...DEFAULT_MODEL_CONFIG,
    d_model: 8,
    n_heads: 2,
    n_layers: 1,
    context: 4,
    max_ep_len: 50,
    dropout: 0,
    lif: { ...DEFAULT_MODEL_CONFIG.lif, T: 4 },
    obs_dim: 3,
    action_space: DISCRETE,
    ...overrides,
  };
}

/** Plain arrays of a random batch, so tests can edit them before making tensors. */
export interface RawInputs {
  batch: number;
  context: number;
  obsDim: number;
  actionWidth: number;
  returnsToGo: number[];
  states: number[];
  actions: number[];
  timesteps: number[];
  mask: number[];
}

export function randomRaw(config: ModelConfig, batch: number, seed: number, padding: number[] = []): RawInputs {
  const rng = new Rng(seed);
  const k = config.context;
  const space = config.action_space;
  const width = space.kind === "discrete" ? 1 : space.dim;
  const raw: RawInputs = {
    batch,
    context: k,
    obsDim: config.obs_dim,
    actionWidth: width,
    returnsToGo: [],
    states: [],
    actions: [],
    timesteps: [],
    mask: [],
  };
  for (let b = 0; b < batch; b++) {
    const pad = padding[b] ?? 0;
    const start = rng.int(config.max_ep_len - k);
    for (let t = 0; t < k; t++) {
      const real = t >= pad;
      raw.returnsToGo.push(real ? rng.uniformRange(0, 2) : 0);
      for (let i = 0; i < config.obs_dim; i++) raw.states.push(real ? rng.normal() : 0);
      for (let i = 0; i < width; i++) {
        if (!real) raw.actions.push(0);
        else if (space.kind === "discrete") raw.actions.push(rng.int(space.n));
        else raw.actions.push(rng.uniformRange(space.low[i]!, space.high[i]!));
      }
      raw.timesteps.push(real ? start + t - pad : 0);
      raw.mask.push(real ? 1 : 0);
    }
  }
  return raw;
}

/** Windows `from` (inclusive) to `to` (exclusive) of a raw batch. */
export function rawRows(raw: RawInputs, from: number, to: number): RawInputs {
  const k = raw.context;
  const cut = (values: number[], width: number) => values.slice(from * k * width, to * k * width);
  return {
    ...raw,
    batch: to - from,
    returnsToGo: cut(raw.returnsToGo, 1),
    states: cut(raw.states, raw.obsDim),
    actions: cut(raw.actions, raw.actionWidth),
    timesteps: cut(raw.timesteps, 1),
    mask: cut(raw.mask, 1),
  };
}

/** A raw batch as the typed arrays of a WindowBatch. */
export function windowBatch(raw: RawInputs): WindowBatch {
  return {
    size: raw.batch,
    context: raw.context,
    obsDim: raw.obsDim,
    actionWidth: raw.actionWidth,
    returnsToGo: Float32Array.from(raw.returnsToGo),
    states: Float32Array.from(raw.states),
    actions: Float32Array.from(raw.actions),
    timesteps: Int32Array.from(raw.timesteps),
    mask: Float32Array.from(raw.mask),
  };
}

export function toInputs(raw: RawInputs): ModelInputs {
  const { batch: b, context: k } = raw;
  return {
    returnsToGo: tf.tensor3d(raw.returnsToGo, [b, k, 1]),
    states: tf.tensor3d(raw.states, [b, k, raw.obsDim]),
    actions: tf.tensor3d(raw.actions, [b, k, raw.actionWidth]),
    timesteps: tf.tensor2d(raw.timesteps, [b, k], "int32"),
    mask: tf.tensor2d(raw.mask, [b, k]),
  };
}

export function disposeAll(inputs: ModelInputs): void {
  tf.dispose([inputs.returnsToGo, inputs.states, inputs.actions, inputs.timesteps, inputs.mask]);
}

export const VARIANTS = ["baseline", "pos-only", "route-only", "full"] as const;
