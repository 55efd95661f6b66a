/**
 * Three-factor plasticity on the action head W [d_model, A] (optional, off by default).
 *
 * After each optimizer step the trainer calls `applyPlasticity` with the step's batch (all its
 * micro-batches under grad_accum). The model then runs an inference forward pass (no dropout, weights
 * as just updated by the optimizer) on that batch and, over the N real steps n of the batch, takes
 *
 *     pre_n  = the final hidden state of the state token s_n (the head's input)      [d]
 *     post_n = tanh(W^T pre_n + b), the head's bounded response                       [A]
 *     delta_n = (G_n - mean G) / (std G + 1e-6)   batch-normalised return-to-go of step n
 *
 *     E  <- lambda E + (1/N) sum_n delta_n pre_n (x) post_n        (eligibility, kept across steps)
 *     W  <- W + eta_local E
 *
 * The modulator enters per step inside the batch average: a batch-normalised delta averages to 0,
 * so factoring it out of the sum would cancel the update. Everything is computed from the batch and
 * the weights, so the update is deterministic.
 */
import { tf } from "../runtime/backend.js";
import { zerosVariable } from "./params.js";

/** The eligibility trace's key in checkpoints (its tfjs variable is unnamed, so tfjs numbers it). */
export const ELIGIBILITY_STATE_NAME = "head.eligibility";

export class ThreeFactorPlasticity {
  /** The eligibility trace E [d_model, A]; state, not a trainable variable. */
  readonly eligibility: tf.Variable<tf.Rank.R2>;

  constructor(
    width: number,
    actionWidth: number,
    private readonly etaLocal: number,
    private readonly lambda: number,
  ) {
    this.eligibility = zerosVariable([width, actionWidth]) as tf.Variable<tf.Rank.R2>;
  }

  /**
   * @param pre head inputs [N, d]; @param post head responses [N, A]; @param returnsToGo [N];
   * @param mask [N] (1 = real step). Updates `weight` in place.
   */
  update(weight: tf.Variable<tf.Rank.R2>, pre: tf.Tensor2D, post: tf.Tensor2D, returnsToGo: tf.Tensor1D, mask: tf.Tensor1D): void {
    tf.tidy(() => {
      const count = tf.maximum(tf.sum(mask), 1);
      const mean = tf.div(tf.sum(tf.mul(returnsToGo, mask)), count);
      const centered = tf.mul(tf.sub(returnsToGo, mean), mask);
      const std = tf.sqrt(tf.div(tf.sum(tf.square(centered)), count));
      const delta = tf.div(centered, tf.add(std, 1e-6));
      const hebbian = tf.div(tf.matMul(tf.transpose(tf.mul(pre, tf.expandDims(delta, 1))), post), count);
      this.eligibility.assign(tf.add(tf.mul(this.eligibility, this.lambda), hebbian) as tf.Tensor2D);
      weight.assign(tf.add(weight, tf.mul(this.eligibility, this.etaLocal)) as tf.Tensor2D);
    });
  }

  dispose(): void {
    this.eligibility.dispose();
  }
}
