import { test } from "node:test";
import assert from "node:assert/strict";
import { ENV_IDS, EnvironmentError, makeEnv } from "../../src/eval/envs/index.js";
import { UsageError } from "../../src/runtime/errors.js";

test("ENV_IDS lists the five classic-control environments and makeEnv builds each", () => {
  assert.deepEqual([...ENV_IDS].sort(), [
    "Acrobot-v1",
    "CartPole-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Pendulum-v1",
  ]);
  const expected: Record<string, [number, number, number | undefined]> = {
    "CartPole-v1": [4, 500, 475],
    "MountainCar-v0": [2, 200, -110],
    "MountainCarContinuous-v0": [2, 999, 90],
    "Acrobot-v1": [6, 500, -100],
    "Pendulum-v1": [3, 200, undefined],
  };
  for (const id of ENV_IDS) {
    const env = makeEnv(id);
    const [obsDim, limit, threshold] = expected[id]!;
    assert.equal(env.id, id);
    assert.deepEqual(env.observationSpace.shape, [obsDim]);
    assert.equal(env.observationSpace.low.length, obsDim);
    assert.equal(env.maxEpisodeSteps, limit);
    assert.equal(env.rewardThreshold, threshold);
    const obs = env.reset(1);
    assert.ok(obs instanceof Float32Array && obs.length === obsDim);
  }
});

test("an unknown id is a usage error naming the known ids", () => {
  assert.throws(() => makeEnv("LunarLander-v3"), (err: unknown) => {
    assert.ok(err instanceof UsageError);
    assert.match(err.message, /LunarLander-v3/);
    assert.match(err.message, /CartPole-v1, MountainCar-v0/);
    return true;
  });
});

test("reset with a seed is deterministic; different seeds and unseeded resets give new starts", () => {
  for (const id of ENV_IDS) {
    const a = makeEnv(id);
    const b = makeEnv(id);
    assert.deepEqual(a.reset(42), b.reset(42), id);
    assert.deepEqual(a.getState(), b.getState(), id);
    assert.notDeepEqual(a.reset(43), b.reset(42), id);
    // Unseeded resets continue the stream: reproducible, but not a repeat of the last start.
    const first = b.reset();
    assert.notDeepEqual(first, b.reset(42), id);
    a.reset(42);
    assert.deepEqual(a.reset(), first, id);
  }
});

test("start states follow Gymnasium's initial distributions", () => {
  const cases: Record<string, [number, number][]> = {
    "CartPole-v1": [[-0.05, 0.05], [-0.05, 0.05], [-0.05, 0.05], [-0.05, 0.05]],
    "MountainCar-v0": [[-0.6, -0.4], [0, 0]],
    "MountainCarContinuous-v0": [[-0.6, -0.4], [0, 0]],
    "Acrobot-v1": [[-0.1, 0.1], [-0.1, 0.1], [-0.1, 0.1], [-0.1, 0.1]],
    "Pendulum-v1": [[-Math.PI, Math.PI], [-1, 1]],
  };
  for (const id of ENV_IDS) {
    const env = makeEnv(id);
    const ranges = cases[id]!;
    const seen = ranges.map(() => ({ min: Infinity, max: -Infinity, sum: 0 }));
    const n = 2000;
    env.reset(7);
    for (let k = 0; k < n; k++) {
      const state = env.getState();
      state.forEach((v, i) => {
        seen[i]!.min = Math.min(seen[i]!.min, v);
        seen[i]!.max = Math.max(seen[i]!.max, v);
        seen[i]!.sum += v;
      });
      env.reset();
    }
    ranges.forEach(([low, high], i) => {
      const s = seen[i]!;
      const width = high - low;
      assert.ok(s.min >= low && s.max <= high, `${id} state[${i}] in [${low}, ${high}]: saw [${s.min}, ${s.max}]`);
      if (width > 0) {
        // Uniform: 2000 draws reach within 1% of each end, and the mean is central.
        assert.ok(s.min < low + 0.01 * width && s.max > high - 0.01 * width, `${id} state[${i}] spread`);
        assert.ok(Math.abs(s.sum / n - (low + high) / 2) < 0.05 * width, `${id} state[${i}] mean`);
      }
    });
  }
});

test("discrete actions must be integers in range", () => {
  const env = makeEnv("CartPole-v1");
  env.reset(0);
  for (const bad of [2, -1, 0.5, Number.NaN, [1], "1" as unknown as number]) {
    assert.throws(() => env.step(bad as number), (err: unknown) => {
      assert.ok(err instanceof EnvironmentError);
      assert.match(err.message, /CartPole-v1: expected a discrete action, an integer in \[0, 1\]/);
      return true;
    });
  }
  // The failed calls did not advance the episode.
  assert.equal(env.step(1).terminated, false);
});

test("continuous actions are clipped like Gymnasium; wrong length or non-finite is an error", () => {
  const env = makeEnv("Pendulum-v1");
  const clippedRun = makeEnv("Pendulum-v1");
  env.reset(3);
  clippedRun.reset(3);
  const big = env.step([7.5]);
  const atBound = clippedRun.step(Float32Array.of(2));
  assert.deepEqual(big.observation, atBound.observation);
  assert.equal(big.reward, atBound.reward);
  assert.deepEqual(env.step(-9).observation, clippedRun.step([-2]).observation);
  for (const bad of [[1, 2], [], [Number.NaN], [Number.POSITIVE_INFINITY]]) {
    assert.throws(() => env.step(bad), EnvironmentError);
  }
  assert.throws(() => env.step([1, 2]), /expected a continuous action of length 1/);

  // MountainCarContinuous moves with the clipped force but charges the unclipped action.
  const car = makeEnv("MountainCarContinuous-v0");
  const carClipped = makeEnv("MountainCarContinuous-v0");
  car.reset(5);
  carClipped.reset(5);
  const r3 = car.step([3]);
  const r1 = carClipped.step([1]);
  assert.deepEqual(r3.observation, r1.observation);
  assert.ok(Math.abs(r3.reward - -0.9) < 1e-12 && Math.abs(r1.reward - -0.1) < 1e-12);
});

test("stepping before reset or after the episode ended is an error", () => {
  const env = makeEnv("MountainCar-v0");
  assert.throws(() => env.step(1), /before reset/);
  env.reset(0);
  let steps = 0;
  let last;
  do {
    last = env.step(1);
    steps++;
  } while (!last.terminated && !last.truncated);
  // Doing nothing never reaches the hilltop: the time limit ends the episode at exactly 200 steps.
  assert.equal(steps, 200);
  assert.equal(last.truncated, true);
  assert.equal(last.terminated, false);
  assert.throws(() => env.step(1), /after the episode ended/);
  env.reset();
  assert.doesNotThrow(() => env.step(1));
});

test("a terminated CartPole episode ends with reward 1 and terminated before the limit", () => {
  const env = makeEnv("CartPole-v1");
  env.reset(0);
  let steps = 0;
  let last;
  do {
    last = env.step(1); // always push right: the pole falls within a few dozen steps
    steps++;
    assert.equal(last.reward, 1);
  } while (!last.terminated && !last.truncated);
  assert.ok(last.terminated && !last.truncated && steps < 60, `ended after ${steps}`);
});

test("setState checks its input", () => {
  const env = makeEnv("Acrobot-v1");
  assert.throws(() => env.setState([0, 0, 0]), /setState expects 4 finite numbers/);
  assert.throws(() => env.setState([0, 0, Number.NaN, 0]), EnvironmentError);
  env.setState([0.1, -0.2, 0.3, -0.4]);
  assert.deepEqual(env.getState(), [0.1, -0.2, 0.3, -0.4]);
});

test("branches the golden traces do not reach: CartPole's cart limit and time limit, Acrobot's velocity bounds", () => {
  // Gymnasium's CartPole ends when |x| > 2.4 after the Euler step x += 0.02 * x_dot.
  const cartPole = makeEnv("CartPole-v1");
  cartPole.reset(0);
  cartPole.setState([2.3, 1, 0, 0]);
  assert.equal(cartPole.step(1).terminated, false, "x = 2.32 is inside");
  cartPole.reset(0);
  cartPole.setState([-2.39, -1, 0, 0]);
  assert.equal(cartPole.step(0).terminated, true, "x = -2.41 is outside");
  // Balanced, it is cut at exactly 500 steps: truncated, not terminated.
  cartPole.reset(3);
  let steps = 0;
  let last;
  do {
    const [x, xDot, theta, thetaDot] = cartPole.getState() as [number, number, number, number];
    last = cartPole.step(10 * theta + thetaDot + 0.1 * x + 0.5 * xDot > 0 ? 1 : 0);
    steps++;
  } while (!last.terminated && !last.truncated);
  assert.deepEqual([steps, last.truncated, last.terminated], [500, true, false]);

  // Acrobot clips the joint velocities to ±4π and ±9π after each RK4 step.
  const acrobot = makeEnv("Acrobot-v1");
  acrobot.reset(0);
  acrobot.setState([0, 0, 6 * Math.PI, -12 * Math.PI]);
  const clipped = acrobot.step(1).observation;
  assert.deepEqual([clipped[4], clipped[5]], [Math.fround(4 * Math.PI), Math.fround(-9 * Math.PI)]);
  acrobot.reset(0);
  acrobot.setState([Math.PI, 0, 3.5 * Math.PI, 0]); // upright: gravity speeds it up
  const inside = acrobot.getState();
  acrobot.step(1);
  const [v1, v2] = acrobot.getState().slice(2) as [number, number];
  assert.ok(Math.abs(v1) > 3 * Math.PI && Math.abs(v1) < 4 * Math.PI && Math.abs(v2) < 9 * Math.PI, `velocities ${v1}, ${v2} from ${inside}`);
});

test("MountainCar sums its velocity as Gymnasium does, to the last bit", () => {
  // Gymnasium: velocity += (action - 1) * force + cos(3 * position) * (-gravity); Python gives
  // 0.01 + (0.001 + cos(-1.5) * -0.0025) = 0.010823156995830743 (summed left to right: ...741).
  const env = makeEnv("MountainCar-v0");
  env.reset(0);
  env.setState([-0.5, 0.01]);
  env.step(2);
  assert.deepEqual(env.getState(), [-0.5 + 0.010823156995830743, 0.010823156995830743]);
});
