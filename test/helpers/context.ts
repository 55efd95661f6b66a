import type { RunContext } from "../../src/runtime/context.js";
import { createLogger } from "../../src/runtime/logging.js";
import { createProgressFactory } from "../../src/runtime/progress.js";

/** A run context that logs nothing and draws no progress bar, for calling commands' functions directly. */
export function quietContext(): RunContext {
  const logger = createLogger({ level: "silent", quiet: true });
  return { logger, barLogger: logger, progress: createProgressFactory(false), json: false, quiet: true };
}
