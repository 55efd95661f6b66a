/**
 * The plain Decision Transformer: the same tokens, masks and head as the spiking model, with
 * standard GPT blocks (float attention, GELU feed-forward) and a learned timestep embedding.
 */
import { Rng } from "../runtime/rng.js";
import { GptBlock } from "./block.js";
import type { ModelConfig } from "./config.js";
import { TokenEmbedding } from "./embeddings.js";
import { layerNormParams, linear, ParamStore } from "./params.js";
import { TokenSequenceModel } from "./sequence-model.js";

export function createDecisionTransformer(config: ModelConfig, seed: number): TokenSequenceModel {
  const store = new ParamStore(Rng.derive(seed, "init"));
  const d = config.d_model;
  const actionWidth = config.action_space.kind === "discrete" ? config.action_space.n : config.action_space.dim;
  const embedding = new TokenEmbedding(store, d, config.obs_dim, config.action_space, { maxEpLen: config.max_ep_len });
  const blocks = Array.from({ length: config.n_layers }, (_, i) => new GptBlock(store, `blocks.${i}`, d, config.n_heads));
  const finalNorm = layerNormParams(store, "ln_f", d);
  const head = linear(store, "head", d, actionWidth);
  return new TokenSequenceModel(config, store, { embedding, blocks, finalNorm, head, plasticity: null });
}
