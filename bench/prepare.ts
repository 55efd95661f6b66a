/**
 * `npm run bench -- prepare [--steps N] [--format hdf5|arrow|parquet] [--gzip] [--keep]`: time
 * `prepareDataset` on a generated file and report steps/s and peak RSS against the raw data size.
 * The data: obs_dim 17, act_dim 6, episodes of 1,000 steps. As a D4RL-style HDF5 file (the default,
 * with next_observations, as D4RL's MuJoCo files have), or the same steps as a per-step Arrow IPC
 * file or Parquet file (snappy, pyarrow's default). Targets (set for the HDF5 file): >= 1M steps/s,
 * peak RSS < 3x raw.
 *
 * The file is generated in this process; the prepare runs in a fresh child process so that its peak
 * RSS (getrusage maxrss) measures the prepare alone, not the generator's buffers.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { Field, FixedSizeList, Float32, Table, makeData, makeVector, tableToIPC } from "apache-arrow";
import { Rng } from "../src/runtime/rng.js";
import { PACKAGE_ROOT } from "../src/runtime/version.js";
import { BenchUsageError } from "./usage.js";

const OBS_DIM = 17;
const ACT_DIM = 6;
const EPISODE_LENGTH = 1000;

type BenchFormat = "hdf5" | "arrow" | "parquet";

interface BenchArgs {
  steps: number;
  format: BenchFormat;
  gzip: boolean;
  keep: boolean;
}

export const usage = "[--steps N] [--format hdf5|arrow|parquet] [--gzip] [--keep]";

function parseArgs(args: string[]): BenchArgs {
  const parsed: BenchArgs = { steps: 1_000_000, format: "hdf5", gzip: false, keep: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--steps") parsed.steps = Number(args[++i]);
    else if (a === "--format") parsed.format = args[++i] as BenchFormat;
    else if (a === "--gzip") parsed.gzip = true;
    else if (a === "--keep") parsed.keep = true;
    else throw new BenchUsageError(`bench prepare: unknown argument ${a}`);
  }
  if (!Number.isInteger(parsed.steps) || parsed.steps < EPISODE_LENGTH) throw new BenchUsageError(`bench prepare: --steps must be an integer >= ${EPISODE_LENGTH}`);
  if (!["hdf5", "arrow", "parquet"].includes(parsed.format)) throw new BenchUsageError("bench prepare: --format must be hdf5, arrow or parquet");
  if (parsed.gzip && parsed.format !== "hdf5") throw new BenchUsageError("bench prepare: --gzip applies to --format hdf5 only");
  return parsed;
}

interface Steps {
  observations: Float32Array;
  actions: Float32Array;
  rewards: Float32Array;
  terminals: Int8Array;
  timeouts: Int8Array;
}

function generateSteps(steps: number): Steps {
  const rng = Rng.derive(1, "bench-prepare");
  // A smooth random walk, like joint positions and velocities.
  const observations = new Float32Array(steps * OBS_DIM);
  for (let i = 0; i < observations.length; i++) {
    observations[i] = i < OBS_DIM ? rng.normal() : observations[i - OBS_DIM]! * 0.99 + 0.1 * rng.normal();
  }
  const actions = Float32Array.from({ length: steps * ACT_DIM }, () => Math.tanh(rng.normal()));
  const rewards = Float32Array.from({ length: steps }, () => 1 + 0.5 * rng.normal());
  const terminals = new Int8Array(steps);
  const timeouts = new Int8Array(steps);
  for (let end = EPISODE_LENGTH - 1; end < steps; end += EPISODE_LENGTH) timeouts[end] = 1;
  return { observations, actions, rewards, terminals, timeouts };
}

/** Write the steps as the D4RL-style file with h5wasm; returns the raw (uncompressed) bytes of its datasets. */
async function writeHdf5(file: string, columns: Steps, gzip: boolean): Promise<number> {
  const h5 = await import("h5wasm/node");
  await h5.ready;
  const { observations, actions, rewards, terminals, timeouts } = columns;
  const steps = rewards.length;
  const f = new h5.File(file, "w");
  const chunkRows = 10_000;
  const put = (name: string, data: Float32Array | Int8Array, shape: number[]): void => {
    f.create_dataset({
      name,
      data,
      shape,
      chunks: [Math.min(chunkRows, steps), ...shape.slice(1)],
      ...(gzip ? { compression: "gzip" as const, compression_opts: 1 } : {}),
    });
  };
  put("observations", observations, [steps, OBS_DIM]);
  // next_observations: present as in D4RL files, so the reader skips a column of that size; its values
  // do not matter (the reader ignores it), so the observations are written again.
  put("next_observations", observations, [steps, OBS_DIM]);
  put("actions", actions, [steps, ACT_DIM]);
  put("rewards", rewards, [steps]);
  put("terminals", terminals, [steps]);
  put("timeouts", timeouts, [steps]);
  f.close();
  return observations.byteLength * 2 + actions.byteLength + rewards.byteLength + terminals.byteLength + timeouts.byteLength;
}

/** Write the steps as a per-step table, an Arrow IPC file or a Parquet file; returns the raw bytes of its columns. */
async function writeTable(file: string, columns: Steps, format: "arrow" | "parquet"): Promise<number> {
  const { observations, actions, rewards, terminals, timeouts } = columns;
  const rows = (values: Float32Array, width: number) =>
    makeVector(
      makeData({
        type: new FixedSizeList(width, new Field("item", new Float32())),
        length: values.length / width,
        nullCount: 0,
        child: makeData({ type: new Float32(), length: values.length, data: values }),
      }),
    );
  const table = new Table({
    observations: rows(observations, OBS_DIM),
    actions: rows(actions, ACT_DIM),
    rewards: makeVector(rewards),
    terminals: makeVector(terminals),
    timeouts: makeVector(timeouts),
  });
  if (format === "arrow") {
    writeFileSync(file, tableToIPC(table, "file"));
  } else {
    // Snappy, as pyarrow and Hugging Face datasets write by default.
    const parquet = await import("parquet-wasm");
    const properties = new parquet.WriterPropertiesBuilder().setCompression(parquet.Compression.SNAPPY).build();
    writeFileSync(file, parquet.writeParquet(parquet.Table.fromIPCStream(tableToIPC(table, "stream")), properties));
  }
  return observations.byteLength + actions.byteLength + rewards.byteLength + terminals.byteLength + timeouts.byteLength;
}

/** The prepare, run in a child: prints {seconds, maxRssBytes, episodes, steps} as JSON. */
function childScript(input: string, out: string): string {
  const datasetUrl = pathToFileURL(path.join(PACKAGE_ROOT, "dist", "src", "data", "dataset.js")).href;
  const loggingUrl = pathToFileURL(path.join(PACKAGE_ROOT, "dist", "src", "runtime", "logging.js")).href;
  const progressUrl = pathToFileURL(path.join(PACKAGE_ROOT, "dist", "src", "runtime", "progress.js")).href;
  return `
    const { prepareDataset } = await import(${JSON.stringify(datasetUrl)});
    const { createLogger } = await import(${JSON.stringify(loggingUrl)});
    const { createProgressFactory } = await import(${JSON.stringify(progressUrl)});
    const logger = createLogger({ level: "silent", quiet: true });
    const ctx = { logger, barLogger: logger, progress: createProgressFactory(false), json: false, quiet: true };
    const start = process.hrtime.bigint();
    const manifest = await prepareDataset(${JSON.stringify(input)}, ${JSON.stringify(out)}, {}, ctx);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    process.stdout.write(JSON.stringify({ seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024, episodes: manifest.episodes, steps: manifest.steps }));
  `;
}

export async function run(args: string[]): Promise<void> {
  const options = parseArgs(args);
  const dir = mkdtempSync(path.join(tmpdir(), "snndt-bench-prepare-"));
  try {
    const input = path.join(dir, { hdf5: "d4rl-style.hdf5", arrow: "steps.arrow", parquet: "steps.parquet" }[options.format]);
    process.stderr.write(`generating ${options.steps} steps (obs ${OBS_DIM}, act ${ACT_DIM}, episodes of ${EPISODE_LENGTH}) as ${path.basename(input)}${options.gzip ? ", gzip" : ""} in ${dir} ...\n`);
    const steps = generateSteps(options.steps);
    const rawBytes = options.format === "hdf5" ? await writeHdf5(input, steps, options.gzip) : await writeTable(input, steps, options.format);
    const fileBytes = statSync(input).size;
    const script = path.join(dir, "prepare-child.mjs");
    writeFileSync(script, childScript(input, path.join(dir, "prepared")));
    const child = spawnSync(process.execPath, [script], {
      encoding: "utf8",
      maxBuffer: 1 << 20,
    });
    if (child.status !== 0) throw new Error(`bench prepare: the prepare failed:\n${child.stderr}`);
    const result = JSON.parse(child.stdout) as { seconds: number; maxRssBytes: number; episodes: number; steps: number };
    const stepsPerSecond = result.steps / result.seconds;
    const rssRatio = result.maxRssBytes / rawBytes;
    const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;
    const lines = [
      `prepare-dataset bench: ${result.steps} steps, ${result.episodes} episodes, ${options.format}`,
      `  raw data        ${mb(rawBytes)} (file ${mb(fileBytes)}${options.gzip ? ", gzip" : options.format === "parquet" ? ", snappy" : ""})`,
      `  time            ${result.seconds.toFixed(3)} s`,
      // The targets were set for the HDF5 file; other formats are measured beside them.
      `  throughput      ${(stepsPerSecond / 1e6).toFixed(2)} M steps/s${options.format === "hdf5" ? ` (target >= 1.00) ${stepsPerSecond >= 1e6 ? "OK" : "BELOW TARGET"}` : ""}`,
      `  peak RSS        ${mb(result.maxRssBytes)} = ${rssRatio.toFixed(2)}x raw${options.format === "hdf5" ? ` (target < 3x) ${rssRatio < 3 ? "OK" : "ABOVE TARGET"}` : ""}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
    if (options.keep) process.stderr.write(`kept ${dir}\n`);
  } finally {
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
  }
}
