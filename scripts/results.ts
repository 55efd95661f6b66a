/**
 * `npm run results`: the SNN-DT ablation on four environments, with the plain DT beside it, as a
 * thin script over the CLI. For each environment, model and seed it trains with the environment's
 * config (configs/<env>.yaml), evaluates on the dataset's best return (and, for `full` and `dt`, a
 * return-vs-target sweep), then writes docs/results.md and docs/results.json.
 *
 *   npm run results -- [--env CartPole-v1,Pendulum-v1] [--seeds 0,1,2] [--episodes 50] [--resume]
 *                      [--jobs 2] [--out runs/results] [--docs docs] [--set key=value ...] [--report-only]
 *
 * `--set` overrides go to every training run (for a quick smoke run of the whole pipeline); the
 * generated document lists them, since they change what the numbers mean.
 *
 * Environments are done one after the other (train every model and seed, then evaluate them).
 * Finished runs (summary.json) and finished evaluations (eval.json with this suite's episodes and
 * targets, not partial) are skipped with --resume, so the suite can run in parts; an evaluation made
 * with other settings is made again. Without --resume an existing results directory is an error.
 * When a job fails, the others still running are interrupted (a training run checkpoints first).
 * --report-only runs nothing and rewrites the documents from the finished runs. Either way the report
 * names finished runs whose saved configuration or dataset differs from what today's configs give
 * them, and evaluations made with other settings than the report's.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import YAML from "yaml";
import { PACKAGE_ROOT, SNNDT_VERSION } from "../src/runtime/version.js";
import type { EvalResult } from "../src/eval/evaluate.js";
import { EVAL_METHOD_VERSION, evalMethodOf, methodChangesSince, REFERENCE_GIVEN } from "../src/eval/method.js";
import { episodeReturns, loadDataset, returnSupport, type ReturnSupport } from "../src/data/dataset.js";
import { writeFileAtomic } from "../src/runtime/fs-atomic.js";
import { configDifferences, loadConfig } from "../src/train/config.js";
import { EVAL_DIR, EVAL_JSON, RESOLVED_CONFIG_FILE, SUMMARY_JSON } from "../src/train/run-layout.js";
import { extent } from "../src/data/summary.js";
import { counted } from "../src/cli/output.js";

interface ModelSpec {
  /** Name in the tables. */
  name: string;
  sets: string[];
}

/** The published ablation's variants, `full` with plasticity, and the plain DT. */
const MODELS: ModelSpec[] = [
  { name: "baseline", sets: ["model.kind=snn-dt", "model.variant=baseline"] },
  { name: "pos-only", sets: ["model.kind=snn-dt", "model.variant=pos-only"] },
  { name: "route-only", sets: ["model.kind=snn-dt", "model.variant=route-only"] },
  { name: "full", sets: ["model.kind=snn-dt", "model.variant=full"] },
  { name: "full+plasticity", sets: ["model.kind=snn-dt", "model.variant=full", "model.plasticity.enabled=true"] },
  { name: "dt", sets: ["model.kind=dt"] },
];

const ENVS: Record<string, { config: string; dataset: string }> = {
  "CartPole-v1": { config: "configs/cartpole.yaml", dataset: "datasets/cartpole-mixed.arrow" },
  "MountainCar-v0": { config: "configs/mountaincar.yaml", dataset: "datasets/mountaincar-mixed.arrow" },
  "Acrobot-v1": { config: "configs/acrobot.yaml", dataset: "datasets/acrobot-mixed.arrow" },
  "Pendulum-v1": { config: "configs/pendulum.yaml", dataset: "datasets/pendulum-mixed.arrow" },
};

/** Published numbers (SNN-DT paper), shown beside ours and labelled as published, not reproduced. */
const PUBLISHED: Record<string, { full: string; baseline: string }> = {
  "CartPole-v1": { full: "492.3 ± 6.8", baseline: "452.3" },
  "MountainCar-v0": { full: "-102.4 ± 5.5", baseline: "-120.2" },
  "Acrobot-v1": { full: "-59.7 ± 2.7", baseline: "-87.1" },
  "Pendulum-v1": { full: "-130.5 ± 4.2", baseline: "-155.3" },
};
const PUBLISHED_SPIKES = "fewer than ten spikes per decision (paper); ~8,000 spikes and 12.1 ms CPU latency per inference (authors' docs)";

/** Targets of the return-vs-target sweep, as fractions of the way from the dataset's worst to best return. */
const SWEEP_FRACTIONS = [0, 0.25, 0.5, 0.75, 1];

const SNNDT = path.join(PACKAGE_ROOT, "bin", "snndt");

/** The keys that make each row its model (MODELS' sets). */
const MODEL_KEYS = ["model.kind", "model.variant", "model.plasticity.enabled"];

interface Options {
  envs: string[];
  seeds: number[];
  episodes: number;
  resume: boolean;
  jobs: number;
  out: string;
  docs: string;
  sets: string[];
  reportOnly: boolean;
}

/** The defaults of the options that take a value (as typed on the command line). */
const DEFAULTS = { seeds: "0,1,2", episodes: "50", jobs: "2", out: path.join("runs", "results"), docs: "docs" };

const USAGE = `usage: npm run results -- [--env CartPole-v1,Pendulum-v1] [--seeds ${DEFAULTS.seeds}] [--episodes ${DEFAULTS.episodes}] [--resume]
                          [--jobs ${DEFAULTS.jobs}] [--out ${DEFAULTS.out}] [--docs ${DEFAULTS.docs}] [--set key=value ...] [--report-only]
Trains and evaluates the SNN-DT ablation and the plain DT, then writes docs/results.md and docs/results.json.`;

/** A path as the commands run from the package root take it: relative inside the package, else absolute. */
function displayPath(file: string): string {
  const relative = path.relative(PACKAGE_ROOT, file);
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
}

/** The suite's command with its own options (those not at their defaults) and `extra`. */
function suiteCommand(options: Options, ...extra: string[]): string {
  const flags: string[] = [];
  if (options.envs.join(",") !== Object.keys(ENVS).join(",")) flags.push(`--env ${options.envs.join(",")}`);
  if (options.seeds.join(",") !== DEFAULTS.seeds) flags.push(`--seeds ${options.seeds.join(",")}`);
  if (String(options.episodes) !== DEFAULTS.episodes) flags.push(`--episodes ${options.episodes}`);
  if (String(options.jobs) !== DEFAULTS.jobs) flags.push(`--jobs ${options.jobs}`);
  const out = displayPath(options.out);
  if (out !== DEFAULTS.out) flags.push(`--out ${out}`);
  const docs = displayPath(options.docs);
  if (docs !== DEFAULTS.docs) flags.push(`--docs ${docs}`);
  for (const set of options.sets) flags.push(`--set ${set}`);
  const args = [...flags, ...extra];
  return args.length ? ["npm run results --", ...args].join(" ") : "npm run results";
}

/** The command that continues this suite. */
function resumeCommand(options: Options): string {
  return suiteCommand(options, "--resume");
}

/** One invocation of the suite that trained or evaluated. */
interface SuiteInvocation {
  command: string;
  startedAt: string;
  snndtVersion: string;
  /** `git rev-parse HEAD` of the package, when it is a git checkout. */
  commit: string | null;
  machine: { cpus: number; cpuModel: string; platform: string; arch: string };
  jobs: number;
}

/**
 * What made the runs, kept as <out>/suite.json so that a report regenerated later still says it: the
 * invocation that made the results directory, and each --resume after it that ran a job. A directory
 * made before snndt kept this record gets none.
 */
interface SuiteRecord {
  made: SuiteInvocation;
  continued: SuiteInvocation[];
}

const SUITE_RECORD = "suite.json";

function gitCommit(): string | null {
  const res = spawnSync("git", ["rev-parse", "HEAD"], { cwd: PACKAGE_ROOT, encoding: "utf8" });
  return res.status === 0 ? res.stdout.trim() : null;
}

function suiteInvocation(options: Options): SuiteInvocation {
  const cpus = os.cpus();
  return {
    command: suiteCommand(options, ...(options.resume ? ["--resume"] : [])),
    startedAt: new Date().toISOString(),
    snndtVersion: SNNDT_VERSION,
    commit: gitCommit(),
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? "unknown", platform: os.platform(), arch: os.arch() },
    jobs: options.jobs,
  };
}

/** The record of the invocation that made the runs in `out`, or null (runs from before it was kept). */
function readSuiteRecord(out: string): SuiteRecord | null {
  const file = path.join(out, SUITE_RECORD);
  return existsSync(file) ? readJson<SuiteRecord>(file) : null;
}

/** The options, or null when --help asked for the usage. */
function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      env: { type: "string" },
      seeds: { type: "string", default: DEFAULTS.seeds },
      episodes: { type: "string", default: DEFAULTS.episodes },
      resume: { type: "boolean", default: false },
      jobs: { type: "string", default: DEFAULTS.jobs },
      out: { type: "string", default: DEFAULTS.out },
      docs: { type: "string", default: DEFAULTS.docs },
      set: { type: "string", multiple: true, default: [] },
      "report-only": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return null;
  const positive = (n: number, flag: string) => {
    if (n < 1) throw new Error(`${flag} takes a positive integer, got ${n}`);
    return n;
  };
  // The suite evaluates with its own settings (--episodes, the dataset's best return, the sweep).
  const keyOf = (set: string): string => set.split("=")[0]!.trim();
  const evalSet = values.set!.find((set) => keyOf(set) === "eval" || keyOf(set).startsWith("eval."));
  if (evalSet) throw new Error(`--set ${evalSet}: the suite sets how it evaluates (--episodes, the dataset's best return); --set is for training keys`);
  // Each row is a model the suite names: a --set of these would run another model under its name.
  const modelSet = values.set!.find((set) => MODEL_KEYS.some((key) => key === keyOf(set) || (keyOf(set) !== "model" && key.startsWith(`${keyOf(set)}.`))));
  if (modelSet) throw new Error(`--set ${modelSet}: the suite sets each row's model (${MODEL_KEYS.join(", ")}); --set is for the other training keys`);
  // Lists name each item once: a repeated seed or environment would run the same directory twice.
  const list = (text: string, flag: string): string[] => {
    const items = text.split(",").map((item) => item.trim());
    if (items.some((item) => item === "")) throw new Error(`${flag} takes a comma-separated list without empty items, got "${text}"`);
    const repeated = items.find((item, i) => items.indexOf(item) !== i);
    if (repeated !== undefined) throw new Error(`${flag} lists ${repeated} twice`);
    return items;
  };
  const envs = values.env ? list(values.env, "--env") : Object.keys(ENVS);
  for (const env of envs) if (!ENVS[env]) throw new Error(`unknown --env ${env}; known: ${Object.keys(ENVS).join(", ")}`);
  const integer = (text: string, flag: string) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} takes non-negative integers, got "${text}"`);
    return n;
  };
  const one = (text: string, flag: string) => {
    if (text.includes(",")) throw new Error(`${flag} takes one number, got "${text}"`);
    return positive(integer(text.trim(), flag), flag);
  };
  return {
    envs,
    seeds: list(values.seeds!, "--seeds").map((seed) => integer(seed, "--seeds")),
    episodes: one(values.episodes!, "--episodes"),
    resume: values.resume!,
    jobs: one(values.jobs!, "--jobs"),
    out: path.resolve(values.out!),
    docs: path.resolve(values.docs!),
    sets: values.set!,
    reportOnly: values["report-only"]!,
  };
}

interface Job {
  label: string;
  args: string[];
  /**
   * With --resume: null when the job's output is there and answers this suite (the job is skipped);
   * otherwise why it runs ("" when it simply has not run yet).
   */
  pending: () => string | null;
}

function run(job: Job, running: Set<ChildProcess>): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    process.stderr.write(`[results] start ${job.label}\n`);
    // Detached (a process group of its own): a terminal's Ctrl-C reaches only this script, which
    // passes one SIGINT on. Two would make snndt train stop without its checkpoint.
    const child = spawn(process.execPath, [SNNDT, "--quiet", ...job.args], { cwd: PACKAGE_ROOT, stdio: ["ignore", "ignore", "inherit"], detached: true });
    running.add(child);
    child.on("error", (err) => {
      running.delete(child);
      reject(new Error(`${job.label} could not start: ${err.message}`));
    });
    child.on("exit", (code, signal) => {
      running.delete(child);
      const seconds = ((Date.now() - started) / 1000).toFixed(0);
      if (code === 0) {
        process.stderr.write(`[results] done  ${job.label} (${seconds} s)\n`);
        resolve();
      } else reject(new Error(`${job.label} failed with ${signal ? `signal ${signal}` : `exit code ${code}`}: snndt ${job.args.join(" ")}`));
    });
  });
}

/** The suite was stopped by a signal; its running jobs were interrupted and awaited. */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(signal);
  }
}

/** SIGHUP: the terminal closed. The jobs run detached, so without this they would outlive it. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Run jobs with at most `parallel` at once; a job's dependencies are expressed by running phases in
 * order. After a failure, or SIGINT/SIGTERM/SIGHUP to this script, no new job starts, and the jobs still
 * running are interrupted (SIGINT: a training run checkpoints, so --resume continues it) and
 * awaited, so none is left orphaned.
 */
/** Run the jobs (with --resume, those not finished), `beforeRunning` first if any is to run. */
async function runAll(jobs: Job[], parallel: number, resume: boolean, beforeRunning: () => Promise<void>): Promise<void> {
  const queue = jobs.filter((job) => {
    if (!resume) return true;
    const why = job.pending();
    if (why) process.stderr.write(`[results] ${job.label} again: ${why}\n`);
    return why !== null;
  });
  const skipped = jobs.length - queue.length;
  if (skipped) process.stderr.write(`[results] ${skipped} finished job(s) skipped (--resume)\n`);
  if (queue.length > 0) await beforeRunning();
  const running = new Set<ChildProcess>();
  let failure: Error | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    // After a hang-up, writes to the closed terminal fail; they must not crash the script before its jobs stop.
    if (signal === "SIGHUP") process.stderr.on("error", () => undefined);
    if (!failure) failure = new Interrupted(signal);
    process.stderr.write(`[results] ${signal}: interrupting the ${running.size} job(s) running; continue later with --resume\n`);
    for (const child of running) child.kill("SIGINT");
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  const workers = Array.from({ length: parallel }, async () => {
    for (let job = queue.shift(); job && !failure; job = queue.shift()) {
      try {
        await run(job, running);
      } catch (err) {
        if (failure) continue; // interrupted because another job failed
        failure = err as Error;
        if (running.size) process.stderr.write(`[results] ${job.label} failed: interrupting the ${running.size} job(s) still running\n`);
        for (const child of running) child.kill("SIGINT");
      }
    }
  });
  try {
    await Promise.all(workers);
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
  if (failure) throw failure;
}

/** The evaluations this suite makes of one run: the main one at the dataset's best return, and for `full` and `dt` the sweep. */
interface PlannedEval {
  kind: "eval" | "sweep";
  out: string;
  episodes: number;
  targets: number[];
}

/** Episodes per target of a sweep: a fifth of the main evaluation's, at least one. */
function sweepEpisodes(options: Options): number {
  return Math.max(1, Math.round(options.episodes / 5));
}

function plannedEvals(options: Options, model: ModelSpec, dir: string, returns: number[]): PlannedEval[] {
  const planned: PlannedEval[] = [{ kind: "eval", out: path.join(dir, EVAL_DIR), episodes: options.episodes, targets: [extent(returns).max] }];
  if (model.name === "full" || model.name === "dt") {
    planned.push({ kind: "sweep", out: path.join(dir, "eval-sweep"), episodes: sweepEpisodes(options), targets: sweepTargets(returns) });
  }
  return planned;
}

/**
 * Why a planned evaluation's eval.json does not answer this suite: made by an older eval method,
 * partial, or other episodes per target or targets (empty: it does); null when there is none yet.
 */
function plannedEvalProblems(planned: PlannedEval): string[] | null {
  const file = path.join(planned.out, EVAL_JSON);
  if (!existsSync(file)) return null;
  const result = readJson<EvalResult>(file);
  const problems: string[] = [];
  if (evalMethodOf(result) !== EVAL_METHOD_VERSION) problems.push(`made by eval method ${evalMethodOf(result)}, not ${EVAL_METHOD_VERSION} (${methodChangesSince(evalMethodOf(result))})`);
  if (result.partial) problems.push("partial (its environment failed part-way)");
  if (result.latencyMs.failure) problems.push("no latency (its environment failed while decisions were timed)");
  if (result.settings.episodesPerTarget !== planned.episodes) problems.push(`${result.settings.episodesPerTarget} episodes per target instead of ${planned.episodes}`);
  const got = result.settings.targets;
  const want = planned.targets;
  const sameTargets = got.length === want.length && got.every((t, i) => Math.abs(t - want[i]!) <= 1e-9 * Math.max(1, Math.abs(t)));
  if (!sameTargets) problems.push(`targets ${got.join(", ")} instead of ${want.join(", ")}`);
  // The suite scores against the environment's own reference policies.
  if (result.reference?.source === REFERENCE_GIVEN) problems.push("normalised against returns given with --reference");
  return problems;
}

/** Finished evaluations that do not answer this suite, one line each for the report. */
async function mismatchedEvals(options: Options): Promise<string[]> {
  const lines: string[] = [];
  for (const env of options.envs) {
    const returns = await datasetReturns(env);
    for (const model of MODELS) {
      for (const seed of options.seeds) {
        for (const planned of plannedEvals(options, model, runDir(options, env, model.name, seed), returns)) {
          const problems = plannedEvalProblems(planned);
          if (problems?.length) lines.push(`${model.name} on ${env}, seed ${seed} (${planned.kind === "eval" ? "evaluation" : "sweep"}): ${problems.join("; ")}`);
        }
      }
    }
  }
  return lines;
}

function runDir(options: Options, env: string, model: string, seed: number): string {
  return path.join(options.out, env, model, `seed${seed}`);
}

interface DatasetFacts {
  returns: number[];
  /** The content hash a run records as datasetManifestHash when trained on this dataset. */
  manifestHash: string;
}

const factsByDataset = new Map<string, Promise<DatasetFacts>>();

/** The episode returns and content hash of an environment's shipped dataset (read once per process). */
function datasetFacts(env: string): Promise<DatasetFacts> {
  const file = path.join(PACKAGE_ROOT, ENVS[env]!.dataset);
  let facts = factsByDataset.get(file);
  if (!facts) {
    facts = loadDataset(file).then((dataset) => ({ returns: episodeReturns(dataset.episodes), manifestHash: dataset.manifest.sha256 }));
    factsByDataset.set(file, facts);
  }
  return facts;
}

async function datasetReturns(env: string): Promise<number[]> {
  return (await datasetFacts(env)).returns;
}

/** Targets spread from the dataset's worst to its best episode return. */
function sweepTargets(returns: number[]): number[] {
  const { min: worst, max: best } = extent(returns);
  // Rounded for readable tables, but never past the data's range (a target above the best return
  // would ask every model to extrapolate).
  const targets = SWEEP_FRACTIONS.map((f) => Math.min(best, Math.max(worst, Math.round((worst + f * (best - worst)) * 100) / 100)));
  // Each once: a narrow return range rounds several fractions alike, and eval refuses a repeated target.
  return [...new Set(targets)];
}

/**
 * How many dataset episodes reach the target the runs were conditioned on, and each sweep target: a
 * target few episodes reach asks the models to extrapolate (docs/results-findings.md,
 * MountainCar-v0). Counted from the dataset, not read from eval.json, so that --report-only also
 * works on runs evaluated before `snndt eval` recorded it.
 */
interface EnvSupport extends ReturnSupport {
  target: number;
  sweep: { target: number; atOrAbove: number }[];
}

function envSupport(rows: Row[], returns: number[]): EnvSupport | null {
  const first = rows[0];
  if (!first) return null;
  const sweep = rows.find((r) => r.sweep)?.sweep ?? [];
  return { target: first.target, ...returnSupport(returns, first.target), sweep: sweep.map((s) => ({ target: s.target, atOrAbove: returnSupport(returns, s.target).atOrAbove })) };
}

interface Row {
  env: string;
  /** The return the evaluation was conditioned on (the dataset's best, unless overridden). */
  target: number;
  model: string;
  seeds: number[];
  episodes: number;
  returnMean: number;
  returnStd: number;
  normalisedMean: number | null;
  normalisedStd: number | null;
  spikesPerDecision: number | null;
  firingRate: number | null;
  energyNanojoules: number;
  energyRatioToDt: number;
  dtSameSizeNanojoules: number;
  latencyMedianMs: number | null;
  trainWallSeconds: number;
  /** Seed 0's (the first seed's) config hash; configHashes has every seed's, in --seeds order. */
  configHash: string;
  configHashes: string[];
  /** The backends the evaluations ran on. */
  backends: string[];
  commands: string[];
  sweep?: { target: number; mean: number; std: number }[];
}

function readJson<T>(file: string): T {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}

/** Training wall time a run recorded in its summary.json. */
function trainSeconds(dir: string): number {
  return readJson<{ wallSeconds: number }>(path.join(dir, SUMMARY_JSON)).wallSeconds;
}

function meanStd(values: number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { mean, std: Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length) };
}

function aggregate(options: Options, env: string, model: ModelSpec): Row | null {
  const evals: EvalResult[] = [];
  const sweeps: EvalResult[] = [];
  let wall = 0;
  const commands: string[] = [];
  for (const seed of options.seeds) {
    const dir = runDir(options, env, model.name, seed);
    const file = path.join(dir, EVAL_DIR, EVAL_JSON);
    if (!existsSync(file)) return null;
    evals.push(readJson<EvalResult>(file));
    const sweep = path.join(dir, "eval-sweep", EVAL_JSON);
    if (existsSync(sweep)) sweeps.push(readJson<EvalResult>(sweep));
    wall += trainSeconds(dir);
    commands.push(`snndt ${trainArgs(options, env, model, seed).join(" ")}`);
  }
  const returns = evals.flatMap((e) => e.episodes.map((ep) => ep.return));
  const ref = evals[0]!.reference;
  const normalised = ref ? returns.map((r) => (100 * (r - ref.random)) / (ref.expert - ref.random)) : null;
  const r = meanStd(returns);
  const n = normalised ? meanStd(normalised) : null;
  const avg = (f: (e: EvalResult) => number) => evals.reduce((a, e) => a + f(e), 0) / evals.length;
  // eval.json holds null for a latency that was not measured (JSON has no NaN).
  const measured = evals.map((e) => e.latencyMs.median).filter((m): m is number => typeof m === "number" && Number.isFinite(m));
  const row: Row = {
    env,
    target: evals[0]!.targets[0]!.target,
    model: model.name,
    seeds: options.seeds,
    episodes: returns.length,
    returnMean: r.mean,
    returnStd: r.std,
    normalisedMean: n?.mean ?? null,
    normalisedStd: n?.std ?? null,
    spikesPerDecision: evals[0]!.spikes ? avg((e) => e.spikes!.perDecision) : null,
    firingRate: evals[0]!.spikes ? avg((e) => e.spikes!.firingRate) : null,
    energyNanojoules: avg((e) => e.energy.model.nanojoules),
    energyRatioToDt: avg((e) => e.energy.ratioToDt),
    dtSameSizeNanojoules: avg((e) => e.energy.dtSameSize.nanojoules),
    latencyMedianMs: measured.length ? measured.reduce((a, m) => a + m, 0) / measured.length : null,
    trainWallSeconds: wall / evals.length,
    configHash: evals[0]!.configHash,
    configHashes: evals.map((e) => e.configHash),
    backends: [...new Set(evals.map((e) => e.backend.name))],
    commands,
  };
  if (sweeps.length === options.seeds.length) {
    row.sweep = sweeps[0]!.settings.targets.map((target) => {
      const values = sweeps.flatMap((s) => s.episodes.filter((e) => e.target === target).map((e) => e.return));
      return { target, ...meanStd(values) };
    });
  }
  return row;
}

/** What `snndt train` resolves a run's configuration from, besides its --seed: the env config and the model's and the suite's --set. */
function runConfig(options: Options, env: string, model: ModelSpec): { config: string; sets: string[] } {
  return { config: ENVS[env]!.config, sets: [...model.sets, ...options.sets] };
}

function trainArgs(options: Options, env: string, model: ModelSpec, seed: number): string[] {
  const { config, sets } = runConfig(options, env, model);
  return ["train", "--config", config, ...sets.flatMap((s) => ["--set", s]), "--seed", String(seed), "--out", displayPath(runDir(options, env, model.name, seed))];
}

/** Runs of one environment and model whose saved configuration differs from today's in the same way. */
interface StaleRuns {
  env: string;
  model: string;
  seeds: number[];
  /** The keys that differ (a key only one side has included); empty when the file did not parse. */
  keys: string[];
  error?: string;
}

/**
 * Finished runs whose saved config.resolved.yaml differs from what the current configs and options
 * resolve for them (a changed default, an edited config file), or that were trained on another
 * version of the environment's dataset (their summary's dataset hash). --resume skips them as
 * finished, so the report names them and what differs, and leaves the decision to redo them to the user.
 */
function staleRuns(options: Options, datasetHashes: Record<string, string>): StaleRuns[] {
  const groups = new Map<string, StaleRuns>();
  for (const env of options.envs) {
    for (const model of MODELS) {
      for (const seed of options.seeds) {
        const dir = runDir(options, env, model.name, seed);
        const saved = path.join(dir, RESOLVED_CONFIG_FILE);
        if (!existsSync(saved)) continue;
        const { config, sets } = runConfig(options, env, model);
        const current = loadConfig({ configPath: path.join(PACKAGE_ROOT, config), overrides: sets, seed });
        let found: Pick<StaleRuns, "keys" | "error">;
        try {
          found = { keys: configDifferences(YAML.parse(readFileSync(saved, "utf8")), current) };
        } catch (err) {
          found = { keys: [], error: `config.resolved.yaml does not parse: ${(err as Error).message.split("\n")[0]}` };
        }
        const summary = path.join(dir, SUMMARY_JSON);
        if (existsSync(summary) && readJson<{ datasetManifestHash?: string }>(summary).datasetManifestHash !== datasetHashes[env]) {
          found.keys.push(`another version of ${ENVS[env]!.dataset}`);
        }
        if (!found.keys.length && !found.error) continue;
        const id = JSON.stringify([env, model.name, found]);
        const group = groups.get(id) ?? { env, model: model.name, seeds: [], ...found };
        group.seeds.push(seed);
        groups.set(id, group);
      }
    }
  }
  return [...groups.values()];
}

function describeStale(stale: StaleRuns, code: (text: string) => string): string {
  const what = stale.error ?? stale.keys.map(code).join(", ");
  return `${code(stale.model)} on ${stale.env}: ${what} (seed${stale.seeds.length > 1 ? "s" : ""} ${stale.seeds.join(", ")})`;
}

const f = (v: number | null, digits = 1) => (v === null || !Number.isFinite(v) ? "-" : v.toFixed(digits));

/** Time an environment's runs took, summed over runs, from the runs' own records (survives --resume and partial reruns). */
interface EnvTimes {
  trainSeconds: number;
  evalSeconds: number;
  /** Evaluations whose eval.json predates the wallSeconds field: not counted in evalSeconds. */
  evalsWithoutTime: number;
}

function envTimes(options: Options, env: string): EnvTimes | null {
  const times: EnvTimes = { trainSeconds: 0, evalSeconds: 0, evalsWithoutTime: 0 };
  let found = false;
  for (const model of MODELS) {
    for (const seed of options.seeds) {
      const dir = runDir(options, env, model.name, seed);
      if (!existsSync(path.join(dir, SUMMARY_JSON))) continue;
      found = true;
      times.trainSeconds += trainSeconds(dir);
      for (const file of [path.join(dir, EVAL_DIR, EVAL_JSON), path.join(dir, "eval-sweep", EVAL_JSON)]) {
        if (!existsSync(file)) continue;
        const seconds = readJson<Partial<EvalResult>>(file).wallSeconds;
        if (seconds === undefined) times.evalsWithoutTime++;
        else times.evalSeconds += seconds;
      }
    }
  }
  return found ? times : null;
}

function renderTimes(times: EnvTimes, jobs: number): string {
  const min = (seconds: number) => `${(seconds / 60).toFixed(0)} min`;
  const total = times.trainSeconds + times.evalSeconds;
  const unrecorded = times.evalsWithoutTime ? ` (${times.evalsWithoutTime} evaluations made before \`snndt eval\` recorded its duration are not counted)` : "";
  return `Summed over runs, training took ${min(times.trainSeconds)} and evaluation ${min(times.evalSeconds)}${unrecorded}: about ${min(total / jobs)} of wall time at ${counted(jobs, "run")} at a time.`;
}

function renderMarkdown(
  rows: Row[],
  options: Options,
  times: Record<string, EnvTimes | null>,
  support: Record<string, EnvSupport | null>,
  missing: string[],
  stale: StaleRuns[],
  mismatched: string[],
  record: SuiteRecord | null,
): string {
  const backends = [...new Set(rows.flatMap((r) => r.backends))].join(", ") || "unknown";
  const when = (i: SuiteInvocation): string => `${i.startedAt.slice(0, 10)}, snndt ${i.snndtVersion}${i.commit ? ` at commit \`${i.commit.slice(0, 12)}\`` : ""}`;
  const made = record
    ? `The runs were made by \`${record.made.command}\` (started ${when(record.made)}) on a ${record.made.machine.cpus}-core ` +
      `${record.made.machine.platform}/${record.made.machine.arch} machine (${record.made.machine.cpuModel}), TensorFlow.js backend ${backends}, ` +
      `${counted(record.made.jobs, "run")} at a time` +
      (record.continued.length ? `; continued by ${record.continued.map((i) => `\`${i.command}\` (${when(i)}, ${counted(i.jobs, "run")} at a time)`).join(", ")}.` : ".")
    : `The command that made the runs was not recorded (they predate the suite's ${SUITE_RECORD}); TensorFlow.js backend ${backends}.`;
  const out: string[] = [
    "# SNN-DT ablation: results regenerated by `npm run results`",
    "",
    `Generated by snndt ${SNNDT_VERSION} on ${new Date().toISOString().slice(0, 10)} with \`${suiteCommand(options, ...(options.reportOnly ? ["--report-only"] : []))}\`. ${made}`,
    "",
    "Every number below was measured by this tool on the shipped datasets (`datasets/README.md`: which policies, how many steps).",
    "Returns are mean ± std over all evaluation episodes of all seeds, conditioned on the dataset's best return; the normalised score is",
    "100 · (R − random) / (expert − random) with the random and expert behaviour policies that made the datasets. Energy is the estimate",
    "of `snndt eval` (synaptic operations × 0.9 pJ + MACs × 4.6 pJ, 45 nm; arithmetic only). Published numbers are quoted from the paper, **not reproduced** here.",
    "[results-findings.md](results-findings.md) (written by hand) reads these tables: what holds, what does not, and what was tried.",
    "",
  ];
  if (options.sets.length) out.push(`**Overrides:** every run used ${options.sets.map((s) => `\`--set ${s}\``).join(" ")} on top of its environment config.`, "");
  if (missing.length) out.push(`**Incomplete:** no results yet for ${missing.join(", ")} (run \`${resumeCommand(options)}\`).`, "");
  if (stale.length) {
    out.push(
      "**Trained with another configuration** than the current configs give, with the keys that differ. Where a difference matters to",
      "the model, remove the run's directory and use `--resume` to redo it:",
      "",
      ...stale.map((group) => `- ${describeStale(group, (text) => `\`${text}\``)}`),
      "",
    );
  }
  if (mismatched.length) {
    out.push(
      `**Evaluated with other settings** than this report's (${options.episodes} episodes per target at the dataset's best return; sweeps ${sweepEpisodes(options)}), or partial;`,
      `their rows pool them as they are. \`${resumeCommand(options)}\` evaluates them again:`,
      "",
      ...mismatched.map((line) => `- ${line}`),
      "",
    );
  }
  for (const env of options.envs) {
    const mine = rows.filter((r) => r.env === env);
    if (!mine.length) continue;
    const spent = times[env];
    const data = support[env];
    out.push(`## ${env}`, "", ...(spent ? [renderTimes(spent, record?.made.jobs ?? options.jobs), ""] : []));
    if (data) out.push(`Conditioned on ${Number(data.target.toPrecision(4))}, which ${data.atOrAbove} of the dataset's ${data.episodes} episodes reach.`, "");
    out.push("| model | return | normalised | spikes / decision | firing rate | energy (nJ) | vs DT energy | latency (ms) | train time (s) | published (not reproduced) |");
    out.push("|---|---|---|---|---|---|---|---|---|---|");
    for (const r of mine) {
      const published = r.model === "full" ? PUBLISHED[env]!.full : r.model === "baseline" ? PUBLISHED[env]!.baseline : "";
      out.push(
        `| ${r.model} | ${f(r.returnMean)} ± ${f(r.returnStd)} | ${f(r.normalisedMean)} ± ${f(r.normalisedStd)} | ${f(r.spikesPerDecision, 0)} | ${f(r.firingRate, 3)} | ${f(r.energyNanojoules, 0)} | ${f(r.energyRatioToDt, 3)} | ${f(r.latencyMedianMs, 2)} | ${f(r.trainWallSeconds, 0)} | ${published} |`,
      );
    }
    const sweeps = mine.filter((r) => r.sweep);
    if (sweeps.length) {
      out.push("", "Return vs target (mean over seeds and episodes):", "");
      out.push(`| model | ${sweeps[0]!.sweep!.map((s) => `target ${s.target}`).join(" | ")} |`);
      out.push(`|---|${sweeps[0]!.sweep!.map(() => "---").join("|")}|`);
      for (const r of sweeps) out.push(`| ${r.model} | ${r.sweep!.map((s) => `${f(s.mean)} ± ${f(s.std)}`).join(" | ")} |`);
      if (data?.sweep.length) out.push(`| dataset episodes >= target | ${data.sweep.map((d) => `${d.atOrAbove} of ${data.episodes}`).join(" | ")} |`);
    }
    const full = mine.find((r) => r.model === "full");
    const dt = mine.find((r) => r.model === "dt");
    if (full && dt && full.normalisedMean !== null && dt.normalisedMean !== null) {
      const reached = full.normalisedMean >= 95;
      const close = full.normalisedMean >= dt.normalisedMean - 2;
      out.push(
        "",
        `Targets: \`full\` normalised ${f(full.normalisedMean)} (target ≥ 95: ${reached ? "reached" : "**not reached**"}); ` +
          `plain DT ${f(dt.normalisedMean)} (target: full within 2 points or better: ${close ? "met" : "**not met**"}).`,
      );
      if (!reached || !close) out.push("", `What was tried, and what we think limits it: [results-findings.md](results-findings.md#${env.toLowerCase().replace(/[^a-z0-9-]/g, "")}).`);
    }
    out.push("", `Config hashes (seeds ${options.seeds.join(", ")}): ${mine.map((r) => `${r.model} ${r.configHashes.map((h) => `\`${h.slice(0, 12)}\``).join(" ")}`).join("; ")}.`, "");
    out.push("<details><summary>Exact training commands</summary>", "", "```sh", ...mine.flatMap((r) => r.commands), "```", "", "</details>", "");
  }
  out.push("## Published spike claims", "", `${PUBLISHED_SPIKES}: compare with the spikes-per-decision column above (counted over the whole K-step window).`, "");
  return out.join("\n") + "\n";
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!options) {
    process.stdout.write(USAGE + "\n");
    return;
  }
  if (!options.resume && !options.reportOnly && existsSync(options.out)) {
    throw new Error(`${options.out} exists: add --resume to continue it (finished runs are skipped), or pass another --out`);
  }
  if (options.reportOnly && !existsSync(options.out)) {
    throw new Error(`--report-only reports the runs in ${options.out}, which does not exist (pass the suite's --out); nothing written`);
  }
  // Every run's configuration, checked before anything is made: a mistyped --set fails here, not in the first training;
  // and a --set that reaches a row's model keys another way (a map: --set 'model={kind: dt}') is refused too.
  for (const env of options.envs) {
    for (const model of MODELS) {
      const { config, sets } = runConfig(options, env, model);
      const resolved = loadConfig({ configPath: config, overrides: sets });
      const intended = loadConfig({ configPath: config, overrides: model.sets });
      const identity = (c: typeof resolved) => JSON.stringify([c.model.kind, c.model.variant, c.model.plasticity.enabled]);
      if (identity(resolved) !== identity(intended)) {
        throw new Error(`--set ${options.sets.join(" --set ")}: changes the model of the ${model.name} row (${MODEL_KEYS.join(", ")}), which the suite sets for each row`);
      }
    }
  }
  const madeNow = !existsSync(options.out);
  await mkdir(options.out, { recursive: true });
  const record = madeNow ? { made: suiteInvocation(options), continued: [] } : readSuiteRecord(options.out);
  const saveRecord = (): Promise<void> => writeFileAtomic(path.join(options.out, SUITE_RECORD), JSON.stringify(record, null, 2) + "\n");
  if (madeNow) await saveRecord();
  // A --resume that makes or remakes something continues the runs (one that only skips does not).
  let continuing = false;
  const noteContinued = async (): Promise<void> => {
    if (madeNow || !record || continuing) return;
    continuing = true;
    record.continued.push(suiteInvocation(options));
    await saveRecord();
  };
  for (const env of options.envs) {
    if (options.reportOnly) break;
    const trainJobs: Job[] = [];
    const evalJobs: Job[] = [];
    for (const model of MODELS) {
      for (const seed of options.seeds) {
        const dir = runDir(options, env, model.name, seed);
        const args = trainArgs(options, env, model, seed);
        // A run interrupted part-way (no summary.json) continues from its checkpoint.
        const resumeRun = options.resume && !existsSync(path.join(dir, SUMMARY_JSON)) && existsSync(path.join(dir, RESOLVED_CONFIG_FILE));
        trainJobs.push({
          label: `train ${env} ${model.name} seed ${seed}`,
          args: resumeRun ? ["train", "--resume", path.relative(PACKAGE_ROOT, dir)] : args,
          pending: () => (existsSync(path.join(dir, SUMMARY_JSON)) ? null : ""),
        });
        for (const planned of plannedEvals(options, model, dir, await datasetReturns(env))) {
          evalJobs.push({
            label: `${planned.kind} ${env} ${model.name} seed ${seed}`,
            // The main evaluation conditions on the dataset's best return, which eval finds itself.
            args:
              planned.kind === "eval"
                ? ["eval", dir, "--episodes", String(planned.episodes)]
                : ["eval", dir, "--episodes", String(planned.episodes), "--out", planned.out, ...planned.targets.flatMap((t) => ["--target-return", String(t)])],
            pending: () => {
              const problems = plannedEvalProblems(planned);
              return problems === null ? "" : problems.join("; ") || null;
            },
          });
        }
      }
    }
    await runAll(trainJobs, options.jobs, options.resume, noteContinued);
    await runAll(evalJobs, options.jobs, options.resume, noteContinued);
  }
  const rows: Row[] = [];
  const missing: string[] = [];
  for (const env of options.envs) {
    for (const model of MODELS) {
      const row = aggregate(options, env, model);
      if (row) rows.push(row);
      else missing.push(`${env} ${model.name}`);
    }
  }
  if (options.reportOnly && rows.length === 0) {
    throw new Error(`--report-only: ${options.out} holds no finished run of ${options.envs.join(", ")}; nothing written (the report would replace ${options.docs}'s with an empty one)`);
  }
  const times = Object.fromEntries(options.envs.map((env) => [env, envTimes(options, env)]));
  const support: Record<string, EnvSupport | null> = {};
  for (const env of options.envs) support[env] = envSupport(rows.filter((r) => r.env === env), await datasetReturns(env));
  await mkdir(options.docs, { recursive: true });
  const datasetHashes: Record<string, string> = {};
  for (const env of options.envs) datasetHashes[env] = (await datasetFacts(env)).manifestHash;
  const stale = staleRuns(options, datasetHashes);
  const mismatched = await mismatchedEvals(options);
  for (const line of mismatched) process.stderr.write(`[results] evaluated with other settings: ${line}\n`);
  for (const group of stale) process.stderr.write(`[results] trained with another configuration: ${describeStale(group, (text) => text)}\n`);
  const json = { snndtVersion: SNNDT_VERSION, generatedAt: new Date().toISOString(), options: { ...options, out: displayPath(options.out), docs: displayPath(options.docs) }, suite: record, published: PUBLISHED, times, targetSupport: support, staleRuns: stale, evaluatedWithOtherSettings: mismatched, rows };
  await writeFileAtomic(path.join(options.docs, "results.json"), JSON.stringify(json, null, 2) + "\n");
  await writeFileAtomic(path.join(options.docs, "results.md"), renderMarkdown(rows, options, times, support, missing, stale, mismatched, record));
  process.stderr.write(`[results] wrote ${path.join(options.docs, "results.md")} and results.json\n`);
}

main().catch((err: Error) => {
  if (err instanceof Interrupted) {
    if (err.signal === "SIGHUP") {
      // The terminal is gone: Node's exit path can crash writing to it. End as the signal would have.
      process.kill(process.pid, "SIGHUP");
      return;
    }
    process.stderr.write(`results: interrupted (${err.signal}); the finished runs are kept, --resume continues the suite\n`);
    // The shell's convention for a process stopped by a signal: 128 + its number.
    process.exit(128 + os.constants.signals[err.signal]);
  }
  process.stderr.write(`results: ${err.message}\n`);
  process.exit(1);
});
