import { test } from "node:test";
import assert from "node:assert/strict";
import { allocateBatch, EpisodeHistory, WindowSampler, writeWindow, type WindowSpec } from "../../src/data/windows.js";
import type { Episode } from "../../src/data/types.js";
import { Rng } from "../../src/runtime/rng.js";

function makeEpisode(length: number, obsDim: number, seed: number): Episode {
  const rng = new Rng(seed);
  const observations = Float32Array.from({ length: length * obsDim }, () => rng.normal());
  const actions = Float32Array.from({ length }, () => rng.int(3));
  const rewards = Float32Array.from({ length }, () => rng.uniform());
  const returnsToGo = new Float32Array(length);
  let g = 0;
  for (let t = length - 1; t >= 0; t--) {
    g += rewards[t]!;
    returnsToGo[t] = g;
  }
  return { length, observations, actions, rewards, returnsToGo, terminated: true, truncated: false };
}

const spec: WindowSpec = {
  context: 4,
  obsDim: 2,
  actionSpace: { kind: "discrete", n: 3 },
  rtgScale: 10,
  stateStats: { mean: [0.5, -1], std: [2, 0] },
  maxEpLen: 50,
};

test("a window at the episode start is left-padded and masked; values are scaled and normalised", () => {
  const ep = makeEpisode(6, 2, 1);
  const batch = allocateBatch(1, spec);
  batch.states.fill(99); // stale values must be overwritten
  writeWindow(batch, 0, ep, 1, spec);
  assert.deepEqual(Array.from(batch.mask), [0, 0, 1, 1]);
  assert.deepEqual(Array.from(batch.timesteps), [0, 0, 0, 1]);
  assert.deepEqual(Array.from(batch.states.slice(0, 4)), [0, 0, 0, 0]);
  assert.ok(Math.abs(batch.returnsToGo[2]! - ep.returnsToGo[0]! / 10) < 1e-6);
  assert.ok(Math.abs(batch.returnsToGo[3]! - ep.returnsToGo[1]! / 10) < 1e-6);
  // The mean is subtracted; a dimension of std 0 (constant in the data) is centred, not scaled, so
  // a value it takes at evaluation reaches the model as it is (not divided by a tiny floor).
  assert.ok(Math.abs(batch.states[4]! - (ep.observations[0]! - 0.5) / 2) < 1e-6);
  assert.ok(Math.abs(batch.states[5]! - (ep.observations[1]! + 1)) < 1e-6);
  assert.equal(batch.actions[2], ep.actions[0]);
  assert.equal(batch.actions[3], ep.actions[1]);
});

test("a window in the middle covers the last K steps with no padding", () => {
  const ep = makeEpisode(10, 2, 2);
  const batch = allocateBatch(1, spec);
  writeWindow(batch, 0, ep, 7, spec);
  assert.deepEqual(Array.from(batch.mask), [1, 1, 1, 1]);
  assert.deepEqual(Array.from(batch.timesteps), [4, 5, 6, 7]);
});

test("training windows and evaluation windows agree step by step (except the unknown current action)", () => {
  const ep = makeEpisode(9, 2, 3);
  const train = allocateBatch(1, spec);
  const history = new EpisodeHistory(spec);
  let rewardSoFar = 0;
  const target = ep.returnsToGo[0]!;
  for (let t = 0; t < ep.length; t++) {
    history.observe(ep.observations.subarray(t * 2, t * 2 + 2), target - rewardSoFar);
    const evalWindow = history.window();
    writeWindow(train, 0, ep, t, spec);
    assert.deepEqual(Array.from(evalWindow.mask), Array.from(train.mask), `mask at t=${t}`);
    assert.deepEqual(Array.from(evalWindow.timesteps), Array.from(train.timesteps), `timesteps at t=${t}`);
    assert.deepEqual(Array.from(evalWindow.states), Array.from(train.states), `states at t=${t}`);
    for (let i = 0; i < spec.context; i++) {
      assert.ok(Math.abs(evalWindow.returnsToGo[i]! - train.returnsToGo[i]!) < 1e-5, `rtg at t=${t} slot ${i}`);
    }
    // every action but the current one (last slot) is the same; the current one is 0 at eval
    assert.deepEqual(Array.from(evalWindow.actions.slice(0, -1)), Array.from(train.actions.slice(0, -1)));
    assert.equal(evalWindow.actions[spec.context - 1], 0);
    history.act([ep.actions[t]!]);
    rewardSoFar += ep.rewards[t]!;
  }
});

test("timesteps at or beyond max_ep_len are an error, never clipped", () => {
  const ep = makeEpisode(60, 2, 4);
  const batch = allocateBatch(1, spec);
  assert.throws(() => writeWindow(batch, 0, ep, 50, spec), /max_ep_len/);
  assert.throws(() => new WindowSampler([ep], spec), /max_ep_len to at least 60/);
  const history = new EpisodeHistory(spec);
  for (let t = 0; t < 50; t++) history.observe([0, 0], 0);
  assert.throws(() => history.observe([0, 0], 0), /max_ep_len/);
});

test("the sampler is seeded and weights episodes by length", () => {
  const episodes = [makeEpisode(5, 2, 5), makeEpisode(45, 2, 6)];
  const sampler = new WindowSampler(episodes, spec);
  const a = allocateBatch(2000, spec);
  const b = allocateBatch(2000, spec);
  const idsA = sampler.sample(a, new Rng(11));
  const idsB = sampler.sample(b, new Rng(11));
  assert.deepEqual(Array.from(idsA), Array.from(idsB));
  assert.deepEqual(Array.from(a.states), Array.from(b.states));
  const shortShare = idsA.filter((id) => id === 0).length / idsA.length;
  assert.ok(Math.abs(shortShare - 0.1) < 0.03, `short episode drawn ${shortShare} of the time, expected ~0.1`);
});
