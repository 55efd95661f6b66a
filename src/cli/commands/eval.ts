import * as path from "node:path";
import { existsSync } from "node:fs";
import type { Command } from "commander";
import type { RunContext } from "../../runtime/context.js";
import { printJson, printResult } from "../output.js";
import { UsageError } from "../../runtime/errors.js";
import { MAX_SEED } from "../../runtime/rng.js";
import { parseInteger, parseIntegerList, parseNumber, parseNumberList } from "../numbers.js";
import { BACKEND_CHOICES, selectBackend, type BackendChoice } from "../../runtime/backend.js";
import { checkWritableDirectory, fileOnPath } from "../../runtime/fs-atomic.js";
import { DEFAULT_ENERGY } from "../../eval/energy.js";
import { DEFAULT_LATENCY_DECISIONS, DEFAULT_STATS_EVERY, evaluate, type EvalRequest } from "../../eval/evaluate.js";
import { EVAL_DIR, EVAL_JSON, RESOLVED_CONFIG_FILE, TRAJECTORIES_FILE } from "../../train/run-layout.js";
import { CONFIG_SCHEMA } from "../../train/config.js";
import { DEFAULT_ENV_TIMEOUT_MS } from "../../eval/external-env.js";
import { defaultEvalDir, evaluationIn, foreignEvalOutputs, formatComparison, formatEvalTable, readEvalResult, writeEvalOutputs } from "../../eval/report.js";

/** setTimeout's longest delay (2^31 - 1 ms); Node fires a longer one at once. */
const MAX_TIMER_MS = 2_147_483_647;

interface EvalOptions {
  env?: string;
  envCmd?: string;
  envTimeout: string;
  episodes?: string;
  targetReturn: string[];
  seeds?: string;
  reference?: string;
  data?: string;
  out?: string;
  compare?: boolean;
  eAc: string;
  eMac: string;
  latencyDecisions: string;
  statsEvery: string;
  backend: string;
  offline: boolean;
  trajectories: boolean;
}

/** eval.episodes' bound in the config, for --episodes and --latency-decisions too. */
const MAX_EPISODES = CONFIG_SCHEMA.fields.eval.fields.episodes.max!;

/** Which of the options `keys` were given on the command line, as flags (envCmd: --env-cmd). */
function givenFlags(command: Command, keys: string[]): string[] {
  return keys.filter((key) => command.getOptionValueSource(key) === "cli").map((key) => `--${key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}`);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * A label for each compared path: its shortest tail of path components that no other path shares
 * (runs/results/CartPole-v1/full/seed0 and .../dt/seed0 become full/seed0 and dt/seed0).
 */
function distinctLabels(paths: string[]): string[] {
  const parts = paths.map((p) => p.split(path.sep).filter((part) => part !== ""));
  return parts.map((mine, i) => {
    for (let n = 1; n < mine.length; n++) {
      const tail = mine.slice(-n).join("/");
      if (parts.every((other, j) => j === i || paths[j] === paths[i] || other.slice(-n).join("/") !== tail)) return tail;
    }
    return mine.join("/");
  });
}

/** `--reference <random>,<expert>`: two different returns, the normalised score's 0 and 100. */
function parseReference(text: string): { random: number; expert: number } {
  const values = parseNumberList("--reference", text);
  if (values.length !== 2 || !(values[0]! < values[1]!)) {
    throw new UsageError(`--reference takes two returns, the random policy's (scores 0) and then the higher expert's (scores 100), e.g. D4RL's hopper: -20.272305,3234.3; got "${text}"`);
  }
  return { random: values[0]!, expert: values[1]! };
}

/** How the flags given (as givenFlags names them) take several values, for numbers left over as runs. */
function strayNumbersHint(given: string[]): string {
  const targets = "repeat --target-return for each target or give them as one list (--target-return 400 --target-return 500, or --target-return 400,500)";
  const seeds = "give --seeds one comma-separated list (--seeds 1001,1002)";
  if (given.length === 1 && given[0] === "--seeds") return `looks like a seed: ${seeds}`;
  if (given.length === 1) return `looks like a target return: ${targets}`;
  return `looks like a flag's value: a flag takes one value, so ${targets}, and ${seeds}`;
}

export function registerEval(program: Command, context: () => RunContext): void {
  program
    .command("eval")
    .description("evaluate a trained run: returns in an environment, offline action quality, spikes and energy per decision, latency")
    .argument("<runs...>", "run directory or checkpoint directory (several with --compare)")
    .option("--env <id>", "built-in environment (default: the run's eval.env)")
    .option("--offline", "no environment: measure on held-out data only (action quality; spikes, energy and latency of decisions replayed from the data), for tasks snndt cannot simulate", false)
    .option("--env-cmd <command>", "run against an external environment speaking the JSON-lines protocol of docs/env-protocol.md")
    .option("--env-timeout <ms>", "per-message timeout for --env-cmd", String(DEFAULT_ENV_TIMEOUT_MS))
    .option("--episodes <n>", "episodes per target return, spread over the seeds (default: the run's eval.episodes)")
    .option("--target-return <R>", "return to condition on (repeatable, or a comma-separated list: a return-vs-target curve); default: the run's eval.target_returns, else the dataset's best return (recorded with the run, for data that has moved)", collect, [])
    .option("--seeds <list>", "comma-separated evaluation seeds; every target return meets the same start states (default: the run's eval.seeds)")
    .option("--reference <random,expert>", "returns that score 0 and 100 in the normalised score, e.g. D4RL's REF_MIN_SCORE,REF_MAX_SCORE for its task (default: the built-in environment's random and expert policies; none for another environment)")
    .option("--data <path>", "dataset for offline action quality, the default target and the targets' data support (default: the run's own; held-out episodes for offline quality)")
    .option("--out <dir>", "where eval.json, report.md, charts/ (and trajectories.arrow) go, replacing an earlier evaluation's (default: <run>/eval; <run>/eval-<checkpoint> for a checkpoint other than best/; eval-offline in their place with --offline)")
    .option("--trajectories", `also write every step of the episodes to ${TRAJECTORIES_FILE} beside eval.json: observation, action, reward, the return-to-go the model was given, action scores (discrete), spikes (counted decisions), target and seed; a per-step Arrow file that prepare-dataset reads`, false)
    .option("--compare", "compare the eval.json of several runs side by side instead of evaluating")
    .option("--e-ac <pJ>", "energy of one accumulate (synaptic operation), picojoules", String(DEFAULT_ENERGY.acPicojoules))
    .option("--e-mac <pJ>", "energy of one multiply-accumulate, picojoules", String(DEFAULT_ENERGY.macPicojoules))
    .option("--latency-decisions <n>", "batch-1 decisions timed for latency", String(DEFAULT_LATENCY_DECISIONS))
    .option("--stats-every <n>", "count spikes and operations on every n-th decision of each episode (1 = all; a counted decision also runs the full window, ~4.5x a decision)", String(DEFAULT_STATS_EVERY))
    .option("--backend <name>", `${BACKEND_CHOICES.join(" | ")}`, "auto")
    .addHelpText(
      "after",
      `
Examples:
  $ snndt eval runs/cartpole-full-seed0-20261129-101500
  $ snndt eval runs/pendulum-full --episodes 20 --target-return -150 --target-return -400 --target-return -800
  $ snndt eval runs/mountaincar-full --trajectories --stats-every 1
  $ snndt eval runs/cartpole-full --env-cmd "python3 docs/adapters/gymnasium_adapter.py CartPole-v1"
  $ snndt eval runs/hopper-full --offline --data datasets/hopper-expert-test
  $ snndt eval --compare runs/cartpole-baseline runs/cartpole-full runs/cartpole-dt`,
    )
    .action(async (runs: string[], options: EvalOptions, command: Command) => {
      const ctx = context();
      if (options.compare) {
        const given = givenFlags(command, Object.keys(options).filter((key) => key !== "compare"));
        if (given.length) throw new UsageError(`--compare reads the eval.json each run already has and evaluates nothing; drop ${given.join(", ")} (or evaluate each run first).`);
        const labels = distinctLabels(runs.map((run) => path.resolve(run)));
        const results = runs.map((run, i) => ({ label: labels[i]!, result: readEvalResult(run, (message) => ctx.logger.warn(message)) }));
        if (ctx.json) printJson(results.map(({ label, result }) => ({ label, ...result })));
        else process.stdout.write(formatComparison(results) + "\n");
        return;
      }
      if (runs.length !== 1) {
        // "--target-return 400 500" leaves 500 as a second run, as "--seeds 1001 1002" leaves 1002:
        // say how the flags given take several values.
        const numbers = runs.slice(1).filter((r) => r.trim() !== "" && Number.isFinite(Number(r)));
        const hint = numbers.length ? `; ${numbers.join(", ")} ${strayNumbersHint(givenFlags(command, ["targetReturn", "seeds"]))}` : "";
        throw new UsageError(`eval takes one run (got ${runs.length}: ${runs.join(", ")})${hint}; to compare runs use --compare`);
      }
      if (options.env && options.envCmd) throw new UsageError("--env and --env-cmd exclude each other");
      if (!options.envCmd && !options.offline && givenFlags(command, ["envTimeout"]).length) {
        throw new UsageError("--env-timeout times the messages of an external environment; it applies with --env-cmd only.");
      }
      if (options.offline) {
        // Options of rollouts in an environment: an offline evaluation has none to give them to.
        const online = givenFlags(command, ["env", "envCmd", "envTimeout", "episodes", "targetReturn", "seeds", "trajectories", "reference"]);
        if (online.length) throw new UsageError(`--offline evaluates without an environment; drop ${online.join(", ")} (they set up or record episodes in an environment).`);
      }
      if (!(BACKEND_CHOICES as readonly string[]).includes(options.backend)) {
        throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(", ")}, got "${options.backend}"`);
      }
      const settings: Omit<EvalRequest, "backend" | "context"> = {
        target: runs[0]!,
        env: options.env,
        envCmd: options.envCmd,
        envTimeoutMs: parseNumber("--env-timeout", options.envTimeout, (n) => n > 0 && n <= MAX_TIMER_MS, `a positive number of milliseconds up to ${MAX_TIMER_MS} (Node's longest timer, about 24.8 days)`),
        episodes: options.episodes === undefined ? undefined : parseInteger("--episodes", options.episodes, 1, MAX_EPISODES),
        targets: options.targetReturn.length
          ? options.targetReturn.flatMap((given) => parseNumberList("--target-return", given))
          : undefined,
        seeds: options.seeds === undefined ? undefined : parseIntegerList("--seeds", options.seeds, 0, MAX_SEED),
        reference: options.reference === undefined ? undefined : parseReference(options.reference),
        data: options.data,
        energy: {
          acPicojoules: parseNumber("--e-ac", options.eAc, (n) => n >= 0, "a non-negative number"),
          macPicojoules: parseNumber("--e-mac", options.eMac, (n) => n >= 0, "a non-negative number"),
        },
        latencyDecisions: parseInteger("--latency-decisions", options.latencyDecisions, 1, MAX_EPISODES),
        statsEvery: parseInteger("--stats-every", options.statsEvery, 1),
        offline: options.offline,
        trajectories: options.trajectories,
      };
      // Checked before any episode: the outputs are written only after the whole evaluation.
      const outDir = path.resolve(options.out ?? (await defaultEvalDir(settings.target, settings.offline === true)));
      const blocking = fileOnPath(outDir);
      if (blocking && options.out === undefined) {
        throw new UsageError(`${outDir} is a file; eval writes its outputs to the directory <run>/eval (<run>/eval-<checkpoint> for another checkpoint; eval-offline in their place with --offline) by default (choose another --out).`);
      }
      if (blocking) throw new UsageError(`--out ${options.out}: ${blocking} is a file; an evaluation writes a directory (choose another --out).`);
      checkWritableDirectory(outDir);
      // A run's own evaluation directories (eval, eval-offline, eval-<checkpoint>, the results suite's eval-sweep) hold
      // only what evaluations wrote; an interrupted one may have left its files there without eval.json.
      const ownEvalDir = path.basename(outDir).startsWith(EVAL_DIR) && existsSync(path.join(path.dirname(outDir), RESOLVED_CONFIG_FILE));
      const foreign = options.out === undefined || ownEvalDir ? [] : foreignEvalOutputs(outDir, settings.trajectories === true);
      if (foreign.length > 0) {
        throw new UsageError(
          `--out ${options.out} holds ${foreign.join(", ")}, with no evaluation's ${EVAL_JSON} to show that an evaluation wrote them; an evaluation would replace them. ` +
            "Choose another --out, or move them (or delete them, if an interrupted evaluation left them).",
        );
      }
      const replaced = evaluationIn(outDir);
      if (replaced) ctx.logger.warn(`${outDir} holds an evaluation made ${replaced}; this one replaces it when it finishes (to keep both, give this one --out <dir>).`);
      const backend = await selectBackend(options.backend as BackendChoice);
      ctx.logger.info({ backend: backend.name, reason: backend.reason }, "backend");
      const { result, trajectories } = await evaluate({ ...settings, backend, context: ctx });
      const report = await writeEvalOutputs(result, outDir, trajectories);
      if (ctx.json) printJson(result);
      else {
        const written = [path.join(outDir, EVAL_JSON), ...(trajectories ? [path.join(outDir, TRAJECTORIES_FILE)] : []), report];
        const replacing = replaced ? ` (replacing the evaluation made ${replaced})` : "";
        printResult(ctx, `${formatEvalTable(result)}\n\nwrote ${written.slice(0, -1).join(", ")} and ${written.at(-1)}${replacing}`);
      }
      // The outputs are written; the exit code still says the environment failed.
      if (result.partial || result.latencyMs.failure) process.exitCode = 1;
    });
}

