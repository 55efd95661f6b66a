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

/** What the file system said, for the errors a user's paths, permissions or disk cause (not snndt bugs). */
const FILE_SYSTEM_PROBLEMS: Record<string, string> = {
  ENOTDIR: "a part of the path is a file, not a directory",
  EISDIR: "it is a directory",
  EEXIST: "it already exists",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exhausted",
  ENAMETOOLONG: "the name is too long",
  ENOENT: "no such file or directory",
};

/**
 * A Node file-system error on a path (a file where a directory is needed, no permission, a full
 * disk) as an error the user can act on; null for anything else.
 */
export function fileSystemError(err: unknown): SnndtError | null {
  const e = err as NodeJS.ErrnoException | null;
  if (!e || typeof e.code !== "string" || typeof e.path !== "string") return null;
  const problem = FILE_SYSTEM_PROBLEMS[e.code];
  if (!problem) return null;
  return new SnndtError(`cannot ${e.syscall ?? "use"} ${e.path}: ${problem} (${e.code}).`);
}

/** Exit code for a run stopped by SIGINT/SIGTERM (128 + SIGINT), the shell convention. */
export const INTERRUPTED_EXIT_CODE = 130;
