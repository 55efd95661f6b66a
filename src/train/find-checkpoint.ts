/**
 * Which checkpoint a path names, and reading one that a running training may be replacing. Eval
 * loads a policy this way, and `train --init-from` a new run's starting weights.
 */
import { existsSync, realpathSync, statSync } from "node:fs";
import * as path from "node:path";
import { InputError } from "../runtime/errors.js";
import { runTrainer, stillTraining, type RunTrainer } from "../runtime/run-lock.js";
import { CHECKSUMS_FILE, checkpointDir, latestCheckpoint, loadCheckpointWeights } from "./checkpoint.js";
import { EVAL_JSON } from "./run-layout.js";

/**
 * The checkpoint a path names: a checkpoint directory as given, or in a run directory its
 * `best/` (lowest validation loss) when present, else its newest step-<N>.
 */
export async function resolveCheckpoint(target: string): Promise<{ checkpoint: string; runDir: string }> {
  const dir = path.resolve(target);
  if (!existsSync(dir)) throw new InputError(`${target}: no such run or checkpoint directory.`);
  if (!statSync(dir).isDirectory()) {
    if (path.basename(dir) === EVAL_JSON) throw new InputError(`${target} is an evaluation's output; to read it, and others beside it, use snndt eval --compare ${target} ...`);
    throw new InputError(`${target} is a file; expected a run directory or a checkpoint directory (the one holding ${CHECKSUMS_FILE}, e.g. ${path.dirname(dir)}).`);
  }
  // A link to a checkpoint stands for the checkpoint in its run: its run is the one around the real directory.
  if (existsSync(path.join(dir, CHECKSUMS_FILE))) {
    const real = realpathSync(dir);
    return { checkpoint: real, runDir: path.resolve(real, "..", "..") };
  }
  const best = checkpointDir(dir, "best");
  if (existsSync(path.join(best, CHECKSUMS_FILE))) return { checkpoint: best, runDir: dir };
  const latest = await latestCheckpoint(dir);
  if (latest) return { checkpoint: latest, runDir: dir };
  const training = runTrainer(dir);
  if (training !== null) throw new InputError(`${stillTraining(target, training)} and has no complete checkpoint yet; try again once it has one.`);
  throw new InputError(`${target} is neither a checkpoint directory (with ${CHECKSUMS_FILE}) nor a run directory with a complete checkpoint under checkpoints/.`);
}

/**
 * The snndt train still writing the run whose best/ `checkpoint` is: that best/ moves on
 * (is replaced whole) while it trains. Null for any other checkpoint (a step-N never changes) or run.
 */
function bestTrainer(checkpoint: string, runDir: string): RunTrainer | null {
  return checkpoint === checkpointDir(runDir, "best") ? runTrainer(runDir) : null;
}

/** Reads of a best/ that a running training may be replacing, and the pause between them. */
const BEST_READ_ATTEMPTS = 5;
const BEST_READ_PAUSE_MS = 200;

/**
 * A checkpoint's weights and state. A training run replaces its best/ whole (a rename) whenever it
 * finds a better step, and a read that meets the swap finds files missing or of two versions; while
 * the run is training, such a read is tried again.
 */
export async function readCheckpointWeights(checkpoint: string, runDir: string): ReturnType<typeof loadCheckpointWeights> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await loadCheckpointWeights(checkpoint);
    } catch (err) {
      if (bestTrainer(checkpoint, runDir) === null || attempt === BEST_READ_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, BEST_READ_PAUSE_MS));
    }
  }
}

