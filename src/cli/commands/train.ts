import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import type { RunContext } from "../../runtime/context.js";
import { fileSystemError, INTERRUPTED_EXIT_CODE, InputError, outOfSpace, SnndtError, UsageError } from "../../runtime/errors.js";
import { MAX_SEED } from "../../runtime/rng.js";
import { parseInteger, parseNumber } from "../numbers.js";
import { counted, printJson, printJsonError, printResult } from "../output.js";
import { selectBackend } from "../../runtime/backend.js";
import { fileOnPath } from "../../runtime/fs-atomic.js";
import { lockRunDirectory } from "../../runtime/run-lock.js";
import { latestCheckpoint } from "../../train/checkpoint.js";
import { CONFIGS_DIR, loadConfig, resolvePackagePath, schemaKeyPaths } from "../../train/config.js";
import { runTraining, type StopFlag } from "../../train/trainer.js";
import { EVAL_JSON, RESOLVED_CONFIG_FILE, RUN_ENTRIES, SUMMARY_JSON } from "../../train/run-layout.js";
import { checkEvalEnvironment } from "../../eval/policy.js";
import { initSourceConfig } from "../../train/init-from.js";
import { modelLabel } from "../../model/index.js";
import { datasetKindAt, type PreparedDataset } from "../../data/dataset.js";
import { minariDatasetName } from "../../data/minari-directory.js";

interface TrainOptions {
  config?: string;
  data?: string;
  out?: string;
  set: string[];
  backend?: string;
  resume?: string;
  initFrom?: string;
  seed?: string;
  valFraction?: string;
  keepLast?: string;
}

const DEFAULT_CONFIG = path.join(CONFIGS_DIR, "cartpole.yaml");

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
}

/**
 * For `--steps 10` and the like: config keys are set with --set, not flags of their own. Names the
 * key an unknown option spells (its last segment, dashes for underscores); for a stray argument,
 * what train takes instead; else nothing.
 */
function configFlagHint(message: string): string {
  // `snndt train runs/x` or `--set train.steps 20`: train takes no arguments of its own.
  if (/too many arguments for 'train'/.test(message)) {
    return "train takes no arguments: continue a run with --resume <run>, start one from a run's weights with --init-from <run>, set config keys with --set key=value (one word: no spaces around =)\n";
  }
  const [, flag, value] = /unknown option '--([\w-]+)(?:=([^']*))?'/.exec(message) ?? [];
  if (flag === undefined) return "";
  const matches = schemaKeyPaths().filter((key) => key.split(".").pop() === flag.replace(/-/g, "_"));
  return matches.length ? `config keys are set with --set: ${matches.map((key) => `--set ${key}=${value ?? "<value>"}`).join(" or ")}\n` : "";
}

export function registerTrain(program: Command, context: () => RunContext): void {
  program
    .command("train")
    .description("train an SNN-DT (or a plain Decision Transformer) on an offline dataset")
    .configureOutput({ outputError: (message, write) => write(message + configFlagHint(message)) })
    .option("--config <file>", "environment config layered over configs/default.yaml", DEFAULT_CONFIG)
    .option("--data <path>", "prepared dataset directory, raw Arrow/Parquet/HDF5 file, Minari dataset directory or directory of Parquet parts (default: the config's data.path); with --resume, where the run's data has moved")
    .option("--out <dir>", "run directory (default: runs/<data, or config>-<variant, or dt>-seed<N>-<time>)")
    .option("--set <key=value>", "override one config key, e.g. --set model.kind=dt (repeatable)", collect, [])
    .option("--backend <name>", "auto | tensorflow | wasm | cpu (default: the config's backend)")
    .option("--resume <run dir>", "continue a run from its newest checkpoint, with the run's own config")
    .option("--init-from <run or checkpoint>", "start a new run from the weights (and state statistics) of another run's best/ checkpoint (else its newest step-N), or of the checkpoint directory given, with that run's config unless --config is given; steps, schedule and optimizer start afresh")
    .option("--seed <n>", "seed for every random choice (default: the config's seed)")
    .option("--val-fraction <f>", "share of episodes held out for validation (data.val_fraction, default 0.1)")
    .option("--keep-last <n>", "step checkpoints to keep besides best/ (train.keep_last)")
    .addHelpText(
      "after",
      `
Examples:
  $ snndt train                                        # shipped CartPole data, configs/cartpole.yaml
  $ snndt train --config configs/pendulum.yaml --out runs/pendulum-full
  $ snndt train --set model.kind=dt --set train.steps=2000 --seed 1
  $ snndt train --data datasets/acrobot-mixed.arrow --config configs/acrobot.yaml --set model.variant=baseline
  $ snndt train --resume runs/pendulum-full             # after Ctrl-C: continues exactly where it stopped
  $ snndt train --init-from runs/pendulum-full --data expert.arrow --set train.lr=1e-4
                                                       # fine-tune a trained model on other data (with its config)
  $ snndt train --init-from runs/pendulum-full --set train.steps=3000   # train a finished run further

Ctrl-C finishes the current step, writes a checkpoint and exits with code 130.`,
    )
    .action(async (options: TrainOptions, command: Command) => {
      const ctx = context();
      // Given on the command line, even as the default's own path (`--config configs/cartpole.yaml`).
      const configGiven = command.getOptionValueSource("config") !== "default";
      const seed = options.seed === undefined ? undefined : parseInteger("--seed", options.seed, 0, MAX_SEED);
      let runDir: string;
      let resume = false;
      let config;
      if (options.resume !== undefined) {
        runDir = path.resolve(options.resume);
        const explicit = ["out", "seed", "valFraction", "keepLast", "initFrom"].filter((k) => options[k as keyof TrainOptions] !== undefined);
        if (options.set.length) explicit.push("set");
        if (configGiven) explicit.push("config");
        if (explicit.length) {
          throw new UsageError(
            `--resume continues a run with its own saved config; drop ${explicit.map((k) => `--${k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}`).join(", ")} (or start a new run with --out).`,
          );
        }
        const saved = path.join(runDir, RESOLVED_CONFIG_FILE);
        if (!existsSync(runDir)) throw new InputError(`--resume ${options.resume}: no such run directory.`);
        if (!existsSync(saved)) throw new InputError(`${runDir} is not a snndt run directory: ${RESOLVED_CONFIG_FILE} is missing.`);
        // --data: where the run's data is now, if it moved (a checkpoint's episodes hash must confirm it).
        if (options.data !== undefined && !(await latestCheckpoint(runDir))) {
          throw new UsageError(
            `${runDir} has no checkpoint yet, so nothing records which data it was trained on and --data cannot move it; start it again as a new run (--out) with --data.`,
          );
        }
        if (options.data !== undefined && !existsSync(resolvePackagePath(options.data))) throw new InputError(`--data ${options.data}: no such file or directory.`);
        config = loadConfig({ configPath: saved, backend: options.backend, data: options.data });
        resume = true;
      } else {
        const flags: { flag: string; key: string; value: unknown }[] = [];
        // Read as every numeric flag is (numbers.ts); the config then checks their ranges.
        if (options.valFraction !== undefined) flags.push({ flag: "--val-fraction", key: "data.val_fraction", value: parseNumber("--val-fraction", options.valFraction, () => true, "a number") });
        if (options.keepLast !== undefined) flags.push({ flag: "--keep-last", key: "train.keep_last", value: parseInteger("--keep-last", options.keepLast, 0) });
        // A run from another's weights takes that run's config unless given one (--set, --data and flags still apply).
        const source = options.initFrom !== undefined && !configGiven ? await initSourceConfig(options.initFrom) : undefined;
        if (source) ctx.logger.info({ config: source.label }, "the config of the weights this run starts from");
        config = loadConfig({ ...(source?.base ?? { configPath: options.config }), overrides: options.set, seed, data: options.data, backend: options.backend, flags });
        if (source && options.data === undefined && !existsSync(resolvePackagePath(config.data.path))) {
          // A relative path in the source's config is read from here, not from where the source was trained.
          throw new InputError(
            `the weights --init-from names were trained on ${config.data.path} (the source's data.path), which is not at ${resolvePackagePath(config.data.path)}; give --data <where it is>.`,
          );
        }
        // Named after what was trained on: --data's file or directory, else the source run or the config (whose data it is).
        const dataName = options.data === undefined ? undefined : minariDatasetName(options.data).replace(/\.(arrow|arrows|feather|ipc|parquet|hdf5|h5)$/i, "");
        const name = dataName ?? (source ? `from-${source.name}` : path.basename(options.config ?? DEFAULT_CONFIG).replace(/\.ya?ml$/, ""));
        runDir = path.resolve(
          options.out ?? path.join("runs", `${name}-${modelLabel(config.model)}-seed${config.seed}-${timestamp()}`),
        );
        const file = fileOnPath(runDir);
        if (file) throw new UsageError(`--out ${runDir}: ${file} is a file; a run needs a directory (choose another --out).`);
        const entries = existsSync(runDir) ? readdirSync(runDir) : [];
        if (entries.includes(RESOLVED_CONFIG_FILE)) {
          if (entries.includes(SUMMARY_JSON)) throw new UsageError(`${runDir} already holds a finished run; evaluate it with snndt eval ${options.out ?? runDir}, or choose another --out to train a new one.`);
          throw new UsageError(`${runDir} already holds a run; continue it with --resume ${options.out ?? runDir}, or choose another --out.`);
        }
        const dataset = datasetKindAt(runDir);
        if (dataset) throw new UsageError(`--out ${runDir} holds ${dataset}; a run's checkpoints and metrics would be mixed into it (choose another --out).`);
        // An evaluation's outputs there would pass for the new run's own evaluation (eval --compare reads <run>/eval.json).
        if (entries.includes(EVAL_JSON)) throw new UsageError(`--out ${runDir} holds an evaluation (${EVAL_JSON}), which would pass for the new run's; choose another --out.`);
        // Other files (notes, the --log-file, a shell's redirect) may stay; a run's own names would be overwritten.
        const clashes = entries.filter((entry) => RUN_ENTRIES.includes(entry));
        if (clashes.length) {
          throw new UsageError(`${runDir} holds ${clashes.join(", ")}, which a run writes, but no ${RESOLVED_CONFIG_FILE}, so it is no run --resume could continue; choose another --out.`);
        }
      }

      const backend = await selectBackend(config.backend);
      ctx.logger.info({ backend: backend.name, reason: backend.reason }, "backend");
      const stop: StopFlag = { requested: false };
      const onSignal = (signal: NodeJS.Signals): void => {
        if (stop.requested) {
          ctx.progress.stopAll(); // a running bar hides the cursor and line wrapping until it stops
          const message = `second ${signal}: exiting without a checkpoint`;
          process.stderr.write(`\nsnndt: ${message}\n`);
          if (ctx.json) printJsonError("interrupted", message, INTERRUPTED_EXIT_CODE);
          process.exit(INTERRUPTED_EXIT_CODE);
        }
        stop.requested = true;
        ctx.logger.warn({ signal }, "stopping after the current step (a checkpoint will be written); press again to abort");
      };
      const unlock = await lockRunDirectory(runDir);
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        // A new run's data must fit the environment eval will play it in (a resumed run was checked when it began).
        const checkDataset = resume
          ? undefined
          : (dataset: PreparedDataset, dataPath: string): void => {
              for (const warning of checkEvalEnvironment(config.eval.env, config.model.max_ep_len, dataset, dataPath)) ctx.logger.warn(warning);
            };
        const result = await runTraining({ config, runDir, resume, initFrom: options.initFrom, context: ctx, backend, stop, checkDataset }).catch(async (err: unknown) => {
          // A run stopped by a full disk is whole up to its newest checkpoint; later metrics rows are dropped on resume.
          if (!outOfSpace(err) || !existsSync(path.join(runDir, RESOLVED_CONFIG_FILE))) throw err;
          const from = (await latestCheckpoint(runDir)) ? "continues from its newest checkpoint" : "starts over from step 0 (it has no checkpoint yet)";
          const command = `snndt train --resume ${runDir}${resume && options.data !== undefined ? ` --data ${options.data}` : ""}`;
          throw new SnndtError(`${fileSystemError(err)!.message} The run ${from} with ${command}.`);
        });
        // A finished run's result is its summary.json (as eval's is its eval.json); an interrupted one has none yet.
        if (ctx.json) printJson(result.interrupted ? result : readFileSync(path.join(runDir, SUMMARY_JSON), "utf8"));
        ctx.logger.info(result, result.interrupted ? "training interrupted" : "training finished");
        // Where the run is, for a person (the directory may have been named automatically).
        if (!ctx.json) {
          printResult(
            ctx,
            result.interrupted
              ? `interrupted at step ${result.step}: continue with snndt train --resume ${runDir}`
              : `trained ${counted(result.step, "step")} into ${runDir}${result.bestValStep === null ? "" : ` (best/: step ${result.bestValStep})`}: evaluate with snndt eval ${runDir}`,
          );
        }
        if (result.interrupted) process.exitCode = INTERRUPTED_EXIT_CODE;
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        unlock();
      }
    });
}
