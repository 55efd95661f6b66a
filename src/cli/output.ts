/**
 * A command's result for a person goes to stdout, so `snndt eval run > result.txt` keeps it; under
 * --json it goes to stderr instead, leaving stdout to the JSON alone. --quiet does not hide it: it
 * is the result, not a log line.
 */
import type { RunContext } from "../runtime/context.js";

/** "1 episode", "2 episodes". */
export function counted(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

export function printResult(ctx: Pick<RunContext, "json">, text: string): void {
  (ctx.json ? process.stderr : process.stdout).write(text + "\n");
}
