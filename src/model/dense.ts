/**
 * Matrix products whose gradients take the fast path on the WASM backend.
 *
 * For Y = A B the gradients are dA = dY B^T and dB = A^T dY. TensorFlow.js computes them with
 * transpose flags, which XNNPACK does not accelerate (20-30x slower on WASM); here the transposes are
 * materialised first and the products are plain ones. Values equal tf.matMul's up to float rounding.
 */
import { tf } from "../runtime/backend.js";
import { batchMatMul } from "./batch-matmul.js";
import { customOp1, customOp2, recordingGradients } from "./custom-grad.js";
import { hasKernel, registerFloatKernel, runKernel } from "./kernels.js";

/** [m, k] x [k, n] -> [m, n]. */
export const matMulFast = customOp2((a, b, save) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [
        tf.tidy(() => tf.matMul(dy as tf.Tensor2D, tf.transpose(sb))),
        tf.tidy(() => tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)),
      ];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/**
 * Batched [n, m, k] x [n, k, p] -> [n, m, p]: on WASM every product, forward and backward, is a 2-D
 * XNNPACK product on slices of the heap (batch-matmul.ts); gradients through explicit transposes.
 */
export const batchMatMulFast = customOp2((a, b, save) => {
  save([a, b]);
  return {
    value: batchMatMul(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
      return [
        tf.tidy(() => batchMatMul(dy as tf.Tensor3D, tf.transpose(sb, [0, 2, 1]))),
        tf.tidy(() => batchMatMul(tf.transpose(sa, [0, 2, 1]), dy as tf.Tensor3D)),
      ];
    },
  };
}) as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;

const COLUMN_SUM = "SnndtColumnSum";

/**
 * out[j] = sum_i m[i, j] for a row-major [rows, n] matrix, in one pass over rows (float64 sums),
 * four rows per step so each running sum is read and written a quarter as often.
 */
function columnSumBody([m]: Float32Array[], [out]: Float32Array[], attrs: { columns: number }): void {
  const n = attrs.columns;
  const rows = m!.length / n;
  const sums = new Float64Array(n);
  let row = 0;
  for (; row + 4 <= rows; row += 4) {
    const a = row * n;
    for (let j = 0; j < n; j++) sums[j] += m![a + j]! + m![a + n + j]! + (m![a + 2 * n + j]! + m![a + 3 * n + j]!);
  }
  for (; row < rows; row++) for (let j = 0; j < n; j++) sums[j] += m![row * n + j]!;
  out!.set(sums);
}

registerFloatKernel<{ columns: number }>({ name: COLUMN_SUM, inputs: ["m"], outputShapes: (_, a) => [[a.columns]], body: columnSumBody });

/** Column sums of dy [m, n] (a bias gradient): the column-sum kernel, or tf.sum where it is missing. */
function columnSums(dy: tf.Tensor2D): tf.Tensor {
  return hasKernel(COLUMN_SUM) ? runKernel(COLUMN_SUM, { m: dy }, { columns: dy.shape[1] }) : tf.sum(dy, 0);
}

/** rows [m, n] + bias [n] whose bias gradient is columnSums(dy). */
const addBias = customOp2((rows, bias, save) => {
  save([]);
  return {
    value: tf.add(rows, bias),
    gradFunc: (dy: tf.Tensor) => [dy, columnSums(dy as tf.Tensor2D)],
  };
});

/** y = x W (+ b) over the last axis of x, computed as one 2-D product. */
export function dense(x: tf.Tensor, weight: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor {
  return tf.tidy(() => {
    const inDim = x.shape[x.shape.length - 1]!;
    const outDim = weight.shape[1];
    const rows = tf.reshape(x, [-1, inDim]) as tf.Tensor2D;
    const taped = recordingGradients();
    const flat = taped ? matMulFast(rows, weight) : tf.matMul(rows, weight);
    const withBias = bias ? (taped ? addBias(flat, bias) : tf.add(flat, bias)) : flat;
    return tf.reshape(withBias, [...x.shape.slice(0, -1), outDim]);
  });
}

/** Row lookup from tf ops, gradient a one-hot product (dTable = onehot^T dY): other backends, and the test oracle. */
export function embeddingLookupOps(table: tf.Tensor2D, indices: tf.Tensor): tf.Tensor {
  const rows = table.shape[0];
  return tf.tidy(() => {
    const flatIndices = tf.reshape(indices, [-1]) as tf.Tensor1D;
    if (!recordingGradients()) return tf.reshape(tf.gather(table, flatIndices), [...indices.shape, table.shape[1]]);
    const lookup = customOp1((t, save) => {
      save([flatIndices]);
      return {
        value: tf.gather(t, flatIndices),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.tidy(() => tf.matMul(tf.transpose(tf.oneHot(saved[0] as tf.Tensor1D, rows)), dy as tf.Tensor2D)),
      };
    });
    return tf.reshape(lookup(table), [...indices.shape, table.shape[1]]);
  });
}

const GATHER_ROWS = "SnndtGatherRows";
const SCATTER_ADD_ROWS = "SnndtScatterAddRows";

interface RowAttrs {
  rows: number;
  width: number;
}

function checkedRow(index: number, rows: number): number {
  if (!(Number.isInteger(index) && index >= 0 && index < rows)) throw new Error(`${GATHER_ROWS}: row index ${index} is outside [0, ${rows})`);
  return index;
}

/** out[i] = table[indices[i]] (indices as exact float32 integers). */
function gatherRowsBody([table, indices]: Float32Array[], [out]: Float32Array[], { rows, width }: RowAttrs): void {
  for (let i = 0; i < indices!.length; i++) {
    const row = checkedRow(indices![i]!, rows);
    out!.set(table!.subarray(row * width, (row + 1) * width), i * width);
  }
}

/** dTable[r] = sum over i with indices[i] = r of dy[i]: the lookup's gradient, one pass over dy. */
function scatterAddRowsBody([dy, indices]: Float32Array[], [dTable]: Float32Array[], { rows, width }: RowAttrs): void {
  dTable!.fill(0);
  for (let i = 0; i < indices!.length; i++) {
    const base = checkedRow(indices![i]!, rows) * width;
    for (let j = 0; j < width; j++) dTable![base + j] += dy![i * width + j]!;
  }
}

registerFloatKernel<RowAttrs>({ name: GATHER_ROWS, inputs: ["table", "indices"], outputShapes: ([, indices], a) => [[indices![0]!, a.width]], body: gatherRowsBody });
registerFloatKernel<RowAttrs>({ name: SCATTER_ADD_ROWS, inputs: ["dy", "indices"], outputShapes: (_, a) => [[a.rows, a.width]], body: scatterAddRowsBody });

tf.registerGradient({
  kernelName: GATHER_ROWS,
  inputsToSave: ["indices"],
  gradFunc: (dy, saved, attrs) => ({
    table: () => runKernel(SCATTER_ADD_ROWS, { dy: dy as tf.Tensor, indices: saved[0]! }, attrs),
    indices: () => tf.zerosLike(saved[0]!),
  }),
});

/**
 * Row lookup table[indices] (`indices` int32 in [0, rows); callers check the range, an index
 * outside it is an error, never clipped). On WASM and cpu one gather kernel, whose gradient is one
 * scatter-add pass over dY; tf.gather's own gradient needs UnsortedSegmentSum, which WASM lacks,
 * and the one-hot product it was replaced by cost ~164 M multiply-adds per default step.
 */
export function embeddingLookup(table: tf.Tensor2D, indices: tf.Tensor): tf.Tensor {
  if (!hasKernel(GATHER_ROWS)) return embeddingLookupOps(table, indices);
  const [rows, width] = table.shape;
  return tf.tidy(() => {
    const flatIndices = tf.cast(tf.reshape(indices, [-1]), "float32");
    return tf.reshape(runKernel(GATHER_ROWS, { table, indices: flatIndices }, { rows, width }), [...indices.shape, width]);
  });
}
