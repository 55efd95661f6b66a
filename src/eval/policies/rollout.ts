/**
 * Playing a policy in an environment: the loop shared by `snndt collect`, the reference-return
 * measurement and the policy tests.
 */
import type { Episode } from "../../data/types.js";
import { actionWidth } from "../../data/types.js";
import type { Environment } from "../envs/index.js";
import type { EpisodeQuality, Policy } from "./index.js";

export interface PlayedEpisode {
  episode: Episode;
  quality: EpisodeQuality;
  /** The undiscounted return, summed in float64. */
  return: number;
}

/**
 * Play one episode from `env.reset(seed)` (or an unseeded reset continuing the env's stream).
 * Actions are recorded as the policy gave them (discrete: the index), rewards as float32, and
 * returns-to-go G_t = Σ_{k≥t} r_k accumulated in float64 from the end, then stored as float32.
 */
export function playEpisode(env: Environment, policy: Policy, seed?: number): PlayedEpisode {
  const obsDim = env.observationSpace.shape[0];
  const width = actionWidth(env.actionSpace);
  const observations: number[] = [];
  const actions: number[] = [];
  const rewards: number[] = [];
  policy.startEpisode();
  let observation = env.reset(seed);
  let terminated = false;
  let truncated = false;
  while (!terminated && !truncated) {
    const action = policy.act(observation);
    for (let i = 0; i < obsDim; i++) observations.push(observation[i]!);
    if (typeof action === "number") actions.push(action);
    else for (let i = 0; i < width; i++) actions.push(action[i]!);
    const result = env.step(action);
    rewards.push(result.reward);
    observation = result.observation;
    terminated = result.terminated;
    truncated = result.truncated;
  }
  const length = rewards.length;
  const returnsToGo = new Float32Array(length);
  let suffix = 0;
  for (let t = length - 1; t >= 0; t--) {
    suffix += rewards[t]!;
    returnsToGo[t] = suffix;
  }
  return {
    episode: {
      length,
      observations: Float32Array.from(observations),
      actions: Float32Array.from(actions),
      rewards: Float32Array.from(rewards),
      returnsToGo,
      terminated,
      truncated,
    },
    quality: policy.episodeQuality,
    return: suffix,
  };
}
