/**
 * One writer per run directory. Two trainings of the same run would interleave their metrics rows
 * and overwrite each other's checkpoints, so `snndt train` holds a lock file for as long as it
 * writes, holding the owner's pid, start time, host and a random token. It appears complete or not
 * at all (a written temporary linked into place). A lock whose process is gone (killed with SIGKILL,
 * or the machine or container restarted, its pid perhaps given to another process) is taken over:
 * claimed by an atomic rename, so of several processes finding the same dead lock only one removes
 * it, and a fresh lock is never removed in its place.
 */
import { randomBytes } from "node:crypto";
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import * as path from "node:path";
import { UsageError } from "./errors.js";
import { makeDirectory, namingPath, processAlive, removeEmptyDirectories } from "./fs-atomic.js";

export const RUN_LOCK_FILE = ".snndt-train.lock";

interface LockOwner {
  pid: number;
  host: string;
  token: string;
  /** The owner's start time (Linux: clock ticks since boot), telling it apart from a later process given the same pid. */
  started?: string;
}

function readOwner(file: string): LockOwner | null {
  try {
    const owner = JSON.parse(readFileSync(file, "utf8")) as Partial<LockOwner>;
    if (typeof owner.pid !== "number" || typeof owner.host !== "string" || typeof owner.token !== "string") return null;
    const started = typeof owner.started === "string" ? { started: owner.started } : {};
    return { pid: owner.pid, host: owner.host, token: owner.token, ...started };
  } catch {
    return null;
  }
}

/** When process `pid` started (field 22 of /proc/<pid>/stat), or null where /proc does not tell. */
function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name in parentheses may hold spaces; the fields after it start at field 3.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[22 - 3] ?? null;
  } catch {
    return null;
  }
}

/**
 * Whether the lock's owner still runs: its pid is alive and, where both start times are known, is
 * the same process. A reused pid is common in containers, where every first process is pid 1.
 */
function isRunning(owner: LockOwner): boolean {
  if (!processAlive(owner.pid)) return false;
  const started = processStartTime(owner.pid);
  return owner.started === undefined || started === null || started === owner.started;
}

/** Create `file` holding `owner`, or return false if it exists. */
function createLock(file: string, owner: LockOwner): boolean {
  const written = `${file}.${owner.token}`;
  try {
    writeFileSync(written, JSON.stringify(owner));
    linkSync(written, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw namingPath(err, file);
    return false;
  } finally {
    rmSync(written, { force: true });
  }
}

/** Remove `file` if it still is the lock `stale` (by its token); false if it was not. */
function removeStale(file: string, stale: LockOwner | null, me: LockOwner): boolean {
  const claimed = `${file}.stale-${me.token}`;
  try {
    renameSync(file, claimed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return true; // another process removed it
    throw err;
  }
  const found = readOwner(claimed);
  if (found?.token === stale?.token) {
    rmSync(claimed, { force: true });
    return true;
  }
  // A new owner's lock replaced the stale one after it was read: put it back.
  try {
    linkSync(claimed, file);
  } finally {
    rmSync(claimed, { force: true });
  }
  return false;
}

/** A `snndt train` holding a run's lock: its pid, and its host when that is not this one. */
export interface RunTrainer {
  pid: number;
  host: string | null;
}

/**
 * The `snndt train` holding `runDir`'s lock: one running on this host, or one on another host (a
 * shared filesystem), which may or may not still run: from here that cannot be told. Null when none.
 */
export function runTrainer(runDir: string): RunTrainer | null {
  const owner = readOwner(path.join(runDir, RUN_LOCK_FILE));
  if (owner === null) return null;
  if (owner.host !== hostname()) return { pid: owner.pid, host: owner.host };
  return isRunning(owner) ? { pid: owner.pid, host: null } : null;
}

/**
 * "<runDir> is still training (snndt train, pid 123)" on this host; from another host's lock, "<runDir>
 * may still be training (...)", with the remedy for a lock its process left behind.
 */
export function stillTraining(runDir: string, trainer: RunTrainer): string {
  if (trainer.host === null) return `${runDir} is still training (snndt train, pid ${trainer.pid})`;
  const lock = path.join(runDir, RUN_LOCK_FILE);
  return `${runDir} may still be training (its lock is held by snndt train, pid ${trainer.pid} on host ${trainer.host}; if nothing runs there, delete ${lock})`;
}

/**
 * Lock `runDir` for this process; returns the release. Exiting releases it too. The directories made
 * for the lock (the run's, and parents that did not exist) are removed with it if nothing else was
 * written (a run that failed before its first file).
 */
export async function lockRunDirectory(runDir: string): Promise<() => void> {
  const made = await makeDirectory(runDir);
  const file = path.join(runDir, RUN_LOCK_FILE);
  const started = processStartTime(process.pid);
  const me: LockOwner = { pid: process.pid, host: hostname(), token: randomBytes(8).toString("hex"), ...(started === null ? {} : { started }) };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (!createLock(file, me)) {
      const owner = readOwner(file);
      const unlock = `if no snndt train is running on it, delete ${file}`;
      if (owner && owner.host !== me.host) throw new UsageError(`${runDir} is locked by snndt train (pid ${owner.pid}) on host ${owner.host}; ${unlock}.`);
      if (owner && isRunning(owner)) {
        throw new UsageError(`${runDir} is being trained by another snndt process (pid ${owner.pid}); wait for it to finish or stop it (${unlock}).`);
      }
      removeStale(file, owner, me); // its process is gone (or the file is not a lock): try again
      continue;
    }
    const release = (): void => {
      rmSync(file, { force: true });
      removeEmptyDirectories(made);
    };
    process.once("exit", release);
    return () => {
      process.removeListener("exit", release);
      release();
    };
  }
  throw new UsageError(`${runDir}: other snndt processes kept taking the lock ${file}; try again.`);
}
