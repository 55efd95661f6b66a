/**
 * sha256 of a file off the main thread: the prepare hashes its source (a file, or a Minari dataset's
 * files), and loading a prepared dataset checks its steps file. A worker thread reads and hashes the
 * file while the main thread parses it, so on two cores the hash is nearly free. (The steps file
 * being written is hashed on the main thread as it streams out: that needs no second read, and
 * copying each chunk to a worker would cost more than hashing it.)
 */
import { startWorkerJob } from "../runtime/worker-reply.js";

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

/**
 * sha256 (hex) of a dataset kept in several files: of the listing `sha256sum` prints for `files` in
 * this order, paths relative to `root` (so `sha256sum <files> | sha256sum`, run in root, gives it).
 */
export function sha256ListingInBackground(root: string, files: readonly string[]): BackgroundHash {
  return hashInWorker({ root, files: [...files] });
}

function hashInWorker(job: { file: string } | { root: string; files: string[] }): BackgroundHash {
  const { result, cancel } = startWorkerJob<string>(WORKER_URL, job, "hash");
  return { digest: result, cancel };
}
