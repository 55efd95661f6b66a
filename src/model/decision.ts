/**
 * The batch-1 decision path for evaluation: the action for the LAST real step of one window, with
 * only the work that action depends on (see TokenSequenceModel.lastStateAction):
 *
 * - the left padding is cut off (a real token never attends a padding token, so the real tokens'
 *   values do not depend on it, and every time code comes from the step's own timestep);
 * - the last step's action token is dropped and the final block runs for the last state token only;
 * - no gradient tape, no dropout, one readback (the action), checks done on the JS arrays.
 *
 * With `collectStats` the decision runs the full `forward` instead (the spike and operation counts are
 * defined over the whole window, padding included) and returns its stats, so they equal forward's.
 */
import type { WindowBatch } from "../data/windows.js";
import { tf } from "../runtime/backend.js";
import { InputError } from "../runtime/errors.js";
import { disposeInputs, inputsFromBatch } from "./inputs.js";
import type { ModelInputs, SequenceModel } from "./sequence-model.js";
import { TokenSequenceModel } from "./sequence-model.js";
import type { ForwardStats } from "./stats.js";

export interface Decision {
  /** Discrete: the logits of the last real step; continuous: its action (in the action box). */
  action: Float32Array;
  stats?: ForwardStats;
}

export interface DecisionRunner {
  /** Decide for a batch of ONE window (left-padded, ending at the current step). */
  decide(batch: WindowBatch, options?: { collectStats?: boolean }): Decision;
}

/** The number of real steps of a left-padded window: the mask must be 0...0 1...1 with at least one 1. */
function realSteps(batch: WindowBatch): number {
  const { mask, context } = batch;
  let first = 0;
  while (first < context && mask[first] === 0) first++;
  for (let t = first; t < context; t++) {
    if (mask[t] !== 1) {
      throw new InputError(`decision window: mask[${t}] is ${mask[t]} after a real step; windows are left-padded (mask 0...0 1...1)`);
    }
  }
  if (first === context) throw new InputError("decision window: no real step (the mask is all 0); the window must end at the current step");
  return context - first;
}

/** Window tensors of the last `steps` steps only. */
function realInputs(batch: WindowBatch, steps: number): ModelInputs {
  const { context, obsDim, actionWidth } = batch;
  const from = context - steps;
  return {
    returnsToGo: tf.tensor3d(batch.returnsToGo.subarray(from, context), [1, steps, 1]),
    states: tf.tensor3d(batch.states.subarray(from * obsDim, context * obsDim), [1, steps, obsDim]),
    actions: tf.tensor3d(batch.actions.subarray(from * actionWidth, context * actionWidth), [1, steps, actionWidth]),
    timesteps: tf.tensor2d(batch.timesteps.subarray(from, context), [1, steps], "int32"),
    mask: tf.tensor2d(batch.mask.subarray(from, context), [1, steps]),
  };
}

export function createDecisionRunner(model: SequenceModel): DecisionRunner {
  if (!(model instanceof TokenSequenceModel)) throw new Error("createDecisionRunner needs a model made by createModel");
  const config = model.config;
  const width = config.action_space.kind === "discrete" ? 1 : config.action_space.dim;
  return {
    decide(batch: WindowBatch, options = {}): Decision {
      if (batch.size !== 1) throw new InputError(`decision window batch has ${batch.size} windows; decide takes exactly 1`);
      if (batch.context < 1 || batch.context > config.context) {
        throw new InputError(`decision window has ${batch.context} steps; the model takes 1 to ${config.context} (model.context)`);
      }
      if (batch.obsDim !== config.obs_dim || batch.actionWidth !== width) {
        throw new InputError(
          `decision window has obsDim ${batch.obsDim} and actionWidth ${batch.actionWidth}; the model expects ${config.obs_dim} and ${width}`,
        );
      }
      if (options.collectStats) {
        const inputs = inputsFromBatch(batch);
        try {
          const output = model.forward(inputs, { training: false, collectStats: true });
          const [, context, actionWidth] = output.actions.shape;
          const action = tf.tidy(() => tf.slice(output.actions, [0, context - 1, 0], [1, 1, actionWidth]).dataSync() as Float32Array);
          output.actions.dispose();
          return { action, stats: output.stats! };
        } finally {
          disposeInputs(inputs);
        }
      }
      // The same length checks as inputsFromBatch, and the timestep range on the JS array (no readback).
      const expect = (name: string, length: number, perStep: number) => {
        if (length !== batch.context * perStep) {
          throw new InputError(`window batch field "${name}" has ${length} values, expected ${batch.context * perStep} (B=1, K=${batch.context})`);
        }
      };
      expect("returnsToGo", batch.returnsToGo.length, 1);
      expect("states", batch.states.length, batch.obsDim);
      expect("actions", batch.actions.length, batch.actionWidth);
      expect("timesteps", batch.timesteps.length, 1);
      expect("mask", batch.mask.length, 1);
      const steps = realSteps(batch);
      for (let t = batch.context - steps; t < batch.context; t++) {
        const step = batch.timesteps[t]!;
        if (step < 0 || step >= config.max_ep_len) {
          throw new InputError(
            `timestep ${step} is outside [0, ${config.max_ep_len}): model.max_ep_len must exceed every timestep ` +
              `(raise model.max_ep_len to at least the longest episode; timesteps are never clipped)`,
          );
        }
      }
      const inputs = realInputs(batch, steps);
      try {
        const action = model.lastStateAction(inputs);
        const values = action.dataSync() as Float32Array;
        action.dispose();
        return { action: values };
      } finally {
        disposeInputs(inputs);
      }
    },
  };
}
