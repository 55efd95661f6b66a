import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { AdamW, GradientAccumulator, clipByGlobalNorm } from "../../src/train/optimizer.js";
import { learningRate, scheduleFromConfig, type LrSchedule } from "../../src/train/schedule.js";
import { schemaDefaults } from "../../src/train/config.js";

before(async () => {
  await selectBackend("wasm");
});

// A small least-squares problem: loss = mean over rows and columns of (x W + b - y)^2.
const X = [
  [0.5, -1.0],
  [1.5, 0.25],
  [-0.75, 2.0],
];
const Y = [
  [1.0, -0.5, 0.25],
  [0.0, 2.0, -1.0],
  [0.5, 0.5, 1.5],
];
const W0 = [
  [0.1, -0.2, 0.3],
  [0.4, 0.05, -0.6],
];
const B0 = [0.01, -0.02, 0.03];

/** Gradients of the loss in float64, by hand: dL/dP = (2/(N*M)) X^T R, dL/db = (2/(N*M)) sum_rows R. */
function referenceGrads(w: number[][], b: number[]): { gw: number[][]; gb: number[] } {
  const n = X.length;
  const m = b.length;
  const r = X.map((row, i) => b.map((bj, j) => row[0]! * w[0]![j]! + row[1]! * w[1]![j]! + bj - Y[i]![j]!));
  const c = 2 / (n * m);
  const gw = w.map((_, k) => b.map((__, j) => c * X.reduce((acc, row, i) => acc + row[k]! * r[i]![j]!, 0)));
  const gb = b.map((_, j) => c * r.reduce((acc, row) => acc + row[j]!, 0));
  return { gw, gb };
}

function makeVariables(prefix: string): { w: tf.Variable; b: tf.Variable } {
  return {
    w: tf.variable(tf.tensor2d(W0), true, `${prefix}.w`),
    b: tf.variable(tf.tensor1d(B0), true, `${prefix}.b`),
  };
}

function lossOf(w: tf.Variable, b: tf.Variable): () => tf.Scalar {
  return () => tf.tensor2d(X).matMul(w).add(b).sub(tf.tensor2d(Y)).square().mean() as tf.Scalar;
}

const OPTIONS = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

test("AdamW matches a float64 reference computed by hand for 3 steps (decay on the matrix, not the bias)", async () => {
  const { w, b } = makeVariables("ref");
  const optimizer = new AdamW([w, b], OPTIONS);
  assert.equal(optimizer.decays("ref.w"), true);
  assert.equal(optimizer.decays("ref.b"), false);
  const lrs = [0.01, 0.02, 0.015];
  // Reference state, float64.
  let pw = W0.map((row) => [...row]);
  let pb = [...B0];
  let mw = pw.map((row) => row.map(() => 0));
  let vw = pw.map((row) => row.map(() => 0));
  let mb = pb.map(() => 0);
  let vb = pb.map(() => 0);
  const { beta1, beta2, eps, weightDecay } = OPTIONS;
  for (let t = 1; t <= 3; t++) {
    const lr = lrs[t - 1]!;
    tf.tidy(() => {
      const { grads } = tf.variableGrads(lossOf(w, b), [w, b]);
      optimizer.applyGradients(grads, lr);
    });
    const { gw, gb } = referenceGrads(pw, pb);
    const update = (p: number, g: number, m: number, v: number, decay: boolean): [number, number, number] => {
      const m2 = beta1 * m + (1 - beta1) * g;
      const v2 = beta2 * v + (1 - beta2) * g * g;
      const mHat = m2 / (1 - beta1 ** t);
      const vHat = v2 / (1 - beta2 ** t);
      return [p - lr * (mHat / (Math.sqrt(vHat) + eps) + (decay ? weightDecay * p : 0)), m2, v2];
    };
    const nw = pw.map((row, i) => row.map((p, j) => update(p, gw[i]![j]!, mw[i]![j]!, vw[i]![j]!, true)));
    pw = nw.map((row) => row.map((x) => x[0]));
    mw = nw.map((row) => row.map((x) => x[1]));
    vw = nw.map((row) => row.map((x) => x[2]));
    const nb = pb.map((p, j) => update(p, gb[j]!, mb[j]!, vb[j]!, false));
    pb = nb.map((x) => x[0]);
    mb = nb.map((x) => x[1]);
    vb = nb.map((x) => x[2]);
    const gotW = (await w.array()) as number[][];
    const gotB = (await b.array()) as number[];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) assert.ok(Math.abs(gotW[i]![j]! - pw[i]![j]!) < 1e-6, `step ${t} w[${i}][${j}] ${gotW[i]![j]} vs ${pw[i]![j]}`);
    for (let j = 0; j < 3; j++) assert.ok(Math.abs(gotB[j]! - pb[j]!) < 1e-6, `step ${t} b[${j}] ${gotB[j]} vs ${pb[j]}`);
  }
  assert.equal(optimizer.step, 3);
  // The moments checkpoint reads back equal the reference's.
  const state = await optimizer.getState();
  assert.equal(state.step, 3);
  assert.deepEqual([...state.moments.keys()], ["ref.w", "ref.b"]);
  state.moments.get("ref.b")!.v.forEach((x, j) => assert.ok(Math.abs(x - vb[j]!) < 1e-9));
  state.moments.get("ref.w")!.m.forEach((x, k) => assert.ok(Math.abs(x - mw[Math.floor(k / 3)]![k % 3]!) < 1e-7));
  optimizer.dispose();
  w.dispose();
  b.dispose();
});

test("weight decay is decoupled: with a zero gradient a matrix shrinks by exactly (1 - lr*wd), a vector not at all", async () => {
  const w = tf.variable(tf.fill([2, 2], 2), true, "decay.w");
  const b = tf.variable(tf.fill([2], 2), true, "decay.b");
  const optimizer = new AdamW([w, b], { ...OPTIONS, weightDecay: 0.1 });
  for (let step = 0; step < 2; step++) {
    tf.tidy(() => optimizer.applyGradients(new Map([["decay.w", tf.zeros([2, 2])], ["decay.b", tf.zeros([2])]]), 0.01));
  }
  // Coupled L2 (Adam on g + wd*p) would instead move by about lr per step: 2 -> 1.99 -> 1.98.
  for (const x of await w.data()) assert.ok(Math.abs(x - 2 * (1 - 0.001) ** 2) < 1e-6, `${x}`);
  assert.deepEqual([...(await b.data())], [2, 2]);
  // A variable without a gradient is left untouched, even if it decays.
  tf.tidy(() => optimizer.applyGradients({ "decay.b": tf.ones([2]) }, 0.01));
  for (const x of await w.data()) assert.ok(Math.abs(x - 2 * (1 - 0.001) ** 2) < 1e-6);
  assert.throws(() => optimizer.applyGradients({ nope: tf.ones([2]) }, 0.01), /unknown variable "nope"/);
  assert.throws(() => optimizer.applyGradients({ "decay.b": tf.ones([3]) }, 0.01), /has shape \[3\], the variable \[2\]/);
  assert.throws(() => new AdamW([w, w], OPTIONS), /"decay\.w" is used twice/);
  optimizer.dispose();
  w.dispose();
  b.dispose();
});

test("clipByGlobalNorm scales by min(1, max/norm), returns the pre-clip norm, and leaks nothing", async () => {
  const before = tf.memory().numTensors;
  const grads = new Map<string, tf.Tensor>([["a", tf.tensor1d([3, 0])], ["b", tf.tensor2d([[0, 4]])]]);
  const clipped = clipByGlobalNorm(grads, 1);
  assert.equal(await clipped.norm.array(), 5);
  assert.deepEqual(await clipped.grads.get("a")!.array(), [0.6000000238418579, 0]);
  assert.deepEqual(await clipped.grads.get("b")!.array(), [[0, 0.800000011920929]]);
  const loose = clipByGlobalNorm(grads, 10);
  assert.deepEqual(await loose.grads.get("b")!.array(), [[0, 4]]);
  const off = clipByGlobalNorm({ a: grads.get("a")!, b: grads.get("b")! }, 0);
  assert.equal(await off.norm.array(), 5);
  assert.deepEqual(await off.grads.get("a")!.array(), [3, 0]);
  const zero = clipByGlobalNorm(new Map([["z", tf.zeros([3])]]), 1);
  assert.deepEqual(await zero.grads.get("z")!.array(), [0, 0, 0]);
  for (const r of [clipped, loose, off, zero]) tf.dispose([r.norm, ...r.grads.values()]);
  tf.dispose([...grads.values(), ...zero.grads.values()]);
  assert.ok(tf.memory().numTensors <= before + 1, `${tf.memory().numTensors} vs ${before}`); // the disposed zeros input
});

test("micro-batch gradients weighted by their element counts add up to the gradient of the whole batch", async () => {
  const { w, b } = makeVariables("accum");
  const accumulator = new GradientAccumulator([w, b]);
  const rows = [[0], [1, 2]]; // micro-batches of one and two rows: unequal, as padded windows make them
  // Each micro-batch's loss is its own mean, as the training loss is a mean over its real steps.
  const lossRows = (idx: number[]) => () => {
    const x = tf.tensor2d(idx.map((i) => X[i]!));
    const y = tf.tensor2d(idx.map((i) => Y[i]!));
    return x.matMul(w).add(b).sub(y).square().mean() as tf.Scalar;
  };
  for (const idx of rows) tf.tidy(() => accumulator.add(tf.variableGrads(lossRows(idx), [w, b]).grads, idx.length * 3));
  assert.equal(accumulator.count, 2);
  const mean = accumulator.mean();
  const full = tf.variableGrads(lossOf(w, b), [w, b]).grads;
  for (const name of ["accum.w", "accum.b"]) {
    const got = (await mean.get(name)!.data()) as Float32Array;
    const want = (await full[name]!.data()) as Float32Array;
    got.forEach((x, i) => assert.ok(Math.abs(x - want[i]!) < 1e-6, `${name}[${i}] ${x} vs ${want[i]}`));
  }
  tf.dispose([...mean.values(), ...Object.values(full)]);
  accumulator.reset();
  assert.equal(accumulator.count, 0);
  assert.throws(() => accumulator.mean(), /before any add/);
  tf.tidy(() => accumulator.add({ "accum.b": tf.ones([3]) }));
  const onlyB = accumulator.mean();
  assert.deepEqual([...onlyB.keys()], ["accum.b"]);
  assert.deepEqual(await onlyB.get("accum.b")!.array(), [1, 1, 1]);
  tf.dispose([...onlyB.values()]);
  accumulator.dispose();
  w.dispose();
  b.dispose();
});

test("getState/setState continue AdamW bit-exactly, and mismatched states are refused", async () => {
  const runSteps = (opt: AdamW, w: tf.Variable, b: tf.Variable, from: number, to: number): void => {
    for (let s = from; s < to; s++) tf.tidy(() => opt.applyGradients(tf.variableGrads(lossOf(w, b), [w, b]).grads, 0.01 * (1 + s)));
  };
  let v = makeVariables("resume");
  let opt = new AdamW([v.w, v.b], OPTIONS);
  runSteps(opt, v.w, v.b, 0, 6);
  const straight = [await v.w.data(), await v.b.data()];
  opt.dispose();
  v.w.dispose();
  v.b.dispose();

  v = makeVariables("resume");
  opt = new AdamW([v.w, v.b], OPTIONS);
  runSteps(opt, v.w, v.b, 0, 3);
  const saved = await opt.getState();
  const params = [await v.w.data(), await v.b.data()];
  opt.dispose();
  v.w.dispose();
  v.b.dispose();

  v = makeVariables("resume");
  v.w.assign(tf.tensor(params[0]!, [2, 3]));
  v.b.assign(tf.tensor(params[1]!, [3]));
  opt = new AdamW([v.w, v.b], OPTIONS);
  opt.setState(saved);
  assert.equal(opt.step, 3);
  runSteps(opt, v.w, v.b, 3, 6);
  assert.deepEqual(await v.w.data(), straight[0]);
  assert.deepEqual(await v.b.data(), straight[1]);

  const wrongShape = { step: 1, moments: new Map(saved.moments) };
  wrongShape.moments.set("resume.b", { shape: [4], m: new Float32Array(4), v: new Float32Array(4) });
  assert.throws(() => opt.setState(wrongShape), /moments for "resume\.b" have shape \[4\], the variable \[3\]/);
  const missing = { step: 1, moments: new Map([...saved.moments].filter(([k]) => k !== "resume.w")) };
  assert.throws(() => opt.setState(missing), /missing moments for resume\.w/);
  opt.dispose();
  v.w.dispose();
  v.b.dispose();
});

test("the schedule: linear warm-up, then cosine to min_lr_ratio*lr or constant; a pure function of the step", () => {
  const s: LrSchedule = { lr: 1e-3, warmupSteps: 10, totalSteps: 110, kind: "cosine", minLrRatio: 0.1 };
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-15, `${a} vs ${b}`);
  close(learningRate(0, s), 1e-4);
  close(learningRate(4, s), 5e-4);
  close(learningRate(9, s), 1e-3);
  close(learningRate(10, s), 1e-3);
  close(learningRate(60, s), 0.55e-3);
  close(learningRate(35, s), 1e-4 + 0.9e-3 * (1 + Math.cos(Math.PI / 4)) / 2);
  close(learningRate(110, s), 1e-4);
  close(learningRate(500, s), 1e-4);
  const c: LrSchedule = { ...s, kind: "constant" };
  close(learningRate(9, c), 1e-3);
  close(learningRate(100, c), 1e-3);
  close(learningRate(0, { ...s, warmupSteps: 0 }), 1e-3);
  for (let step = 1; step < 110; step++) assert.ok(learningRate(step, s) <= learningRate(step - 1, s) || step <= 9);
  assert.throws(() => learningRate(-1, s), /integer >= 0/);
  const fromConfig = scheduleFromConfig(schemaDefaults().train);
  assert.deepEqual(fromConfig, { lr: 3e-4, warmupSteps: 100, totalSteps: 1000, kind: "cosine", minLrRatio: 0.1 });
});

test("AdamW (after setState too) and the accumulator release every tensor they made", async () => {
  const { w, b } = makeVariables("release");
  const before = tf.memory().numTensors;
  const optimizer = new AdamW([w, b], OPTIONS);
  optimizer.setState(await optimizer.getState());
  const accumulator = new GradientAccumulator([w, b]);
  optimizer.dispose();
  accumulator.dispose();
  assert.equal(tf.memory().numTensors, before);
  w.dispose();
  b.dispose();
});
