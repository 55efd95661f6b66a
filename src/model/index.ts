/**
 * The model package: `createModel` builds the Spiking Decision Transformer (kind snn-dt, variants
 * baseline | pos-only | route-only | full) or the plain Decision Transformer (kind dt).
 */
import { checkModelConfig, type ModelConfig } from "./config.js";
import { createDecisionTransformer } from "./dt.js";
import type { SequenceModel } from "./sequence-model.js";
import { createSnnDecisionTransformer } from "./snn-dt.js";

export { DEFAULT_CURRENT_SCALE, DEFAULT_MODEL_CONFIG, currentScale, modelLabel, variantParts, type ModelConfig } from "./config.js";
export type { ForwardOptions, ModelInputs, ModelOutput, SequenceModel } from "./sequence-model.js";
export type { ForwardStats, LayerStats, SpikeCounts, SpikeKind } from "./stats.js";
export { SPIKE_KINDS } from "./stats.js";
export { actionLoss } from "./loss.js";
export { ELIGIBILITY_STATE_NAME } from "./plasticity.js";
export { LifNeuron, type LifParams } from "./lif.js";
export { matMulFast, batchMatMulFast } from "./dense.js";
export { inputsFromBatch, disposeInputs } from "./inputs.js";
export { createDecisionRunner, type Decision, type DecisionRunner } from "./decision.js";

/** Build a model with weights initialised from Rng.derive(seed, "init"). */
export function createModel(config: ModelConfig, seed: number): SequenceModel {
  checkModelConfig(config);
  return config.kind === "dt" ? createDecisionTransformer(config, seed) : createSnnDecisionTransformer(config, seed);
}

