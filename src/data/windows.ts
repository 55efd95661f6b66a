/**
 * The one window builder, shared by training and evaluation.
 *
 * A window ends at step t of an episode and covers steps max(0, t-K+1)..t; when t < K-1 it is
 * left-padded, and `mask` marks the real steps. Training samples such windows from the dataset;
 * evaluation builds the same window from the episode so far, with the not-yet-chosen action of step
 * t set to 0 (the causal mask keeps s_t, which predicts a_t, from seeing it). Because both go
 * through `writeWindow`, padding, scaling and normalisation cannot drift apart.
 *
 * Values written: returns-to-go divided by `rtgScale`; states as (s - mean) / std; actions raw
 * (discrete: the index as a float); timesteps as the step index in the episode. Padding is all 0.
 */
import type { ActionSpace, Episode, StateStats } from "./types.js";
import { actionWidth } from "./types.js";
import { SnndtError } from "../runtime/errors.js";
import type { Rng } from "../runtime/rng.js";

/** B windows of K steps, left-padded; flat row-major typed arrays. */
export interface WindowBatch {
  size: number;
  context: number;
  obsDim: number;
  actionWidth: number;
  /** B*K, divided by rtg_scale; 0 on padding. */
  returnsToGo: Float32Array;
  /** B*K*obsDim, normalised; 0 on padding. */
  states: Float32Array;
  /** B*K*actionWidth; discrete: action index as a float; 0 on padding. */
  actions: Float32Array;
  /** B*K, the step index within the episode; 0 on padding. */
  timesteps: Int32Array;
  /** B*K: 1 for real steps, 0 for left padding. */
  mask: Float32Array;
}

/** Everything that fixes how a step becomes window values; saved with every checkpoint. */
export interface WindowSpec {
  context: number;
  obsDim: number;
  actionSpace: ActionSpace;
  rtgScale: number;
  stateStats: StateStats;
  /** Timesteps must be < maxEpLen (the timestep embedding's size); never clipped. */
  maxEpLen: number;
}

/** The per-step arrays a window is cut from: a whole dataset episode, or an episode in progress. */
export interface StepSequence {
  observations: Float32Array;
  actions: Float32Array;
  returnsToGo: ArrayLike<number>;
}

/** Smallest std a varying state dimension is divided by. */
export const MIN_STATE_STD = 1e-6;

/**
 * The divisor that normalises a state dimension of std `std`. A dimension constant in the data (std
 * 0: its statistics are shifted by a value it holds, so exactly 0) is centred but not scaled, so a
 * value it takes at evaluation reaches the model as it is, not magnified a million times as
 * dividing by MIN_STATE_STD would.
 */
export function stateScale(std: number): number {
  return std === 0 ? 1 : Math.max(std, MIN_STATE_STD);
}

export function allocateBatch(size: number, spec: WindowSpec): WindowBatch {
  const k = spec.context;
  const width = actionWidth(spec.actionSpace);
  return {
    size,
    context: k,
    obsDim: spec.obsDim,
    actionWidth: width,
    returnsToGo: new Float32Array(size * k),
    states: new Float32Array(size * k * spec.obsDim),
    actions: new Float32Array(size * k * width),
    timesteps: new Int32Array(size * k),
    mask: new Float32Array(size * k),
  };
}

/** The real (unpadded) steps of a batch: the sum of its mask. */
export function realStepCount(batch: WindowBatch): number {
  let count = 0;
  for (const m of batch.mask) count += m;
  return count;
}

/**
 * Fill row `row` of `batch` with the window of `seq` that ends at step `endStep` (inclusive).
 * Every slot of the row is written, so batches can be reused without clearing.
 */
export function writeWindow(batch: WindowBatch, row: number, seq: StepSequence, endStep: number, spec: WindowSpec): void {
  const k = spec.context;
  const obsDim = spec.obsDim;
  const width = batch.actionWidth;
  if (endStep >= spec.maxEpLen) {
    throw new SnndtError(
      `timestep ${endStep} is beyond model.max_ep_len = ${spec.maxEpLen}: the timestep embedding has no entry for it ` +
        "(snndt never clips timesteps). Train with a larger model.max_ep_len.",
    );
  }
  const first = Math.max(0, endStep - k + 1);
  const pad = k - (endStep - first + 1);
  const { mean, std } = spec.stateStats;
  const rtgScale = spec.rtgScale;
  const base = row * k;
  for (let slot = 0; slot < k; slot++) {
    const i = base + slot;
    const stateOut = i * obsDim;
    const actionOut = i * width;
    if (slot < pad) {
      batch.returnsToGo[i] = 0;
      batch.timesteps[i] = 0;
      batch.mask[i] = 0;
      batch.states.fill(0, stateOut, stateOut + obsDim);
      batch.actions.fill(0, actionOut, actionOut + width);
      continue;
    }
    const step = first + slot - pad;
    batch.returnsToGo[i] = seq.returnsToGo[step]! / rtgScale;
    batch.timesteps[i] = step;
    batch.mask[i] = 1;
    const stateIn = step * obsDim;
    for (let d = 0; d < obsDim; d++) {
      batch.states[stateOut + d] = (seq.observations[stateIn + d]! - mean[d]!) / stateScale(std[d]!);
    }
    const actionIn = step * width;
    for (let d = 0; d < width; d++) batch.actions[actionOut + d] = seq.actions[actionIn + d]!;
  }
}

/**
 * Samples training windows: the end step is drawn uniformly over all steps of all episodes, so an
 * episode is chosen in proportion to its length and every step ends a window equally often. The loss
 * covers every real step of a window, so step t of an episode of L steps is a target of the windows
 * ending at t ... min(t + K, L) - 1, min(K, L - t) of them: an episode's last K - 1 steps weigh less,
 * its last step 1/K as much as a step K or more from the end.
 */
export class WindowSampler {
  private readonly cumulative: Float64Array;
  readonly totalSteps: number;

  constructor(
    private readonly episodes: Episode[],
    private readonly spec: WindowSpec,
  ) {
    if (episodes.length === 0) throw new SnndtError("cannot sample windows from an empty set of episodes");
    this.cumulative = new Float64Array(episodes.length);
    let total = 0;
    let longest = 0;
    episodes.forEach((ep, i) => {
      total += ep.length;
      longest = Math.max(longest, ep.length);
      this.cumulative[i] = total;
    });
    if (longest > spec.maxEpLen) {
      throw new SnndtError(
        `the dataset has an episode of ${longest} steps but model.max_ep_len is ${spec.maxEpLen}: ` +
          `set model.max_ep_len to at least ${longest} (timesteps are never clipped).`,
      );
    }
    this.totalSteps = total;
  }

  /** Fill `batch` with random windows; returns the episode index of each row (for error reports). */
  sample(batch: WindowBatch, rng: Rng): Int32Array {
    const episodeIds = new Int32Array(batch.size);
    for (let row = 0; row < batch.size; row++) {
      const globalStep = rng.int(this.totalSteps);
      const episode = this.episodeOf(globalStep);
      const start = episode === 0 ? 0 : this.cumulative[episode - 1]!;
      writeWindow(batch, row, this.episodes[episode]!, globalStep - start, this.spec);
      episodeIds[row] = episode;
    }
    return episodeIds;
  }

  private episodeOf(globalStep: number): number {
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid]! > globalStep) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/**
 * An episode in progress at evaluation time. `observe` records the state seen at step t and the
 * return-to-go still wanted (target minus rewards so far); `window` gives the batch-1 window that
 * predicts a_t; `act` records the chosen action once it is known.
 */
export class EpisodeHistory implements StepSequence {
  observations: Float32Array;
  actions: Float32Array;
  returnsToGo: Float64Array;
  length = 0;
  private readonly width: number;
  private readonly batch: WindowBatch;

  constructor(private readonly spec: WindowSpec) {
    this.width = actionWidth(spec.actionSpace);
    const capacity = spec.maxEpLen;
    this.observations = new Float32Array(capacity * spec.obsDim);
    this.actions = new Float32Array(capacity * this.width);
    this.returnsToGo = new Float64Array(capacity);
    this.batch = allocateBatch(1, spec);
  }

  /** Record the observation of the next step and the return-to-go (unscaled) wanted from it on. */
  observe(observation: ArrayLike<number>, returnToGo: number): void {
    if (this.length >= this.spec.maxEpLen) {
      throw new SnndtError(
        `the episode reached ${this.length} steps, beyond model.max_ep_len = ${this.spec.maxEpLen} (timesteps are never clipped)`,
      );
    }
    const t = this.length;
    const offset = t * this.spec.obsDim;
    for (let d = 0; d < this.spec.obsDim; d++) this.observations[offset + d] = observation[d]!;
    this.actions.fill(0, t * this.width, (t + 1) * this.width);
    this.returnsToGo[t] = returnToGo;
    this.length++;
  }

  /** The window that predicts the action of the latest observed step (reused buffer). */
  window(): WindowBatch {
    if (this.length === 0) throw new Error("EpisodeHistory.window() before any observation");
    writeWindow(this.batch, 0, this, this.length - 1, this.spec);
    return this.batch;
  }

  /** Record the action taken at the latest observed step. */
  act(action: ArrayLike<number>): void {
    const t = this.length - 1;
    for (let d = 0; d < this.width; d++) this.actions[t * this.width + d] = action[d]!;
  }

  reset(): void {
    this.length = 0;
  }
}
