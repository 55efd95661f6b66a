/**
 * Transformer blocks (pre-layer-norm, residual):
 *
 *     x = x + dropout(attention(LN1(x)))
 *     x = x + dropout(feedForward(LN2(x)))        feed-forward width 4 d_model
 *
 * The spiking block uses spiking self-attention and a spiking feed-forward (dense -> LIF rates ->
 * dense); the GPT block of the plain DT uses float attention and a GELU feed-forward.
 */
import { tf } from "../runtime/backend.js";
import { FloatSelfAttention, SpikingSelfAttention, type AttentionContext } from "./attention.js";
import { dense } from "./dense.js";
import { stateTokenRows } from "./embeddings.js";
import { gelu, layerNorm, type Dropout } from "./layers.js";
import type { LifNeuron } from "./lif.js";
import { layerNormParams, linear, type LayerNormParams, type Linear, type ParamStore } from "./params.js";
import { DendriticRouter } from "./routing.js";

export interface BlockContext extends AttentionContext {
  dropout: Dropout;
}

/** The residual stream rows that attention's output is added to (see AttentionContext.stateOnly, lastOnly). */
function residualRows(x: tf.Tensor3D, ctx: BlockContext): tf.Tensor3D {
  if (ctx.stateOnly) return stateTokenRows(x);
  if (!ctx.lastOnly) return x;
  const [batch, length, width] = x.shape;
  return tf.slice(x, [0, length - 1, 0], [batch, 1, width]);
}

export interface Block {
  apply(x: tf.Tensor3D, ctx: BlockContext): tf.Tensor3D;
  /**
   * The block's per-token start, LN1 and the attention's fused Q|K|V projection (spike rates in the
   * spiking block): [B, L, 3d]. Each row depends on its own token only, so the decision path reuses
   * the rows of steps it has already seen.
   */
  project(x: tf.Tensor3D): tf.Tensor3D;
  /** `apply` with `project(x)` given. */
  applyProjected(x: tf.Tensor3D, projected: tf.Tensor3D, ctx: BlockContext): tf.Tensor3D;
  /** Free cached tensors (not the variables, which the model owns). */
  dispose(): void;
}

export class SpikingBlock implements Block {
  readonly norm1: LayerNormParams;
  readonly attention: SpikingSelfAttention;
  readonly norm2: LayerNormParams;
  readonly hidden: Linear;
  readonly output: Linear;

  constructor(
    store: ParamStore,
    name: string,
    private readonly width: number,
    heads: number,
    private readonly lif: LifNeuron,
    routing: boolean,
  ) {
    this.norm1 = layerNormParams(store, `${name}.ln1`, width);
    const router = routing ? new DendriticRouter(store, `${name}.attn.router`, width, heads) : null;
    this.attention = new SpikingSelfAttention(store, `${name}.attn`, width, heads, lif, router);
    this.norm2 = layerNormParams(store, `${name}.ln2`, width);
    this.hidden = linear(store, `${name}.mlp.hidden`, width, 4 * width);
    this.output = linear(store, `${name}.mlp.out`, 4 * width, width);
  }

  dispose(): void {
    this.attention.dispose();
  }

  project(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => this.attention.project(layerNorm(x, this.norm1) as tf.Tensor3D));
  }

  apply(x: tf.Tensor3D, ctx: BlockContext): tf.Tensor3D {
    return tf.tidy(() => this.applyProjected(x, this.project(x), ctx));
  }

  applyProjected(x: tf.Tensor3D, projected: tf.Tensor3D, ctx: BlockContext): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, length] = x.shape;
      const attended = this.attention.attendProjected(projected, ctx);
      const afterAttention = tf.add(residualRows(x, ctx), ctx.dropout.apply(attended, ctx.stateOnly));
      const rates = this.lif.rates(dense(layerNorm(afterAttention, this.norm2), this.hidden.weight, this.hidden.bias));
      const fed = dense(rates, this.output.weight, this.output.bias);
      if (ctx.stats) {
        const spikes = tf.sum(tf.cast(tf.round(tf.mul(rates, this.lif.params.T)), "int32")) as tf.Scalar;
        ctx.stats.addSpikes(ctx.layer, "other", spikes, tf.mul(tf.cast(spikes, "float32"), this.width) as tf.Scalar);
        ctx.stats.addMacs(ctx.layer, batch * length * this.width * 4 * this.width);
      }
      return tf.add(afterAttention, ctx.dropout.apply(fed, ctx.stateOnly)) as tf.Tensor3D;
    });
  }
}

export class GptBlock implements Block {
  readonly norm1: LayerNormParams;
  readonly attention: FloatSelfAttention;
  readonly norm2: LayerNormParams;
  readonly hidden: Linear;
  readonly output: Linear;

  constructor(
    store: ParamStore,
    name: string,
    private readonly width: number,
    heads: number,
  ) {
    this.norm1 = layerNormParams(store, `${name}.ln1`, width);
    this.attention = new FloatSelfAttention(store, `${name}.attn`, width, heads);
    this.norm2 = layerNormParams(store, `${name}.ln2`, width);
    this.hidden = linear(store, `${name}.mlp.hidden`, width, 4 * width);
    this.output = linear(store, `${name}.mlp.out`, 4 * width, width);
  }

  dispose(): void {
    this.attention.dispose();
  }

  project(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => this.attention.project(layerNorm(x, this.norm1) as tf.Tensor3D));
  }

  apply(x: tf.Tensor3D, ctx: BlockContext): tf.Tensor3D {
    return tf.tidy(() => this.applyProjected(x, this.project(x), ctx));
  }

  applyProjected(x: tf.Tensor3D, projected: tf.Tensor3D, ctx: BlockContext): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, length] = x.shape;
      const attended = this.attention.attendProjected(projected, ctx);
      const afterAttention = tf.add(residualRows(x, ctx), ctx.dropout.apply(attended, ctx.stateOnly));
      const hidden = gelu(dense(layerNorm(afterAttention, this.norm2), this.hidden.weight, this.hidden.bias));
      const fed = dense(hidden, this.output.weight, this.output.bias);
      ctx.stats?.addMacs(ctx.layer, batch * length * this.width * 8 * this.width);
      return tf.add(afterAttention, ctx.dropout.apply(fed, ctx.stateOnly)) as tf.Tensor3D;
    });
  }
}
