/**
 * The action loss over real (unpadded) steps: mean squared error for continuous actions, cross
 * entropy of the logits for discrete ones, averaged over the steps with mask 1.
 *
 *     continuous: sum_bt m_bt mean_i (a_hat_bti - a_bti)^2 / sum_bt m_bt
 *     discrete:   sum_bt m_bt (-log softmax(z_bt)[a_bt])  / sum_bt m_bt
 */
import { tf } from "../runtime/backend.js";
import type { ActionSpace } from "../data/types.js";
import type { ModelInputs } from "./sequence-model.js";

export function actionLoss(output: tf.Tensor3D, batch: ModelInputs, actionSpace: ActionSpace): tf.Scalar {
  return tf.tidy(() => {
    const mask = batch.mask;
    const perStep =
      actionSpace.kind === "discrete"
        ? tf.neg(tf.sum(tf.mul(tf.oneHot(tf.cast(tf.squeeze(batch.actions, [2]), "int32"), actionSpace.n), tf.logSoftmax(output)), 2))
        : tf.mean(tf.square(tf.sub(output, batch.actions)), 2);
    return tf.div(tf.sum(tf.mul(perStep, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}
