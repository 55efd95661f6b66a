import { test } from "node:test";
import assert from "node:assert/strict";
import { backendMemoryError, SnndtError } from "../../src/runtime/errors.js";

/** The runtime's own WebAssembly.RuntimeError (the compiler's lib declares no WebAssembly value). */
const WasmRuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: new (message: string) => Error } }).WebAssembly.RuntimeError;

test("the WebAssembly backend's out-of-memory abort is said as such, with what to change; other aborts stay bugs", () => {
  // The first as tfjs-backend-wasm 4.22's release build throws it (its abort() adds the hint).
  for (const message of ["Aborted(). Build with -sASSERTIONS for more info.", "Aborted(Cannot enlarge memory arrays to size 4294967296 bytes (OOM))"]) {
    const said = backendMemoryError(new WasmRuntimeError(message));
    assert.ok(said instanceof SnndtError, message);
    assert.match(said.message, /WebAssembly backend ran out of memory .*its heap stops at 4 GB.*train\.batch_size x model\.context x model\.d_model x model\.lif\.T/);
  }
  assert.equal(backendMemoryError(new WasmRuntimeError("Aborted(Assertion failed: offset < size). Build with -sASSERTIONS for more info.")), null);
  assert.equal(backendMemoryError(new WasmRuntimeError("unreachable")), null);
  // A failed allocation inside tfjs-backend-wasm (stacks as a DT with a 64M-weight timestep table,
  // and tensors filling the heap, gave them) is the same shortage; an out-of-bounds access elsewhere is a bug.
  const outOfBounds = (callers: string[]): Error =>
    Object.assign(new WasmRuntimeError("memory access out of bounds"), {
      stack: ["RuntimeError: memory access out of bounds", "    at wasm://wasm/0019ea4a:wasm-function[586]:0x610c0", ...callers.map((c) => `    at ${c}`)].join("\n"),
    });
  for (const caller of [
    "BackendWasm.move (/x/node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js:9134:38)",
    "Module._dispose_data [as disposeData] (/x/node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js:8880:118)",
  ]) {
    assert.match(backendMemoryError(outOfBounds([caller, "kernelFunc (/x/tf-core.node.js:4707:32)"]))!.message, /ran out of memory \(memory access out of bounds; its heap stops at 4 GB\)/);
  }
  assert.equal(backendMemoryError(outOfBounds(["lifForward (/x/dist/src/model/lif-simd.js:80:12)", "BackendWasm.move (/x/tf-backend-wasm.node.js:1:1)"])), null);
  // A tfjs kernel's own call into WebAssembly is not memory management: a bug there keeps its stack.
  assert.equal(backendMemoryError(outOfBounds(["Object.batchMatMul [as kernelFunc] (/x/node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js:1314:5)"])), null);
  assert.equal(backendMemoryError(new Error("Aborted()")), null, "only the WebAssembly runtime's own error");
});
