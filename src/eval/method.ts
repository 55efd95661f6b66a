/** Which method made an eval.json, kept apart from evaluate.ts so readers need not load the model code. */
import type { EvalResult } from "./evaluate.js";

/**
 * How eval measures, for telling whether two eval.json can be compared: 2 since q/k/v spikes are no
 * longer charged as synaptic operations (539c954) and target returns are paired (9e0ed7b). An
 * eval.json without the field was made by method 1.
 */
export const EVAL_METHOD_VERSION = 2;

/** The method an eval.json was made by (1 when it predates the field). */
export function evalMethodOf(result: Pick<EvalResult, "methodVersion">): number {
  return result.methodVersion ?? 1;
}
