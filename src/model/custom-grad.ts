/** Typed wrappers of tf.customGrad for ops of one and two tensor inputs. */
import { tf } from "../runtime/backend.js";

export interface CustomGradResult {
  value: tf.Tensor;
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
}

type Args = Array<tf.Tensor | tf.GradSaveFunc>;

export function customOp1(f: (a: tf.Tensor, save: tf.GradSaveFunc) => CustomGradResult): (a: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: Args) => f(args[0] as tf.Tensor, args[1] as tf.GradSaveFunc)) as (a: tf.Tensor) => tf.Tensor;
}

export function customOp2(
  f: (a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => CustomGradResult,
): (a: tf.Tensor, b: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: Args) => f(args[0] as tf.Tensor, args[1] as tf.Tensor, args[2] as tf.GradSaveFunc)) as (
    a: tf.Tensor,
    b: tf.Tensor,
  ) => tf.Tensor;
}

/**
 * Whether a gradient tape is recording (inside tf.grad / variableGrads). Outside one, ops may skip
 * their custom-gradient wrappers and cached values may stand in for differentiable ones.
 */
export function recordingGradients(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}
