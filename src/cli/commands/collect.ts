import type { Command } from "commander";
import type { RunContext } from "../../runtime/context.js";
import { UsageError } from "../../runtime/errors.js";

export function registerCollect(program: Command, _context: () => RunContext): void {
  program
    .command("collect")
    .description("collect an offline dataset in a built-in environment (not built yet)")
    .allowUnknownOption(true)
    .action(() => {
      throw new UsageError("`snndt collect` is not built yet");
    });
}
