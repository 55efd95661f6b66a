/**
 * Structured logging on pino: JSON lines to `--log-file` for machines, short readable lines on
 * stderr for people (pino-pretty, synchronous so lines and progress bars do not interleave badly).
 */
import { pino, multistream, type Logger, type Level, type StreamEntry } from "pino";
import pretty from "pino-pretty";
import { fileSystemError, SnndtError, UsageError } from "./errors.js";
import { makeDirectorySync } from "./fs-atomic.js";
import * as path from "node:path";
import { closeSync, openSync, readSync, statSync } from "node:fs";

export type { Logger };

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggingOptions {
  level: LogLevel;
  /** JSON log file; every record at `level` or above goes here. */
  logFile?: string;
  /** Only warnings and errors reach stderr. */
  quiet?: boolean;
  /** Progress bars are drawn on stderr (see Loggers.barLogger). */
  barsShown?: boolean;
}

export interface Loggers {
  logger: Logger;
  /**
   * For what a progress bar also shows (a training step's loss): to --log-file always, and to stderr
   * only when no bar is drawn there, where the record would break the bar's line.
   */
  barLogger: Logger;
}

export function createLoggers(options: LoggingOptions): Loggers {
  if (options.level === "silent") {
    const silent = pino({ level: "silent" });
    return { logger: silent, barLogger: silent };
  }
  // Quiet raises the threshold to warnings; it never lowers a stricter --log-level.
  const level = options.level as Level;
  const stderrLevel: Level = options.quiet && pino.levels.values[level]! < pino.levels.values["warn"]! ? "warn" : level;
  const terminal: StreamEntry = {
    level: stderrLevel,
    stream: pretty({
      destination: 2,
      sync: true,
      colorize: process.stderr.isTTY === true,
      ignore: "pid,hostname",
      translateTime: "HH:MM:ss",
      singleLine: true,
    }),
  };
  // One stream for the file, shared by both loggers.
  const file: StreamEntry | null = options.logFile ? { level, stream: logFileStream(options.logFile) } : null;
  const logger = pino({ level: file ? level : stderrLevel, base: { pid: process.pid } }, multistream(file ? [terminal, file] : [terminal]));
  if (!options.barsShown) return { logger, barLogger: logger };
  const barLogger = file ? pino({ level, base: { pid: process.pid } }, multistream([file])) : pino({ level: "silent" });
  return { logger, barLogger };
}

export function createLogger(options: LoggingOptions): Logger {
  return createLoggers(options).logger;
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
    refuseForeignLogFile(file);
    destination = pino.destination({ dest: file, sync: true });
  } catch (err) {
    if (err instanceof ForeignLogFileError) throw err;
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

/** An existing --log-file that is no log: refused untouched (the failure is not logged to it either). */
export class ForeignLogFileError extends UsageError {}

/**
 * Records are appended, so an existing file must be a log: one that is not (the command's own config
 * or data, named by a slip) would be changed, and no longer read. A log is a file whose first line
 * is a JSON object (snndt's records, or another tool's), or opens one that was cut short. Paths
 * under /dev and /proc are streams (/dev/stderr may lead to a shell's redirect file), and a file
 * that cannot be read (a write-only log) cannot be told: both are appended to as asked.
 */
function refuseForeignLogFile(file: string): void {
  const resolved = path.resolve(file);
  if (resolved.startsWith("/dev/") || resolved.startsWith("/proc/")) return;
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat?.isFile() || stat.size === 0) return;
  let head: string;
  try {
    const bytes = Buffer.alloc(Math.min(stat.size, 65_536));
    const fd = openSync(file, "r");
    try {
      readSync(fd, bytes, 0, bytes.length, 0);
    } finally {
      closeSync(fd);
    }
    head = bytes.toString("utf8").replace(/^\uFEFF/, "");
  } catch {
    return;
  }
  const newline = head.indexOf("\n");
  const firstLine = newline === -1 ? head : head.slice(0, newline);
  if (newline === -1 && firstLine.trimStart().startsWith("{")) return;
  let record: unknown = null;
  try {
    record = JSON.parse(firstLine);
  } catch {
    // not JSON: refused below
  }
  if (typeof record === "object" && record !== null && !Array.isArray(record)) return;
  throw new ForeignLogFileError(`--log-file ${file} exists and is no log (its first line is not a JSON record); records are appended, which would change it: choose another --log-file.`);
}
