/**
 * `eval --trajectories`: every step of the evaluation's episodes, kept as they are played and
 * written as one per-step Arrow file beside eval.json. It is a steps file (the columns of
 * `snndt collect`'s output, so `prepare-dataset` reads it) with columns after them that say what
 * the model was asked and did:
 *
 *   target_return float64        the return the episode was conditioned on
 *   seed uint32                  its evaluation seed, and episode_under_seed int32: with the seed,
 *                                which start state it met (the same for every target)
 *   conditioned_return_to_go float64   what the model was given at that step: the target minus the
 *                                rewards received so far (before the division by rtg_scale)
 *   action_logits [n] float32    discrete models: the scores the action was the argmax of
 *   spikes float32               spiking models: the decision's spikes, on the counted decisions
 *                                (--stats-every), null on the others
 *
 * `episode_id` is the episode's index in eval.json's `episodes`.
 */
import type { ActionSpace, Episode } from "../data/types.js";
import { returnsToGo } from "../data/raw.js";
import { stepsArrowBytes, type ExtraStepColumn } from "../data/arrow-writer.js";
import type { EpisodeOutcome } from "./rollout.js";

export const TRAJECTORIES_FILE = "trajectories.arrow";

/**
 * Values kept before recording stops: 2^28 float32s (1 GiB), under the 2 GiB Node reads at once, so
 * the file stays readable by `prepare-dataset`.
 */
const MAX_RECORDED_VALUES = 2 ** 28;

/** One played episode as recorded, step by step. */
export interface RecordedEpisode {
  episode: Episode;
  conditionedReturnsToGo: Float64Array;
  /** Discrete models' action scores, n a step; null for continuous actions. */
  actionLogits: Float32Array | null;
  /** Spikes of the counted decisions, NaN on the others; null for a plain DT. */
  spikes: Float32Array | null;
}

/**
 * Collects the steps of the episodes as they are played, in order. Recording stops, and drops what
 * it holds, once the steps exceed MAX_RECORDED_VALUES: a file missing some episodes would pass for
 * the whole evaluation.
 */
export class TrajectoryRecorder {
  readonly episodes: RecordedEpisode[] = [];
  /** Why recording stopped (too large), or null while it goes on. */
  stopped: string | null = null;
  private observations: number[] = [];
  private actions: number[] = [];
  private rewards: number[] = [];
  private conditioned: number[] = [];
  private logits: number[] = [];
  private spikes: number[] = [];
  private values = 0;

  constructor(
    readonly actionSpace: ActionSpace,
    /** A spiking model's decisions have spikes to record; a plain DT's none. */
    readonly spiking: boolean,
    private readonly maxValues = MAX_RECORDED_VALUES,
  ) {}

  /** One decision: what the model was given and chose (`scores`: its raw outputs), and the reward it got. */
  step(observation: Float32Array, conditionedReturnToGo: number, scores: Float32Array, action: number | Float32Array, reward: number, spikes: number | null): void {
    if (this.stopped) return;
    for (const v of observation) this.observations.push(v);
    if (typeof action === "number") {
      this.actions.push(action);
      for (const v of scores) this.logits.push(v);
    } else {
      for (const v of action) this.actions.push(v);
    }
    this.rewards.push(reward);
    this.conditioned.push(conditionedReturnToGo);
    if (this.spiking) this.spikes.push(spikes ?? NaN);
    this.values += observation.length + scores.length + 4;
    if (this.values > this.maxValues) {
      this.stopped = `the episodes' steps exceed ${this.maxValues.toLocaleString("en-US")} values (${(4 * this.maxValues).toLocaleString("en-US")} bytes); evaluate fewer episodes with --trajectories`;
      this.episodes.length = 0;
      this.startEpisode();
    }
  }

  /** The episode being played ended: keep it. */
  endEpisode(terminated: boolean, truncated: boolean): void {
    if (this.stopped) return;
    this.episodes.push({
      episode: {
        length: this.rewards.length,
        observations: Float32Array.from(this.observations),
        actions: Float32Array.from(this.actions),
        rewards: Float32Array.from(this.rewards),
        returnsToGo: returnsToGo(this.rewards),
        terminated,
        truncated,
      },
      conditionedReturnsToGo: Float64Array.from(this.conditioned),
      actionLogits: this.actionSpace.kind === "discrete" ? Float32Array.from(this.logits) : null,
      spikes: this.spiking ? Float32Array.from(this.spikes) : null,
    });
    this.startEpisode();
  }

  /** Forget the steps of an episode not ended (a new one starts, or the environment failed). */
  startEpisode(): void {
    this.observations = [];
    this.actions = [];
    this.rewards = [];
    this.conditioned = [];
    this.logits = [];
    this.spikes = [];
  }
}

/** The trajectories file's bytes: the recorder's episode i is the episode of `outcomes[i]`. */
export function trajectoriesArrow(recorder: TrajectoryRecorder, outcomes: readonly EpisodeOutcome[], metadata: Record<string, string>): Uint8Array {
  const recorded = recorder.episodes;
  if (recorded.length !== outcomes.length) throw new Error(`${recorded.length} episodes recorded for ${outcomes.length} played`);
  const episodes = recorded.map((r) => r.episode);
  const perStep = <T extends Float64Array | Uint32Array | Int32Array>(make: new (n: number) => T, value: (o: EpisodeOutcome) => number) => (e: number) => {
    const column = new make(episodes[e]!.length);
    column.fill(value(outcomes[e]!));
    return column;
  };
  const extra: ExtraStepColumn[] = [
    { name: "target_return", type: "float64", values: perStep(Float64Array, (o) => o.target) },
    { name: "seed", type: "uint32", values: perStep(Uint32Array, (o) => o.seed) },
    { name: "episode_under_seed", type: "int32", values: perStep(Int32Array, (o) => o.indexUnderSeed) },
    { name: "conditioned_return_to_go", type: "float64", values: (e) => recorded[e]!.conditionedReturnsToGo },
  ];
  const space = recorder.actionSpace;
  if (space.kind === "discrete") extra.push({ name: "action_logits", type: "float32", width: space.n, values: (e) => recorded[e]!.actionLogits! });
  if (recorder.spiking) extra.push({ name: "spikes", type: "float32", nullable: true, values: (e) => recorded[e]!.spikes! });
  return stepsArrowBytes(TRAJECTORIES_FILE, episodes, space, metadata, extra);
}
