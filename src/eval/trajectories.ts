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
 *   spikes int32                 spiking models: the decision's spikes, on the counted decisions
 *                                (--stats-every), null on the others
 *
 * `episode_id` is the episode's index in eval.json's `episodes`.
 */
import type { ActionSpace, Episode } from "../data/types.js";
import { actionWidth } from "../data/types.js";
import { returnsToGo } from "../data/raw.js";
import { stepsArrowBytes, type ExtraStepColumn } from "../data/arrow-writer.js";
import { UsageError } from "../runtime/errors.js";
import { isSpiking, type LoadedPolicy } from "./policy.js";
import type { EpisodeOutcome } from "./rollout.js";
import { TRAJECTORIES_FILE } from "../train/run-layout.js";

/**
 * The largest trajectories file eval writes: 512 MiB, well under the 2 GiB that prepare-dataset
 * reads, and small enough that recording and serialising it stay within a few times that in memory.
 */
export const MAX_TRAJECTORY_BYTES = 2 ** 29;

/** Bytes of one step in the file: its values, 4 bytes each but 8 for the float64 columns, and the flag bits. */
function bytesPerStep(obsDim: number, actionSpace: ActionSpace, spiking: boolean): number {
  const scores = actionSpace.kind === "discrete" ? actionSpace.n : 0;
  // episode_id, step, reward, return_to_go, seed, episode_under_seed (4 each); target, conditioned (8 each).
  const fixed = 6 * 4 + 2 * 8 + 1;
  return 4 * (obsDim + actionWidth(actionSpace) + scores) + fixed + (spiking ? 5 : 0);
}

/**
 * Refuse, before any episode, an evaluation whose trajectories could outgrow MAX_TRAJECTORY_BYTES:
 * `episodesPerTarget` episodes for each of `targets` target returns, of at most `maxEpisodeSteps` steps.
 */
export function checkTrajectorySize(policy: LoadedPolicy, targets: number, episodesPerTarget: number, maxEpisodeSteps: number): void {
  const perStep = bytesPerStep(policy.spec.obsDim, policy.spec.actionSpace, isSpiking(policy));
  const bytes = targets * episodesPerTarget * maxEpisodeSteps * perStep;
  if (bytes <= MAX_TRAJECTORY_BYTES) return;
  const fit = Math.floor(MAX_TRAJECTORY_BYTES / (targets * maxEpisodeSteps * perStep));
  const limit = MAX_TRAJECTORY_BYTES.toLocaleString("en-US");
  const advice = fit >= 1 ? `evaluate at most --episodes ${fit} with --trajectories${targets > 1 ? ` and ${targets} target returns` : ""}` : `even one episode a target could exceed it (${maxEpisodeSteps} steps of ${perStep} bytes)`;
  throw new UsageError(
    `--trajectories: ${episodesPerTarget} episodes for each of ${targets} target return${targets > 1 ? "s" : ""}, of up to ${maxEpisodeSteps} steps at ${perStep} bytes a step, ` +
      `could need ${bytes.toLocaleString("en-US")} bytes; eval writes trajectories of up to ${limit} bytes (512 MiB): ${advice}.`,
  );
}

/** A float32 array that grows by doubling: a plain array aborts V8 past about 1.1e8 elements. */
class GrowingArray {
  private values = new Float32Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float32Array(2 * this.values.length);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }

  pushAll(values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) this.push(values[i]!);
  }

  /** A copy of the values pushed; the array starts over empty. */
  take(): Float32Array {
    const taken = this.values.slice(0, this.length);
    this.length = 0;
    return taken;
  }

  clear(): void {
    this.length = 0;
  }
}

/** One played episode as recorded, step by step. */
interface RecordedEpisode {
  episode: Episode;
  conditionedReturnsToGo: Float64Array;
  /** Discrete models' action scores, n a step; null for continuous actions. */
  actionLogits: Float32Array | null;
  /** Spikes of the counted decisions (-1 on the others); null for a plain DT. */
  spikes: Int32Array | null;
}

/** One decision: what the model was given and chose, and the reward it got. */
export interface RecordedStep {
  observation: Float32Array;
  conditionedReturnToGo: number;
  /** The model's outputs: a discrete model's scores, a continuous model's action. */
  scores: Float32Array;
  action: number | Float32Array;
  reward: number;
  /** The decision's spikes when they were counted. */
  spikes: number | null;
}

/** Collects the steps of the episodes as they are played, in order. */
export class TrajectoryRecorder {
  private readonly episodes: RecordedEpisode[] = [];
  private readonly actionSpace: ActionSpace;
  private readonly spiking: boolean;
  private readonly observations = new GrowingArray();
  private readonly actions = new GrowingArray();
  private readonly logits = new GrowingArray();
  private rewards: number[] = [];
  private conditioned: number[] = [];
  private spikes: number[] = [];

  constructor(policy: LoadedPolicy) {
    this.actionSpace = policy.spec.actionSpace;
    this.spiking = isSpiking(policy);
  }

  /** Begin an episode: the steps of one that never ended (its environment failed) are dropped, never merged into it. */
  startEpisode(): void {
    this.observations.clear();
    this.actions.clear();
    this.logits.clear();
    this.rewards = [];
    this.conditioned = [];
    this.spikes = [];
  }

  step(step: RecordedStep): void {
    this.observations.pushAll(step.observation);
    if (typeof step.action === "number") {
      this.actions.push(step.action);
      this.logits.pushAll(step.scores);
    } else {
      this.actions.pushAll(step.action);
    }
    this.rewards.push(step.reward);
    this.conditioned.push(step.conditionedReturnToGo);
    if (this.spiking) this.spikes.push(step.spikes ?? -1);
  }

  /** The episode being played ended: keep it. */
  endEpisode(terminated: boolean, truncated: boolean): void {
    this.episodes.push({
      episode: {
        length: this.rewards.length,
        observations: this.observations.take(),
        actions: this.actions.take(),
        rewards: Float32Array.from(this.rewards),
        returnsToGo: returnsToGo(this.rewards),
        terminated,
        truncated,
      },
      conditionedReturnsToGo: Float64Array.from(this.conditioned),
      actionLogits: this.actionSpace.kind === "discrete" ? this.logits.take() : null,
      spikes: this.spiking ? Int32Array.from(this.spikes) : null,
    });
    this.startEpisode();
  }

  /** The trajectories file's bytes: episode i recorded is the episode of `outcomes[i]`. */
  arrowFile(outcomes: readonly EpisodeOutcome[], metadata: Record<string, string>): Uint8Array {
    const recorded = this.episodes;
    const misaligned = recorded.length !== outcomes.length || outcomes.some((o, i) => {
      const ep = recorded[i]!.episode;
      return o.length !== ep.length || o.terminated !== ep.terminated || o.truncated !== ep.truncated;
    });
    if (misaligned) throw new Error(`the ${recorded.length} episodes recorded are not the ${outcomes.length} played`);
    const episodes = recorded.map((r) => r.episode);
    const perEpisode = <T extends Float64Array | Uint32Array | Int32Array>(make: new (n: number) => T, value: (o: EpisodeOutcome) => number) => (e: number) => {
      const column = new make(episodes[e]!.length);
      column.fill(value(outcomes[e]!));
      return column;
    };
    const extra: ExtraStepColumn[] = [
      { name: "target_return", type: "float64", values: perEpisode(Float64Array, (o) => o.target) },
      { name: "seed", type: "uint32", values: perEpisode(Uint32Array, (o) => o.seed) },
      { name: "episode_under_seed", type: "int32", values: perEpisode(Int32Array, (o) => o.indexUnderSeed) },
      { name: "conditioned_return_to_go", type: "float64", values: (e) => recorded[e]!.conditionedReturnsToGo },
    ];
    const space = this.actionSpace;
    if (space.kind === "discrete") extra.push({ name: "action_logits", type: "float32", width: space.n, values: (e) => recorded[e]!.actionLogits! });
    if (this.spiking) {
      extra.push({ name: "spikes", type: "int32", values: (e) => recorded[e]!.spikes!, present: (e) => recorded[e]!.spikes!.map((s) => (s >= 0 ? 1 : 0)) });
    }
    return stepsArrowBytes(TRAJECTORIES_FILE, episodes, space, metadata, extra);
  }
}
