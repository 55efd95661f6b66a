/**
 * The public model interface and the token pipeline both models share: embeddings -> blocks ->
 * final layer norm -> the action head on the hidden state of each state token s_t. The spiking
 * model (snn-dt.ts) and the plain DT (dt.ts) differ only in their blocks and position information,
 * so comparisons run on identical data and code paths.
 */
import { tf } from "../runtime/backend.js";
import { InputError, UsageError } from "../runtime/errors.js";
import { attentionBias } from "./attention.js";
import type { Block } from "./block.js";
import type { ModelConfig } from "./config.js";
import { dense } from "./dense.js";
import { stateTokenRows, tokenMask, type TokenEmbedding } from "./embeddings.js";
import { Dropout, layerNorm } from "./layers.js";
import type { LayerNormParams, Linear, ParamStore } from "./params.js";
import type { ThreeFactorPlasticity } from "./plasticity.js";
import { StatsCollector, type ForwardStats } from "./stats.js";

/** One batch of windows as tensors. */
export interface ModelInputs {
  /** [B, K, 1], divided by rtg_scale. */
  returnsToGo: tf.Tensor3D;
  /** [B, K, obs_dim], normalised. */
  states: tf.Tensor3D;
  /** [B, K, 1] action indices (as float) for discrete spaces, [B, K, dim] values for continuous. */
  actions: tf.Tensor;
  /** [B, K] int32 step index in the episode; must be < max_ep_len. */
  timesteps: tf.Tensor2D;
  /** [B, K], 1 for real steps, 0 for left padding. */
  mask: tf.Tensor2D;
}

export interface ForwardOptions {
  /** Dropout on (needs `dropoutSeed` when dropout > 0). */
  training: boolean;
  /** Seed of this pass's dropout masks (e.g. derived from the run seed and the step). */
  dropoutSeed?: number;
  /** Count spikes and operations (reads a few numbers back at the end of the pass). */
  collectStats?: boolean;
}

export interface ModelOutput {
  /** Continuous: actions in the box [B, K, dim]; discrete: logits [B, K, n]. */
  actions: tf.Tensor3D;
  stats?: ForwardStats;
}

export interface SequenceModel {
  readonly config: ModelConfig;
  /**
   * Every trainable variable in a fixed order. A variable's tfjs name is its stable name
   * ("blocks.0.attn.q.weight") unless another live model holds that name, then "name#<n>";
   * `parameterNames` always has the stable names, which key checkpoint files.
   */
  readonly variables: tf.Variable[];
  /** The stable name of each variable, same order: "blocks.0.attn.q.weight", ... */
  readonly parameterNames: string[];
  forward(inputs: ModelInputs, options: ForwardOptions): ModelOutput;
  /**
   * Three-factor plasticity step on the action head, to call after `optimizer.applyGradients` with
   * the batch just trained on: every micro-batch of the step, taken together as one batch (see
   * plasticity.ts for exactly what it computes). No-op when disabled.
   */
  applyPlasticity(microBatches: ModelInputs[]): void;
  /** The plasticity eligibility trace (non-trainable state to checkpoint), or null when disabled. */
  readonly plasticityState: tf.Variable | null;
  dispose(): void;
}

export interface ModelParts {
  embedding: TokenEmbedding;
  blocks: Block[];
  finalNorm: LayerNormParams;
  head: Linear;
  plasticity: ThreeFactorPlasticity | null;
}

export class TokenSequenceModel implements SequenceModel {
  readonly variables: tf.Variable[];
  readonly parameterNames: string[];
  readonly plasticityState: tf.Variable | null;
  private readonly actionLow: tf.Tensor1D | null;
  private readonly actionRange: tf.Tensor1D | null;

  constructor(
    readonly config: ModelConfig,
    store: ParamStore,
    private readonly parts: ModelParts,
  ) {
    this.variables = store.variables;
    this.parameterNames = store.names;
    this.plasticityState = parts.plasticity?.eligibility ?? null;
    const space = config.action_space;
    this.actionLow = space.kind === "continuous" ? tf.tensor1d(space.low) : null;
    this.actionRange = space.kind === "continuous" ? tf.tensor1d(space.high.map((high, i) => high - space.low[i]!)) : null;
  }

  forward(inputs: ModelInputs, options: ForwardOptions): ModelOutput {
    this.checkInputs(inputs);
    let dropoutSeed: number | null = null;
    if (options.training && this.config.dropout > 0) {
      if (options.dropoutSeed === undefined) {
        throw new UsageError(`a training forward pass with dropout ${this.config.dropout} needs a dropoutSeed (runs must be reproducible)`);
      }
      dropoutSeed = options.dropoutSeed;
    }
    const [batch, context] = inputs.timesteps.shape;
    const stats = options.collectStats ? new StatsCollector(batch, 3 * context, this.parts.blocks.length) : null;
    const actions = tf.tidy(() => {
      const hidden = this.stateHidden(inputs, new Dropout(this.config.dropout, dropoutSeed), stats);
      return this.actionsFrom(hidden, stats);
    });
    const output: ModelOutput = { actions };
    if (stats) output.stats = stats.finish(this.config.kind);
    return output;
  }

  applyPlasticity(microBatches: ModelInputs[]): void {
    const plasticity = this.parts.plasticity;
    if (!plasticity || microBatches.length === 0) return;
    microBatches.forEach((inputs) => this.checkInputs(inputs));
    tf.tidy(() => {
      // The head's inputs of every micro-batch, each from its own inference pass whose intermediates are
      // freed before the next (peak memory: one micro-batch's pass), then one update over all steps.
      const pre = tf.concat(
        microBatches.map((inputs) =>
          tf.tidy(() => {
            const [batch, context] = inputs.timesteps.shape;
            return tf.reshape(this.stateHidden(inputs, new Dropout(0, null), null), [batch * context, this.config.d_model]);
          }),
        ),
      ) as tf.Tensor2D;
      const post = tf.tanh(dense(pre, this.parts.head.weight, this.parts.head.bias)) as tf.Tensor2D;
      const flat = (pick: (inputs: ModelInputs) => tf.Tensor) => tf.concat(microBatches.map((inputs) => tf.reshape(pick(inputs), [-1]))) as tf.Tensor1D;
      plasticity.update(this.parts.head.weight, pre, post, flat((inputs) => inputs.returnsToGo), flat((inputs) => inputs.mask));
    });
  }

  /**
   * The per-token work of a decision for the steps of `inputs` (batch 1; the steps need not be
   * consecutive): the tokens' embeddings [1, 3K, d] and the first block's projection of them
   * [1, 3K, 3d], concatenated to [1, 3K, 4d]. Every row depends on its own token alone (type,
   * timestep, value), so a decision reuses the rows of steps it has already seen.
   */
  tokenRows(inputs: ModelInputs): tf.Tensor3D {
    return tf.tidy(() => {
      const tokens = this.parts.embedding.apply(inputs, null);
      return tf.concat([tokens, this.parts.blocks[0]!.project(tokens)], 2) as tf.Tensor3D;
    });
  }

  /**
   * The action output [width] of the LAST state token of one window of real steps, given the
   * `tokenRows` of its tokens up to that state token (3K - 1 rows: the last step's action token is
   * causally invisible to s_K and is left out), split into `tokens` [1, 3K - 1, d] and `projected`
   * [1, 3K - 1, 3d]. The final block computes its query, residual and feed-forward for that token
   * alone. No dropout, no statistics. Equal to `forward(...).actions[0, K-1]` up to float rounding
   * (decision.ts tests it).
   */
  lastStateAction(tokens: tf.Tensor3D, projected: tf.Tensor3D): tf.Tensor1D {
    return tf.tidy(() => {
      const length = tokens.shape[1];
      const d = this.config.d_model;
      const bias = this.causalBias(length);
      const dropout = new Dropout(0, null);
      const last = this.parts.blocks.length - 1;
      let x = tokens;
      this.parts.blocks.forEach((block, layer) => {
        const ctx = { bias, stats: null, layer, dropout, lastOnly: layer === last };
        x = layer === 0 ? block.applyProjected(x, projected, ctx) : block.apply(x, ctx);
      });
      const hidden = tf.reshape(layerNorm(x, this.parts.finalNorm), [1, 1, d]) as tf.Tensor3D;
      return tf.reshape(this.actionsFrom(hidden, null), [-1]) as tf.Tensor1D;
    });
  }

  /** attentionBias of `tokens` real tokens (pure causal), cached per length for decisions. */
  private causalBias(tokens: number): tf.Tensor4D {
    let bias = this.causalBiases.get(tokens);
    if (!bias) {
      bias = tf.keep(tf.tidy(() => attentionBias(tf.ones([1, tokens]) as tf.Tensor2D)));
      this.causalBiases.set(tokens, bias);
    }
    return bias;
  }

  private readonly causalBiases = new Map<number, tf.Tensor4D>();

  dispose(): void {
    tf.dispose([...this.causalBiases.values()]);
    this.causalBiases.clear();
    for (const v of this.variables) v.dispose();
    for (const block of this.parts.blocks) block.dispose();
    this.parts.plasticity?.dispose();
    this.actionLow?.dispose();
    this.actionRange?.dispose();
  }

  /** Final hidden states of the state tokens, [B, K, d]. */
  private stateHidden(inputs: ModelInputs, dropout: Dropout, stats: StatsCollector | null): tf.Tensor3D {
    return tf.tidy(() => {
      let x = dropout.apply(this.parts.embedding.apply(inputs, stats)) as tf.Tensor3D;
      const bias = attentionBias(tokenMask(inputs.mask));
      // Only the state tokens reach the action head, so the final block computes its queries,
      // residual and feed-forward for them alone (a third of its rows; loss and gradients are
      // unchanged). Statistics count every token, so with them the final block runs in full.
      const stateOnly = stats === null;
      const last = this.parts.blocks.length - 1;
      this.parts.blocks.forEach((block, layer) => {
        x = block.apply(x, { bias, stats, layer, dropout, stateOnly: stateOnly && layer === last });
      });
      const normed = layerNorm(x, this.parts.finalNorm) as tf.Tensor3D;
      return stateOnly ? normed : stateTokenRows(normed);
    });
  }

  private actionsFrom(hidden: tf.Tensor3D, stats: StatsCollector | null): tf.Tensor3D {
    const [batch, context, d] = hidden.shape;
    const z = dense(hidden, this.parts.head.weight, this.parts.head.bias) as tf.Tensor3D;
    stats?.addMacs(-1, batch * context * d * z.shape[2]);
    if (!this.actionLow || !this.actionRange) return z;
    // low + (tanh(z) + 1) / 2 * (high - low): tanh bounded, scaled to the action box; (tanh(z) + 1) / 2
    // is computed as the equal sigmoid(2 z) (Tanh is a slow scalar loop on WASM).
    return tf.add(this.actionLow, tf.mul(tf.sigmoid(tf.mul(z, 2)), this.actionRange)) as tf.Tensor3D;
  }

  private checkInputs(inputs: ModelInputs): void {
    const c = this.config;
    const [batch, context] = inputs.timesteps.shape;
    const width = c.action_space.kind === "discrete" ? 1 : c.action_space.dim;
    const expect = (name: string, tensor: tf.Tensor, shape: number[]) => {
      if (tensor.shape.length !== shape.length || tensor.shape.some((n, i) => n !== shape[i])) {
        throw new InputError(`model input "${name}" has shape [${tensor.shape.join(", ")}], expected [${shape.join(", ")}]`);
      }
    };
    if (context < 1 || context > c.context) {
      throw new InputError(`model input windows have ${context} steps; the model takes 1 to ${c.context} (model.context)`);
    }
    expect("returnsToGo", inputs.returnsToGo, [batch, context, 1]);
    expect("states", inputs.states, [batch, context, c.obs_dim]);
    expect("actions", inputs.actions, [batch, context, width]);
    expect("mask", inputs.mask, [batch, context]);
    if (inputs.timesteps.dtype !== "int32") throw new InputError(`model input "timesteps" must be int32, found ${inputs.timesteps.dtype}`);
    // One tiny readback: a timestep outside the embedding must be an error, never clipped.
    const [low, high] = tf.tidy(() => tf.stack([tf.min(inputs.timesteps), tf.max(inputs.timesteps)]).dataSync());
    if (low! < 0 || high! >= c.max_ep_len) {
      throw new InputError(
        `timestep ${low! < 0 ? low : high} is outside [0, ${c.max_ep_len}): model.max_ep_len must exceed every timestep ` +
          `(raise model.max_ep_len to at least the longest episode; timesteps are never clipped)`,
      );
    }
  }
}
