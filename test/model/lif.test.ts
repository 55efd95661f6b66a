import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { LifNeuron, type LifParams } from "../../src/model/lif.js";
import { LIF_SIMD_BLOCK } from "../../src/model/lif-simd.js";
import { Rng } from "../../src/runtime/rng.js";

before(async () => {
  await selectBackend("wasm");
});

const DEFAULTS: LifParams = { T: 6, dt: 1, tau_m: 20, v_rest: 0, v_th: 1, c_m: 1, current_scale: 1, k: 10 };

/** The Euler recurrence written out in float64: V += (dt/tau)(V_rest - V) + dt C_m I; fire at V >= V_th; reset. */
function handRecurrence(p: LifParams, currents: number[]): { spikes: number[]; membrane: number[] } {
  let v = p.v_rest;
  const spikes: number[] = [];
  const membrane: number[] = [];
  for (const x of currents) {
    v = v + (p.dt / p.tau_m) * (p.v_rest - v) + p.dt * p.c_m * p.current_scale * x;
    const s = v >= p.v_th ? 1 : 0;
    if (s) v = p.v_rest;
    spikes.push(s);
    membrane.push(v);
  }
  return { spikes, membrane };
}

function close(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i]! - e) <= tol, `${what}[${i}]: ${actual[i]} vs ${e}`));
}

test("constant current: spike times and membrane follow the Euler recurrence, including the reset", () => {
  const lif = new LifNeuron(DEFAULTS);
  // x = 0.3: V = 0.3, 0.585, 0.85575, 1.1129625 -> spike and reset to 0, then 0.3, 0.585.
  const trace = lif.multiStep(tf.tensor1d([0.3, 1.0, 0.05]), { trace: true });
  const spikes = trace.spikes.arraySync() as number[][];
  const membrane = trace.membrane!.arraySync() as number[][];
  assert.deepEqual(spikes.map((row) => row[0]), [0, 0, 0, 1, 0, 0]);
  close(membrane.map((row) => row[0]!), [0.3, 0.585, 0.85575, 0, 0.3, 0.585], 1e-6, "membrane x=0.3");
  assert.deepEqual(spikes.map((row) => row[1]), [1, 1, 1, 1, 1, 1], "x=1 fires every step");
  assert.deepEqual(spikes.map((row) => row[2]), [0, 0, 0, 0, 0, 0], "x=0.05 never reaches threshold");
  const hand = handRecurrence(DEFAULTS, Array(6).fill(0.05));
  close(membrane.map((row) => row[2]!), hand.membrane, 1e-6, "membrane x=0.05");
  tf.dispose([trace.spikes, trace.membrane!]);
});

test("varying current and non-default parameters: single steps match the recurrence", () => {
  const params: LifParams = { T: 7, dt: 0.5, tau_m: 10, v_rest: -0.2, v_th: 0.8, c_m: 2, current_scale: 0.7, k: 10 };
  const lif = new LifNeuron(params);
  const currents = [0.5, 1.2, 0.0, 0.9, -0.4, 0.2, 1.5];
  const hand = handRecurrence(params, currents);
  assert.ok(hand.spikes.some((s) => s === 1) && hand.spikes.some((s) => s === 0), "the case exercises firing and resting");
  let v: tf.Tensor = tf.scalar(params.v_rest);
  const spikes: number[] = [];
  const membrane: number[] = [];
  for (const x of currents) {
    const out = lif.step(v, tf.scalar(x));
    spikes.push(out.spikes.dataSync()[0]!);
    membrane.push(out.membrane.dataSync()[0]!);
    v.dispose();
    out.spikes.dispose();
    v = out.membrane;
  }
  v.dispose();
  assert.deepEqual(spikes, hand.spikes);
  close(membrane, hand.membrane, 1e-5, "membrane");
});

/** Rates and the gradient of sum(rates * w) from `rates`, for values in [-0.5, 2) (plus a NaN when asked). */
function ratesAndGradient(rates: (x: tf.Tensor) => tf.Tensor, values: number[], weights: number[]): { rate: Float32Array; grad: Float32Array } {
  return tf.tidy(() => {
    const x = tf.tensor2d(values, [20, 30]);
    const w = tf.tensor2d(weights, [20, 30]);
    const rate = rates(x).dataSync() as Float32Array;
    const grad = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(rates(input), w)))(x).dataSync() as Float32Array;
    return { rate, grad };
  }) as unknown as { rate: Float32Array; grad: Float32Array };
}

function assertSameRatesAndGradient(
  actual: { rate: Float32Array; grad: Float32Array },
  expected: { rate: Float32Array; grad: Float32Array },
  what: string,
): void {
  let differing = 0;
  actual.rate.forEach((r, i) => {
    if (r !== expected.rate[i]) differing += 1;
  });
  assert.equal(differing, 0, `${what}: rates differ`);
  let worst = 0;
  actual.grad.forEach((g, i) => (worst = Math.max(worst, Math.abs(g - expected.grad[i]!))));
  assert.ok(worst < 1e-5, `${what}: largest gradient difference ${worst}`);
}

for (const params of [
  { ...DEFAULTS, T: 10, v_rest: -0.1, v_th: 0.9 },
  { T: 7, dt: 0.5, tau_m: 10, v_rest: 0.2, v_th: 1.3, c_m: 2, current_scale: 0.7, k: 4 },
]) {
  test(`the fused kernel and the fused tf-op form give the reference rates and gradient (T ${params.T}, k ${params.k})`, () => {
    const rng = new Rng(7 + params.T);
    const values = Array.from({ length: 600 }, () => rng.uniformRange(-0.5, 2));
    const weights = Array.from({ length: 600 }, () => rng.normal());
    const lif = new LifNeuron(params);
    const reference = ratesAndGradient((x) => lif.referenceRates(x), values, weights);
    // Every rate is a count / T, and the case exercises silent, sometimes-firing and always-firing neurons.
    reference.rate.forEach((r) => assert.ok(Math.abs(r * params.T - Math.round(r * params.T)) < 1e-5));
    assert.ok(reference.rate.includes(0) && reference.rate.includes(1) && reference.rate.some((r) => r > 0 && r < 1));
    assert.ok(reference.grad.some((g) => Math.abs(g) > 1e-3));
    assertSameRatesAndGradient(ratesAndGradient(lif.rates, values, weights), reference, "kernel (wasm)");
    assertSameRatesAndGradient(ratesAndGradient(lif.opRates, values, weights), reference, "tf ops");
  });
}

test("the kernel gives the same rates and gradient on the cpu backend as on wasm", async () => {
  const rng = new Rng(3);
  const values = Array.from({ length: 600 }, () => rng.uniformRange(-0.5, 2));
  const weights = Array.from({ length: 600 }, () => rng.normal());
  const lif = new LifNeuron({ ...DEFAULTS, T: 10 });
  const onWasm = ratesAndGradient(lif.rates, values, weights);
  await selectBackend("cpu");
  try {
    assertSameRatesAndGradient(ratesAndGradient(lif.rates, values, weights), onWasm, "kernel (cpu)");
  } finally {
    await selectBackend("wasm");
  }
});

test("a NaN or infinite input gives a NaN rate (so a diverged run is noticed), in the SIMD bulk and the JS tail", () => {
  const lif = new LifNeuron(DEFAULTS);
  // On WASM the first LIF_SIMD_BLOCK values run in the SIMD module, the last 3 in JS.
  const pattern = [NaN, 2, 0, Infinity, 0.3, -Infinity, 5];
  const inputs = Array.from({ length: LIF_SIMD_BLOCK + 3 }, (_, i) => pattern[i % pattern.length]!);
  const rates = tf.tidy(() => lif.rates(tf.tensor1d(inputs)).dataSync());
  // x = 0.3 first fires at step 4, so once in T = 6 steps; 2 and 5 fire every step.
  const expected = inputs.map((x) => (!Number.isFinite(x) ? NaN : x === 0 ? 0 : x === 0.3 ? 1 / 6 : 1));
  expected.forEach((e, i) => (Number.isNaN(e) ? assert.ok(Number.isNaN(rates[i]), `rate ${i}`) : assert.ok(Math.abs(rates[i]! - e) < 1e-7, `rate ${i}: ${rates[i]}`)));
});

test("the gradient flows through the reset (hand-derived, T = 2)", () => {
  // x = 1.2 fires on both steps; p1 = p2 = 1.2, surrogate g = 1/(1+10*0.2)^2 = 1/9, leak 0.95.
  // d rate/dx = g/2 (step 2) + (1/2 - 0.95/2 * g * 1.2) * g (step 1, the -p*dL/dz term is the reset path).
  const g = 1 / 9;
  const withReset = g / 2 + (0.5 - 0.95 * (g / 2) * 1.2) * g;
  const detached = g / 2 + 0.5 * g;
  const lif = new LifNeuron({ ...DEFAULTS, T: 2 });
  const x = tf.scalar(1.2);
  const fused = tf.grad((input: tf.Tensor) => lif.rates(input))(x).dataSync()[0]!;
  const reference = tf.grad((input: tf.Tensor) => lif.referenceRates(input))(x).dataSync()[0]!;
  assert.ok(Math.abs(fused - withReset) < 1e-6, `fused ${fused} vs ${withReset}`);
  assert.ok(Math.abs(reference - withReset) < 1e-6, `reference ${reference} vs ${withReset}`);
  assert.ok(Math.abs(withReset - detached) > 1e-3, "the case distinguishes a detached reset");
  x.dispose();
});

test("the fused op keeps no tensors after forward and backward", () => {
  const lif = new LifNeuron(DEFAULTS);
  const x = tf.randomNormal([4, 5]);
  const run = () => tf.tidy(() => tf.grad((input: tf.Tensor) => tf.sum(lif.rates(input)))(x)).dispose();
  run();
  const before = tf.memory().numTensors;
  run();
  run();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});
