/**
 * Attention operands between the token layout and the per-head layout, one pass each way.
 *
 * The fused projection gives rows [B, L, 3d] = [q | k | v], each part head-major (h dh + e). The
 * products want q and v as [B·H, L, dh] and k already transposed, [B·H, dh, L]; the merged output
 * goes back to [B, Lq, d]. As tf ops that is a split, a slice of the query rows, reshapes, four
 * transposes and their gradients (on WASM SplitV alone took ~13 ms per [64, 60, 384]); here each
 * direction is one copy kernel on WASM and cpu, with registered gradients (the inverse copies).
 * The tf-op form stays for other backends and as the test oracle: values are equal exactly.
 */
import { tf } from "../runtime/backend.js";
import { stateTokenRows } from "./embeddings.js";
import { hasKernel, registerFloatKernel, runKernel, runKernelOutputs } from "./kernels.js";

/** Which token rows become queries: t = start + i stride for i < count. */
export interface QueryRows {
  start: number;
  stride: number;
  count: number;
}

interface HeadAttrs {
  batch: number;
  length: number;
  width: number;
  heads: number;
}

interface QkvAttrs extends QueryRows, HeadAttrs {}

const SPLIT_QKV = "SnndtSplitQkv";
const SPLIT_QKV_GRAD = "SnndtSplitQkvGrad";
const MERGE_HEADS = "SnndtMergeHeads";
const SPLIT_HEADS = "SnndtSplitHeads";

/**
 * Copy between x [B, L, 3d] and q [B·H, Lq, dh], kT [B·H, dh, L], v [B·H, L, dh]: `toHeads` fills
 * q, kT, v from x; otherwise x is filled from them (zeros in the rows that are not queries).
 */
function copyQkv(x: Float32Array, q: Float32Array, kT: Float32Array, v: Float32Array, a: QkvAttrs, toHeads: boolean): void {
  const { batch, length, width: d, heads, start, stride, count } = a;
  const dh = d / heads;
  const row = 3 * d;
  if (!toHeads) x.fill(0);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < length; t++) {
      const base = (b * length + t) * row;
      for (let h = 0; h < heads; h++) {
        const kBase = base + d + h * dh;
        const vBase = base + 2 * d + h * dh;
        const vHead = ((b * heads + h) * length + t) * dh;
        const kHead = (b * heads + h) * dh * length + t;
        if (toHeads) {
          for (let e = 0; e < dh; e++) {
            v[vHead + e] = x[vBase + e]!;
            kT[kHead + e * length] = x[kBase + e]!;
          }
        } else {
          for (let e = 0; e < dh; e++) {
            x[vBase + e] = v[vHead + e]!;
            x[kBase + e] = kT[kHead + e * length]!;
          }
        }
      }
    }
    for (let i = 0; i < count; i++) {
      const base = (b * length + start + i * stride) * row;
      for (let h = 0; h < heads; h++) {
        const qHead = ((b * heads + h) * count + i) * dh;
        if (toHeads) for (let e = 0; e < dh; e++) q[qHead + e] = x[base + h * dh + e]!;
        else for (let e = 0; e < dh; e++) x[base + h * dh + e] = q[qHead + e]!;
      }
    }
  }
}

/** Copy between y [B·H, L, dh] and rows [B, L, d] (`toRows`: y -> rows). */
function copyHeads(y: Float32Array, rows: Float32Array, a: HeadAttrs, toRows: boolean): void {
  const { batch, length, width: d, heads } = a;
  const dh = d / heads;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < length; t++) {
        const head = ((b * heads + h) * length + t) * dh;
        const row = (b * length + t) * d + h * dh;
        if (toRows) for (let e = 0; e < dh; e++) rows[row + e] = y[head + e]!;
        else for (let e = 0; e < dh; e++) y[head + e] = rows[row + e]!;
      }
    }
  }
}

registerFloatKernel<QkvAttrs>({
  name: SPLIT_QKV,
  inputs: ["x"],
  outputShapes: (_, a) => {
    const dh = a.width / a.heads;
    return [
      [a.batch * a.heads, a.count, dh],
      [a.batch * a.heads, dh, a.length],
      [a.batch * a.heads, a.length, dh],
    ];
  },
  body: ([x], [q, kT, v], a) => copyQkv(x!, q!, kT!, v!, a, true),
});

registerFloatKernel<QkvAttrs>({
  name: SPLIT_QKV_GRAD,
  inputs: ["dq", "dkT", "dv"],
  outputShapes: (_, a) => [[a.batch, a.length, 3 * a.width]],
  body: ([dq, dkT, dv], [dx], a) => copyQkv(dx!, dq!, dkT!, dv!, a, false),
});

registerFloatKernel<HeadAttrs>({
  name: MERGE_HEADS,
  inputs: ["y"],
  outputShapes: (_, a) => [[a.batch, a.length, a.width]],
  body: ([y], [rows], a) => copyHeads(y!, rows!, a, true),
});

registerFloatKernel<HeadAttrs>({
  name: SPLIT_HEADS,
  inputs: ["rows"],
  outputShapes: (_, a) => [[a.batch * a.heads, a.length, a.width / a.heads]],
  body: ([rows], [y], a) => copyHeads(y!, rows!, a, false),
});

tf.registerGradient({
  kernelName: SPLIT_QKV,
  gradFunc: (dys, _saved, attrs) => {
    const [dq, dkT, dv] = dys as tf.Tensor[];
    return { x: () => runKernel(SPLIT_QKV_GRAD, { dq: dq!, dkT: dkT!, dv: dv! }, attrs) };
  },
});

tf.registerGradient({
  kernelName: MERGE_HEADS,
  gradFunc: (dy, _saved, attrs) => ({ y: () => runKernel(SPLIT_HEADS, { rows: dy as tf.Tensor }, attrs) }),
});

tf.registerGradient({
  kernelName: SPLIT_HEADS,
  gradFunc: (dy, _saved, attrs) => ({ rows: () => runKernel(MERGE_HEADS, { y: dy as tf.Tensor }, attrs) }),
});

export interface HeadOperands {
  /** [B·H, Lq, dh] */
  q: tf.Tensor3D;
  /** [B·H, dh, L] */
  kT: tf.Tensor3D;
  /** [B·H, L, dh] */
  v: tf.Tensor3D;
}

/** [B, L, H dh] -> [B·H, L, dh]. */
function splitHeadsOps(x: tf.Tensor, heads: number): tf.Tensor3D {
  const [batch, length, width] = x.shape as [number, number, number];
  const dh = width / heads;
  return tf.reshape(tf.transpose(tf.reshape(x, [batch, length, heads, dh]), [0, 2, 1, 3]), [batch * heads, length, dh]);
}

/** The query rows of [B, L, d] as tf ops: a contiguous run (stride 1) or the state tokens (start 1, stride 3). */
function queryRowsOps(q: tf.Tensor3D, rows: QueryRows): tf.Tensor3D {
  const [batch, length, width] = q.shape;
  if (rows.stride === 1) return tf.slice(q, [0, rows.start, 0], [batch, rows.count, width]);
  if (rows.stride === 3 && rows.start === 1 && rows.count * 3 === length) return stateTokenRows(q);
  throw new Error(`query rows start ${rows.start}, stride ${rows.stride}, count ${rows.count} have no tf-op form for ${length} tokens`);
}

/** qkvHeads from tf ops (backends without the kernels, and the test oracle). */
export function qkvHeadsOps(x: tf.Tensor3D, heads: number, rows: QueryRows): HeadOperands {
  return tf.tidy(() => {
    const [q, k, v] = tf.split(x, 3, 2) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
    return {
      q: splitHeadsOps(queryRowsOps(q, rows), heads),
      kT: tf.transpose(splitHeadsOps(k, heads), [0, 2, 1]) as tf.Tensor3D,
      v: splitHeadsOps(v, heads),
    };
  }) as unknown as HeadOperands;
}

/** Queries, transposed keys and values per head from the fused projection's rows x [B, L, 3d]. */
export function qkvHeads(x: tf.Tensor3D, heads: number, rows: QueryRows): HeadOperands {
  if (!hasKernel(SPLIT_QKV)) return qkvHeadsOps(x, heads, rows);
  const [batch, length, triple] = x.shape;
  const attrs: QkvAttrs = { batch, length, width: triple / 3, heads, ...rows };
  const [q, kT, v] = runKernelOutputs(SPLIT_QKV, { x }, attrs) as tf.Tensor3D[];
  return { q: q!, kT: kT!, v: v! };
}

/** mergeHeads from tf ops. */
export function mergeHeadsOps(y: tf.Tensor3D, batch: number, heads: number): tf.Tensor3D {
  const [, length, dh] = y.shape;
  return tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(y, [batch, heads, length, dh]), [0, 2, 1, 3]), [batch, length, heads * dh]));
}

/** Per-head outputs [B·H, L, dh] -> rows [B, L, H dh] (heads concatenated). */
export function mergeHeads(y: tf.Tensor3D, batch: number, heads: number): tf.Tensor3D {
  if (!hasKernel(MERGE_HEADS)) return mergeHeadsOps(y, batch, heads);
  const [, length, dh] = y.shape;
  const attrs: HeadAttrs = { batch, length, width: heads * dh, heads };
  return runKernel(MERGE_HEADS, { y }, attrs) as tf.Tensor3D;
}
