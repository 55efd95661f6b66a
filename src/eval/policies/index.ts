/**
 * Behaviour policies for collecting offline datasets, at four quality levels:
 * - `expert`: the scripted controller of experts.ts;
 * - `medium`: the expert, but each step with probability ε a uniformly random action, ε chosen
 *   per environment so the mean return lies roughly half-way between random and expert (Pendulum:
 *   nearer expert, see MEDIUM_EPSILON);
 * - `random`: uniform random actions;
 * - `mixed`: each episode is played at one of the three levels, drawn with probabilities
 *   MIXED_SHARES (expert-heavy, so offline RL on the data can reach expert returns).
 * All randomness comes from the Rng passed in.
 */
import type { ActionSpace } from "../../data/types.js";
import { UsageError } from "../../runtime/errors.js";
import type { Rng } from "../../runtime/rng.js";
import { ENV_IDS, makeEnv, type Action } from "../envs/index.js";
import {
  acrobotExpert,
  cartPoleExpert,
  createMountainCarExpert,
  mountainCarContinuousExpert,
  pendulumExpert,
} from "./experts.js";

export const QUALITIES = ["expert", "medium", "random", "mixed"] as const;
export type Quality = (typeof QUALITIES)[number];
/** The level an individual episode is played at. */
export type EpisodeQuality = Exclude<Quality, "mixed">;

export interface Policy {
  readonly envId: string;
  readonly quality: Quality;
  /** The level of the current episode (for `mixed`, drawn by `startEpisode`). */
  readonly episodeQuality: EpisodeQuality;
  /** Call at the start of every episode (mixed policies draw the episode's level here). */
  startEpisode(): void;
  act(observation: Float32Array): Action;
}

/** Shares of the episode levels in a `mixed` policy. */
export const MIXED_SHARES: Readonly<Record<EpisodeQuality, number>> = { expert: 0.45, medium: 0.3, random: 0.25 };

/**
 * Per-step probability of a random action in `medium` policies, tuned so the mean return over 100
 * seeded episodes is near (random + expert) / 2: found by bisection on ε with `--seed 0`
 * (test/envs/policies.test.ts checks the result stays within 15% of the random-expert gap).
 * Pendulum-v1 is the exception: at the half-way ε (0.64) random torques knock the pendulum off the
 * top before the expert can catch it, so the data holds almost no recovery near upright, and the
 * models trained on it did not balance reliably (3-seed means 48-73 normalised). At 0.3 the expert
 * still acts on most steps and catches most pushes: medium lands at 0.91 of the gap (the test
 * checks 0.85-0.95).
 */
export const MEDIUM_EPSILON: Readonly<Record<string, number>> = {
  "CartPole-v1": 0.45,
  "MountainCar-v0": 0.19,
  "MountainCarContinuous-v0": 0.91,
  "Acrobot-v1": 0.77,
  "Pendulum-v1": 0.3,
};

/**
 * Mean undiscounted return of 100 episodes of the `random` and `expert` policies: the 0 and 100
 * marks of D4RL-style normalised scores, 100 · (R − random) / (expert − random). Measured with
 *   snndt collect --env <id> --policy <random|expert> --episodes 100 --seed 0 --out <tmp> --json
 * (the summary's mean return); test/envs/policies.test.ts recomputes them.
 */
const REFERENCE_RETURNS: Readonly<Record<string, { random: number; expert: number }>> = {
  "CartPole-v1": { random: 22.61, expert: 500 },
  "MountainCar-v0": { random: -200, expert: -102.59 },
  "MountainCarContinuous-v0": { random: -33.29355619243094, expert: 92.7260000000004 },
  "Acrobot-v1": { random: -495.68, expert: -81.53 },
  "Pendulum-v1": { random: -1261.3272358038816, expert: -163.6042008708159 },
};

export function referenceReturns(envId: string): { random: number; expert: number } {
  const reference = Object.hasOwn(REFERENCE_RETURNS, envId) ? REFERENCE_RETURNS[envId] : undefined;
  if (!reference) throw new UsageError(`no reference returns for "${envId}"; known environments: ${ENV_IDS.join(", ")}`);
  return { ...reference };
}

function expertFor(envId: string): (observation: Float32Array) => Action {
  switch (envId) {
    case "CartPole-v1":
      return cartPoleExpert;
    case "MountainCar-v0":
      return createMountainCarExpert();
    case "MountainCarContinuous-v0":
      return mountainCarContinuousExpert;
    case "Acrobot-v1":
      return acrobotExpert;
    case "Pendulum-v1":
      return pendulumExpert;
    default:
      throw new UsageError(`no expert controller for "${envId}"; known environments: ${ENV_IDS.join(", ")}`);
  }
}

/** A uniformly random action: an index for discrete spaces, a point of the box for continuous. */
export function randomAction(space: ActionSpace, rng: Rng): Action {
  if (space.kind === "discrete") return rng.int(space.n);
  return space.low.map((low, i) => rng.uniformRange(low, space.high[i]!));
}

export function makePolicy(envId: string, quality: Quality, rng: Rng): Policy {
  if (!(QUALITIES as readonly string[]).includes(quality)) {
    throw new UsageError(`unknown policy quality "${quality}"; expected one of ${QUALITIES.join(", ")}`);
  }
  const expert = expertFor(envId);
  const space = makeEnv(envId).actionSpace;
  const epsilon = MEDIUM_EPSILON[envId]!;
  let episodeQuality: EpisodeQuality = quality === "mixed" ? "expert" : quality;
  return {
    envId,
    quality,
    get episodeQuality() {
      return episodeQuality;
    },
    startEpisode() {
      if (quality !== "mixed") return;
      const u = rng.uniform();
      episodeQuality = u < MIXED_SHARES.expert ? "expert" : u < MIXED_SHARES.expert + MIXED_SHARES.medium ? "medium" : "random";
    },
    act(observation) {
      switch (episodeQuality) {
        case "expert":
          return expert(observation);
        case "random":
          return randomAction(space, rng);
        case "medium":
          // Draw the random action only when it is used, so the stream stays short and simple.
          return rng.uniform() < epsilon ? randomAction(space, rng) : expert(observation);
      }
    },
  };
}
