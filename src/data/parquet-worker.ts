/**
 * Worker thread body for parquet-reader.ts: decodes the Parquet files workerData.files in order,
 * loading the decoder once, and replies once a file: { index, result } (the Arrow IPC stream's
 * bytes, transferred), or { index, error, reading } and stops. `reading` tells a file that could not
 * be read (its errno code) from one the decoder refused.
 */
import { parentPort, workerData } from "node:worker_threads";
import { readFileSync } from "node:fs";

const port = parentPort!;
const { files } = workerData as { files: string[] };
const parquet = await import("parquet-wasm");

for (const [index, file] of files.entries()) {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    port.postMessage({ index, error: (err as Error).message, reading: (err as NodeJS.ErrnoException).code ?? "" });
    break;
  }
  try {
    const decoded = parquet.readParquet(bytes).intoIPCStream();
    // Transfer a buffer of its own, never a view of the decoder's memory.
    const ipc = decoded.byteOffset === 0 && decoded.byteLength === decoded.buffer.byteLength ? decoded : decoded.slice();
    port.postMessage({ index, result: ipc }, [ipc.buffer as ArrayBuffer]);
  } catch (err) {
    // A WebAssembly trap is a RuntimeError ("unreachable"): its name says more than its message.
    port.postMessage({ index, error: err instanceof Error ? `${err.name === "Error" ? "" : `${err.name}: `}${err.message}` : String(err) });
    break;
  }
}
