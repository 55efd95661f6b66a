/**
 * The batch-1 decision path for evaluation: the action for the LAST real step of one window, with
 * only the work that action depends on (see TokenSequenceModel.lastStateAction):
 *
 * - the left padding is cut off (a real token never attends a padding token, so the real tokens'
 *   values do not depend on it, and every time code comes from the step's own timestep);
 * - incremental context: a token's embedding and the first block's Q|K|V projection of it depend on
 *   that token alone, so the runner keeps them for the steps of its last window and computes them
 *   only for steps it has not seen with the same inputs. In a running episode those are the new step
 *   and the one before it, whose action is now known (unless it equals the placeholder the window
 *   held): 6 token rows instead of 3K - 1 (the new step's action row is computed and not used). Everything
 *   after the first block's projection mixes tokens and is recomputed, because every token's context
 *   changes when the window slides;
 * - the last step's action token is dropped and the final block runs for the last state token only;
 * - no gradient tape, no dropout, checks done on the JS arrays.
 *
 * With `collectStats` the full `forward` runs as well, for its spike and operation counts only
 * (they are defined over the whole window, padding included). The action still comes from the
 * decision path above, so counting spikes never changes what the policy does: the two passes differ
 * by float rounding, enough to move a continuous trajectory.
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
  /** Real steps of the window whose token rows came from earlier decisions. */
  reusedSteps: number;
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

/** Window tensors of the steps `indices` (of one window) only. */
function stepInputs(batch: WindowBatch, indices: number[]): ModelInputs {
  const { obsDim, actionWidth } = batch;
  const n = indices.length;
  const pick = (values: Float32Array, width: number) => {
    const picked = new Float32Array(n * width);
    indices.forEach((t, i) => picked.set(values.subarray(t * width, (t + 1) * width), i * width));
    return picked;
  };
  return {
    returnsToGo: tf.tensor3d(pick(batch.returnsToGo, 1), [1, n, 1]),
    states: tf.tensor3d(pick(batch.states, obsDim), [1, n, obsDim]),
    actions: tf.tensor3d(pick(batch.actions, actionWidth), [1, n, actionWidth]),
    timesteps: tf.tensor2d(Int32Array.from(indices, (t) => batch.timesteps[t]!), [1, n], "int32"),
    mask: tf.tensor2d(new Float32Array(n).fill(1), [1, n]),
  };
}

/** One step's three token rows (TokenSequenceModel.tokenRows, [3, 4d]) and the inputs they came from. */
interface StepRows {
  returnToGo: number;
  state: Float32Array;
  action: Float32Array;
  rows: Float32Array;
}

/**
 * A tensor's values, read back once; the tensor is disposed. Not tf.tidy(() => t.dataSync()): tidy
 * walks a returned typed array element by element (+4 ms for a full window's token rows).
 */
function valuesOf(tensor: tf.Tensor): Float32Array {
  try {
    return tensor.dataSync() as Float32Array;
  } finally {
    tensor.dispose();
  }
}

function sameInputs(cached: StepRows, batch: WindowBatch, t: number): boolean {
  const { obsDim, actionWidth } = batch;
  if (cached.returnToGo !== batch.returnsToGo[t]) return false;
  for (let i = 0; i < obsDim; i++) if (cached.state[i] !== batch.states[t * obsDim + i]) return false;
  for (let i = 0; i < actionWidth; i++) if (cached.action[i] !== batch.actions[t * actionWidth + i]) return false;
  return true;
}

export function createDecisionRunner(sequenceModel: SequenceModel): DecisionRunner {
  if (!(sequenceModel instanceof TokenSequenceModel)) throw new Error("createDecisionRunner needs a model made by createModel");
  const model = sequenceModel;
  const config = model.config;
  const d = config.d_model;
  const rowWidth = 4 * d;
  const width = config.action_space.kind === "discrete" ? 1 : config.action_space.dim;
  // Token rows of the last window's steps by timestep, valid while no variable is assigned (the
  // variables' dataIds are the key, as for the fused projections).
  const seen = new Map<number, StepRows>();
  let seenWeights: object[] = [];

  /** The token rows of every real step of the window, computing only the steps not seen with these inputs. */
  function stepRows(batch: WindowBatch, first: number): { rows: StepRows[]; reused: number } {
    const weights = model.variables.map((v) => v.dataId);
    if (weights.some((id, i) => id !== seenWeights[i])) {
      seen.clear();
      seenWeights = weights;
    }
    const rows: StepRows[] = [];
    const missing: number[] = [];
    for (let t = first; t < batch.context; t++) {
      const cached = seen.get(batch.timesteps[t]!);
      if (cached && sameInputs(cached, batch, t)) rows[t - first] = cached;
      else missing.push(t);
    }
    if (missing.length > 0) {
      const inputs = stepInputs(batch, missing);
      let computed: Float32Array;
      try {
        computed = valuesOf(model.tokenRows(inputs));
      } finally {
        disposeInputs(inputs);
      }
      const stepWidth = 3 * rowWidth;
      missing.forEach((t, i) => {
        rows[t - first] = {
          returnToGo: batch.returnsToGo[t]!,
          state: batch.states.slice(t * batch.obsDim, (t + 1) * batch.obsDim),
          action: batch.actions.slice(t * batch.actionWidth, (t + 1) * batch.actionWidth),
          rows: computed.slice(i * stepWidth, (i + 1) * stepWidth),
        };
      });
    }
    seen.clear();
    rows.forEach((step, i) => seen.set(batch.timesteps[first + i]!, step));
    return { rows, reused: rows.length - missing.length };
  }

  /** The full forward's spike and operation counts over the whole window (its action is not used). */
  function windowStats(batch: WindowBatch): ForwardStats {
    const inputs = inputsFromBatch(batch);
    try {
      const output = model.forward(inputs, { training: false, collectStats: true });
      output.actions.dispose();
      return output.stats!;
    } finally {
      disposeInputs(inputs);
    }
  }

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
      const stats = options.collectStats ? windowStats(batch) : undefined;
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
      const first = batch.context - steps;
      for (let t = first; t < batch.context; t++) {
        const step = batch.timesteps[t]!;
        if (step < 0 || step >= config.max_ep_len) {
          throw new InputError(
            `timestep ${step} is outside [0, ${config.max_ep_len}): model.max_ep_len must exceed every timestep ` +
              `(raise model.max_ep_len to at least the longest episode; timesteps are never clipped)`,
          );
        }
      }
      const { rows, reused } = stepRows(batch, first);
      // Tokens G_1, s_1, a_1, ..., G_K, s_K: the last action token is left out.
      const length = 3 * steps - 1;
      const tokens = new Float32Array(length * d);
      const projected = new Float32Array(length * 3 * d);
      for (let token = 0; token < length; token++) {
        const row = rows[Math.floor(token / 3)]!.rows.subarray((token % 3) * rowWidth, (token % 3 + 1) * rowWidth);
        tokens.set(row.subarray(0, d), token * d);
        projected.set(row.subarray(d), token * 3 * d);
      }
      const tokenTensor = tf.tensor3d(tokens, [1, length, d]);
      const projectedTensor = tf.tensor3d(projected, [1, length, 3 * d]);
      try {
        const action = valuesOf(model.lastStateAction(tokenTensor, projectedTensor));
        return stats ? { action, reusedSteps: reused, stats } : { action, reusedSteps: reused };
      } finally {
        tf.dispose([tokenTensor, projectedTensor]);
      }
    },
  };
}
