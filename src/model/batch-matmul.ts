/**
 * Batched matrix product [n, m, k] x [n, k, p] -> [n, m, p] that runs on XNNPACK on the WASM backend.
 *
 * The WASM backend's own BatchMatMul takes XNNPACK's fast path only for ONE 2-D product without
 * transpose flags; a batch of n products falls to a scalar loop (~1 GFLOP/s), and splitting the batch
 * into n tensors with tf ops costs more than it saves. This kernel instead registers, for each of
 * the n slices, temporary tensor ids that alias the slices of a, b and the output inside the WASM
 * heap (no copies), runs the backend's own BatchMatMul on them as 2-D products (the fast path), and
 * unregisters the ids again (which also frees the XNNPACK operator cached on the b slice).
 * Results equal tf.matMul's up to float rounding. Other backends use tf.matMul.
 */
import { tf } from "../runtime/backend.js";
import { runKernel } from "./kernels.js";

const KERNEL = "SnndtBatchMatMul";

interface WasmModule {
  HEAPU8: Uint8Array;
  cwrap(name: string, returns: null, args: string[]): (...args: unknown[]) => void;
  tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
}

interface WasmBackend {
  wasm: WasmModule;
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
}

let wasmMatMul: ((...args: unknown[]) => void) | null = null;

function batchMatMulOnSlices({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const wasmBackend = backend as WasmBackend;
  const a = inputs["a"]!;
  const b = inputs["b"]!;
  if (a.dtype !== "float32" || b.dtype !== "float32") throw new Error(`${KERNEL}: inputs must be float32, found ${a.dtype} and ${b.dtype}`);
  const [n, m, k] = a.shape as [number, number, number];
  const [nb, kb, p] = b.shape as [number, number, number];
  if (a.shape.length !== 3 || b.shape.length !== 3 || nb !== n || kb !== k) {
    throw new Error(`${KERNEL}: shapes [${a.shape}] and [${b.shape}] do not form a batched product`);
  }
  wasmMatMul ??= wasmBackend.wasm.cwrap("BatchMatMul", null, ["number", "array", "number", "number", "array", "number", "number", "number", "number"]);
  const out = wasmBackend.makeOutput([n, m, p], "float32");
  const { tfjs } = wasmBackend.wasm;
  const aOffset = wasmBackend.dataIdMap.get(a.dataId).memoryOffset;
  const bOffset = wasmBackend.dataIdMap.get(b.dataId).memoryOffset;
  const outOffset = wasmBackend.dataIdMap.get(out.dataId).memoryOffset;
  const aShape = new Uint8Array(new Int32Array([1, m, k]).buffer);
  const bShape = new Uint8Array(new Int32Array([1, k, p]).buffer);
  for (let s = 0; s < n; s++) {
    const aId = wasmBackend.dataIdNextNumber++;
    const bId = wasmBackend.dataIdNextNumber++;
    const outId = wasmBackend.dataIdNextNumber++;
    tfjs.registerTensor(aId, m * k, aOffset + 4 * s * m * k);
    tfjs.registerTensor(bId, k * p, bOffset + 4 * s * k * p);
    tfjs.registerTensor(outId, m * p, outOffset + 4 * s * m * p);
    wasmMatMul(aId, aShape, 3, bId, bShape, 3, false, false, outId);
    tfjs.disposeData(aId);
    tfjs.disposeData(bId);
    tfjs.disposeData(outId);
  }
  return out;
}

if (!tf.getKernel(KERNEL, "wasm")) tf.registerKernel({ kernelName: KERNEL, backendName: "wasm", kernelFunc: batchMatMulOnSlices as unknown as tf.KernelFunc });

/** a b for a [n, m, k], b [n, k, p] (no autodiff of its own: see batchMatMulFast in dense.ts). */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (tf.getBackend() !== "wasm") return tf.matMul(a, b);
  return runKernel(KERNEL, { a, b }, {}) as tf.Tensor3D;
}
