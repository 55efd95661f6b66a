/**
 * Worker thread body for parquet-reader.ts: decodes the Parquet files workerData.files in order,
 * loading the decoder once, and replies once a file: { result } (the Arrow IPC stream's bytes,
 * transferred), or { error, reading?, loading? } and stops. `reading` carries the errno code of a
 * file that could not be read; `loading` says the decoder itself could not be loaded.
 */
import { parentPort, workerData } from "node:worker_threads";
import { readFileSync } from "node:fs";

/** Files decoded ahead of the reader at most: each is held in memory until the reader takes it. */
const AHEAD = 2;

const port = parentPort!;
const { files } = workerData as { files: string[] };
const message = (err: unknown): string => (err instanceof Error ? `${err.name === "Error" ? "" : `${err.name}: `}${err.message}` : String(err));

// The reader acknowledges each file it takes.
let taken = 0;
let resume: (() => void) | null = null;
port.on("message", () => {
  taken++;
  resume?.();
  resume = null;
});

async function decodeAll(): Promise<void> {
  let parquet: typeof import("parquet-wasm");
  try {
    parquet = await import("parquet-wasm");
  } catch (err) {
    port.postMessage({ error: message(err), loading: true });
    return;
  }
  for (const [index, file] of files.entries()) {
    while (index - taken >= AHEAD) await new Promise<void>((wake) => (resume = wake));
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      port.postMessage({ error: message(err), reading: (err as NodeJS.ErrnoException).code ?? "" });
      return;
    }
    try {
      const decoded = parquet.readParquet(bytes).intoIPCStream();
      // Transfer a buffer of its own, never a view of the decoder's memory.
      const ipc = decoded.byteOffset === 0 && decoded.byteLength === decoded.buffer.byteLength ? decoded : decoded.slice();
      port.postMessage({ result: ipc }, [ipc.buffer as ArrayBuffer]);
    } catch (err) {
      // A WebAssembly trap is a RuntimeError ("unreachable"): its name says more than its message.
      port.postMessage({ error: message(err) });
      return;
    }
  }
}

await decodeAll();
// Without this listener nothing keeps the worker alive: it exits once its replies are delivered.
port.removeAllListeners("message");
