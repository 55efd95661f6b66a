/**
 * Progress bars on cli-progress for long work. Bars draw on stderr only when it is a terminal and
 * the user did not ask for `--quiet`. Otherwise (a pipe, CI, nohup) long work logs a line now and
 * then instead, with its count and time left; callers never branch.
 */
import cliProgress from "cli-progress";
import type { Logger } from "pino";

export interface Progress {
  /** Advance to `value` (absolute), updating the named fields shown in the bar. */
  update(value: number, fields?: Record<string, string | number>): void;
  /** Advance by `delta`. */
  increment(delta?: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

export interface ProgressFactory {
  /** Bars are drawn; when false, long work reports its progress in log lines instead. */
  readonly enabled: boolean;
  /**
   * `format` may use cli-progress tokens ({bar} {value} {total} {eta_formatted}) and custom fields.
   * `logsItself`: without a bar, the caller logs its own progress lines (train's carry its losses).
   */
  start(label: string, total: number, options?: { format?: string; fields?: Record<string, string | number>; logsItself?: boolean }): Progress;
  /**
   * Stop every bar still running. A running bar keeps a redraw timer (and a hidden cursor), so a
   * command that fails part-way would otherwise never exit; the CLI calls this before it reports.
   */
  stopAll(): void;
}

const noop: Progress = { update() {}, increment() {}, stop() {} };

/** Without a bar, a progress line at most this often. */
const LOG_INTERVAL_MS = 10_000;

/** "1h 02m", "4m 05s", "12s". */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** Progress as log lines: the count and the time left, at most every LOG_INTERVAL_MS. */
function loggedProgress(label: string, total: number, logger: Logger, now: () => number): Progress {
  const started = now();
  let lastLogged = started;
  let value = 0;
  const advance = (to: number): void => {
    value = to;
    const time = now();
    if (time - lastLogged < LOG_INTERVAL_MS || value <= 0 || value >= total) return;
    lastLogged = time;
    const secondsLeft = (((time - started) / value) * (total - value)) / 1000;
    logger.info({ label, done: value, of: total, timeLeft: formatDuration(secondsLeft) }, "progress");
  };
  return { update: (to) => advance(to), increment: (delta = 1) => advance(value + delta), stop() {} };
}

/** `logger`: where progress goes as log lines when no bar is drawn (none: nowhere). */
export function createProgressFactory(enabled: boolean, logger?: Logger, now: () => number = Date.now): ProgressFactory {
  const running = new Set<cliProgress.SingleBar>();
  return {
    enabled,
    start(label, total, options = {}) {
      if (!enabled) return logger && !options.logsItself ? loggedProgress(label, total, logger, now) : noop;
      const bar = new cliProgress.SingleBar(
        {
          format: options.format ?? `${label} [{bar}] {percentage}% {value}/{total} eta {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, options.fields ?? {});
      running.add(bar);
      return {
        update: (value, fields) => bar.update(value, fields ?? {}),
        increment: (delta = 1, fields) => bar.increment(delta, fields ?? {}),
        stop: () => {
          if (running.delete(bar)) bar.stop();
        },
      };
    },
    stopAll() {
      for (const bar of running) bar.stop();
      running.clear();
    },
  };
}

/** Bars are shown on an interactive stderr unless quiet. */
export function progressEnabled(quiet: boolean): boolean {
  return !quiet && process.stderr.isTTY === true && process.env["CI"] !== "true";
}
