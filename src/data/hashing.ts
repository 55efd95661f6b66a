/**
 * sha256 of a file off the main thread: the prepare hashes its source (a file, or a Minari dataset's
 * files), and loading a prepared dataset checks its steps file. A worker thread reads and hashes the
 * file while the main thread parses it, so on two cores the hash is nearly free. (The steps file
 * being written is hashed on the main thread as it streams out: that needs no second read, and
 * copying each chunk to a worker would cost more than hashing it.)
 */
import { statSync } from "node:fs";
import { Worker } from "node:worker_threads";

const WORKER_URL = new URL("./hash-worker.js", import.meta.url);

/** A hash being computed in a worker thread; `cancel` stops it (e.g. when reading failed). */
export interface BackgroundHash {
  digest: Promise<string>;
  cancel(): void;
}

/** sha256 (hex) of a file. */
export function sha256FileInBackground(file: string): BackgroundHash {
  return hashInWorker({ file });
}

/** The bytes of a dataset kept in several files. */
export function totalBytes(files: readonly string[]): number {
  return files.reduce((sum, file) => sum + statSync(file).size, 0);
}

/**
 * sha256 (hex) of a dataset kept in several files: of the listing `sha256sum` prints for `files` in
 * this order, paths relative to `root` (so `sha256sum <files> | sha256sum`, run in root, gives it).
 */
export function sha256ListingInBackground(root: string, files: readonly string[]): BackgroundHash {
  return hashInWorker({ root, files: [...files] });
}

function hashInWorker(job: { file: string } | { root: string; files: string[] }): BackgroundHash {
  // No Node flags: a worker would inherit the parent's, and some (--input-type, --expose-gc) make it fail to start.
  const worker = new Worker(WORKER_URL, { workerData: job, execArgv: [] });
  const digest = new Promise<string>((resolve, reject) => {
    worker.once("message", (msg: { result?: string; error?: string }) => {
      void worker.terminate();
      if (msg.result !== undefined) resolve(msg.result);
      else reject(new Error(msg.error ?? "hash worker failed"));
    });
    worker.once("error", reject);
    // Exiting without a reply (after terminate(), or a crash) must not leave the promise pending.
    worker.once("exit", (code) => reject(new Error(`hash worker exited (code ${code}) without a result`)));
  });
  // Handled here too: a hash that fails while its caller awaits the reading must not crash the process
  // as an unhandled rejection; the caller still sees the failure when it awaits `digest`.
  digest.catch(() => undefined);
  return { digest, cancel: () => void worker.terminate() };
}
