/**
 * Progress bars on cli-progress for long work. Bars draw on stderr only when it is a terminal and
 * the user did not ask for `--quiet`; otherwise every method is a no-op, so callers never branch.
 */
import cliProgress from "cli-progress";

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
  /** `format` may use cli-progress tokens ({bar} {value} {total} {eta_formatted}) and custom fields. */
  start(label: string, total: number, options?: { format?: string; fields?: Record<string, string | number> }): Progress;
  /**
   * Stop every bar still running. A running bar keeps a redraw timer (and a hidden cursor), so a
   * command that fails part-way would otherwise never exit; the CLI calls this before it reports.
   */
  stopAll(): void;
}

const noop: Progress = { update() {}, increment() {}, stop() {} };

export function createProgressFactory(enabled: boolean): ProgressFactory {
  const running = new Set<cliProgress.SingleBar>();
  return {
    enabled,
    start(label, total, options = {}) {
      if (!enabled) return noop;
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
