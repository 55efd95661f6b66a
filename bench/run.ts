/**
 * `npm run bench -- <name> [options]`: speed and memory benchmarks. Targets are checked here,
 * never in timed unit tests. Each benchmark lives in its own module under bench/.
 */
const BENCHMARKS: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  prepare: () => import("./prepare.js"),
  envs: () => import("./envs.js"),
  train: () => import("./train.js"),
  infer: () => import("./infer.js"),
};

const [name, ...rest] = process.argv.slice(2);
if (!name || !(name in BENCHMARKS)) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(BENCHMARKS).join("|")}> [options]\n`);
  process.exit(2);
}
const bench = await BENCHMARKS[name]!();
await bench.run(rest);
