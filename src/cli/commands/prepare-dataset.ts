import type { Command } from "commander";
import type { RunContext } from "../../runtime/context.js";
import { UsageError } from "../../runtime/errors.js";

export function registerPrepareDataset(program: Command, _context: () => RunContext): void {
  program
    .command("prepare-dataset")
    .description("prepare an offline dataset (not built yet)")
    .allowUnknownOption(true)
    .action(() => {
      throw new UsageError("`snndt prepare-dataset` is not built yet");
    });
}
