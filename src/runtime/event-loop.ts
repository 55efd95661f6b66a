/**
 * Let Node's event loop run: signal handlers (Ctrl-C), progress bars and I/O callbacks wait for it.
 * Long synchronous loops (episodes, batches, slices) call this between units of work; a bare
 * `await` of a value is not enough, since it resumes in the same turn, before any of them.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
