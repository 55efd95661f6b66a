import * as path from "node:path";
import { Option, type Command } from "commander";
import type { RunContext } from "../../runtime/context.js";
import { counted, printJson, printResult } from "../output.js";
import { UsageError } from "../../runtime/errors.js";
import { stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { episodeReturns, formatSummary, loadDataset, MANIFEST_FILE, prepareDataset, readSource, type DatasetSummary, type PrepareOptions } from "../../data/dataset.js";
import { COLUMN_FLAGS, type ColumnNames, type ColumnRole } from "../../data/columns.js";
import type { ActionSpaceDeclaration } from "../../data/raw.js";
import { parseInteger, parseNumberList } from "../numbers.js";

interface PrepareFlags {
  out?: string;
  force: boolean;
  keepPartial: boolean;
  dropNonfinite: boolean;
  inspect: boolean;
  actionSpace?: ActionSpaceDeclaration["kind"];
  actionN?: string;
  actionLow?: string;
  actionHigh?: string;
  obsColumn?: string;
  actionColumn?: string;
  rewardColumn?: string;
  episodeColumn?: string;
  stepColumn?: string;
  terminalColumn?: string;
  timeoutColumn?: string;
}

const EXAMPLES = `
Inputs are recognised from their content: Arrow IPC file / Feather v2 (LZ4 or ZSTD compressed),
Arrow IPC stream, Parquet, D4RL HDF5 (flat datasets) and Minari HDF5 (episode_N groups); per-step or
per-episode (one row an episode, list columns) Arrow and Parquet layouts. A Minari dataset directory
(e.g. ~/.minari/datasets/D4RL/door/human-v2) is read in its hdf5, arrow or parquet storage, with its
declared action space. A directory of Parquet parts (part-0.parquet, part-1.parquet, ... as Spark,
pyarrow's write_dataset or a Hugging Face dataset's shards leave them) is read as one file, the parts
in their numbered order (parts named in two ways, such as train-* and test-* shards, are refused).
In HDF5 files the column flags take a dataset's path in a subgroup
(--obs-column infos/qpos), below the root (D4RL) or below each episode group (Minari).

Examples:
  $ snndt prepare-dataset hopper-medium-v2.hdf5 --out datasets/hopper-medium --action-low=-1 --action-high 1
  $ snndt prepare-dataset --inspect cartpole-steps.feather
  $ snndt prepare-dataset ~/.minari/datasets/mujoco/hopper/expert-v0 --out datasets/hopper-expert
  $ snndt prepare-dataset replay.arrows --out datasets/replay --obs-column state --action-column act --force
  $ snndt --json prepare-dataset pendulum.hdf5 --out datasets/pendulum --keep-partial > manifest.json`;

export function registerPrepareDataset(program: Command, context: () => RunContext): void {
  program
    .command("prepare-dataset")
    .description("read an Arrow, Parquet or HDF5 trajectory file or a Minari dataset and write a prepared dataset (steps.arrow + manifest.json)")
    .argument("<input>", "Arrow (.arrow/.feather/.arrows), Parquet or HDF5 (D4RL/Minari) trajectory file, a Minari dataset directory or a directory of Parquet parts")
    .option("-o, --out <dir>", "output directory (required unless --inspect)")
    .option("--force", "replace an existing output directory that holds a prepared dataset (nothing else is ever deleted)", false)
    .option("--keep-partial", "keep the unfinished episode after the last terminal/timeout instead of dropping it", false)
    .option("--drop-nonfinite", "drop episodes holding NaN or Inf instead of failing", false)
    .option("--inspect", "print the summary of a trajectory file or prepared directory with a return histogram; write nothing", false)
    .addOption(new Option("--action-space <kind>", "force the action space instead of detecting it").choices(["discrete", "continuous"]))
    .option("--action-n <n>", "number of discrete actions (the environment's; default: a Minari file's declaration, else the largest action in the data + 1)")
    .option("--action-low <values>", "continuous action lower bounds, one number or one per dimension (the environment's box; default: a Minari file's declaration, else the data's minimum)")
    .option("--action-high <values>", "continuous action upper bounds, one number or one per dimension (default: as --action-low, the maximum)")
    .option("--obs-column <name>", "column/dataset holding observations (per-step Arrow/Parquet: several scalar columns as a comma-separated list; obs_0, obs_1, ... are found unasked)")
    .option("--action-column <name>", "column/dataset holding actions (per-step Arrow/Parquet: several scalar columns as a comma-separated list; action_0, ... are found unasked)")
    .option("--reward-column <name>", "column/dataset holding rewards")
    .option("--episode-column <name>", "column holding episode ids (per-step Arrow/Parquet; none: there is none)")
    .option("--step-column <name>", "column holding the step index within the episode (per-step Arrow/Parquet; none: there is none)")
    .option("--terminal-column <name>", "column/dataset of terminal (episode ended) flags (none: there is none)")
    .option("--timeout-column <name>", "column/dataset of timeout (time limit) flags (none: there is none)")
    .addHelpText("after", EXAMPLES)
    .action(async (input: string, flags: PrepareFlags) => {
      const ctx = context();
      const columns: ColumnNames = {};
      if (flags.obsColumn) columns.observations = flags.obsColumn;
      if (flags.actionColumn) columns.actions = flags.actionColumn;
      if (flags.rewardColumn) columns.rewards = flags.rewardColumn;
      if (flags.episodeColumn) columns.episode = flags.episodeColumn;
      if (flags.stepColumn) columns.step = flags.stepColumn;
      if (flags.terminalColumn) columns.terminals = flags.terminalColumn;
      if (flags.timeoutColumn) columns.timeouts = flags.timeoutColumn;
      const options: PrepareOptions = {
        columns,
        keepPartial: flags.keepPartial,
        dropNonfinite: flags.dropNonfinite,
        actionSpace: actionSpaceDeclaration(flags),
        force: flags.force,
        progress: ctx.progress,
        warn: (message) => ctx.logger.warn(message),
      };
      if (flags.inspect) {
        if (flags.out !== undefined) throw new UsageError("--inspect writes nothing; drop --out (or drop --inspect to prepare the dataset).");
        // A prepared directory is inspected through its manifest; a raw file or Minari directory is read and checked.
        const prepared = (await stat(input).catch(() => null))?.isDirectory() === true && existsSync(path.join(input, MANIFEST_FILE));
        if (prepared) refuseReadingFlags(input, flags, columns);
        const { summary, episodes } = prepared
          ? await loadDataset(input).then((d) => ({ summary: d.manifest as DatasetSummary, episodes: d.episodes }))
          : await readSource(input, options).then((r) => ({ summary: r.summary, episodes: r.finished.episodes }));
        if (ctx.json) printJson(summary);
        else printResult(ctx, formatSummary(summary, episodeReturns(episodes)));
        return;
      }
      if (flags.out === undefined) {
        throw new UsageError("prepare-dataset needs --out <dir> (or --inspect to only print the summary).");
      }
      const started = Date.now();
      const manifest = await prepareDataset(input, flags.out, options, ctx);
      const seconds = (Date.now() - started) / 1000;
      ctx.logger.info(
        { out: path.resolve(flags.out), episodes: manifest.episodes, steps: manifest.steps, seconds },
        `prepared ${counted(manifest.episodes, "episode")}, ${counted(manifest.steps, "step")} into ${flags.out} in ${seconds.toFixed(2)} s`,
      );
      if (ctx.json) printJson(manifest);
      else {
        printResult(
          ctx,
          `prepared ${counted(manifest.episodes, "episode")}, ${counted(manifest.steps, "step")}: wrote ${path.join(flags.out, manifest.steps_file!)} and ${path.join(flags.out, "manifest.json")} (steps sha256 ${manifest.sha256.slice(0, 16)}...)`,
        );
      }
    });
}

/** The action space declared by --action-space, --action-n and --action-low/--action-high, if any. */
function actionSpaceDeclaration(flags: PrepareFlags): ActionSpaceDeclaration | undefined {
  const bounded = flags.actionLow !== undefined || flags.actionHigh !== undefined;
  if (flags.actionN !== undefined && bounded) throw new UsageError("--action-n declares a discrete space and --action-low/--action-high a continuous one; give one or the other.");
  if (flags.actionN !== undefined) {
    if (flags.actionSpace === "continuous") throw new UsageError("--action-n declares a discrete space, but --action-space says continuous.");
    return { kind: "discrete", n: parseInteger("--action-n", flags.actionN, 1) };
  }
  if (bounded) {
    if (flags.actionSpace === "discrete") throw new UsageError("--action-low/--action-high declare a continuous space, but --action-space says discrete.");
    if (flags.actionLow === undefined || flags.actionHigh === undefined) throw new UsageError("--action-low and --action-high go together: give both.");
    return { kind: "continuous", bounds: { low: parseNumberList("--action-low", flags.actionLow), high: parseNumberList("--action-high", flags.actionHigh) } };
  }
  return flags.actionSpace === undefined ? undefined : { kind: flags.actionSpace };
}

/** Flags that say how to read a raw file mean nothing for a prepared directory (it was read when prepared): refused, not ignored. */
function refuseReadingFlags(dir: string, flags: PrepareFlags, columns: ColumnNames): void {
  const actionFlags = Object.entries({
    "--action-space": flags.actionSpace,
    "--action-n": flags.actionN,
    "--action-low": flags.actionLow,
    "--action-high": flags.actionHigh,
  }).flatMap(([flag, value]) => (value === undefined ? [] : [flag]));
  const given = [
    ...actionFlags,
    ...(Object.keys(columns) as ColumnRole[]).map((role) => COLUMN_FLAGS[role]),
    ...(flags.keepPartial ? ["--keep-partial"] : []),
    ...(flags.dropNonfinite ? ["--drop-nonfinite"] : []),
  ];
  if (given.length) {
    throw new UsageError(`${dir} is a prepared dataset, read when it was prepared: ${given.join(", ")} ${given.length > 1 ? "apply" : "applies"} to raw files only.`);
  }
}
