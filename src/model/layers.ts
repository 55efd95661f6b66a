/** Small float layers shared by both models: layer norm, GELU, seeded dropout. */
import { tf } from "../runtime/backend.js";
import { Rng } from "../runtime/rng.js";
import { customOp1, recordingGradients } from "./custom-grad.js";
import { hasKernel, registerFloatKernel, runKernel, runKernelOutputs } from "./kernels.js";
import type { LayerNormParams } from "./params.js";

const LAYER_NORM_EPS = 1e-5;

/** (x - mean) / sqrt(var + eps) * gain + bias over the last axis, from tf ops (backends without the kernel). */
export function layerNormOps(x: tf.Tensor, params: LayerNormParams): tf.Tensor {
  return tf.tidy(() => {
    const centered = tf.sub(x, tf.mean(x, -1, true));
    const variance = tf.mean(tf.square(centered), -1, true);
    return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, LAYER_NORM_EPS))), params.gain), params.bias);
  });
}

const LAYER_NORM = "SnndtLayerNorm";
const LAYER_NORM_GRAD = "SnndtLayerNormGrad";

/**
 * 1 / sqrt(var + eps) of the `w` values from `offset`, given their mean (two-pass variance in
 * float64). Rows are walked by offset with number-returning helpers (no per-row object, no
 * index products in the inner loops).
 */
function rowRstd(x: Float32Array, offset: number, w: number, mean: number): number {
  let squares = 0;
  for (let j = 0; j < w; j++) {
    const d = x[offset + j]! - mean;
    squares += d * d;
  }
  return 1 / Math.sqrt(squares / w + LAYER_NORM_EPS);
}

function rowMean(x: Float32Array, offset: number, w: number): number {
  let sum = 0;
  for (let j = 0; j < w; j++) sum += x[offset + j]!;
  return sum / w;
}

/** y = x_hat gain + bias per row, x_hat = (x - mean) rstd. */
function layerNormBody([x, gain, bias]: Float32Array[], [y]: Float32Array[]): void {
  const w = gain!.length;
  const rows = x!.length / w;
  for (let r = 0; r < rows; r++) {
    const offset = r * w;
    const mean = rowMean(x!, offset, w);
    const rstd = rowRstd(x!, offset, w, mean);
    for (let j = 0; j < w; j++) y![offset + j] = (x![offset + j]! - mean) * rstd * gain![j]! + bias![j]!;
  }
}

/**
 * Per row, with g = dy gain:  dx = rstd (g - mean(g) - x_hat mean(g x_hat));  and over rows
 * dgain = sum dy x_hat, dbias = sum dy. The moments are recomputed from x (one extra pass, no saved state).
 */
function layerNormGradBody([x, gain, dy]: Float32Array[], [dx, dGain, dBias]: Float32Array[]): void {
  const w = gain!.length;
  const rows = x!.length / w;
  const gainSum = new Float64Array(w);
  const biasSum = new Float64Array(w);
  for (let r = 0; r < rows; r++) {
    const offset = r * w;
    const mean = rowMean(x!, offset, w);
    const rstd = rowRstd(x!, offset, w, mean);
    let meanG = 0;
    let meanGx = 0;
    for (let j = 0; j < w; j++) {
      const xHat = (x![offset + j]! - mean) * rstd;
      const d = dy![offset + j]!;
      const g = d * gain![j]!;
      meanG += g;
      meanGx += g * xHat;
      gainSum[j] += d * xHat;
      biasSum[j] += d;
    }
    meanG /= w;
    meanGx /= w;
    for (let j = 0; j < w; j++) dx![offset + j] = rstd * (dy![offset + j]! * gain![j]! - meanG - (x![offset + j]! - mean) * rstd * meanGx);
  }
  dGain!.set(gainSum);
  dBias!.set(biasSum);
}

registerFloatKernel({ name: LAYER_NORM, inputs: ["x", "gain", "bias"], outputShapes: ([x]) => [x!], body: layerNormBody });
registerFloatKernel({
  name: LAYER_NORM_GRAD,
  inputs: ["x", "gain", "dy"],
  outputShapes: ([x, gain]) => [x!, gain!, gain!],
  body: layerNormGradBody,
});

const fusedLayerNorm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, gain, bias, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([x, gain]);
  return {
    value: runKernel(LAYER_NORM, { x, gain, bias }, {}),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      runKernelOutputs(LAYER_NORM_GRAD, { x: saved[0]!, gain: saved[1]!, dy }, {}),
  };
}) as (x: tf.Tensor, gain: tf.Tensor, bias: tf.Tensor) => tf.Tensor;

/**
 * (x - mean) / sqrt(var + eps) * gain + bias over the last axis: one-pass kernels forward and
 * backward on WASM and cpu (fewer, larger steps than ~8 tf ops and their gradients), else `layerNormOps`.
 */
export function layerNorm(x: tf.Tensor, params: LayerNormParams): tf.Tensor {
  if (!hasKernel(LAYER_NORM)) return layerNormOps(x, params);
  if (!recordingGradients()) return runKernel(LAYER_NORM, { x, gain: params.gain, bias: params.bias }, {});
  return fusedLayerNorm(x, params.gain, params.bias);
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
 * Dropout with reproducible masks drawn from the project's Rng: call n of one forward pass draws
 * its mask from Rng.derive(seed, "dropout.n"), so a pass is fixed by its `dropoutSeed`. Each
 * element is kept when its uint32 draw is below (1 - rate) 2^32 and scaled by 1 / (1 - rate):
 *
 *     y = x m,   dx = dy m,   m_i in {0, 1 / (1 - rate)}
 *
 * The mask is filled in JS (one xoshiro128** draw per element; tf.dropout's seeded stream costs
 * ~12 ms per [64, 60, 128] tensor on WASM, this ~1-2 ms) and the gradient reuses it. Inactive
 * (identity) outside training or at rate 0.
 */
export class Dropout {
  private calls = 0;

  constructor(
    private readonly rate: number,
    private readonly seed: number | null,
  ) {}

  /**
   * With `stateTokensOnly`, x [B, K, d] holds only the state tokens (3k + 1) of a [B, 3K, d] token
   * stream: the mask is then those rows of the full stream's mask, so the values equal the
   * full-stream pass's state rows.
   */
  apply(x: tf.Tensor, stateTokensOnly = false): tf.Tensor {
    if (this.seed === null || this.rate === 0) return x;
    this.calls += 1;
    const mask = tf.tensor(dropoutMask(x.shape, this.rate, Rng.derive(this.seed, `dropout.${this.calls}`), stateTokensOnly), x.shape, "float32");
    const masked = customOp1((input, save) => {
      save([mask]);
      return { value: tf.mul(input, mask), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]!) };
    })(x);
    mask.dispose();
    return masked;
  }
}

/** The scaled keep mask of `shape` [..., rows, width] (see Dropout), optionally of the state rows only. */
export function dropoutMask(shape: number[], rate: number, rng: Rng, stateTokensOnly: boolean): Float32Array {
  const width = shape[shape.length - 1]!;
  const rows = shape.reduce((a, b) => a * b, 1) / width;
  const mask = new Float32Array(rows * width);
  const threshold = (1 - rate) * 2 ** 32;
  const scale = 1 / (1 - rate);
  // With stateTokensOnly each row of x is the middle of three stream rows (return, state, action):
  // the draws of the other two are skipped so every kept element sees the full stream's draw.
  const skipped = stateTokensOnly ? width : 0;
  let i = 0;
  for (let row = 0; row < rows; row++) {
    for (let k = 0; k < skipped; k++) rng.nextUint32();
    for (let j = 0; j < width; j++) mask[i++] = rng.nextUint32() < threshold ? scale : 0;
    for (let k = 0; k < skipped; k++) rng.nextUint32();
  }
  return mask;
}
