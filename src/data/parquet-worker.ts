/**
 * Worker thread body for parquet-reader.ts: decodes the Parquet file workerData.file into an Arrow
 * IPC stream and replies once with { result } (the stream's bytes, transferred) or { error }.
 */
import { parentPort, workerData } from "node:worker_threads";
import { readFileSync } from "node:fs";

const port = parentPort!;
const { file } = workerData as { file: string };

try {
  const parquet = await import("parquet-wasm");
  const decoded = parquet.readParquet(readFileSync(file)).intoIPCStream();
  // Transfer a buffer of its own, never a view of the decoder's memory.
  const ipc = decoded.byteOffset === 0 && decoded.byteLength === decoded.buffer.byteLength ? decoded : decoded.slice();
  port.postMessage({ result: ipc }, [ipc.buffer as ArrayBuffer]);
} catch (err) {
  // A WebAssembly trap is a RuntimeError ("unreachable"): its name says more than its message.
  port.postMessage({ error: err instanceof Error ? `${err.name === "Error" ? "" : `${err.name}: `}${err.message}` : String(err) });
}
