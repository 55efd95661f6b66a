/**
 * Tokens. A window of K steps becomes 3K tokens (G_1, s_1, a_1, ..., G_K, s_K, a_K): linear
 * embeddings of the return-to-go, the state and the action (one-hot for discrete actions), plus a
 * time code added to all three tokens of a step: a learned timestep embedding (DT, baseline,
 * route-only) or the positional spikes' code (pos-only, full), which then also get a learned
 * token-type vector (one for G, s and a); then a layer norm. The token mask repeats the step mask
 * three times.
 *
 * Why the token-type vector: the layer norm divides out a token's scale, so a scalar input embedded
 * as w*G + b reaches the blocks only as its sign while b is small (b starts at 0). The timestep
 * embedding gives the DT's tokens an offset that keeps |G| visible; the spike code is 0 wherever no
 * oscillator fires, so without the token type the return-to-go
 * (and a 1-D continuous action) would be invisible at initialisation and the model learns to ignore
 * the target return.
 */
import { tf } from "../runtime/backend.js";
import type { ActionSpace } from "../data/types.js";
import { dense, embeddingLookup } from "./dense.js";
import { layerNorm } from "./layers.js";
import type { PositionalSpikeEncoder } from "./positional-spikes.js";
import { layerNormParams, linear, type LayerNormParams, type Linear, type ParamStore } from "./params.js";
import type { StatsCollector } from "./stats.js";

export interface TokenInputs {
  returnsToGo: tf.Tensor3D;
  states: tf.Tensor3D;
  actions: tf.Tensor;
  timesteps: tf.Tensor2D;
}

export class TokenEmbedding {
  readonly returnToGo: Linear;
  readonly state: Linear;
  readonly action: Linear;
  readonly timestep: tf.Variable<tf.Rank.R2> | null;
  readonly positional: PositionalSpikeEncoder | null;
  /**
   * [3, d]: offsets of G, s and a tokens, when there is no timestep embedding; initial std
   * sqrt(2 / (1 + d)), that of the Glorot-uniform weight of a scalar input, so w*G and the offset
   * start at the same scale.
   */
  readonly tokenType: tf.Variable<tf.Rank.R2> | null;
  readonly norm: LayerNormParams;
  private readonly actionInputWidth: number;

  constructor(
    store: ParamStore,
    private readonly width: number,
    obsDim: number,
    private readonly actionSpace: ActionSpace,
    /** The time code: rows of a learned timestep embedding (max_ep_len), or positional spikes. */
    time: { maxEpLen: number } | { spikes: PositionalSpikeEncoder },
  ) {
    this.actionInputWidth = actionSpace.kind === "discrete" ? actionSpace.n : actionSpace.dim;
    this.returnToGo = linear(store, "embed.rtg", 1, width);
    this.state = linear(store, "embed.state", obsDim, width);
    this.action = linear(store, "embed.action", this.actionInputWidth, width);
    this.timestep = "maxEpLen" in time ? (store.normal("embed.timestep", [time.maxEpLen, width], 0.02) as tf.Variable<tf.Rank.R2>) : null;
    this.positional = "spikes" in time ? time.spikes : null;
    this.tokenType = this.positional ? (store.normal("embed.token_type", [3, width], Math.sqrt(2 / (1 + width))) as tf.Variable<tf.Rank.R2>) : null;
    this.norm = layerNormParams(store, "embed.ln", width);
  }

  /** Tokens [B, 3K, d]. */
  apply(inputs: TokenInputs, stats: StatsCollector | null): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, context] = inputs.timesteps.shape;
      const actionInput =
        this.actionSpace.kind === "discrete"
          ? tf.oneHot(tf.cast(tf.reshape(inputs.actions, [batch, context]), "int32"), this.actionSpace.n)
          : inputs.actions;
      let rtg = dense(inputs.returnsToGo, this.returnToGo.weight, this.returnToGo.bias);
      let state = dense(inputs.states, this.state.weight, this.state.bias);
      let action = dense(actionInput, this.action.weight, this.action.bias);
      const time = this.timestep ? embeddingLookup(this.timestep, inputs.timesteps) : this.positional?.encode(inputs.timesteps, stats);
      if (time) {
        rtg = tf.add(rtg, time);
        state = tf.add(state, time);
        action = tf.add(action, time);
      }
      if (this.tokenType) {
        const [rtgType, stateType, actionType] = tf.unstack(this.tokenType);
        rtg = tf.add(rtg, rtgType!);
        state = tf.add(state, stateType!);
        action = tf.add(action, actionType!);
      }
      // concat of [B, K, 1, d] pieces: its gradient (SplitV) is cheaper on WASM than stack's (Unpack).
      const pieces = [rtg, state, action].map((token) => tf.reshape(token, [batch, context, 1, this.width]));
      const interleaved = tf.reshape(tf.concat(pieces, 2), [batch, 3 * context, this.width]);
      stats?.addMacs(-1, batch * context * this.width * (1 + inputs.states.shape[2] + this.actionInputWidth));
      return layerNorm(interleaved, this.norm) as tf.Tensor3D;
    });
  }
}

/** The state-token rows (3k + 1) of a [B, 3K, ...] token tensor: [B, K, ...]. */
export function stateTokenRows<T extends tf.Tensor>(x: T): T {
  const [batch, tokens, ...rest] = x.shape;
  const perToken = rest.reduce((a, b) => a * b, 1);
  const steps = tokens! / 3;
  const grouped = tf.reshape(x, [batch!, steps, 3, perToken]);
  return tf.reshape(tf.slice(grouped, [0, 0, 1, 0], [batch!, steps, 1, perToken]), [batch!, steps, ...rest]) as T;
}

/** Token mask [B, 3K] from the step mask [B, K]. */
export function tokenMask(mask: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [batch, context] = mask.shape;
    return tf.reshape(tf.tile(tf.expandDims(mask, 2), [1, 1, 3]), [batch, 3 * context]) as tf.Tensor2D;
  });
}
