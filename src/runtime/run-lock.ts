/**
 * One writer per run directory. Two trainings of the same run would interleave their metrics rows
 * and overwrite each other's checkpoints, so `snndt train` holds a lock file for as long as it
 * writes: created exclusively (O_EXCL), holding the owner's pid and host. A lock whose process is
 * gone (killed with SIGKILL, or the machine restarted) is taken over.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import * as path from "node:path";
import { UsageError } from "./errors.js";
import { makeDirectory } from "./fs-atomic.js";

export const RUN_LOCK_FILE = ".snndt-train.lock";

interface LockOwner {
  pid: number;
  host: string;
}

function readOwner(file: string): LockOwner | null {
  try {
    const owner = JSON.parse(readFileSync(file, "utf8")) as Partial<LockOwner>;
    return typeof owner.pid === "number" && typeof owner.host === "string" ? { pid: owner.pid, host: owner.host } : null;
  } catch {
    return null; // vanished, or torn by a crash while it was written: nobody holds it
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // alive, owned by another user
  }
}

/**
 * Lock `runDir` for this process; returns the release. Exiting releases it too. A directory made
 * for the lock is removed with it if nothing else was written (a run that failed before its first file).
 */
export async function lockRunDirectory(runDir: string): Promise<() => void> {
  const made = !existsSync(runDir);
  await makeDirectory(runDir);
  const file = path.join(runDir, RUN_LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: hostname() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(me), { flag: "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = readOwner(file);
      if (owner && owner.host !== me.host) {
        throw new UsageError(`${runDir} is locked by snndt train (pid ${owner.pid}) on host ${owner.host}; if that run has stopped, delete ${file}.`);
      }
      if (owner && isRunning(owner.pid)) {
        throw new UsageError(`${runDir} is being trained by another snndt process (pid ${owner.pid}); wait for it to finish or stop it (Ctrl-C), then --resume.`);
      }
      rmSync(file, { force: true }); // its process is gone
      continue;
    }
    const release = (): void => {
      rmSync(file, { force: true });
      if (made && readdirSync(runDir).length === 0) rmdirSync(runDir);
    };
    process.once("exit", release);
    return () => {
      process.removeListener("exit", release);
      release();
    };
  }
  throw new UsageError(`${runDir}: another snndt process took the lock ${file} at the same moment; try again.`);
}
