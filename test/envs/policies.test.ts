import { test } from "node:test";
import assert from "node:assert/strict";
import { collectEpisodes } from "../../src/eval/collect.js";
import { ENV_IDS, makeEnv } from "../../src/eval/envs/index.js";
import { makePolicy, MIXED_SHARES, randomAction, referenceReturns } from "../../src/eval/policies/index.js";
import { playEpisode } from "../../src/eval/policies/rollout.js";
import { Rng } from "../../src/runtime/rng.js";
import { UsageError } from "../../src/runtime/errors.js";

const EXPERT_BAR: Record<string, number> = {
  "CartPole-v1": 475,
  "MountainCar-v0": -110,
  "MountainCarContinuous-v0": 90,
  "Acrobot-v1": -100,
  "Pendulum-v1": -200,
};

for (const id of ENV_IDS) {
  test(`${id}: the expert averages better than ${EXPERT_BAR[id]} over 100 episodes on unseen seeds`, async () => {
    // Seed 2026 was never used for tuning (tuning and the reference returns use seed 0).
    const { summary } = await collectEpisodes({ envId: id, quality: "expert", episodes: 100, seed: 2026 });
    assert.ok(summary.returns.mean >= EXPERT_BAR[id]!, `${id}: mean expert return ${summary.returns.mean}`);
  });

  test(`${id}: the reference returns are what 100 seed-0 episodes give`, async () => {
    const reference = referenceReturns(id);
    const random = (await collectEpisodes({ envId: id, quality: "random", episodes: 100, seed: 0 })).summary.returns.mean;
    const expert = (await collectEpisodes({ envId: id, quality: "expert", episodes: 100, seed: 0 })).summary.returns.mean;
    assert.ok(Math.abs(random - reference.random) < 1e-9, `${id} random: measured ${random}, stored ${reference.random}`);
    assert.ok(Math.abs(expert - reference.expert) < 1e-9, `${id} expert: measured ${expert}, stored ${reference.expert}`);
    assert.ok(expert > random);
  });

  // Half-way, except Pendulum-v1, whose medium keeps the expert on most steps (MEDIUM_EPSILON says why).
  const [low, high] = id === "Pendulum-v1" ? [0.85, 0.95] : [0.35, 0.65];
  test(`${id}: the medium policy lands at its place between random and expert`, async () => {
    const { random, expert } = referenceReturns(id);
    const medium = (await collectEpisodes({ envId: id, quality: "medium", episodes: 100, seed: 0 })).summary.returns.mean;
    const position = (medium - random) / (expert - random);
    assert.ok(position > low && position < high, `${id}: medium sits at ${position.toFixed(3)} of the random-expert gap, expected (${low}, ${high})`);
  });
}

test("random actions are valid for every action space and cover it", () => {
  const rng = new Rng(5);
  for (const id of ENV_IDS) {
    const space = makeEnv(id).actionSpace;
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const action = randomAction(space, rng);
      if (space.kind === "discrete") {
        assert.ok(typeof action === "number" && Number.isInteger(action) && action >= 0 && action < space.n);
        seen.add(action);
      } else {
        assert.ok(Array.isArray(action) && action.length === space.dim);
        assert.ok(action[0]! >= space.low[0]! && action[0]! <= space.high[0]!);
      }
    }
    if (space.kind === "discrete") assert.equal(seen.size, space.n, id);
  }
});

test("mixed policies blend the three levels per episode, deterministically from the seed", async () => {
  const a = await collectEpisodes({ envId: "Pendulum-v1", quality: "mixed", episodes: 200, seed: 9 });
  const b = await collectEpisodes({ envId: "Pendulum-v1", quality: "mixed", episodes: 200, seed: 9 });
  assert.deepEqual(a.qualities, b.qualities);
  assert.deepEqual(a.episodes[17]!.observations, b.episodes[17]!.observations);
  for (const level of ["expert", "medium", "random"] as const) {
    const share = a.qualities.filter((q) => q === level).length / a.qualities.length;
    assert.ok(Math.abs(share - MIXED_SHARES[level]) < 0.1, `${level} share ${share}`);
    assert.equal(a.summary.byQuality[level]!.episodes, a.qualities.filter((q) => q === level).length);
  }
  const { expert, medium, random } = a.summary.byQuality;
  assert.ok(expert!.mean > medium!.mean && medium!.mean > random!.mean);
  const c = await collectEpisodes({ envId: "Pendulum-v1", quality: "mixed", episodes: 200, seed: 10 });
  assert.notDeepEqual(c.qualities, a.qualities);
});

test("episodes record what was played: actions, float64 returns-to-go, end flags", () => {
  const env = makeEnv("CartPole-v1");
  const policy = makePolicy("CartPole-v1", "random", new Rng(3));
  const played = playEpisode(env, policy, 11);
  const { episode } = played;
  assert.equal(played.quality, "random");
  assert.equal(episode.observations.length, episode.length * 4);
  assert.equal(episode.actions.length, episode.length);
  assert.ok(episode.actions.every((a) => a === 0 || a === 1));
  assert.equal(played.return, episode.length);
  assert.equal(episode.returnsToGo[0], episode.length);
  assert.equal(episode.returnsToGo[episode.length - 1], 1);
  assert.ok(episode.terminated && !episode.truncated);
  // Replaying the recorded actions from the same seeded start reproduces the observations.
  env.reset(11);
  for (let t = 1; t < episode.length; t++) {
    const { observation } = env.step(episode.actions[t - 1]!);
    assert.deepEqual(observation, episode.observations.subarray(t * 4, t * 4 + 4));
  }
});

test("unknown environments and qualities are usage errors", () => {
  assert.throws(() => makePolicy("Pong-v5", "expert", new Rng(0)), UsageError);
  assert.throws(() => makePolicy("CartPole-v1", "great" as "expert", new Rng(0)), /expected one of expert, medium, random, mixed/);
  assert.throws(() => referenceReturns("Pong-v5"), UsageError);
});
