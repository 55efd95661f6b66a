/**
 * Validation on held-out episodes: the masked action loss (the training objective), accuracy of
 * the argmax action for discrete spaces, and the mean firing rate of every spiking block.
 */
import { tf } from "../runtime/backend.js";
import type { ActionSpace } from "../data/types.js";
import type { WindowBatch } from "../data/windows.js";
import { actionLoss, disposeInputs, inputsFromBatch, type SequenceModel } from "../model/index.js";
import { firingRate } from "../model/populations.js";

export interface ValidationResult {
  /** Mean over the validation batches of the masked loss. */
  loss: number;
  /** Share of real (unpadded) steps whose argmax action equals the dataset's; null for continuous actions. */
  accuracy: number | null;
  /** Spikes per neuron per simulation step, by block ("block0", ...); empty for the plain DT. */
  spikeRates: Record<string, number>;
}

export function validate(model: SequenceModel, batches: WindowBatch[], actionSpace: ActionSpace): ValidationResult {
  let lossSum = 0;
  let correct = 0;
  let counted = 0;
  const rateSums = new Map<string, number>();
  for (const batch of batches) {
    const inputs = inputsFromBatch(batch);
    const output = model.forward(inputs, { training: false, collectStats: model.config.kind !== "dt" });
    const tokens = batch.size * 3 * batch.context;
    for (const layer of output.stats?.layers ?? []) {
      const name = `block${layer.layer}`;
      rateSums.set(name, (rateSums.get(name) ?? 0) + firingRate(model.config, layer, tokens));
    }
    // One readback per batch: the loss and, for discrete actions, the hits and the real steps.
    const [loss, hits, real] = tf.tidy(() => {
      const lossValue = actionLoss(output.actions, inputs, actionSpace);
      if (actionSpace.kind !== "discrete") return [lossValue.dataSync()[0]!, 0, 0];
      const predicted = output.actions.argMax(-1).toFloat();
      const target = inputs.actions.reshape(predicted.shape).toFloat();
      const mask = inputs.mask;
      return Array.from(tf.stack([lossValue, predicted.equal(target).toFloat().mul(mask).sum(), mask.sum()]).dataSync());
    });
    output.actions.dispose();
    disposeInputs(inputs);
    lossSum += loss!;
    correct += hits!;
    counted += real!;
  }
  const spikeRates: Record<string, number> = {};
  for (const [name, sum] of rateSums) spikeRates[name] = sum / batches.length;
  return {
    loss: lossSum / batches.length,
    accuracy: actionSpace.kind === "discrete" ? (counted > 0 ? correct / counted : null) : null,
    spikeRates,
  };
}
