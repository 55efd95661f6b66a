import type { Command } from "commander";
import type { RunContext } from "../../runtime/context.js";
import { UsageError } from "../../runtime/errors.js";

export function registerTrain(program: Command, _context: () => RunContext): void {
  program
    .command("train")
    .description("train a model (not built yet)")
    .allowUnknownOption(true)
    .action(() => {
      throw new UsageError("`snndt train` is not built yet");
    });
}
