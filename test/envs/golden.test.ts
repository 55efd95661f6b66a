/**
 * Fidelity against Gymnasium itself: replays of traces recorded from Gymnasium's classic_control
 * environments (test/fixtures/gymnasium-classic-control.json, copied from /work/shared/golden).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { FIXTURES } from "../helpers/paths.js";
import { makeEnv } from "../../src/eval/envs/index.js";

interface Trace {
  env: string;
  start_state: number[];
  start_obs: number[];
  actions: (number | number[])[];
  obs: number[][];
  rewards: number[];
  terminated: boolean[];
  truncated: boolean[];
}

const golden = JSON.parse(readFileSync(path.join(FIXTURES, "gymnasium-classic-control.json"), "utf8")) as {
  traces: Trace[];
};
const OBS_TOLERANCE = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "observation length");
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/**
 * Pendulum's reward is a float64 sum of squares of a state that has been through ~100 sin() calls;
 * V8's sin and numpy's libm sin may differ in the last bit, which shows in the reward's last bits
 * late in an episode (observed: a few ulp, from step 137 of one trace). Everything else is
 * compared exactly.
 */
function rewardsAgree(env: string, ours: number, theirs: number): boolean {
  if (env === "Pendulum-v1") return Math.abs(ours - theirs) <= 1e-12 * Math.max(1, Math.abs(theirs));
  return ours === theirs;
}

/** Replays `steps` actions of a trace from its recorded start state. */
function replay(trace: Trace, steps: number): void {
  const env = makeEnv(trace.env);
  const startObs = env.reset(0);
  assert.ok(startObs instanceof Float32Array);
  env.setState(trace.start_state);
  for (let i = 0; i < steps; i++) {
    const result = env.step(trace.actions[i]!);
    assert.ok(result.observation instanceof Float32Array);
    const err = maxAbsDiff(result.observation, trace.obs[i]!);
    assert.ok(err <= OBS_TOLERANCE, `${trace.env} step ${i}: observation off by ${err}`);
    assert.ok(
      rewardsAgree(trace.env, result.reward, trace.rewards[i]!),
      `${trace.env} step ${i}: reward ${result.reward}, Gymnasium ${trace.rewards[i]}`,
    );
    assert.equal(result.terminated, trace.terminated[i], `${trace.env} step ${i}: terminated`);
    assert.equal(result.truncated, trace.truncated[i], `${trace.env} step ${i}: truncated`);
  }
}

test("the golden file covers every environment with terminations and truncations", () => {
  const envs = new Set(golden.traces.map((t) => t.env));
  assert.deepEqual([...envs].sort(), [
    "Acrobot-v1",
    "CartPole-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Pendulum-v1",
  ]);
  assert.ok(golden.traces.some((t) => t.terminated.at(-1)));
  assert.ok(golden.traces.some((t) => t.truncated.at(-1)));
});

for (const [index, trace] of golden.traces.entries()) {
  test(`${trace.env} trace ${index}: whole episode (${trace.actions.length} steps) matches Gymnasium`, () => {
    replay(trace, trace.actions.length);
  });
}

const acrobotTraces = golden.traces.filter((t) => t.env === "Acrobot-v1");

for (const [index, trace] of acrobotTraces.entries()) {
  test(`Acrobot-v1 trace ${index}: one step from every recorded observation matches Gymnasium`, () => {
    // The observation holds cos/sin of the angles as float32: atan2 recovers each angle to about
    // 1e-7 rad, and one 0.2 s RK4 step amplifies that far less than the 1e-4 tolerance.
    const env = makeEnv("Acrobot-v1");
    const observations = [trace.start_obs, ...trace.obs];
    for (let i = 0; i < trace.actions.length; i++) {
      const [c1, s1, c2, s2, v1, v2] = observations[i]! as [number, number, number, number, number, number];
      env.reset(0);
      env.setState([Math.atan2(s1, c1), Math.atan2(s2, c2), v1, v2]);
      const result = env.step(trace.actions[i]!);
      const err = maxAbsDiff(result.observation, trace.obs[i]!);
      assert.ok(err <= OBS_TOLERANCE, `step ${i}: observation off by ${err}`);
      assert.equal(result.reward, trace.rewards[i], `step ${i}: reward`);
      assert.equal(result.terminated, trace.terminated[i], `step ${i}: terminated`);
    }
  });
}

test("MountainCarContinuous keeps Gymnasium's float32 state: observations are bit-identical", () => {
  // Gymnasium stores this environment's state as float32 after every step; a float64 state drifts
  // from it by up to ~2e-5 over 999 steps (inside the 1e-4 tolerance, so checked separately here).
  for (const trace of golden.traces.filter((t) => t.env === "MountainCarContinuous-v0")) {
    const env = makeEnv(trace.env);
    env.reset(0);
    env.setState(trace.start_state);
    trace.actions.forEach((action, i) => {
      assert.deepEqual(Array.from(env.step(action).observation), trace.obs[i], `step ${i}`);
    });
  }
});
