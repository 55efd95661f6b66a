/**
 * Measures on held-out data, no environment needed. Offline action quality: how well the model
 * reproduces the dataset's actions on held-out episodes, from the same windows training and
 * rollouts use. Each window ends at one step; the prediction for that step (from its state token)
 * is compared with the recorded action: accuracy of the argmax for discrete actions, mean squared
 * error for continuous ones. And the replay of those episodes through the decision path, for
 * spikes, operations and latency per decision (`eval --offline`, for runs without a simulator).
 */
import { performance } from "node:perf_hooks";
import { tf } from "../runtime/backend.js";
import type { Progress } from "../runtime/progress.js";
import { yieldToEventLoop } from "../runtime/event-loop.js";
import { actionWidth, type Episode } from "../data/types.js";
import { allocateBatch, EpisodeHistory, writeWindow, type WindowSpec } from "../data/windows.js";
import { disposeInputs, inputsFromBatch, type SequenceModel } from "../model/index.js";
import { decide, isSpiking, type LoadedPolicy } from "./policy.js";
import { SpikeTally, warmUp } from "./rollout.js";

export interface OfflineQuality {
  episodes: number;
  /** Windows evaluated (every step, or an evenly spaced subset of at most maxWindows). */
  windows: number;
  accuracy: number | null;
  mse: number | null;
}

/** The quality, and which of `episodes` (positions in the list) had at least one window measured. */
export async function offlineActionQuality(
  model: SequenceModel,
  episodes: Episode[],
  spec: WindowSpec,
  maxWindows = 2048,
  batchSize = 64,
): Promise<{ quality: OfflineQuality; measured: number[] }> {
  const ends: [number, number][] = [];
  episodes.forEach((ep, e) => {
    for (let t = 0; t < ep.length; t++) ends.push([e, t]);
  });
  const count = Math.min(ends.length, maxWindows);
  const chosen = Array.from({ length: count }, (_, i) => ends[Math.floor((i * ends.length) / count)]!);
  const discrete = spec.actionSpace.kind === "discrete";
  const width = spec.actionSpace.kind === "discrete" ? 1 : spec.actionSpace.dim;
  let hits = 0;
  let squaredError = 0;
  for (let start = 0; start < chosen.length; start += batchSize) {
    const part = chosen.slice(start, start + batchSize);
    const batch = allocateBatch(part.length, spec);
    part.forEach(([e, t], row) => writeWindow(batch, row, episodes[e]!, t, spec));
    const inputs = inputsFromBatch(batch);
    const output = model.forward(inputs, { training: false });
    const k = spec.context;
    const predictions = tf.tidy(() => output.actions.slice([0, k - 1, 0], [part.length, 1, -1]).reshape([part.length, -1]));
    const values = predictions.dataSync();
    const outWidth = predictions.shape[1]!;
    tf.dispose([predictions, output.actions]);
    disposeInputs(inputs);
    part.forEach(([e, t], row) => {
      const recorded = episodes[e]!.actions.subarray(t * width, (t + 1) * width);
      if (discrete) {
        let best = 0;
        for (let a = 1; a < outWidth; a++) if (values[row * outWidth + a]! > values[row * outWidth + best]!) best = a;
        if (best === recorded[0]) hits += 1;
      } else {
        for (let d = 0; d < width; d++) squaredError += (values[row * outWidth + d]! - recorded[d]!) ** 2;
      }
    });
    await yieldToEventLoop();
  }
  const n = chosen.length;
  const quality = {
    episodes: episodes.length,
    windows: n,
    accuracy: discrete && n > 0 ? hits / n : null,
    mse: !discrete && n > 0 ? squaredError / (n * width) : null,
  };
  return { quality, measured: [...new Set(chosen.map(([e]) => e))] };
}

/** Spike counts on at most this many replayed decisions: beyond it the sample is thinned evenly. */
export const MAX_COUNTED_DECISIONS = 2048;

export interface ReplayMeasures {
  tally: SpikeTally;
  /** Decisions at 0, n, 2n, ... of each episode, before thinning to at most MAX_COUNTED_DECISIONS. */
  candidates: number;
  /** Milliseconds of batch-1 decisions without spike accounting. */
  latencyMs: number[];
}

/**
 * Decisions without an environment: the episodes are replayed through the decision path as a rollout
 * plays an episode (EpisodeHistory, the same windows), with the data's states, returns-to-go and
 * actions in place of an environment's. Spikes and operations are counted on decisions 0, n, 2n, ...
 * of each episode, as rollouts count them; a list of those longer than MAX_COUNTED_DECISIONS is
 * thinned evenly, which keeps its mix of positions. Then, as online evaluation times decisions after
 * its episodes, the first `latencyDecisions` consecutive decisions are timed.
 */
export async function replayDecisions(
  policy: LoadedPolicy,
  episodes: Episode[],
  options: { statsEvery: number; latencyDecisions: number; progress?: Progress },
): Promise<ReplayMeasures> {
  const { obsDim, actionSpace } = policy.spec;
  const width = actionWidth(actionSpace);
  const history = new EpisodeHistory(policy.spec);
  const replay = (episode: Episode, t: number, act: () => void): void => {
    history.observe(episode.observations.subarray(t * obsDim, (t + 1) * obsDim), episode.returnsToGo[t]!);
    act();
    history.act(episode.actions.subarray(t * width, (t + 1) * width));
  };

  const candidates: [number, number][] = [];
  if (isSpiking(policy)) {
    episodes.forEach((ep, e) => {
      for (let t = 0; t < ep.length; t += options.statsEvery) candidates.push([e, t]);
    });
  }
  const count = Math.min(candidates.length, MAX_COUNTED_DECISIONS);
  // Increasing indices into a list ordered by (episode, step): the counted decisions in replay order.
  const counted = Array.from({ length: count }, (_, i) => candidates[Math.floor((i * candidates.length) / count)]!);
  const tally = new SpikeTally();
  let next = 0;
  for (const [e, episode] of episodes.entries()) {
    history.reset();
    for (let t = 0; next < count && counted[next]![0] === e; t++) {
      replay(episode, t, () => {
        if (counted[next]![1] !== t) return;
        tally.add(decide(policy.runner, history.window(), actionSpace, true).stats!);
        next += 1;
      });
    }
    options.progress?.increment(1);
    await yieldToEventLoop();
  }

  warmUp(policy);
  const latencyMs: number[] = [];
  for (const episode of episodes) {
    if (latencyMs.length >= options.latencyDecisions) break;
    history.reset();
    for (let t = 0; t < episode.length && latencyMs.length < options.latencyDecisions; t++) {
      replay(episode, t, () => {
        const started = performance.now();
        decide(policy.runner, history.window(), actionSpace, false);
        latencyMs.push(performance.now() - started);
      });
    }
    await yieldToEventLoop();
  }
  return { tally, candidates: candidates.length, latencyMs };
}
