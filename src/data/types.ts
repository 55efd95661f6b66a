/**
 * Shared shapes of offline RL data, from readers to windows. Arrays are flat and row-major so that
 * batches are built by copying slices, never by allocating per-element objects.
 */

/** A discrete action space with `n` actions, or a continuous box of `dim` dimensions. */
export type ActionSpace =
  | { kind: "discrete"; n: number }
  | { kind: "continuous"; dim: number; low: number[]; high: number[] };

/** Width of one action in a flat action array: 1 (the index) for discrete, `dim` for continuous. */
export function actionWidth(space: ActionSpace): number {
  return space.kind === "discrete" ? 1 : space.dim;
}

/** One episode, every per-step array of `length` rows. */
export interface Episode {
  length: number;
  /** length * obsDim, float32 (raw, not normalised). */
  observations: Float32Array;
  /** length * actionWidth: action indices (as float) for discrete spaces, values for continuous. */
  actions: Float32Array;
  rewards: Float32Array;
  /** G_t = sum_{k>=t} r_k, accumulated in float64 and stored as float32. */
  returnsToGo: Float32Array;
  /** The episode ended in a terminal state (not only by a time limit or cut). */
  terminated: boolean;
  /** The episode was cut by a time limit. */
  truncated: boolean;
}

/** Per-dimension state statistics used to normalise observations: (s - mean) / std. */
export interface StateStats {
  mean: number[];
  std: number[];
}
