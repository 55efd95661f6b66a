/**
 * `npm run bench -- <name> [options]`: speed and memory benchmarks. Targets are checked here,
 * never in timed unit tests. Each benchmark lives in its own module under bench/.
 */
import { BenchUsageError } from "./usage.js";

const BENCHMARKS: Record<string, () => Promise<{ run(args: string[]): Promise<void>; usage: string }>> = {
  prepare: () => import("./prepare.js"),
  envs: () => import("./envs.js"),
  train: () => import("./train.js"),
  infer: () => import("./infer.js"),
};

const [name, ...rest] = process.argv.slice(2);
if (!name || !(name in BENCHMARKS)) {
  const help = name === "--help" || name === "-h";
  (help ? process.stdout : process.stderr).write(
    `usage: npm run bench -- <${Object.keys(BENCHMARKS).join("|")}> [options]; npm run bench -- <name> --help lists a benchmark's options\n`,
  );
  process.exit(help ? 0 : 2);
}
const bench = await BENCHMARKS[name]!();
const usage = `usage: npm run bench -- ${name} ${bench.usage}\n`;
if (rest.includes("--help") || rest.includes("-h")) {
  process.stdout.write(usage);
  process.exit(0);
}
try {
  await bench.run(rest);
} catch (err) {
  if (!(err instanceof BenchUsageError)) throw err;
  process.stderr.write(`${err.message}\n${usage}`);
  process.exit(2);
}
