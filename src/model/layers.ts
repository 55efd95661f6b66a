/** Small float layers shared by both models: layer norm, GELU, seeded dropout. */
import { tf } from "../runtime/backend.js";
import type { LayerNormParams } from "./params.js";

const LAYER_NORM_EPS = 1e-5;

/** (x - mean) / sqrt(var + eps) * gain + bias over the last axis. */
export function layerNorm(x: tf.Tensor, params: LayerNormParams): tf.Tensor {
  return tf.tidy(() => {
    const centered = tf.sub(x, tf.mean(x, -1, true));
    const variance = tf.mean(tf.square(centered), -1, true);
    return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, LAYER_NORM_EPS))), params.gain), params.bias);
  });
}

/**
 * GELU, tanh form: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed as the equal
 * x sigmoid(2u) (0.5 (1 + tanh(u)) = sigmoid(2u)): on WASM Tanh is a scalar loop ~17x slower than
 * the vectorised Sigmoid, and the form needs fewer ops.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    // x * x * x rather than pow(x, 3): Pow and its gradient are ~10x slower on WASM.
    const twiceInner = tf.mul(2 * Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(tf.mul(x, x), x))));
    return tf.mul(x, tf.sigmoid(twiceInner));
  });
}

/**
 * Dropout with reproducible masks: every call in one forward pass draws from seed + call index, so a
 * forward pass is fixed by its `dropoutSeed`. Inactive (identity) outside training or at rate 0.
 */
export class Dropout {
  private calls = 0;

  constructor(
    private readonly rate: number,
    private readonly seed: number | null,
  ) {}

  apply(x: tf.Tensor): tf.Tensor {
    if (this.seed === null || this.rate === 0) return x;
    this.calls += 1;
    return tf.dropout(x, this.rate, undefined, this.seed * 1009 + this.calls);
  }
}
