/** A benchmark's command line is wrong: bench/run.ts prints the message with the benchmark's usage and exits 2. */
export class BenchUsageError extends Error {}
