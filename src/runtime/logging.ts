/**
 * Structured logging on pino: JSON lines to `--log-file` for machines, short readable lines on
 * stderr for people (pino-pretty, synchronous so lines and progress bars do not interleave badly).
 */
import { pino, multistream, type Logger, type Level, type StreamEntry } from "pino";
import pretty from "pino-pretty";
import { fileSystemError, SnndtError } from "./errors.js";
import { makeDirectorySync } from "./fs-atomic.js";
import * as path from "node:path";

export type { Logger };

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggingOptions {
  level: LogLevel;
  /** JSON log file; every record at `level` or above goes here. */
  logFile?: string;
  /** Only warnings and errors reach stderr. */
  quiet?: boolean;
  /** Progress bars are on stderr: records marked BAR_RECORD (what a bar already shows) stay off it. */
  barsShown?: boolean;
}

/**
 * Log with `{ [BAR_RECORD]: true }` what a progress bar also shows (a training step's loss): every
 * record reaches --log-file, but on a terminal with bars it would only break the bar's line.
 */
export const BAR_RECORD = "alsoOnBar";

export function createLogger(options: LoggingOptions): Logger {
  if (options.level === "silent") return pino({ level: "silent" });
  const streams: StreamEntry[] = [];
  // Quiet raises the threshold to warnings; it never lowers a stricter --log-level.
  const level = options.level as Level;
  const stderrLevel: Level = options.quiet && pino.levels.values[level]! < pino.levels.values["warn"]! ? "warn" : level;
  const terminal = pretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY === true,
    ignore: `pid,hostname,${BAR_RECORD}`,
    translateTime: "HH:MM:ss",
    singleLine: true,
  });
  const barMark = `"${BAR_RECORD}":true`;
  streams.push({
    level: stderrLevel,
    stream: options.barsShown ? { write: (line: string) => (line.includes(barMark) ? undefined : terminal.write(line)) } : terminal,
  });
  if (options.logFile) streams.push({ level: options.level as Level, stream: logFileStream(options.logFile) });
  const minLevel = options.logFile ? (options.level as Level) : stderrLevel;
  return pino({ level: minLevel, base: { pid: process.pid } }, multistream(streams));
}

/**
 * The --log-file destination, opened now so that a path that cannot be opened is an error before
 * any work. A write that fails later (a full disk, a file that refuses writes) costs the log, not the
 * work: one warning on stderr, and the file gets no more records.
 */
function logFileStream(file: string): { write(line: string): void } {
  let destination: ReturnType<typeof pino.destination>;
  try {
    makeDirectorySync(path.dirname(path.resolve(file)));
    destination = pino.destination({ dest: file, sync: true });
  } catch (err) {
    const known = fileSystemError(err);
    throw new SnndtError(`cannot open the log file ${file} (--log-file): ${known ? known.message : `${(err as Error).message}.`}`);
  }
  let failed = false;
  return {
    write(line: string) {
      if (failed) return;
      try {
        destination.write(line);
      } catch (err) {
        failed = true;
        process.stderr.write(`snndt: warning: cannot write the log file ${file} (--log-file): ${(err as Error).message}; it gets no more records.\n`);
      }
    },
  };
}

/** A logger that drops everything (tests and library use). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
