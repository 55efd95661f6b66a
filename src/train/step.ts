/**
 * One optimizer update of the trainer, as a function of its micro-batches and learning rate, so it
 * can be checked on its own against a second implementation (test/train/torch-training.test.ts):
 *
 *   for each micro-batch i (n_i real steps):  L_i = actionLoss(model(x_i)),  g_i = dL_i/dtheta
 *   g = sum_i n_i g_i / sum_i n_i            (the gradient of the mean over all the steps' real steps)
 *   g <- g * min(1, grad_clip / ||g||)        (global norm over every parameter; grad_clip 0: none)
 *   theta <- AdamW(theta, g, lr);  then the plasticity update on all the micro-batches (if enabled)
 *
 * The step's loss is sum_i n_i L_i / sum_i n_i, the mean over the same real steps.
 */
import { tf } from "../runtime/backend.js";
import type { ActionSpace } from "../data/types.js";
import { actionLoss, type ModelInputs, type SequenceModel } from "../model/index.js";
import type { TrainSection } from "./config.js";
import { AdamW, clipByGlobalNorm, GradientAccumulator, type GradientMap } from "./optimizer.js";

/** The run's AdamW over the model's variables, with train's betas, eps and weight decay. */
export function createOptimizer(model: SequenceModel, train: TrainSection): AdamW {
  return new AdamW(model.variables, { beta1: train.beta1, beta2: train.beta2, eps: train.eps, weightDecay: train.weight_decay });
}

export interface MicroBatch {
  inputs: ModelInputs;
  /** Real (unpadded) steps in `inputs`: the micro-batch's weight. */
  realSteps: number;
  /** Seed of its dropout masks. */
  dropoutSeed: number;
}

export interface StepOutcome {
  /** The mean loss over the step's real steps. */
  loss: number;
  /** The gradient's global norm before clipping (a device scalar, read back only when needed; the caller disposes it). */
  gradNorm: tf.Scalar;
}

/** A micro-batch whose loss is NaN or infinite; no update was applied. */
export class NonFiniteLoss extends Error {
  constructor(
    readonly microBatch: number,
    readonly loss: number,
  ) {
    super(`loss ${loss} in micro-batch ${microBatch}`);
  }
}

export class TrainingStep {
  /** Sums the micro-batches' gradients when a step has more than one. */
  private accumulator: GradientAccumulator | undefined;

  constructor(
    private readonly model: SequenceModel,
    private readonly optimizer: AdamW,
    private readonly actionSpace: ActionSpace,
    /** train.grad_clip */
    private readonly gradClip: number,
  ) {}

  /** Apply one update with learning rate `lr`; throws NonFiniteLoss before updating anything. */
  async apply(microBatches: readonly MicroBatch[], lr: number): Promise<StepOutcome> {
    if (microBatches.length === 0) throw new Error("a training step needs at least one micro-batch");
    for (const { realSteps } of microBatches) {
      if (!Number.isInteger(realSteps) || realSteps <= 0) throw new Error(`a micro-batch's real steps must be a positive integer, got ${realSteps}`);
    }
    let lossTimesSteps = 0;
    let realSteps = 0;
    let gradNorm: tf.Scalar | undefined;
    const accumulator = microBatches.length > 1 ? (this.accumulator ??= new GradientAccumulator(this.model.variables)) : undefined;
    try {
      for (const [i, { inputs, dropoutSeed, realSteps: weight }] of microBatches.entries()) {
        const { value, grads } = tf.variableGrads(
          () => actionLoss(this.model.forward(inputs, { training: true, dropoutSeed }).actions, inputs, this.actionSpace),
          this.model.variables,
        );
        const loss = (await value.data())[0]!;
        value.dispose();
        if (!Number.isFinite(loss)) {
          tf.dispose(Object.values(grads));
          throw new NonFiniteLoss(i, loss);
        }
        lossTimesSteps += loss * weight;
        realSteps += weight;
        if (accumulator) {
          accumulator.add(grads, weight);
          tf.dispose(Object.values(grads));
        } else {
          gradNorm = this.applyClipped(grads, lr);
        }
      }
      if (accumulator) gradNorm = this.applyClipped(accumulator.mean(), lr);
    } finally {
      accumulator?.reset();
    }
    this.model.applyPlasticity(microBatches.map(({ inputs }) => inputs));
    return { loss: lossTimesSteps / realSteps, gradNorm: gradNorm! };
  }

  /** One optimizer update with `grads` clipped to grad_clip; `grads` are freed once clipped. */
  private applyClipped(grads: GradientMap, lr: number): tf.Scalar {
    const clipped = clipByGlobalNorm(grads, this.gradClip);
    tf.dispose(grads instanceof Map ? [...grads.values()] : Object.values(grads));
    this.optimizer.applyGradients(clipped.grads, lr);
    tf.dispose([...clipped.grads.values()]);
    return clipped.norm;
  }

  dispose(): void {
    this.accumulator?.dispose();
  }
}
