/**
 * Sizes of the spiking populations of one SNN-DT block, for firing rates: a rate is spikes divided
 * by the neuron-steps that could have spiked (neurons x simulation steps x tokens).
 *
 * Per token and block: the Q, K and V projections each drive d_model LIF neurons and the
 * feed-forward hidden layer 4*d_model, each simulated for T steps. The phase-shifted positional
 * oscillators (pos-only, full: one per head, at most one spike per step, shared by the step's 3
 * tokens) feed the token embedding; their spikes are counted with block 0, whose input they drive.
 */
import type { ModelConfig } from "./config.js";
import { variantParts } from "./config.js";
import type { LayerStats } from "./stats.js";
import { SPIKE_KINDS } from "./stats.js";

/** Neuron-steps per token of block `layer`; 0 for the plain DT, which has no spiking neurons. */
export function neuronStepsPerToken(config: ModelConfig, layer: number): number {
  if (config.kind === "dt") return 0;
  const lifNeurons = 3 * config.d_model + 4 * config.d_model;
  const positional = layer === 0 && variantParts(config).positionalSpikes ? config.n_heads / 3 : 0;
  return lifNeurons * config.lif.T + positional;
}

/** Spikes per neuron per simulation step of one block in one forward pass over `tokens` tokens. */
export function firingRate(config: ModelConfig, layer: LayerStats, tokens: number): number {
  const possible = neuronStepsPerToken(config, layer.layer) * tokens;
  if (possible === 0) return 0;
  const spikes = SPIKE_KINDS.reduce((sum, kind) => sum + layer.spikes[kind], 0);
  return spikes / possible;
}
