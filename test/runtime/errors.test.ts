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
  assert.equal(backendMemoryError(new Error("Aborted()")), null, "only the WebAssembly runtime's own error");
});
