/**
 * Online evaluation: the model acts in an environment, conditioned on a target return.
 *
 * At every step the window of the last K steps is built by the same code as in training
 * (EpisodeHistory -> writeWindow); the return-to-go starts at the target and is reduced by each
 * reward received (the window divides it by rtg_scale); actions are greedy. Episode j of each target
 * uses evaluation seed seeds[j % S]: the target's first episode under a seed resets the environment
 * with that seed, its later ones continue the stream, as Gymnasium does after a seeded reset. So
 * every target meets the same start states, and a target's result does not depend on which other
 * targets were listed: the return-vs-target curve is a paired comparison.
 */
import { performance } from "node:perf_hooks";
import { EpisodeHistory } from "../data/windows.js";
import { SnndtError } from "../runtime/errors.js";
import { yieldToEventLoop } from "../runtime/event-loop.js";
import type { Progress } from "../runtime/progress.js";
import type { ForwardStats } from "../model/index.js";
import { SPIKE_KINDS, type SpikeKind } from "../model/index.js";
import type { Action, StepResult } from "./envs/index.js";
import type { LoadedPolicy } from "./policy.js";
import { decide, isSpiking } from "./policy.js";
import type { TrajectoryRecorder } from "./trajectories.js";

/** What rollouts need of an environment: the built-in ones (sync) and external ones (async) both fit. */
export interface RolloutEnvironment {
  readonly id: string;
  reset(seed?: number): Float32Array | Promise<Float32Array>;
  step(action: Action): StepResult | Promise<StepResult>;
}

export interface EpisodeOutcome {
  target: number;
  seed: number;
  /** Index of this episode among its target's episodes under its seed (the same start state for every target). */
  indexUnderSeed: number;
  return: number;
  length: number;
  terminated: boolean;
  truncated: boolean;
}

/** Sums over decisions of the per-forward counts, for means per decision. */
export class SpikeTally {
  decisions = 0;
  synapticOps = 0;
  macs = 0;
  /** spikes[layer][kind], summed over decisions. */
  readonly spikes: Record<SpikeKind, number>[] = [];

  add(stats: ForwardStats): void {
    this.decisions += 1;
    this.synapticOps += stats.totalSynapticOps;
    this.macs += stats.totalMacs;
    for (const layer of stats.layers) this.addSpikes(layer.layer, layer.spikes);
  }

  /** Add another tally's counts to this one. */
  addAll(other: SpikeTally): void {
    this.decisions += other.decisions;
    this.synapticOps += other.synapticOps;
    this.macs += other.macs;
    other.spikes.forEach((sums, layer) => this.addSpikes(layer, sums));
  }

  private addSpikes(layer: number, spikes: Record<SpikeKind, number>): void {
    const row = (this.spikes[layer] ??= { q: 0, k: 0, v: 0, positional: 0, other: 0 });
    for (const kind of SPIKE_KINDS) row[kind] += spikes[kind];
  }
}

export interface RolloutOptions {
  targets: number[];
  seeds: number[];
  /** Episodes per target, spread over the seeds. */
  episodes: number;
  /**
   * Spike statistics on decisions 0, n, 2n, ... of each episode: a systematic sample over episode
   * positions, since counting runs the full window (~3x the cost of a decision).
   */
  statsEvery: number;
  progress?: Progress;
  /** Called with a seed's environment once its last episode is played (an external child can exit then). */
  release?: (env: RolloutEnvironment) => Promise<void>;
  /** Keeps every step of the finished episodes, in the order of the result's episodes. */
  recorder?: TrajectoryRecorder;
}

export interface RolloutResult {
  episodes: EpisodeOutcome[];
  /** The counted decisions of the finished episodes. */
  tally: SpikeTally;
  /** Set when the environment failed part-way: the episodes above are the finished ones. */
  partial: { reason: string } | null;
}

/** Play `episodes` episodes per target return. Errors of an external environment end the run as partial. */
export async function rollouts(policy: LoadedPolicy, makeEnv: () => Promise<RolloutEnvironment>, options: RolloutOptions): Promise<RolloutResult> {
  const episodes: EpisodeOutcome[] = [];
  const tally = new SpikeTally();
  const history = new EpisodeHistory(policy.spec);
  const envsBySeed = new Map<number, RolloutEnvironment>();
  // Episode j of every target runs under seed j mod |seeds|. Per target, a seed's first episode
  // resets with the seed; its environment (one per seed value, even if the value is listed twice)
  // is released after its last episode of the last target.
  const firstEpisodeOf = new Map<number, number>();
  const lastEpisodeOf = new Map<number, number>();
  for (let j = 0; j < options.episodes; j++) {
    const seed = options.seeds[j % options.seeds.length]!;
    if (!firstEpisodeOf.has(seed)) firstEpisodeOf.set(seed, j);
    lastEpisodeOf.set(seed, j);
  }
  const lastTarget = options.targets.length - 1;
  try {
    for (const [t, target] of options.targets.entries()) {
      const playedUnderSeed = new Map<number, number>();
      for (let j = 0; j < options.episodes; j++) {
        const seed = options.seeds[j % options.seeds.length]!;
        let env = envsBySeed.get(seed);
        if (!env) {
          env = await makeEnv();
          envsBySeed.set(seed, env);
        }
        const reseed = j === firstEpisodeOf.get(seed) ? seed : undefined;
        const outcome = await playEpisode(policy, env, history, target, reseed, tally, options.statsEvery, options.recorder);
        const index = playedUnderSeed.get(seed) ?? 0;
        episodes.push({ ...outcome, seed, indexUnderSeed: index });
        playedUnderSeed.set(seed, index + 1);
        options.progress?.increment(1, { ret: outcome.return.toFixed(1) });
        // A built-in environment never awaits I/O: without this, Ctrl-C would wait for the last episode.
        await yieldToEventLoop();
        if (t === lastTarget && j === lastEpisodeOf.get(seed)) await options.release?.(env);
      }
    }
  } catch (err) {
    if (!(err instanceof SnndtError) || episodes.length === 0) throw err;
    return { episodes, tally, partial: { reason: err.message } };
  }
  return { episodes, tally, partial: null };
}

async function playEpisode(
  policy: LoadedPolicy,
  env: RolloutEnvironment,
  history: EpisodeHistory,
  target: number,
  seed: number | undefined,
  tally: SpikeTally,
  statsEvery: number,
  recorder: TrajectoryRecorder | undefined,
): Promise<Omit<EpisodeOutcome, "seed" | "indexUnderSeed">> {
  history.reset();
  recorder?.startEpisode();
  // Counted into `tally` when the episode finishes, so that a partial evaluation's spike counts
  // are of its finished episodes, as its episodes and trajectories are.
  const counted = new SpikeTally();
  let observation = await env.reset(seed);
  let returnToGo = target;
  let total = 0;
  let length = 0;
  const spiking = isSpiking(policy);
  for (;;) {
    history.observe(observation, returnToGo);
    const decision = decide(policy.runner, history.window(), policy.spec.actionSpace, spiking && length % statsEvery === 0);
    if (decision.stats) counted.add(decision.stats);
    const action = decision.action;
    history.act(typeof action === "number" ? [action] : action);
    const result = await env.step(typeof action === "number" ? action : Array.from(action));
    recorder?.step({ observation, conditionedReturnToGo: returnToGo, scores: decision.scores, action, reward: result.reward, spikes: decision.stats?.totalSpikes ?? null });
    total += result.reward;
    returnToGo -= result.reward;
    length += 1;
    observation = result.observation;
    if (result.terminated || result.truncated) {
      recorder?.endEpisode(result.terminated, result.truncated);
      tally.addAll(counted);
      return { target, return: total, length, terminated: result.terminated, truncated: result.truncated };
    }
  }
}

/** Milliseconds per decision at batch 1 (no spike accounting), over up to `decisions` steps of one episode. */
export async function decisionLatency(policy: LoadedPolicy, env: RolloutEnvironment, target: number, seed: number, decisions: number): Promise<number[]> {
  const history = new EpisodeHistory(policy.spec);
  let observation = await env.reset(seed);
  let returnToGo = target;
  const times: number[] = [];
  warmUp(policy);
  while (times.length < decisions) {
    history.observe(observation, returnToGo);
    const started = performance.now();
    const { action } = decide(policy.runner, history.window(), policy.spec.actionSpace, false);
    times.push(performance.now() - started);
    history.act(typeof action === "number" ? [action] : action);
    const result = await env.step(typeof action === "number" ? action : Array.from(action));
    returnToGo -= result.reward;
    observation = result.observation;
    if (result.terminated || result.truncated) {
      history.reset();
      observation = await env.reset();
      returnToGo = target;
      await yieldToEventLoop();
    }
  }
  return times;
}

/** One untimed decision so that kernel set-up and first-call allocations are not measured. */
export function warmUp(policy: LoadedPolicy): void {
  const history = new EpisodeHistory(policy.spec);
  history.observe(new Float32Array(policy.spec.obsDim), 0);
  decide(policy.runner, history.window(), policy.spec.actionSpace, false);
}
