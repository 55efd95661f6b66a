/**
 * `snndt collect`'s engine: play a behaviour policy in a built-in environment for a number of
 * episodes and summarise the returns. Everything is a function of (env, policy, episodes, seed):
 * the environment's first reset takes the seed and later resets continue its stream, and the
 * policy draws from Rng.derive(seed, "collect:policy").
 */
import { writeStepsArrow } from "../data/arrow-writer.js";
import { collectedByMetadata } from "../data/raw.js";
import type { Episode } from "../data/types.js";
import { UsageError } from "../runtime/errors.js";
import { Rng } from "../runtime/rng.js";
import { makeEnv } from "./envs/index.js";
import { makePolicy, type EpisodeQuality, type Quality } from "./policies/index.js";
import { playEpisode } from "./policies/rollout.js";
import { extent } from "../data/summary.js";
import { yieldToEventLoop } from "../runtime/event-loop.js";

export interface CollectOptions {
  envId: string;
  quality: Quality;
  episodes: number;
  seed: number;
  /** Called after every episode (progress bars). */
  onEpisode?: (done: number, lastReturn: number) => void;
}

export interface ReturnStats {
  episodes: number;
  steps: number;
  mean: number;
  min: number;
  max: number;
}

export interface CollectSummary {
  env: string;
  policy: Quality;
  seed: number;
  returns: ReturnStats;
  /** Per episode level; for a single-level policy, just that level. */
  byQuality: Partial<Record<EpisodeQuality, ReturnStats>>;
}

export interface CollectResult {
  episodes: Episode[];
  /** The level each episode was played at, in episode order. */
  qualities: EpisodeQuality[];
  summary: CollectSummary;
}

/** How often the loop hands control back (ms), so Ctrl-C and progress redraws are served meanwhile. */
const YIELD_EVERY_MS = 50;

export async function collectEpisodes(options: CollectOptions): Promise<CollectResult> {
  const { envId, quality, episodes: count, seed } = options;
  if (!Number.isInteger(count) || count < 1) throw new UsageError(`--episodes must be a positive integer, got ${count}`);
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed must be a non-negative integer, got ${seed}`);
  const env = makeEnv(envId);
  const policy = makePolicy(envId, quality, Rng.derive(seed, "collect:policy"));
  const episodes: Episode[] = [];
  const qualities: EpisodeQuality[] = [];
  const returns: number[] = [];
  let lastYield = performance.now();
  for (let i = 0; i < count; i++) {
    if (performance.now() - lastYield > YIELD_EVERY_MS) {
      await yieldToEventLoop();
      lastYield = performance.now();
    }
    const played = playEpisode(env, policy, i === 0 ? seed : undefined);
    episodes.push(played.episode);
    qualities.push(played.quality);
    returns.push(played.return);
    options.onEpisode?.(i + 1, played.return);
  }
  const byQuality: Partial<Record<EpisodeQuality, ReturnStats>> = {};
  for (const level of ["expert", "medium", "random"] as const) {
    const picked = qualities.flatMap((q, i) => (q === level ? [i] : []));
    if (picked.length > 0) {
      byQuality[level] = returnStats(
        picked.map((i) => returns[i]!),
        picked.map((i) => episodes[i]!.length),
      );
    }
  }
  return {
    episodes,
    qualities,
    summary: {
      env: envId,
      policy: quality,
      seed,
      returns: returnStats(
        returns,
        episodes.map((e) => e.length),
      ),
      byQuality,
    },
  };
}

/**
 * Write a collection as a per-step Arrow file (atomically), with its provenance in the schema
 * metadata: env, policy, seed, episode count and each episode's level. Nothing else (no time,
 * no version) goes in, so the same command and seed give the same bytes.
 */
export async function writeCollection(file: string, result: CollectResult): Promise<void> {
  const { summary } = result;
  await writeStepsArrow(file, result.episodes, makeEnv(summary.env).actionSpace, {
    ...collectedByMetadata({ env: summary.env, policy: summary.policy, seed: summary.seed }),
    "snndt.episodes": String(result.episodes.length),
    "snndt.episode_qualities": result.qualities.join(","),
  });
}

function returnStats(returns: number[], lengths: number[]): ReturnStats {
  let sum = 0;
  for (const r of returns) sum += r;
  return {
    episodes: returns.length,
    steps: lengths.reduce((a, b) => a + b, 0),
    mean: sum / returns.length,
    ...extent(returns),
  };
}
