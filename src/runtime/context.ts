/** What every command receives from the CLI's global options: logging, progress and output mode. */
import type { Logger } from "./logging.js";
import type { ProgressFactory } from "./progress.js";

export interface RunContext {
  logger: Logger;
  /** For records a progress bar also shows: --log-file always, stderr only without bars. */
  barLogger: Logger;
  progress: ProgressFactory;
  /** `--json`: the command's result goes to stdout as one JSON document, human text goes to stderr. */
  json: boolean;
  quiet: boolean;
}
