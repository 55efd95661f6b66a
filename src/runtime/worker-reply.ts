/**
 * Worker threads that do one job and reply once, with { result } or { error }: hashing files, and
 * decoding Parquet (whose WebAssembly memory, which never shrinks, then goes with the worker).
 */
import { Worker } from "node:worker_threads";

/** A job running in a worker thread; `cancel` stops it (e.g. when the work it served failed). */
export interface WorkerJob<T> {
  result: Promise<T>;
  cancel(): void;
}

/** Start the worker module at `url` with `workerData`; its one reply settles `result`. */
export function startWorkerJob<T>(url: URL, workerData: object, what: string): WorkerJob<T> {
  // No Node flags: a worker would inherit the parent's, and many (--input-type, --expose-gc) make it fail to start.
  const worker = new Worker(url, { workerData, execArgv: [] });
  const result = new Promise<T>((resolve, reject) => {
    worker.once("message", (msg: { result?: T; error?: string }) => {
      void worker.terminate();
      if (msg.error === undefined) resolve(msg.result as T);
      else reject(new Error(msg.error));
    });
    worker.once("error", reject);
    // Exiting without a reply (after terminate(), or a crash) must not leave the promise pending.
    worker.once("exit", (code) => reject(new Error(`${what} worker exited (code ${code}) without a result`)));
  });
  return {
    result,
    cancel: () => {
      result.catch(() => undefined);
      void worker.terminate();
    },
  };
}
