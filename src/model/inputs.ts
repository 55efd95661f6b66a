/** Window batches (flat typed arrays) to model input tensors. */
import { tf } from "../runtime/backend.js";
import { InputError } from "../runtime/errors.js";
import type { WindowBatch } from "../data/windows.js";
import type { ModelInputs } from "./sequence-model.js";

/**
 * Tensors for a window batch (the caller disposes them). They hold copies: the cpu backend would
 * otherwise keep the batch's own arrays, which the sampler refills for the next micro-batch.
 */
export function inputsFromBatch(batch: WindowBatch): ModelInputs {
  const { size, context, obsDim, actionWidth } = batch;
  const check = (name: string, length: number, expected: number) => {
    if (length !== expected) {
      throw new InputError(`window batch field "${name}" has ${length} values, expected ${expected} (B=${size}, K=${context})`);
    }
  };
  check("returnsToGo", batch.returnsToGo.length, size * context);
  check("states", batch.states.length, size * context * obsDim);
  check("actions", batch.actions.length, size * context * actionWidth);
  check("timesteps", batch.timesteps.length, size * context);
  check("mask", batch.mask.length, size * context);
  return {
    returnsToGo: tf.tensor3d(batch.returnsToGo.slice(), [size, context, 1]),
    states: tf.tensor3d(batch.states.slice(), [size, context, obsDim]),
    actions: tf.tensor3d(batch.actions.slice(), [size, context, actionWidth]),
    timesteps: tf.tensor2d(batch.timesteps.slice(), [size, context], "int32"),
    mask: tf.tensor2d(batch.mask.slice(), [size, context]),
  };
}

/** Dispose the tensors of a ModelInputs. */
export function disposeInputs(inputs: ModelInputs): void {
  tf.dispose([inputs.returnsToGo, inputs.states, inputs.actions, inputs.timesteps, inputs.mask]);
}
