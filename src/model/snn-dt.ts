/**
 * The Spiking Decision Transformer: spiking blocks (LIF attention and feed-forward), with the
 * variant's switches: phase-shifted positional spikes (pos-only, full) instead of the learned
 * timestep embedding (baseline, route-only), dendritic routing (route-only, full) instead of head
 * concatenation, and optional three-factor plasticity on the action head.
 */
import { Rng } from "../runtime/rng.js";
import { SpikingBlock } from "./block.js";
import { currentScale, variantParts, type ModelConfig } from "./config.js";
import { TokenEmbedding } from "./embeddings.js";
import { LifNeuron } from "./lif.js";
import { layerNormParams, linear, ParamStore } from "./params.js";
import { ThreeFactorPlasticity } from "./plasticity.js";
import { PositionalSpikeEncoder } from "./positional-spikes.js";
import { TokenSequenceModel } from "./sequence-model.js";

export function createSnnDecisionTransformer(config: ModelConfig, seed: number): TokenSequenceModel {
  const store = new ParamStore(Rng.derive(seed, "init"));
  const parts = variantParts(config);
  const d = config.d_model;
  const actionWidth = config.action_space.kind === "discrete" ? config.action_space.n : config.action_space.dim;
  const lif = new LifNeuron({ ...config.lif, current_scale: currentScale(config.lif), k: config.surrogate.k });
  const time = parts.positionalSpikes
    ? { spikes: new PositionalSpikeEncoder(store, "embed.pos", d, config.n_heads, config.max_ep_len, config.context, config.surrogate.k) }
    : { maxEpLen: config.max_ep_len };
  const embedding = new TokenEmbedding(store, d, config.obs_dim, config.action_space, time);
  const blocks = Array.from({ length: config.n_layers }, (_, i) => new SpikingBlock(store, `blocks.${i}`, d, config.n_heads, lif, parts.routing));
  const finalNorm = layerNormParams(store, "ln_f", d);
  const head = linear(store, "head", d, actionWidth);
  const plasticity = config.plasticity.enabled
    ? new ThreeFactorPlasticity(d, actionWidth, config.plasticity.eta_local, config.plasticity.lambda)
    : null;
  return new TokenSequenceModel(config, store, { embedding, blocks, finalNorm, head, plasticity });
}
