/** How an eval.json was made, kept apart from evaluate.ts so readers need not load the model code. */
import type { EvalResult } from "./evaluate.js";

/**
 * How eval measures, for telling whether two eval.json can be compared. An eval.json without the
 * field was made by method 1.
 */
export const EVAL_METHOD_VERSION = 3;

/** What each method changed from the one before it. */
const METHOD_CHANGES: Record<number, string> = {
  2: "q/k/v spikes carry no synaptic operations (539c954) and target returns are paired (9e0ed7b)",
  3: "the action never comes from the spike-counting pass, so --stats-every no longer changes returns",
};

/** The method an eval.json was made by (1 when it predates the field). */
export function evalMethodOf(result: Pick<EvalResult, "methodVersion">): number {
  return result.methodVersion ?? 1;
}

/** What changed after method `version`, up to this snndt's ("method 2: ...; method 3: ..."). */
export function methodChangesSince(version: number): string {
  const changes: string[] = [];
  for (let v = version + 1; v <= EVAL_METHOD_VERSION; v++) changes.push(`method ${v}: ${METHOD_CHANGES[v]}`);
  return changes.join("; ");
}

/** The normalised score's reference source when the user gave the returns (`eval --reference`). */
export const REFERENCE_GIVEN = "given with --reference";
