/**
 * Dendritic routing: instead of concatenating the heads, a small MLP over the per-head outputs sets a
 * gate per head and token, and the block output is the gated sum of the heads:
 *
 *     alpha = sigmoid(W2 relu(W1 [y_1; ...; y_H] + b1) + b2)   in (0, 1)^H
 *     out   = sum_h alpha_h y_h                                 ([B, L, d_head], projected to d_model after)
 */
import { tf } from "../runtime/backend.js";
import { dense } from "./dense.js";
import { linear, type Linear, type ParamStore } from "./params.js";
import type { StatsCollector } from "./stats.js";

export class DendriticRouter {
  readonly hidden: Linear;
  readonly gate: Linear;
  readonly hiddenWidth: number;

  constructor(
    store: ParamStore,
    name: string,
    private readonly width: number,
    heads: number,
  ) {
    this.hiddenWidth = Math.max(8, Math.floor(width / 4));
    this.hidden = linear(store, `${name}.hidden`, width, this.hiddenWidth);
    this.gate = linear(store, `${name}.gate`, this.hiddenWidth, heads);
  }

  /** Gates alpha [B, L, H] for per-head outputs [B, L, H, dh]. */
  gates(perHead: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, length] = perHead.shape;
      const concatenated = tf.reshape(perHead, [batch, length, this.width]);
      const hidden = tf.relu(dense(concatenated, this.hidden.weight, this.hidden.bias));
      return tf.sigmoid(dense(hidden, this.gate.weight, this.gate.bias)) as tf.Tensor3D;
    });
  }

  /** sum_h alpha_h y_h: [B, L, H, dh] -> [B, L, dh]. */
  apply(perHead: tf.Tensor4D, ctx: { stats: StatsCollector | null; layer: number }): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, length, heads, dh] = perHead.shape;
      const alpha = this.gates(perHead);
      ctx.stats?.addMacs(ctx.layer, batch * length * (this.width * this.hiddenWidth + this.hiddenWidth * heads + heads * dh));
      return tf.sum(tf.mul(perHead, tf.expandDims(alpha, 3)), 2) as tf.Tensor3D;
    });
  }
}
