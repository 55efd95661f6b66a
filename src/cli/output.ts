/**
 * A command's result for a person goes to stdout, so `snndt eval run > result.txt` keeps it; under
 * --json it goes to stderr instead, leaving stdout to the JSON alone. --quiet does not hide it: it
 * is the result, not a log line.
 */
import type { RunContext } from "../runtime/context.js";

/** What failed, for a script reading --json's stdout: a usage error, bad input, another failure, an interrupt or a bug. */
export type FailureKind = "usage" | "input" | "failed" | "interrupted" | "internal";

/** Whether the command's JSON document went to stdout: stdout holds one document, so no error follows it. */
let jsonDocumentWritten = false;

/** Under --json: the command's result, as one JSON document on stdout (text already JSON is written as it is). */
export function printJson(document: unknown): void {
  process.stdout.write(typeof document === "string" ? document : JSON.stringify(document, null, 2) + "\n");
  jsonDocumentWritten = true;
}

/**
 * Under --json a failure is a JSON document on stdout too, `{"error": {"kind", "message", "exitCode"}}`,
 * so a script reads a result or an error from the same place; stderr has the message for a person.
 * Nothing when the result is already there (an interrupt in the moment after it was printed).
 */
export function printJsonError(kind: FailureKind, message: string, exitCode: number): void {
  if (!jsonDocumentWritten) printJson({ error: { kind, message, exitCode } });
}

/** "1 episode", "2 episodes". */
export function counted(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

export function printResult(ctx: Pick<RunContext, "json">, text: string): void {
  (ctx.json ? process.stderr : process.stdout).write(text + "\n");
}
