/**
 * sha256 of a file off the main thread: the prepare hashes its source (a file, or a Minari dataset's
 * files), and loading a prepared dataset checks its steps file. A worker thread reads and hashes the
 * file while the main thread parses it, so on two cores the hash is nearly free. (The steps file
 * being written is hashed on the main thread as it streams out: that needs no second read, and
 * copying each chunk to a worker would cost more than hashing it.)
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

/** A hash being computed in a worker thread; `cancel` stops it (e.g. when reading failed). */
export interface BackgroundHash {
  digest: Promise<string>;
  cancel(): void;
}

/** sha256 (hex) of a file. */
export function sha256FileInBackground(file: string): BackgroundHash {
  return hashInWorker({ file });
}

/**
 * sha256 (hex) of a dataset kept in several files: of the listing `sha256sum` prints for `files` in
 * this order, paths relative to `root` (so `sha256sum <files> | sha256sum`, run in root, gives it).
 */
export function sha256ListingInBackground(root: string, files: readonly string[]): BackgroundHash {
  return hashInWorker({ root, files: [...files] });
}

function hashInWorker(job: { file: string } | { root: string; files: string[] }): BackgroundHash {
  const worker = new Worker(WORKER_URL, workerOptions(job));
  const digest = result(worker);
  return {
    digest,
    cancel: () => {
      digest.catch(() => undefined);
      void worker.terminate();
    },
  };
}
