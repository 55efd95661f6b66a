/**
 * A command's result for a person goes to stdout, so `snndt eval run > result.txt` keeps it; under
 * --json it goes to stderr instead, leaving stdout to the JSON alone. --quiet does not hide it: it
 * is the result, not a log line.
 */
import type { RunContext } from "../runtime/context.js";

export function printResult(ctx: Pick<RunContext, "json">, text: string): void {
  (ctx.json ? process.stderr : process.stdout).write(text + "\n");
}
