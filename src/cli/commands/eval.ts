import type { Command } from "commander";
import type { RunContext } from "../../runtime/context.js";
import { UsageError } from "../../runtime/errors.js";

export function registerEval(program: Command, _context: () => RunContext): void {
  program
    .command("eval")
    .description("eval a model (not built yet)")
    .allowUnknownOption(true)
    .action(() => {
      throw new UsageError("`snndt eval` is not built yet");
    });
}
