/**
 * sha256 off the main thread: the prepare computes two hashes (the source file and the steps file),
 * and on a large dataset hashing costs as much as reading. A worker thread hashes while the main
 * thread reads or writes, so on two cores the hashes are nearly free.
 */
import { Worker } from "node:worker_threads";

const WORKER_URL = new URL("./hash-worker.js", import.meta.url);
// Workers inherit the parent's Node flags; --input-type (valid only for -e/stdin) would make them fail.
const workerOptions = (workerData: object) => ({ workerData, execArgv: process.execArgv.filter((a) => !a.startsWith("--input-type")) });

function result(worker: Worker): Promise<string> {
  return new Promise((resolve, reject) => {
    worker.once("message", (msg: { digest?: string; error?: string }) => {
      void worker.terminate();
      if (msg.digest !== undefined) resolve(msg.digest);
      else reject(new Error(msg.error ?? "hash worker failed"));
    });
    worker.once("error", reject);
    // Exiting without a reply (after terminate(), or a crash) must not leave the promise pending.
    worker.once("exit", (code) => reject(new Error(`hash worker exited (code ${code}) without a result`)));
  });
}

/** sha256 (hex) of a file, computed in a worker thread; `cancel` stops it (e.g. when reading failed). */
export function sha256FileInBackground(file: string): { digest: Promise<string>; cancel(): void } {
  const worker = new Worker(WORKER_URL, workerOptions({ file }));
  const digest = result(worker);
  return {
    digest,
    cancel: () => {
      digest.catch(() => undefined);
      void worker.terminate();
    },
  };
}

/** A sha256 fed chunk by chunk from the main thread and computed in a worker. */
export class BackgroundSha256 {
  private readonly worker = new Worker(WORKER_URL, workerOptions({}));
  private readonly pending = result(this.worker);

  /** Queue a chunk (copied, so the caller may reuse its buffer). */
  update(chunk: Uint8Array): void {
    // Copy exactly the chunk and transfer the copy: posting a view would clone its whole ArrayBuffer.
    const copy = new Uint8Array(chunk); // a copy (Buffer.prototype.slice would be a view)
    this.worker.postMessage(copy, [copy.buffer]);
  }

  /** Finish and return the hex digest. */
  digest(): Promise<string> {
    this.worker.postMessage(null);
    return this.pending;
  }

  /** Stop the worker without a result (on errors). */
  async abort(): Promise<void> {
    this.pending.catch(() => undefined);
    await this.worker.terminate();
  }
}
