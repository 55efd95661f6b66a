/**
 * Errors a user can act on. The CLI prints `message` as one paragraph and exits with `exitCode`;
 * anything that is not a SnndtError is a bug and is reported with its stack.
 */
export class SnndtError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "SnndtError";
    this.exitCode = exitCode;
  }
}

/** Bad input data: names the file, the field and row where known, what was expected and what was found. */
export class InputError extends SnndtError {
  constructor(message: string) {
    super(message, 1);
    this.name = "InputError";
  }
}

/** A misused command line or configuration. */
export class UsageError extends SnndtError {
  constructor(message: string) {
    super(message, 2);
    this.name = "UsageError";
  }
}

/**
 * File-system refusals that come from the user's paths, permissions or disk, never from snndt
 * itself, with what to do. (ENOENT and EEXIST are left out: a missing or existing file can be an
 * snndt bug, which must keep its stack.)
 */
const FILE_SYSTEM_PROBLEMS: Record<string, string> = {
  ENOTDIR: "a part of the path is a file, not a directory; choose another path",
  EISDIR: "it is a directory; give a file",
  EACCES: "permission denied; change its permissions, or choose another path",
  EPERM: "operation not permitted; change its permissions, or choose another path",
  ELOOP: "too many levels of symbolic links (a link that leads back to itself?); give a path that resolves",
  EBUSY: "it is in use (a mount point, or the current directory, cannot be renamed); choose another path",
  EROFS: "the file system is read-only; choose a path on a writable one",
  ENOSPC: "no space left on the device; free some space and try again",
  EDQUOT: "the disk quota is exhausted; free some space and try again",
  ENAMETOOLONG: "the name is too long; choose a shorter path",
};

/** What a file-system error code means, without the advice ("no space left on the device"); undefined for codes not in the table. */
export function fileSystemProblem(code: string | undefined): string | undefined {
  return code === undefined ? undefined : FILE_SYSTEM_PROBLEMS[code]?.split(";")[0];
}

/**
 * A Node file-system error caused by the user's paths, permissions or disk (a file where a directory
 * is needed, no permission, a full disk) as an error the user can act on; null for anything else.
 */
export function fileSystemError(err: unknown): SnndtError | null {
  const e = err as (NodeJS.ErrnoException & { dest?: string }) | null;
  if (!e || typeof e.code !== "string") return null;
  const problem = FILE_SYSTEM_PROBLEMS[e.code];
  if (!problem) return null;
  // rename names its source first; the destination is the path the user chose.
  const where = e.dest ?? e.path;
  return new SnndtError(`${where ? `cannot ${e.syscall ?? "use"} ${where}` : `a ${e.syscall ?? "file-system"} call failed`}: ${problem} (${e.code}).`);
}

/** A full disk or an exhausted quota: the work stopped for want of space, and can go on once there is some. */
export function outOfSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/** Exit code for a run stopped by SIGINT/SIGTERM (128 + SIGINT), the shell convention. */
export const INTERRUPTED_EXIT_CODE = 130;

/** tfjs-backend-wasm's memory management, where a full heap shows as an out-of-bounds access (seen: move, _dispose_data). */
const WASM_MEMORY_CALLERS = /\bat (BackendWasm\.(move|write|makeOutput|disposeData)|Module\._(malloc|free|dispose_data)\b)/;

/**
 * The WebAssembly backend's failures when its heap is full (it stops at 4 GB): the abort when it
 * cannot grow ("Aborted(). Build with -sASSERTIONS for more info." from the release build tfjs ships,
 * "Aborted(... OOM ...)" from others), and "memory access out of bounds" inside tfjs-backend-wasm's
 * own memory management (a failed allocation: BackendWasm.makeOutput, disposeData). Said as what it
 * almost always is, with what to change; null for anything else (other aborts, and out-of-bounds
 * accesses in any other code, are bugs and keep their stack).
 */
export function backendMemoryError(err: unknown): SnndtError | null {
  // WebAssembly.RuntimeError, told by its name (the compiler's lib has no WebAssembly value).
  if (!(err instanceof Error) || err.name !== "RuntimeError") return null;
  const abort = /^Aborted\((.*OOM.*)?\)(\. Build with .*)?$/.test(err.message);
  // The first frame outside WebAssembly names the JavaScript that called into it.
  const caller = (err.stack ?? "").split("\n").find((line) => /^\s+at /.test(line) && !line.includes("wasm://"));
  const allocation = err.message === "memory access out of bounds" && caller !== undefined && WASM_MEMORY_CALLERS.test(caller);
  if (!abort && !allocation) return null;
  return new SnndtError(
    `the TensorFlow.js WebAssembly backend ran out of memory (${err.message}; its heap stops at 4 GB). ` +
      "A training step's memory grows with train.batch_size x model.context x model.d_model x model.lif.T, and its weights' with " +
      "model.n_layers x model.d_model^2 and a timestep table's model.max_ep_len x model.d_model: " +
      "start a new run (--out) with smaller values. A run stopped before its first checkpoint can simply be deleted.",
  );
}
