/**
 * Spike functions with the fast-sigmoid surrogate gradient.
 *
 * Forward: the exact Heaviside step of u (the membrane minus the threshold), values exactly 0 or 1.
 * Backward: d spike / du is replaced by the fast-sigmoid derivative
 *
 *     sigma'(u) = 1 / (1 + |k u|)^2            (k = surrogate.k, 10 by default)
 *
 * which is 1 at the threshold and decays like 1/(k u)^2 away from it, so gradients reach inputs that
 * did not (or only just) fire.
 */
import { tf } from "../runtime/backend.js";
import { customOp1 } from "./custom-grad.js";

/** The fast-sigmoid surrogate derivative 1/(1+|k u|)^2, elementwise. */
export function fastSigmoidGrad(u: tf.Tensor, k: number): tf.Tensor {
  return tf.tidy(() => tf.reciprocal(tf.square(tf.add(1, tf.mul(k, tf.abs(u))))));
}

function makeSpike(forward: (u: tf.Tensor) => tf.Tensor, k: number): (u: tf.Tensor) => tf.Tensor {
  return customOp1((u, save) => {
    save([u]);
    return {
      value: forward(u),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, fastSigmoidGrad(saved[0]!, k)),
    };
  });
}

/**
 * S = 1[u >= 0] (a neuron fires when V reaches V_th). Computed as 1 - step(-u): on WASM this is
 * ~3x cheaper than cast(greaterEqual(u, 0)) with identical values.
 */
export function spikeFunction(k: number): (u: tf.Tensor) => tf.Tensor {
  return makeSpike((u) => tf.sub(1, tf.step(tf.neg(u))), k);
}

/** S = 1[u > 0], the strict step (positional spikes fire where sin(.) > 0). */
export function strictSpikeFunction(k: number): (u: tf.Tensor) => tf.Tensor {
  return makeSpike((u) => tf.step(u), k);
}
