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

/** Exit code for a run stopped by SIGINT/SIGTERM (128 + SIGINT), the shell convention. */
export const INTERRUPTED_EXIT_CODE = 130;
