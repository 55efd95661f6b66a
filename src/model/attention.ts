/**
 * Causal multi-head attention: the spiking form (Q, K, V are spike rates of LIF neurons) and the
 * float form of the plain Decision Transformer share the masking and the per-head products.
 *
 *     A_h = softmax(Q_h K_h^T / sqrt(d_head) + M),   Y_h = A_h V_h
 *
 * M is 0 where query i may attend key j and -1e9 elsewhere: j <= i (causal) and key j is a real
 * token, except that a token always sees itself. Padding keys therefore get exactly zero weight for
 * real queries, and a padding query (whose earlier keys are all padding) still has one allowed key,
 * so no row is fully masked and no NaN can appear.
 */
import { tf } from "../runtime/backend.js";
import { batchMatMul } from "./batch-matmul.js";
import { recordingGradients } from "./custom-grad.js";
import { batchMatMulFast, dense } from "./dense.js";
import { stateTokenRows } from "./embeddings.js";
import { mergeHeads, qkvHeads, type QueryRows } from "./heads.js";
import type { LifNeuron } from "./lif.js";
import { linear, type Linear, type ParamStore } from "./params.js";
import type { DendriticRouter } from "./routing.js";
import type { StatsCollector } from "./stats.js";

const MASKED = -1e9;

/** The additive attention mask [B, 1, L, L] from the token mask [B, L] (1 = real token). */
export function attentionBias(tokenMask: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, length] = tokenMask.shape;
    const causal = tf.linalg.bandPart(tf.ones([length, length]), -1, 0);
    // mask_j OR (i == j), as mask_j + eye (1 - mask_j): broadcast maximum is ~40x slower than mul/add on WASM.
    const keyMask = tf.reshape(tokenMask, [batch, 1, length]);
    const keyAllowed = tf.add(keyMask, tf.mul(tf.eye(length), tf.sub(1, keyMask)));
    const allowed = tf.mul(causal, keyAllowed);
    return tf.reshape(tf.mul(tf.sub(1, allowed), MASKED), [batch, 1, length, length]);
  });
}

/**
 * Per-head outputs Y_h for queries [B*H, Lq, dh], transposed keys [B*H, dh, L] and values
 * [B*H, L, dh] already split into heads (heads.ts); `bias` is [B, 1, Lq, L].
 */
export function attend(q: tf.Tensor3D, kT: tf.Tensor3D, v: tf.Tensor3D, bias: tf.Tensor4D, heads: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [bh, queries, dh] = q.shape;
    const length = kT.shape[2];
    const batch = bh / heads;
    // Without a tape the custom-gradient wrapper is only overhead.
    const product = recordingGradients() ? batchMatMulFast : batchMatMul;
    const scores = tf.mul(product(q, kT), 1 / Math.sqrt(dh));
    const masked = tf.add(tf.reshape(scores, [batch, heads, queries, length]), bias);
    const weights = tf.reshape(tf.softmax(masked), [bh, queries, length]) as tf.Tensor3D;
    return product(weights, v);
  });
}

/** MACs of the two attention products for B windows of L tokens. */
function attentionMacs(batch: number, length: number, width: number): number {
  return 2 * batch * length * length * width;
}

/**
 * The fused [Q | K | V] projection (one product instead of three). Under a gradient tape it is
 * concatenated from the variables on every call (so gradients reach them); otherwise the
 * concatenation is cached until one of the variables is assigned (a new dataId), which also lets
 * XNNPACK keep its packed weights between decisions.
 */
class FusedProjection {
  private cached: { key: object[]; weight: tf.Tensor2D; bias: tf.Tensor1D } | null = null;

  constructor(private readonly parts: Linear[]) {}

  get(): { weight: tf.Tensor2D; bias: tf.Tensor1D } {
    const concatenate = () => ({
      weight: tf.concat(this.parts.map((p) => p.weight), 1) as tf.Tensor2D,
      bias: tf.concat(this.parts.map((p) => p.bias)) as tf.Tensor1D,
    });
    if (recordingGradients()) return concatenate();
    const key = this.parts.flatMap((p) => [p.weight.dataId, p.bias.dataId]);
    if (!this.cached || key.some((id, i) => id !== this.cached!.key[i])) {
      this.dispose();
      const { weight, bias } = concatenate();
      this.cached = { key, weight: tf.keep(weight), bias: tf.keep(bias) };
    }
    return this.cached;
  }

  dispose(): void {
    if (this.cached) tf.dispose([this.cached.weight, this.cached.bias]);
    this.cached = null;
  }
}

export interface AttentionContext {
  bias: tf.Tensor4D;
  stats: StatsCollector | null;
  layer: number;
  /**
   * Only the LAST token's output is wanted (the final block of a decision): keys and values still
   * come from every token, the query and everything after attention from the last one only.
   */
  lastOnly?: boolean;
  /**
   * Only the STATE tokens' outputs are wanted (the final block of a training pass: nothing else
   * reaches the action head). Keys and values come from every token; queries, and everything after
   * attention, from the state tokens (3k + 1) only, so the output is [B, K, d].
   */
  stateOnly?: boolean;
}

/** The query rows attention computes: all tokens, the state tokens (`stateOnly`) or the last (`lastOnly`). */
function queryRows(length: number, ctx: AttentionContext): QueryRows {
  if (ctx.stateOnly) return { start: 1, stride: 3, count: length / 3 };
  if (ctx.lastOnly) return { start: length - 1, stride: 1, count: 1 };
  return { start: 0, stride: 1, count: length };
}

/** The mask rows of the queries (see queryRows). */
function queryBias(bias: tf.Tensor4D, ctx: AttentionContext): tf.Tensor4D {
  const [batch, , length] = bias.shape;
  if (ctx.stateOnly) return tf.reshape(stateTokenRows(tf.reshape(bias, [batch, length, length])), [batch, 1, length / 3, length]);
  if (!ctx.lastOnly) return bias;
  return tf.slice(bias, [0, 0, length - 1, 0], [batch, 1, 1, length]);
}

/**
 * Spiking self-attention. One projection x -> [Q | K | V] currents drives one population of LIF
 * neurons (one fused op for all three); the spike rates (count / T) enter the attention above.
 * The heads are merged by concatenation and a projection, or by dendritic routing.
 */
export class SpikingSelfAttention {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  /** Output projection: d_model -> d_model after concatenation, or d_head -> d_model after routing. */
  readonly out: Linear;

  constructor(
    store: ParamStore,
    name: string,
    private readonly width: number,
    private readonly heads: number,
    private readonly lif: LifNeuron,
    private readonly router: DendriticRouter | null,
  ) {
    this.q = linear(store, `${name}.q`, width, width);
    this.k = linear(store, `${name}.k`, width, width);
    this.v = linear(store, `${name}.v`, width, width);
    this.out = linear(store, `${name}.out`, router ? width / heads : width, width);
    this.projection = new FusedProjection([this.q, this.k, this.v]);
  }

  private readonly projection: FusedProjection;

  dispose(): void {
    this.projection.dispose();
  }

  /**
   * The per-token part: layer-normed tokens [B, L, d] -> spike rates of the Q|K|V population
   * [B, L, 3d]. Each row depends on its own token only.
   */
  project(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const { weight, bias } = this.projection.get();
      return this.lif.rates(dense(x, weight, bias)) as tf.Tensor3D;
    });
  }

  /** Attention over the rates `project` gave, [B, L, 3d] -> [B, Lq, d]. */
  attendProjected(rates: tf.Tensor3D, ctx: AttentionContext): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, length] = rates.shape;
      const d = this.width;
      const { q, kT, v } = qkvHeads(rates, this.heads, queryRows(length, ctx));
      const concatenated = mergeHeads(attend(q, kT, v, queryBias(ctx.bias, ctx), this.heads), batch, this.heads);
      const queries = concatenated.shape[1];
      const merged = this.router ? this.router.apply(tf.reshape(concatenated, [batch, queries, this.heads, d / this.heads]) as tf.Tensor4D, ctx) : concatenated;
      const output = dense(merged, this.out.weight, this.out.bias) as tf.Tensor3D;
      if (ctx.stats) this.count(rates, ctx.stats, ctx.layer, batch, length);
      return output;
    });
  }

  private count(rates: tf.Tensor, stats: StatsCollector, layer: number, batch: number, length: number): void {
    const d = this.width;
    const T = this.lif.params.T;
    const rows = batch * length;
    stats.addMacs(layer, rows * d * 3 * d + attentionMacs(batch, length, d) + (this.router ? 0 : rows * d * d) + (this.router ? rows * (d / this.heads) * d : 0));
    tf.tidy(() => {
      // Spikes per population [3]. Their only consumers are the attention products, which run on
      // rates and are charged above as MACs: a fan-out charge as well would count them twice. Summed as
      // int32: a float32 sum drops spikes once a population's count passes 2^24.
      const spikes = tf.sum(tf.cast(tf.round(tf.mul(tf.reshape(rates, [rows, 3, d]), T)), "int32"), [0, 2]);
      const none = tf.scalar(0);
      const [sq, sk, sv] = tf.unstack(spikes);
      stats.addSpikes(layer, "q", sq as tf.Scalar, none);
      stats.addSpikes(layer, "k", sk as tf.Scalar, none);
      stats.addSpikes(layer, "v", sv as tf.Scalar, none);
    });
  }
}

/** Standard causal multi-head attention of the plain Decision Transformer. */
export class FloatSelfAttention {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly out: Linear;

  constructor(
    store: ParamStore,
    name: string,
    private readonly width: number,
    private readonly heads: number,
  ) {
    this.q = linear(store, `${name}.q`, width, width);
    this.k = linear(store, `${name}.k`, width, width);
    this.v = linear(store, `${name}.v`, width, width);
    this.out = linear(store, `${name}.out`, width, width);
    this.projection = new FusedProjection([this.q, this.k, this.v]);
  }

  private readonly projection: FusedProjection;

  dispose(): void {
    this.projection.dispose();
  }

  /** The per-token part: layer-normed tokens [B, L, d] -> [q | k | v] rows [B, L, 3d]. */
  project(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const { weight, bias } = this.projection.get();
      return dense(x, weight, bias) as tf.Tensor3D;
    });
  }

  /** Attention over the rows `project` gave, [B, L, 3d] -> [B, Lq, d]. */
  attendProjected(qkv: tf.Tensor3D, ctx: AttentionContext): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, length] = qkv.shape;
      const d = this.width;
      const { q, kT, v } = qkvHeads(qkv, this.heads, queryRows(length, ctx));
      const merged = mergeHeads(attend(q, kT, v, queryBias(ctx.bias, ctx), this.heads), batch, this.heads);
      ctx.stats?.addMacs(ctx.layer, batch * length * d * 4 * d + attentionMacs(batch, length, d));
      return dense(merged, this.out.weight, this.out.bias) as tf.Tensor3D;
    });
  }
}
