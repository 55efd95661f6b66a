/**
 * Custom kernels that work on a backend's memory directly, for the WASM and pure-JS cpu backends.
 *
 * A kernel here is one JS function over Float32Array views: on WASM the views alias the module's
 * heap at each tensor's `memoryOffset` (no copy in or out), and the body also gets the heap's
 * WebAssembly.Memory and offsets so it can run WebAssembly code in place; on cpu the views are the
 * backend's own value arrays. `registerFloatKernel` registers it under a snndt-specific kernel name for both backends;
 * `hasKernel` tells callers whether the active backend has it (the native "tensorflow" backend does
 * not, and callers then compose ordinary tf ops).
 */
import { tf } from "../runtime/backend.js";

/** The backends whose memory the kernels here know how to reach. */
const BACKENDS = ["wasm", "cpu"] as const;

interface WasmBackendMemory {
  wasm: { HEAPU8: Uint8Array; asm: { memory: object }; _malloc(bytes: number): number; _free(pointer: number): void };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
}

interface CpuBackendMemory {
  data: { get(dataId: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: "float32", values: Float32Array): tf.TensorInfo;
}

/**
 * On WASM, where the views live: the backend's WebAssembly.Memory and the byte offsets of the
 * inputs, outputs and the scratch block, for code that runs inside that memory (lif-simd.ts).
 */
export interface HeapAccess {
  memory: object;
  inputOffsets: number[];
  outputOffsets: number[];
  /** Byte offset of `scratchBytes` bytes of scratch memory (0 when none was asked for). */
  scratch: number;
}

/**
 * A kernel body: reads `inputs` and fills `outputs` (fresh, zero-filled on cpu, uninitialised on
 * WASM: the body must write every element). Views are only valid during the call. `heap` is given
 * on WASM only.
 */
export type FloatKernelBody<Attrs> = (inputs: Float32Array[], outputs: Float32Array[], attrs: Attrs, heap?: HeapAccess) => void;

export interface FloatKernelSpec<Attrs> {
  name: string;
  /** Input names, in the order the body receives them. */
  inputs: string[];
  /** Output shapes from the input shapes and attributes. */
  outputShapes: (inputShapes: number[][], attrs: Attrs) => number[][];
  body: FloatKernelBody<Attrs>;
  /** Scratch bytes the body needs on WASM (allocated in the heap for the call). */
  scratchBytes?: (attrs: Attrs) => number;
}

function checkFloat(name: string, input: string, info: tf.TensorInfo): void {
  if (info.dtype !== "float32") throw new Error(`kernel ${name}: input "${input}" must be float32, found ${info.dtype}`);
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function wasmKernel<Attrs>(spec: FloatKernelSpec<Attrs>): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const memory = backend as unknown as WasmBackendMemory;
    const infos = spec.inputs.map((input) => {
      const info = (inputs as Record<string, tf.TensorInfo>)[input]!;
      checkFloat(spec.name, input, info);
      return info;
    });
    const shapes = spec.outputShapes(
      infos.map((i) => i.shape),
      attrs as unknown as Attrs,
    );
    const outputs = shapes.map((shape) => memory.makeOutput(shape, "float32"));
    const scratchBytes = spec.scratchBytes?.(attrs as unknown as Attrs) ?? 0;
    const scratch = scratchBytes > 0 ? memory.wasm._malloc(scratchBytes) >>> 0 : 0;
    try {
      // Views are taken after every allocation: a malloc may grow (and so detach) the heap buffer.
      const heap = memory.wasm.HEAPU8.buffer;
      const offset = (info: tf.TensorInfo) => memory.dataIdMap.get(info.dataId).memoryOffset;
      const view = (info: tf.TensorInfo) => new Float32Array(heap, offset(info), size(info.shape));
      const access: HeapAccess = { memory: memory.wasm.asm.memory, inputOffsets: infos.map(offset), outputOffsets: outputs.map(offset), scratch };
      spec.body(infos.map(view), outputs.map(view), attrs as unknown as Attrs, access);
    } finally {
      if (scratch !== 0) memory.wasm._free(scratch);
    }
    return outputs.length === 1 ? outputs[0]! : outputs;
  };
}

function cpuKernel<Attrs>(spec: FloatKernelSpec<Attrs>): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const memory = backend as unknown as CpuBackendMemory;
    const views = spec.inputs.map((input) => {
      const info = (inputs as Record<string, tf.TensorInfo>)[input]!;
      checkFloat(spec.name, input, info);
      return memory.data.get(info.dataId).values as Float32Array;
    });
    const shapes = spec.outputShapes(
      spec.inputs.map((input) => (inputs as Record<string, tf.TensorInfo>)[input]!.shape),
      attrs as unknown as Attrs,
    );
    const outputs = shapes.map((shape) => new Float32Array(size(shape)));
    spec.body(views, outputs, attrs as unknown as Attrs);
    const infos = outputs.map((values, i) => memory.makeTensorInfo(shapes[i]!, "float32", values));
    return infos.length === 1 ? infos[0]! : infos;
  };
}

/** Register `spec` for the WASM and cpu backends (once per process; later calls are no-ops). */
export function registerFloatKernel<Attrs>(spec: FloatKernelSpec<Attrs>): void {
  for (const backendName of BACKENDS) {
    if (tf.getKernel(spec.name, backendName)) continue;
    tf.registerKernel({ kernelName: spec.name, backendName, kernelFunc: backendName === "wasm" ? wasmKernel(spec) : cpuKernel(spec) });
  }
}

/** Whether the active backend has kernel `name`. */
export function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** Run a registered kernel with one output. */
export function runKernel(name: string, inputs: Record<string, tf.Tensor>, attrs: object): tf.Tensor {
  return tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** Run a registered kernel with several outputs. */
export function runKernelOutputs(name: string, inputs: Record<string, tf.Tensor>, attrs: object): tf.Tensor[] {
  return tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
}

/**
 * Identity on WASM by reference instead of by copy. The gradient tape keeps a clone (Identity) of
 * every tensor a backward pass will need, and tf.customGrad clones what it saves; the WASM
 * backend's Identity copies the data each time, which in a default training step came to ~700 MB of
 * copies (most of the peak heap) and ~60 ms. Tensors are immutable and this backend already shares
 * data by reference count for Reshape, so Identity shares it the same way (as the cpu backend does).
 */
function sharedIdentity({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const x = inputs["x"]!;
  (backend as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

const wasmIdentity = tf.getKernel("Identity", "wasm");
if (wasmIdentity && wasmIdentity.kernelFunc !== (sharedIdentity as unknown as tf.KernelFunc)) {
  const copying = wasmIdentity.kernelFunc;
  tf.unregisterKernel("Identity", "wasm");
  tf.registerKernel({
    kernelName: "Identity",
    backendName: "wasm",
    // Strings live outside the heap; the original handles them.
    kernelFunc: (args) => ((args.inputs as tf.NamedTensorInfoMap)["x"]!.dtype === "string" ? copying(args) : sharedIdentity(args as never)),
  });
}
