/**
 * The `snndt` command line: commander wiring only. Each subcommand lives in src/cli/commands and
 * calls into src/data, src/train or src/eval; this file owns the global options and error exits.
 */
import { Command, Option } from "commander";
import { pino } from "pino";
import { createLoggers, ForeignLogFileError, LOG_LEVELS, type LogLevel } from "../runtime/logging.js";
import { createProgressFactory, progressEnabled } from "../runtime/progress.js";
import { backendMemoryError, fileSystemError, fileSystemProblem, InputError, INTERRUPTED_EXIT_CODE, SnndtError, UsageError } from "../runtime/errors.js";
import { SNNDT_VERSION } from "../runtime/version.js";
import type { RunContext } from "../runtime/context.js";
import { registerPrepareDataset } from "./commands/prepare-dataset.js";
import { registerTrain } from "./commands/train.js";
import { registerEval } from "./commands/eval.js";
import { registerCollect } from "./commands/collect.js";
import { registerDoctor } from "./commands/doctor.js";
import { printJsonError, type FailureKind } from "./output.js";

interface GlobalOptions {
  logLevel: LogLevel;
  logFile?: string;
  quiet: boolean;
  json: boolean;
}

export function buildProgram(): { program: Command; context: () => RunContext; stopProgress: () => void } {
  const program = new Command();
  let cached: RunContext | undefined;
  const context = (): RunContext => {
    if (cached) return cached;
    const opts = program.opts<GlobalOptions>();
    const bars = progressEnabled(opts.quiet);
    const loggers = createLoggers({ level: opts.logLevel, logFile: opts.logFile, quiet: opts.quiet || opts.json, barsShown: bars });
    cached = {
      ...loggers,
      // Without bars, long work logs progress lines where its other logs go.
      progress: createProgressFactory(bars, loggers.barLogger),
      json: opts.json,
      quiet: opts.quiet,
    };
    return cached;
  };

  program
    .name("snndt")
    .description("Offline reinforcement learning with Spiking Decision Transformers (SNN-DT).")
    .version(SNNDT_VERSION)
    .addOption(new Option("--log-level <level>", "log level").choices([...LOG_LEVELS]).default("info"))
    .option("--log-file <path>", "also write structured JSON logs to this file")
    .option("-q, --quiet", "logs: only warnings and errors, no progress bars (results still print on stdout)", false)
    .option("--json", "print the command's result (or its error) as JSON on stdout", false)
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .hook("preAction", (_program, command) => refuseEmptyValues(command));

  registerPrepareDataset(program, context);
  registerTrain(program, context);
  registerEval(program, context);
  registerCollect(program, context);
  registerDoctor(program, context);
  return { program, context, stopProgress: () => cached?.progress.stopAll() };
}

/**
 * An option given "" (`--out ""`, an unset shell variable) would otherwise mean the current
 * directory or a parse error elsewhere; no option of snndt takes an empty value.
 */
function refuseEmptyValues(command: Command): void {
  for (const [source, opts] of [[command, command.opts()], [command.parent, command.parent?.opts() ?? {}]] as const) {
    for (const [key, value] of Object.entries(opts)) {
      const values = Array.isArray(value) ? value : [value];
      if (!values.some((v) => typeof v === "string" && v.trim() === "")) continue;
      const option = (source?.options ?? []).find((o) => o.attributeName() === key);
      throw new UsageError(`${option?.long ?? key} is empty; give it a value (or leave the option out).`);
    }
  }
}

/**
 * SIGINT/SIGTERM for commands that do not handle them (train adds its own listener and stops after
 * the current step): exit as interrupted. Unlike the signal's default action, process.exit runs the
 * `exit` listeners, which remove the temporary files of writes still in progress.
 */
function exitOnInterrupt(signal: NodeJS.Signals, stopProgress: () => void, json: () => boolean): void {
  if (process.listenerCount(signal) > 1) return;
  stopProgress(); // a running bar hides the cursor until it stops
  const message = `${signal}: interrupted, nothing more written`;
  process.stderr.write(`\nsnndt: ${message}\n`);
  if (json()) printJsonError("interrupted", message, INTERRUPTED_EXIT_CODE);
  process.exit(INTERRUPTED_EXIT_CODE);
}

function failureKind(err: SnndtError): FailureKind {
  return err instanceof UsageError ? "usage" : err instanceof InputError ? "input" : "failed";
}

const USAGE_EXIT_CODE = new UsageError("").exitCode;
/** A bug in snndt: EX_SOFTWARE of sysexits.h. */
const INTERNAL_EXIT_CODE = 70;

export async function main(argv: string[]): Promise<number> {
  const { program, stopProgress } = buildProgram();
  // Read from argv too: a command line that fails to parse still asked for JSON. (Commander takes no
  // "--json" as another option's value, and after "--" it is an argument.)
  const options = argv.includes("--") ? argv.slice(2, argv.indexOf("--")) : argv.slice(2);
  const json = (): boolean => program.opts<GlobalOptions>().json || options.includes("--json");
  // Subcommands do not inherit it: without their own, commander exits from inside them.
  for (const command of [program, ...program.commands]) command.exitOverride();
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => exitOnInterrupt(signal, stopProgress, json));
  // A reader that leaves early (`snndt --help | head -1`) ends what stdout shows, not the command.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") return;
    // A full disk behind a redirect: said, not an uncaught crash (exit 7).
    stopProgress();
    const why = fileSystemProblem(err.code) ?? err.code ?? err.message;
    process.stderr.write(`snndt: error: cannot write to standard output (${why}).\n`);
    process.exit(1);
  });
  try {
    await program.parseAsync(argv);
    stopProgress();
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    // A bar left running would redraw over the message and keep the process alive.
    stopProgress();
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === "string" && e.code.startsWith("commander.")) {
      // commander already printed help/version/usage errors; a usage error exits 2, as snndt's own do.
      if (e.exitCode === 0) return 0;
      // Bare `snndt`: commander shows the help, its message a placeholder.
      const message = e.code === "commander.help" ? "no command given; snndt --help lists them" : (err as Error).message.replace(/^error: /, "");
      if (json()) printJsonError("usage", message, USAGE_EXIT_CODE);
      return USAGE_EXIT_CODE;
    }
    const known = err instanceof SnndtError ? err : (fileSystemError(err) ?? backendMemoryError(err));
    if (known) {
      process.stderr.write(`snndt: error: ${known.message}\n`);
      if (json()) printJsonError(failureKind(known), known.message, known.exitCode);
      logFailureToFile(program.opts<GlobalOptions>().logFile, err);
      return known.exitCode;
    }
    process.stderr.write(`snndt: internal error (please report it): ${(err as Error)?.stack ?? String(err)}\n`);
    if (json()) printJsonError("internal", String((err as Error)?.message ?? err), INTERNAL_EXIT_CODE);
    logFailureToFile(program.opts<GlobalOptions>().logFile, err);
    return INTERNAL_EXIT_CODE;
  }
}

/** The structured log keeps the failure too; stderr already has the readable paragraph. */
function logFailureToFile(logFile: string | undefined, err: unknown): void {
  if (!logFile || err instanceof ForeignLogFileError) return;
  try {
    // No mkdir here: the logger made the directory, and where it could not, Node's recursive mkdir may never return.
    pino(pino.destination({ dest: logFile, sync: true })).error({ err }, "command failed");
  } catch {
    // the log file itself is unusable; the message on stderr is what the user gets.
  }
}

const code = await main(process.argv);
process.exitCode = code;
