import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { batchMatMulFast, dense, embeddingLookup, embeddingLookupOps, matMulFast } from "../../src/model/dense.js";
import { actionLoss, createModel } from "../../src/model/index.js";
import { disposeAll, randomRaw, tinyConfig, toInputs } from "./tiny.js";

before(async () => {
  await selectBackend("wasm");
});

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

test("matMulFast and batchMatMulFast equal tf.matMul in value and gradient", () => {
  tf.tidy(() => {
    const a = tf.randomNormal([7, 5], 0, 1, "float32", 1) as tf.Tensor2D;
    const b = tf.randomNormal([5, 3], 0, 1, "float32", 2) as tf.Tensor2D;
    const w = tf.randomNormal([7, 3], 0, 1, "float32", 3);
    assert.ok(maxDiff(matMulFast(a, b), tf.matMul(a, b)) < 1e-5);
    const fast = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMulFast(x as tf.Tensor2D, y as tf.Tensor2D), w)))([a, b]);
    const plain = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D), w)))([a, b]);
    assert.ok(maxDiff(fast[0]!, plain[0]!) < 1e-5 && maxDiff(fast[1]!, plain[1]!) < 1e-5);

    const p = tf.randomNormal([4, 6, 5], 0, 1, "float32", 4) as tf.Tensor3D;
    const q = tf.randomNormal([4, 5, 2], 0, 1, "float32", 5) as tf.Tensor3D;
    const v = tf.randomNormal([4, 6, 2], 0, 1, "float32", 6);
    assert.ok(maxDiff(batchMatMulFast(p, q), tf.matMul(p, q)) < 1e-5);
    const bf = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(batchMatMulFast(x as tf.Tensor3D, y as tf.Tensor3D), v)))([p, q]);
    const bp = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D), v)))([p, q]);
    assert.ok(maxDiff(bf[0]!, bp[0]!) < 1e-5 && maxDiff(bf[1]!, bp[1]!) < 1e-5);
  });
});

test("dense works on rank-3 inputs and its weight gradient is finite-difference correct", () => {
  tf.tidy(() => {
    const x = tf.randomNormal([2, 3, 4], 0, 1, "float32", 7);
    const w = tf.randomNormal([4, 5], 0, 1, "float32", 8) as tf.Tensor2D;
    const b = tf.randomNormal([5], 0, 1, "float32", 9) as tf.Tensor1D;
    const y = dense(x, w, b);
    assert.deepEqual(y.shape, [2, 3, 5]);
    const loss = (weight: tf.Tensor) => tf.sum(tf.square(dense(x, weight as tf.Tensor2D, b)));
    const grad = tf.grad(loss)(w);
    const direction = tf.randomNormal([4, 5], 0, 1, "float32", 10);
    const eps = 1e-2;
    const fd = (loss(tf.add(w, tf.mul(direction, eps))).dataSync()[0]! - loss(tf.sub(w, tf.mul(direction, eps))).dataSync()[0]!) / (2 * eps);
    const analytic = tf.sum(tf.mul(grad, direction)).dataSync()[0]!;
    assert.ok(Math.abs(fd - analytic) < 1e-3 * Math.max(1, Math.abs(analytic)), `${fd} vs ${analytic}`);
  });
});

test("embeddingLookup gathers rows and its gradient scatters into them (no UnsortedSegmentSum)", () => {
  tf.tidy(() => {
    const table = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
    const indices = tf.tensor2d([[2, 0], [2, 1]], [2, 2], "int32");
    assert.deepEqual(embeddingLookup(table, indices).arraySync(), [[[5, 6], [1, 2]], [[5, 6], [3, 4]]]);
    const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embeddingLookup(t as tf.Tensor2D, indices), tf.tensor3d([[[1, 1], [2, 2]], [[3, 3], [4, 4]]]))))(table);
    assert.deepEqual(grad.arraySync(), [[2, 2], [4, 4], [4, 4]]);
  });
});

test("embeddingLookup (gather and scatter-add kernels) equals the tf-op form in value and gradient; an index outside the table throws", () => {
  tf.tidy(() => {
    const table = tf.randomNormal([30, 6], 0, 1, "float32", 61) as tf.Tensor2D;
    const indices = tf.tensor2d(Array.from({ length: 40 }, (_, i) => (i * 7) % 30), [5, 8], "int32");
    const r = tf.randomNormal([5, 8, 6], 0, 1, "float32", 62);
    assert.deepEqual(Array.from(embeddingLookup(table, indices).dataSync()), Array.from(embeddingLookupOps(table, indices).dataSync()));
    const grad = (lookup: typeof embeddingLookup) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(lookup(t as tf.Tensor2D, indices), r)))(table);
    assert.ok(maxDiff(grad(embeddingLookup), grad(embeddingLookupOps)) < 1e-5);
    assert.throws(() => embeddingLookup(table, tf.tensor1d([3, 30], "int32")), /row index 30 is outside \[0, 30\)/);
  });
});

test("the sliced XNNPACK batched product equals tf.matMul on attention shapes and frees what it registers", () => {
  const a = tf.randomNormal([16, 12, 8], 0, 1, "float32", 11) as tf.Tensor3D;
  const b = tf.randomNormal([16, 8, 12], 0, 1, "float32", 12) as tf.Tensor3D;
  const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength;
  tf.tidy(() => assert.ok(maxDiff(batchMatMulFast(a, b), tf.matMul(a, b)) < 1e-5));
  const tensors = tf.memory().numTensors;
  const bytes = heap();
  for (let i = 0; i < 50; i++) batchMatMulFast(a, b).dispose();
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(heap(), bytes);
  tf.dispose([a, b]);
});

/** Run `f` while recording the attributes and batch size of every BatchMatMul the WASM backend runs. */
function recordMatMuls(f: () => void): { transposed: number; batched: number; total: number } {
  const original = tf.getKernel("BatchMatMul", "wasm")!;
  const seen = { transposed: 0, batched: 0, total: 0 };
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel({
    ...original,
    setupFunc: undefined,
    kernelFunc: (args) => {
      const attrs = args.attrs as { transposeA: boolean; transposeB: boolean };
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      seen.total += 1;
      if (attrs.transposeA || attrs.transposeB) seen.transposed += 1;
      if (a.shape.slice(0, -2).reduce((x, y) => x * y, 1) > 1 || b.shape.slice(0, -2).reduce((x, y) => x * y, 1) > 1) seen.batched += 1;
      return original.kernelFunc(args);
    },
  });
  try {
    f();
  } finally {
    tf.unregisterKernel("BatchMatMul", "wasm");
    tf.registerKernel(original);
  }
  return seen;
}

for (const kind of ["snn-dt", "dt"] as const) {
  test(`a ${kind} training step runs every matMul, forward and backward, on the fast path (2-D, no transpose flags)`, () => {
    const config = tinyConfig({ kind, variant: "full", dropout: 0.1 });
    const model = createModel(config, 1);
    const inputs = toInputs(randomRaw(config, 3, 2, [1, 0, 2]));
    const seen = recordMatMuls(() => {
      const { value, grads } = tf.variableGrads(
        () => actionLoss(model.forward(inputs, { training: true, dropoutSeed: 5 }).actions, inputs, config.action_space),
        model.variables,
      );
      tf.dispose([value, ...Object.values(grads)]);
    });
    assert.ok(seen.total > 10, `saw ${seen.total} products`);
    assert.equal(seen.transposed, 0, "products with transpose flags");
    assert.equal(seen.batched, 0, "batched (scalar-loop) products");
    disposeAll(inputs);
    model.dispose();
  });
}

test("dense's gradients of x, weight and bias equal plain autodiff (bias through the column-sum kernel, wasm and cpu)", async () => {
  for (const backend of ["wasm", "cpu"] as const) {
    await selectBackend(backend);
    tf.tidy(() => {
      const x = tf.randomNormal([3, 7, 6], 0, 1, "float32", 21);
      const w = tf.randomNormal([6, 5], 0, 1, "float32", 22) as tf.Tensor2D;
      const b = tf.randomNormal([5], 0, 1, "float32", 23) as tf.Tensor1D;
      const r = tf.randomNormal([3, 7, 5], 0, 1, "float32", 24);
      const fast = tf.grads((a: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor) => tf.sum(tf.mul(dense(a, weight as tf.Tensor2D, bias as tf.Tensor1D), r)))([x, w, b]);
      const plain = tf.grads((a: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor) =>
        tf.sum(tf.mul(tf.reshape(tf.add(tf.matMul(tf.reshape(a, [21, 6]), weight as tf.Tensor2D), bias), [3, 7, 5]), r)),
      )([x, w, b]);
      fast.forEach((g, i) => assert.ok(maxDiff(g, plain[i]!) < 1e-4, `${backend}: gradient ${i}`));
    });
  }
  await selectBackend("wasm");
});
