/**
 * The model package: `createModel` builds the Spiking Decision Transformer (kind snn-dt, variants
 * baseline | pos-only | route-only | full) or the plain Decision Transformer (kind dt).
 */
import { tf } from "../runtime/backend.js";
import { InputError } from "../runtime/errors.js";
import type { WindowBatch } from "../data/windows.js";
import { checkModelConfig, type ModelConfig } from "./config.js";
import { createDecisionTransformer } from "./dt.js";
import type { ModelInputs, SequenceModel } from "./sequence-model.js";
import { createSnnDecisionTransformer } from "./snn-dt.js";

export { DEFAULT_CURRENT_SCALE, DEFAULT_MODEL_CONFIG, currentScale, variantParts, type ModelConfig } from "./config.js";
export type { ForwardOptions, ModelInputs, ModelOutput, SequenceModel } from "./sequence-model.js";
export type { ForwardStats, LayerStats, SpikeCounts, SpikeKind } from "./stats.js";
export { SPIKE_KINDS } from "./stats.js";
export { actionLoss } from "./loss.js";
export { LifNeuron, type LifParams } from "./lif.js";
export { matMulFast, batchMatMulFast } from "./dense.js";

/** Build a model with weights initialised from Rng.derive(seed, "init"). */
export function createModel(config: ModelConfig, seed: number): SequenceModel {
  checkModelConfig(config);
  return config.kind === "dt" ? createDecisionTransformer(config, seed) : createSnnDecisionTransformer(config, seed);
}

/** Tensors for a window batch (the caller disposes them). */
export function inputsFromBatch(batch: WindowBatch): ModelInputs {
  const { size, context, obsDim, actionWidth } = batch;
  const check = (name: string, length: number, expected: number) => {
    if (length !== expected) {
      throw new InputError(`window batch field "${name}" has ${length} values, expected ${expected} (B=${size}, K=${context})`);
    }
  };
  check("returnsToGo", batch.returnsToGo.length, size * context);
  check("states", batch.states.length, size * context * obsDim);
  check("actions", batch.actions.length, size * context * actionWidth);
  check("timesteps", batch.timesteps.length, size * context);
  check("mask", batch.mask.length, size * context);
  return {
    returnsToGo: tf.tensor3d(batch.returnsToGo, [size, context, 1]),
    states: tf.tensor3d(batch.states, [size, context, obsDim]),
    actions: tf.tensor3d(batch.actions, [size, context, actionWidth]),
    timesteps: tf.tensor2d(batch.timesteps, [size, context], "int32"),
    mask: tf.tensor2d(batch.mask, [size, context]),
  };
}

/** Dispose the tensors of a ModelInputs. */
export function disposeInputs(inputs: ModelInputs): void {
  tf.dispose([inputs.returnsToGo, inputs.states, inputs.actions, inputs.timesteps, inputs.mask]);
}
