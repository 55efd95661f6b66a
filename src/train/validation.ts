/**
 * Validation on held-out episodes: the masked action loss (the training objective), accuracy of
 * the argmax action for discrete spaces, and the mean firing rate of every spiking block.
 */
import { tf } from "../runtime/backend.js";
import type { ActionSpace } from "../data/types.js";
import { realStepCount, type WindowBatch } from "../data/windows.js";
import { actionLoss, disposeInputs, inputsFromBatch, type SequenceModel } from "../model/index.js";
import { firingRate } from "../model/populations.js";

export interface ValidationResult {
  /**
   * The masked loss over every real (unpadded) step of the validation batches: each batch's masked mean
   * weighted by its real steps, so a batch of mostly padding counts for what it holds.
   */
  loss: number;
  /** Share of real (unpadded) steps whose argmax action equals the dataset's; null for continuous actions. */
  accuracy: number | null;
  /** Spikes per neuron per simulation step, by block ("block0", ...); empty for the plain DT. */
  spikeRates: Record<string, number>;
}

export function validate(model: SequenceModel, batches: WindowBatch[], actionSpace: ActionSpace): ValidationResult {
  let weightedLoss = 0;
  let realSteps = 0;
  let correct = 0;
  const rateSums = new Map<string, number>();
  for (const batch of batches) {
    const inputs = inputsFromBatch(batch);
    const output = model.forward(inputs, { training: false, collectStats: model.config.kind !== "dt" });
    const tokens = batch.size * 3 * batch.context;
    for (const layer of output.stats?.layers ?? []) {
      const name = `block${layer.layer}`;
      rateSums.set(name, (rateSums.get(name) ?? 0) + firingRate(model.config, layer, tokens));
    }
    // One readback per batch: the masked mean loss and, for discrete actions, the hits.
    const [loss, hits] = tf.tidy(() => {
      const values = [actionLoss(output.actions, inputs, actionSpace)];
      if (actionSpace.kind === "discrete") {
        const predicted = output.actions.argMax(-1).toFloat();
        const target = inputs.actions.reshape(predicted.shape).toFloat();
        values.push(predicted.equal(target).toFloat().mul(inputs.mask).sum());
      }
      return Array.from(tf.stack(values).dataSync());
    });
    output.actions.dispose();
    disposeInputs(inputs);
    const real = realStepCount(batch);
    weightedLoss += loss! * real;
    realSteps += real;
    correct += hits ?? 0;
  }
  if (realSteps === 0) throw new Error("validate: the validation batches hold no real step");
  const spikeRates: Record<string, number> = {};
  for (const [name, sum] of rateSums) spikeRates[name] = sum / batches.length;
  return {
    loss: weightedLoss / realSteps,
    accuracy: actionSpace.kind === "discrete" ? correct / realSteps : null,
    spikeRates,
  };
}
