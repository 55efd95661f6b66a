/**
 * The training loop: return-conditioned behaviour cloning of a SequenceModel on windows of a
 * prepared dataset.
 *
 *   for step in [start, train.steps):
 *     lr = schedule(step)
 *     sample grad_accum micro-batches of windows, each with its dropout seed
 *     the update (step.ts): loss = masked MSE / CE and grads of each micro-batch (accumulated
 *       weighted by its real steps, so they add up to one large batch's), clip by global norm,
 *       AdamW, plasticity (if enabled)
 *     every log_every: metrics row; every eval_every: validation (+ best/); every checkpoint_every: step-N/
 *
 * Every random choice comes from streams derived from `config.seed` ("split", "init", "sampler",
 * "dropout", "validation"); the streams' states travel with each checkpoint, so a resumed run
 * reproduces the uninterrupted run's loss curve exactly on the same backend.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { tf, type BackendInfo } from "../runtime/backend.js";
import { writeFileAtomic } from "../runtime/fs-atomic.js";
import type { RunContext } from "../runtime/context.js";
import { InputError, SnndtError, UsageError } from "../runtime/errors.js";
import { Rng, type RngState } from "../runtime/rng.js";
import { SNNDT_VERSION } from "../runtime/version.js";
import { episodeReturns, loadDataset, type PreparedDataset } from "../data/dataset.js";
import { extent } from "../data/summary.js";
import type { ActionSpace, Episode } from "../data/types.js";
import { allocateBatch, realStepCount, WindowSampler, type WindowBatch, type WindowSpec } from "../data/windows.js";
import { createModel, inputsFromBatch, disposeInputs, modelLabel, variantParts, ELIGIBILITY_STATE_NAME, type SequenceModel, type ModelConfig } from "../model/index.js";
import { configValueDifferences, configHash, resolvePackagePath, writeResolvedConfig, type ResolvedConfig } from "./config.js";
import {
  checkpointDir,
  intactCheckpoints,
  latestCheckpoint,
  loadCheckpoint,
  pruneCheckpoints,
  restoreOptimizer,
  restoreVariables,
  saveCheckpoint,
  trainedOn,
  type CheckpointState,
  type InitSource,
  type LoadedCheckpoint,
  type NormalisationState,
} from "./checkpoint.js";
import { MetricsWriter, type MetricsRow } from "./metrics.js";
import { RESOLVED_CONFIG_FILE, SUMMARY_JSON } from "./run-layout.js";
import { createOptimizer, NonFiniteLoss, TrainingStep, type MicroBatch, type StepOutcome } from "./step.js";
import { learningRate, scheduleFromConfig } from "./schedule.js";
import { splitOfRun } from "./split.js";
import { validate, type ValidationResult } from "./validation.js";
import { initSource, readInitRecord, readInitWeights, rereadInitWeights, saidOfInitFrom, startFromInitWeights, writeConfigWithInitRecord } from "./init-from.js";
import { yieldToEventLoop } from "../runtime/event-loop.js";
import { formatDuration } from "../runtime/progress.js";

/** Set `requested` (e.g. from a SIGINT handler) to stop after the current step with a checkpoint. */
export interface StopFlag {
  requested: boolean;
}

export interface TrainRequest {
  config: ResolvedConfig;
  runDir: string;
  /** Continue from the newest step-<N> checkpoint in runDir. */
  resume: boolean;
  context: RunContext;
  backend: BackendInfo;
  stop: StopFlag;
  /** A new run's starting weights: a run or checkpoint directory (`--init-from`); else from the seed. */
  initFrom?: string;
  /** Called with the loaded dataset before any work (the CLI checks that eval can play a model of it). */
  checkDataset?: (dataset: PreparedDataset, dataPath: string) => void;
}

export interface TrainResult {
  runDir: string;
  /** Optimizer updates applied in total (including those before a resume). */
  step: number;
  interrupted: boolean;
  finalTrainLoss: number | null;
  bestValLoss: number | null;
  bestValStep: number | null;
  lastCheckpoint: string;
  /** Wall seconds over all of the run's segments (a resumed run's earlier ones counted up to its checkpoint). */
  wallSeconds: number;
}

const RNG_STREAMS = ["sampler", "dropout"] as const;

/**
 * Beside each step checkpoint (not in it, so identical runs write byte-identical checkpoints): the
 * run's wall seconds up to it, over all its segments, so a resumed run's summary counts them all.
 */
const ELAPSED_FILE = "elapsed.json";

/** Wall seconds recorded beside a checkpoint; null when absent or unreadable (killed between the two writes). */
function elapsedAt(dir: string): number | null {
  try {
    const seconds = (JSON.parse(readFileSync(path.join(dir, ELAPSED_FILE), "utf8")) as { seconds?: unknown }).seconds;
    return typeof seconds === "number" && Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
  } catch {
    return null;
  }
}

/** A validation split of fewer episodes is warned about: one episode's quirks pick best/. */
const FEW_VALIDATION_EPISODES = 3;

/** Validation spike rates outside [SILENT_RATE, SATURATED_RATE] are warned about, once per block. */
const SILENT_RATE = 1e-3;
const SATURATED_RATE = 0.999;

/** The WASM backend's heap stops at 4 GiB. */
const WASM_HEAP_BYTES = 4 * 1024 ** 3;
/** Training keeps four float32 numbers per weight: the weight, its gradient and Adam's two moments. */
const TRAINING_BYTES_PER_WEIGHT = 16;
/**
 * Adam's update of one variable holds about five more float32 copies of it at once. Measured: a
 * plain DT with a 128M-weight timestep table (max_ep_len 1e6) fails on WASM, one with 64M trains.
 */
const UPDATE_BYTES_PER_WEIGHT = 20;

/**
 * Refuse a model whose weights and optimizer state cannot fit the WASM heap, before allocating them
 * (it would fail minutes later, as "memory access out of bounds"). Counted: the blocks' attention
 * (4 d^2) and MLP (8 d^2) matrices and a timestep table (max_ep_len x d); the rest is small.
 * Activations come on top, so a model that passes may still run out (then: a smaller batch).
 */
function checkFitsWasmHeap(model: ModelConfig): void {
  const table = variantParts(model).positionalSpikes ? 0 : model.max_ep_len * model.d_model;
  const weights = model.n_layers * 12 * model.d_model ** 2 + table;
  const largest = Math.max(table, 4 * model.d_model ** 2);
  const bytes = weights * TRAINING_BYTES_PER_WEIGHT + largest * UPDATE_BYTES_PER_WEIGHT;
  if (bytes <= WASM_HEAP_BYTES) return;
  const gb = (n: number) => (n / 1024 ** 3).toFixed(1);
  throw new UsageError(
    `the model has ${(weights / 1e6).toFixed(0)}M weights or more (model.n_layers ${model.n_layers}, model.d_model ${model.d_model}` +
      `${table ? `, model.max_ep_len ${model.max_ep_len}` : ""}); training them needs about ${gb(bytes)} GB, beyond the ` +
      `${gb(WASM_HEAP_BYTES)} GB heap of the WASM backend. Make the model smaller, or train with tfjs-node (snndt doctor).`,
  );
}

/** The run's window spec: everything eval needs to build the same windows. */
export function windowSpecOf(norm: NormalisationState): WindowSpec {
  return {
    context: norm.context,
    obsDim: norm.obsDim,
    actionSpace: norm.actionSpace,
    rtgScale: norm.rtgScale,
    stateStats: { mean: norm.stateMean, std: norm.stateStd },
    maxEpLen: norm.maxEpLen,
  };
}

/** The model config implied by a run config and the dataset's shapes. */
export function modelConfigOf(config: ResolvedConfig, dataset: Pick<PreparedDataset, "obsDim" | "actionSpace">): ModelConfig {
  return { ...config.model, obs_dim: dataset.obsDim, action_space: dataset.actionSpace };
}

/** Refuse a resume whose dataset or config no longer matches the checkpoint. */
function checkResumeCompatible(state: CheckpointState, config: ResolvedConfig, dataset: PreparedDataset, dir: string, runDir: string): void {
  // The backend may change on resume (results then match only to float rounding), and the data may
  // have moved (its episodes' hash, checked below, says whether it is the same data); nothing else may.
  const current = { ...config, backend: state.config.backend, data: { ...config.data, path: state.config.data.path } };
  const now = configHash(current);
  if (state.configHash !== now) {
    // --resume reads the run's saved config: it was edited or damaged, or resolved by another snndt
    // version (new keys get defaults).
    const differences = configValueDifferences(state.config, current);
    const listed = differences.slice(0, 5).map((d) => `${d.key} ${d.a ?? "(absent)"} in the checkpoint, ${d.b ?? "(absent)"} in the file`);
    const more = differences.length > 5 ? `; and ${differences.length - 5} more` : "";
    const what = differences.length ? `: ${listed.join("; ")}${more}` : ` (config hash ${state.configHash.slice(0, 12)}, the file's ${now.slice(0, 12)})`;
    throw new InputError(
      `${dir} was trained with another configuration than ${path.join(runDir, RESOLVED_CONFIG_FILE)} now holds${what}. ` +
        "--resume continues a run with that file: restore it (if it was edited, or resolved by another snndt version), or start a new run with --out.",
    );
  }
  if (!trainedOn(state, dataset)) {
    const [recorded, found] =
      state.datasetEpisodesHash !== undefined ? [state.datasetEpisodesHash, dataset.episodesSha256] : [state.datasetManifestHash, dataset.manifest.sha256];
    throw new InputError(`${dir} was trained on another dataset (hash ${recorded.slice(0, 12)}, ${config.data.path} has ${found.slice(0, 12)}).`);
  }
  // The same episodes prepared with another declared action space: the head would be rescaled under trained weights.
  const [trainedSpace, dataSpace] = [state.normalisation.actionSpace, dataset.actionSpace];
  if (JSON.stringify(trainedSpace) !== JSON.stringify(dataSpace)) {
    const text = (space: ActionSpace) => (space.kind === "discrete" ? `discrete, n = ${space.n}` : `continuous, low [${space.low.join(", ")}], high [${space.high.join(", ")}]`);
    throw new InputError(
      `${dir} was trained with the action space ${text(trainedSpace)}, but ${config.data.path} has ${text(dataSpace)} (prepared with another declaration?); ` +
        "resume with the data as it was trained on, or start a new run.",
    );
  }
}

/** A dataset whose shapes disagree with the configured model is refused before any work. */
function checkDatasetFitsConfig(dataset: PreparedDataset, config: ResolvedConfig, dataPath: string): void {
  const longest = dataset.episodes.reduce((m, ep) => Math.max(m, ep.length), 0);
  if (longest > config.model.max_ep_len) {
    throw new InputError(
      `${dataPath} has an episode of ${longest} steps but model.max_ep_len is ${config.model.max_ep_len}; ` +
        `set model.max_ep_len to at least ${longest} (snndt never clips timesteps).`,
    );
  }
  if (dataset.episodes.length < 2 && config.data.val_fraction > 0) {
    throw new InputError(`${dataPath} has ${dataset.episodes.length} episode(s); holding out data.val_fraction = ${config.data.val_fraction} needs at least 2.`);
  }
}

/**
 * Returns-to-go enter the model divided by data.rtg_scale, at about the order of 1 when the scale is
 * near the data's largest return; a scale off by orders of magnitude (another environment's config,
 * rewards in other units) trains on inputs the embeddings were not initialised for.
 */
function warnOfRtgScale(returns: { min: number; max: number }, rtgScale: number, dataPath: string, logger: RunContext["logger"]): void {
  const largest = Math.max(Math.abs(returns.min), Math.abs(returns.max));
  const scaled = largest / rtgScale;
  if (largest === 0 || (scaled <= 10 && scaled >= 0.1)) return;
  logger.warn(
    `${dataPath}'s episode returns reach ${Number(largest.toPrecision(3))} in size, ${Number(scaled.toPrecision(3))} times data.rtg_scale (${rtgScale}): ` +
      `returns-to-go would enter the model ${scaled > 10 ? "far above" : "far below"} the order of 1; set data.rtg_scale near the largest return (--set data.rtg_scale=${Number(largest.toPrecision(1))}).`,
  );
}

/** How to go on training a finished run: a new run from its weights, with its config. */
function trainFurther(runDir: string): string {
  return (
    `To train it further, start a new run from its weights and config: snndt train --init-from ${runDir} --set train.steps=<n> ` +
    "(its learning rate warms up and decays again)."
  );
}

/** The checkpoint a run resumes from; a damaged one is refused with the way to the one before it. */
async function loadResumeCheckpoint(dir: string, runDir: string): Promise<LoadedCheckpoint> {
  return loadCheckpoint(dir).catch(async (err: unknown) => {
    // Resuming from the newest intact checkpoint before it is the user's choice, so say how.
    const older = (await intactCheckpoints(runDir)).find(({ dir: other }) => other !== dir);
    if (!(err instanceof InputError) || !older) throw err;
    throw new InputError(`${err.message} To resume from ${older.dir} (step ${older.step}), the newest checkpoint before it, move ${dir} out of ${path.dirname(dir)} and run --resume again.`);
  });
}

/** A finished run has nothing to resume; said before its dataset is loaded, which may take a while. */
function refuseFinishedRun(runDir: string, config: ResolvedConfig, newest: { step: number } | undefined): void {
  if (!existsSync(path.join(runDir, SUMMARY_JSON))) return;
  if (newest === undefined) {
    throw new InputError(`${runDir} finished (it has ${SUMMARY_JSON}) and keeps no step checkpoint to resume from; to train it again, start a new run. ${trainFurther(runDir)}`);
  }
  if (newest.step >= config.train.steps) {
    throw new InputError(
      `${runDir} finished: its last checkpoint is at step ${newest.step} of ${config.train.steps} (train.steps) and it has ${SUMMARY_JSON}; nothing to resume. ${trainFurther(runDir)}`,
    );
  }
}

/** Run (or resume) training; returns when done or when `stop.requested` was honoured. */
export async function runTraining(request: TrainRequest): Promise<TrainResult> {
  const { config, runDir, context, stop } = request;
  const { logger } = context;
  const started = Date.now();
  // The newest intact checkpoint, where a resumed run goes on from.
  const resumeFrom = request.resume ? (await intactCheckpoints(runDir))[0] : undefined;
  if (request.resume) refuseFinishedRun(runDir, config, resumeFrom);
  // Another run's weights to start from: a new run's --init-from, or those a run records that starts
  // over (no checkpoint yet). A run resumed from a checkpoint has its weights and their source there.
  const initRecord = request.resume && !resumeFrom ? readInitRecord(runDir) : undefined;
  const init =
    request.initFrom !== undefined
      ? await readInitWeights(request.initFrom).catch(saidOfInitFrom)
      : initRecord && (await rereadInitWeights(initRecord, runDir));
  const dataPath = resolvePackagePath(config.data.path);
  if (request.resume && !existsSync(dataPath)) {
    throw new InputError(`${dataPath}, the data ${runDir} was trained on, is not there; if it moved, resume with --resume ${runDir} --data <where it is now>.`);
  }
  logger.info({ data: dataPath }, "loading dataset");
  const dataset = await loadDataset(dataPath, { progress: context.progress, warn: (message) => logger.warn(message) });
  // Whether eval.env can play this data first: data of another environment fails that check, and
  // its other misfits (max_ep_len) would send the user the wrong way.
  request.checkDataset?.(dataset, dataPath);
  checkDatasetFitsConfig(dataset, config, dataPath);
  const resumed = resumeFrom && (await loadResumeCheckpoint(resumeFrom.dir, runDir));
  if (resumed) checkResumeCompatible(resumed.state, config, dataset, resumed.dir, runDir);

  const split = splitOfRun(config, dataset.episodes.length);
  const trainEpisodes: Episode[] = split.train.map((i) => dataset.episodes[i]!);
  const valEpisodes: Episode[] = split.val.map((i) => dataset.episodes[i]!);
  // Weights from another run were trained on states normalised by its statistics (init-from.ts); a
  // resumed run keeps those it began with.
  const stateStats = resumed
    ? { mean: resumed.state.normalisation.stateMean, std: resumed.state.normalisation.stateStd }
    : (init?.record.stateStats ?? dataset.stateStats);
  const initFrom: InitSource | undefined = resumed ? resumed.state.initFrom : init && initSource(init.record);
  const normalisation: NormalisationState = {
    stateMean: stateStats.mean,
    stateStd: stateStats.std,
    rtgScale: config.data.rtg_scale,
    context: config.model.context,
    maxEpLen: config.model.max_ep_len,
    actionSpace: dataset.actionSpace,
    obsDim: dataset.obsDim,
  };
  const spec = windowSpecOf(normalisation);
  const sampler = new WindowSampler(trainEpisodes, spec);
  logger.info(
    { episodes: dataset.episodes.length, train: trainEpisodes.length, val: valEpisodes.length, trainSteps: sampler.totalSteps },
    "split episodes (seeded): windows end at a uniformly drawn step, so episodes are weighted by length",
  );
  if (valEpisodes.length > 0 && valEpisodes.length < FEW_VALIDATION_EPISODES) {
    // best/ is chosen, and eval's held-out scores are measured, on these episodes alone.
    logger.warn(
      `validation holds ${valEpisodes.length} of ${dataset.episodes.length} episodes (data.val_fraction ${config.data.val_fraction}): the best/ checkpoint and eval's ` +
        `held-out scores rest on ${valEpisodes.length === 1 ? "it" : "them"} alone. Raise data.val_fraction for a steadier choice, or set it to 0 to train on every episode (eval then takes the last checkpoint).`,
    );
  }
  if (trainEpisodes.length < valEpisodes.length) {
    // A small dataset rounds a middling fraction up to most of it (0.5 of 3 episodes holds out 2).
    logger.warn(
      `training on ${trainEpisodes.length} of ${dataset.episodes.length} episodes: data.val_fraction ${config.data.val_fraction} holds out ${valEpisodes.length}; ` +
        "lower it (or 0 to train on all, without validation) to train on more.",
    );
  }

  const modelConfig = modelConfigOf(config, dataset);
  if (request.backend.name === "wasm") checkFitsWasmHeap(modelConfig);
  if (config.train.warmup_steps > config.train.steps) {
    logger.warn(
      `train.warmup_steps (${config.train.warmup_steps}) exceeds train.steps (${config.train.steps}): the learning rate ` +
        `never reaches train.lr and never decays; lower train.warmup_steps for a run this short.`,
    );
  }
  const model = createModel(modelConfig, config.seed);
  if (init) {
    for (const warning of startFromInitWeights(model, init, { config, modelConfig, dataPath, dataset, valEpisodes: split.val })) logger.warn(warning);
    logger.info({ checkpoint: init.record.checkpoint, step: init.record.step }, "starting from the weights and state statistics of another run's checkpoint");
  }
  const optimizer = createOptimizer(model, config.train);
  const rngs: Record<(typeof RNG_STREAMS)[number], Rng> = {
    sampler: Rng.derive(config.seed, "sampler"),
    dropout: Rng.derive(config.seed, "dropout"),
  };
  const valBatches = buildValidationBatches(valEpisodes, spec, config);
  const hash = configHash(config);
  const datasetHash = dataset.manifest.sha256;
  const datasetReturns = extent(episodeReturns(dataset.episodes));
  if (!request.resume) warnOfRtgScale(datasetReturns, config.data.rtg_scale, dataPath, logger);

  let step = 0;
  let bestValLoss: number | null = null;
  let bestValStep: number | null = null;
  /** Blocks whose spike rate was warned about (once each). */
  const warnedRates = new Set<string>();
  let lossWindow = { sum: 0, count: 0 };
  /** The train loss of the last step taken (the summary's finalTrainLoss). */
  let lastLoss: number | null = null;
  /** Wall seconds of the run's earlier segments (resume). */
  let earlierSeconds = 0;
  // A new run's config comes first: a directory with metrics but no config could be neither resumed nor
  // reused. The record of its starting weights comes with it, in one step.
  if (!request.resume) await (init ? writeConfigWithInitRecord(runDir, config, init.record) : writeResolvedConfig(runDir, config));
  const metrics = await MetricsWriter.open(runDir, { spikeLayers: spikingLayerNames(modelConfig) });
  // A run directory moved or removed while training would otherwise be made again piecemeal by the
  // next write, the run split in two. Told by its config, written first (not by the directory's
  // inode, which a FUSE mount may change at any time).
  const checkRunDirectory = (): void => {
    if (existsSync(path.join(runDir, RESOLVED_CONFIG_FILE))) return;
    throw new InputError(
      `${runDir} was moved or removed while the run trained (found at step ${step}); nothing more was written. ` +
        `If it was moved, move it back and continue with --resume ${runDir}.`,
    );
  };
  if (request.resume && !resumeFrom) {
    // Stopped before its first checkpoint: nothing to restore, and every random choice comes from
    // the seed, so starting over from step 0 makes the same run.
    logger.warn({ runDir }, "no checkpoint yet: starting the run over from step 0 with its saved config");
    await metrics.truncateAfter(0);
  } else if (resumed) {
    const { dir } = resumed;
    if (config.data.path !== resumed.state.config.data.path) {
      // The same episodes at a new place (--data): the run's config names it from now on.
      await writeResolvedConfig(runDir, config);
      logger.info({ from: resumed.state.config.data.path, to: config.data.path }, `the run's data moved: ${RESOLVED_CONFIG_FILE} now names its new place`);
    }
    restoreVariables(model, resumed.weights, dir);
    restoreOptimizer(model, optimizer, resumed.optimizer);
    for (const name of RNG_STREAMS) {
      const saved = resumed.state.rng[name];
      if (!saved) throw new InputError(`${dir}/state.json has no RNG state for "${name}"`);
      rngs[name].setState(saved as RngState);
    }
    restorePlasticity(model, resumed.state.trainer.plasticity, dir);
    step = resumed.state.step;
    bestValLoss = resumed.state.bestValLoss;
    bestValStep = resumed.state.trainer.bestValStep;
    lossWindow = { ...resumed.state.trainer.lossWindow };
    lastLoss = resumed.state.trainer.lastStepLoss ?? null;
    if (resumed.state.trainer.lastStepLoss === undefined && step >= config.train.steps) {
      logger.warn({ checkpoint: dir }, "checkpoint from before the step's loss was kept: the summary's finalTrainLoss will be null");
    }
    const elapsed = elapsedAt(dir);
    if (elapsed === null) logger.warn({ checkpoint: dir }, `no readable ${ELAPSED_FILE} beside the checkpoint: the summary's wallSeconds will count this segment only`);
    earlierSeconds = elapsed ?? 0;
    await metrics.truncateAfter(step);
    logger.info({ checkpoint: dir, step }, "resumed");
  }

  const checkpointState = async (): Promise<Omit<CheckpointState, "formatVersion">> => ({
    step,
    epoch: epochOf(step),
    rng: Object.fromEntries(RNG_STREAMS.map((name) => [name, rngs[name].getState()])),
    bestValLoss,
    config,
    configHash: hash,
    datasetManifestHash: datasetHash,
    datasetEpisodesHash: dataset.episodesSha256,
    datasetReturns,
    normalisation,
    model: { kind: config.model.kind, variant: modelLabel(config.model) },
    snndtVersion: SNNDT_VERSION,
    backend: request.backend.name,
    trainer: { lossWindow: { ...lossWindow }, bestValStep, plasticity: await plasticitySnapshot(model), lastStepLoss: lastLoss },
    ...(initFrom && { initFrom }),
  });
  const samplesPerStep = config.train.batch_size * config.train.grad_accum;
  function epochOf(s: number): number {
    return (s * samplesPerStep) / sampler.totalSteps;
  }
  let lastCheckpoint = "";
  const onSchedule = (s: number): boolean => s % config.train.checkpoint_every === 0 || s === config.train.steps;
  const saveStep = async (): Promise<void> => {
    checkRunDirectory();
    const dir = checkpointDir(runDir, step);
    await saveCheckpoint(dir, { parameters: model, optimizer, state: await checkpointState() });
    await writeFileAtomic(path.join(dir, ELAPSED_FILE), JSON.stringify({ seconds: earlierSeconds + (Date.now() - started) / 1000 }) + "\n");
    const removed = await pruneCheckpoints(runDir, config.train.keep_last, onSchedule);
    lastCheckpoint = dir;
    logger.info({ checkpoint: dir, step, pruned: removed.length }, "checkpoint saved");
  };

  const schedule = scheduleFromConfig(config.train);
  const batch = allocateBatch(config.train.batch_size, spec);
  const trainingStep = new TrainingStep(model, optimizer, dataset.actionSpace, config.train.grad_clip);
  const tokensPerStep = samplesPerStep * 3 * config.model.context;
  const bar = context.progress.start("train", config.train.steps, {
    logsItself: true,
    format: "train [{bar}] {value}/{total} loss {loss} val {val} {rate} steps/s eta {eta_formatted}",
    fields: { loss: "-", val: "-", rate: "-" },
  });
  bar.update(step);
  let timerStart = Date.now();
  let timerSteps = 0;
  let interrupted = false;

  try {
    while (step < config.train.steps) {
      const lr = learningRate(step, schedule);
      // Every micro-batch's inputs, kept until the step ends: plasticity sees the whole step's batch.
      const microBatches: MicroBatch[] = [];
      const episodesOf: Int32Array[] = [];
      let outcome: StepOutcome;
      try {
        for (let micro = 0; micro < config.train.grad_accum; micro++) {
          episodesOf.push(sampler.sample(batch, rngs.sampler));
          const dropoutSeed = rngs.dropout.nextUint32();
          microBatches.push({ inputs: inputsFromBatch(batch), realSteps: realStepCount(batch), dropoutSeed });
        }
        outcome = await trainingStep.apply(microBatches, lr);
      } catch (err) {
        if (!(err instanceof NonFiniteLoss)) throw err;
        const ids = [...new Set(Array.from(episodesOf[err.microBatch]!, (i) => split.train[i]!))].sort((a, b) => a - b);
        throw new SnndtError(
          `the training loss became ${err.loss} at step ${step + 1} (micro-batch ${err.microBatch + 1}); the batch held windows of dataset ` +
            `episodes ${ids.join(", ")}. Training stopped; the last good checkpoint is ${lastCheckpoint || "(none yet)"}. ` +
            "Try a lower train.lr, a tighter train.grad_clip, or check those episodes for extreme values.",
        );
      } finally {
        microBatches.forEach(({ inputs }) => disposeInputs(inputs));
      }
      const { loss: stepLoss, gradNorm } = outcome;
      step += 1;
      timerSteps += 1;
      lossWindow.sum += stepLoss;
      lossWindow.count += 1;
      lastLoss = stepLoss;

      const logNow = step % config.train.log_every === 0 || step === config.train.steps;
      const evalNow = valBatches.length > 0 && (step % config.train.eval_every === 0 || step === config.train.steps);
      let validation: ValidationResult | undefined;
      if (evalNow) {
        validation = validate(model, valBatches, dataset.actionSpace);
        if (bestValLoss === null || validation.loss < bestValLoss) {
          bestValLoss = validation.loss;
          bestValStep = step;
          checkRunDirectory();
          await saveCheckpoint(checkpointDir(runDir, "best"), { parameters: model, optimizer, state: await checkpointState() });
          logger.info({ step, valLoss: validation.loss }, "new best validation loss: checkpoints/best updated");
        }
        logger.info(
          { step, valLoss: validation.loss, valAccuracy: validation.accuracy, spikeRate: validation.spikeRates },
          "validation",
        );
        for (const [block, rate] of Object.entries(validation.spikeRates)) {
          const state = rate < SILENT_RATE ? "almost silent" : rate > SATURATED_RATE ? "firing almost always" : null;
          if (state === null || warnedRates.has(block)) continue;
          warnedRates.add(block);
          logger.warn(
            { step, block, spikeRate: rate },
            `${block}'s neurons are ${state} (${rate.toPrecision(2)} spikes per neuron per step), so its spikes carry little; ` +
              "check model.lif (v_th, v_rest, c_m, current_scale, tau_m).",
          );
        }
      }
      if (logNow || evalNow) {
        const seconds = (Date.now() - timerStart) / 1000;
        const stepsPerSecond = timerSteps / Math.max(seconds, 1e-9);
        const row: MetricsRow = {
          step,
          epoch: epochOf(step),
          train_loss: lossWindow.count > 0 ? lossWindow.sum / lossWindow.count : null,
          lr,
          grad_norm: (await gradNorm.data())[0]!,
          steps_per_s: stepsPerSecond,
          tokens_per_s: stepsPerSecond * tokensPerStep,
        };
        if (validation) {
          row.val_loss = validation.loss;
          row.val_accuracy = validation.accuracy;
          row.spike_rate = validation.spikeRates;
        }
        checkRunDirectory();
        metrics.append(row);
        // No bar (no terminal: CI, nohup, a pipe): each metrics row is a log line, so long training shows progress.
        const secondsLeft = (config.train.steps - step) / Math.max(stepsPerSecond, 1e-9);
        context.barLogger.info(
          {
            step,
            of: config.train.steps,
            trainLoss: row.train_loss == null ? null : Number(row.train_loss.toPrecision(5)),
            stepsPerSecond: Number(stepsPerSecond.toPrecision(3)),
            timeLeft: formatDuration(secondsLeft),
          },
          "training",
        );
        bar.update(step, {
          loss: (row.train_loss ?? NaN).toFixed(4),
          val: validation ? validation.loss.toFixed(4) : "-",
          rate: stepsPerSecond.toFixed(2),
        });
        lossWindow = { sum: 0, count: 0 };
        timerStart = Date.now();
        timerSteps = 0;
      } else {
        bar.update(step);
      }
      gradNorm.dispose();
      if (onSchedule(step)) await saveStep();
      // A step awaits only promises the WASM backend settles at once, so a SIGINT/SIGTERM handler
      // would otherwise run only at the next file write; one macrotask turn lets it set the flag.
      await yieldToEventLoop();
      if (stop.requested && step < config.train.steps) {
        interrupted = true;
        if (lastCheckpoint !== checkpointDir(runDir, step)) await saveStep();
        logger.warn({ step, checkpoint: lastCheckpoint }, "interrupted: checkpoint written; continue with --resume");
        break;
      }
    }
  } finally {
    bar.stop();
  }

  const result: TrainResult = {
    runDir,
    step,
    interrupted,
    finalTrainLoss: lastLoss,
    bestValLoss,
    bestValStep,
    lastCheckpoint: lastCheckpoint || ((await latestCheckpoint(runDir)) ?? ""),
    wallSeconds: earlierSeconds + (Date.now() - started) / 1000,
  };
  if (!interrupted) {
    checkRunDirectory();
    await metrics.writeSummary({
      ...result,
      configHash: hash,
      datasetManifestHash: datasetHash,
      backend: request.backend,
      model: { kind: config.model.kind, variant: modelLabel(config.model), parameters: countParameters(model) },
      dataset: { path: dataPath, episodes: dataset.episodes.length, trainEpisodes: trainEpisodes.length, valEpisodes: valEpisodes.length },
      ...(initFrom && { initFrom }),
      snndtVersion: SNNDT_VERSION,
    });
  }
  trainingStep.dispose();
  optimizer.dispose();
  model.dispose();
  return result;
}

/** Names of the spiking layers whose firing rates are logged ("block0", ...); none for the plain DT. */
export function spikingLayerNames(config: ModelConfig): string[] {
  return config.kind === "dt" ? [] : Array.from({ length: config.n_layers }, (_, i) => `block${i}`);
}

async function plasticitySnapshot(model: SequenceModel): Promise<CheckpointState["trainer"]["plasticity"]> {
  const trace = model.plasticityState;
  if (!trace) return null;
  return { [ELIGIBILITY_STATE_NAME]: { shape: [...trace.shape], data: Array.from(await trace.data()) } };
}

function restorePlasticity(model: SequenceModel, saved: CheckpointState["trainer"]["plasticity"], dir: string): void {
  const trace = model.plasticityState;
  if (!trace) return;
  // Checkpoints written before the stable key hold the one trace under tfjs's automatic name ("0").
  const legacy = saved && Object.keys(saved).length === 1 ? Object.values(saved)[0] : undefined;
  const entry = saved?.[ELIGIBILITY_STATE_NAME] ?? legacy;
  if (!entry || entry.shape.join(",") !== trace.shape.join(",")) {
    throw new InputError(`${dir}/state.json has no plasticity trace of shape [${trace.shape}] for "${ELIGIBILITY_STATE_NAME}", but this model uses plasticity`);
  }
  tf.tidy(() => trace.assign(tf.tensor(entry.data, trace.shape, "float32")));
}

function countParameters(model: SequenceModel): number {
  return model.variables.reduce((n, v) => n + v.size, 0);
}

/** Fixed validation windows, drawn once from their own seeded stream so every validation sees the same data. */
function buildValidationBatches(valEpisodes: Episode[], spec: WindowSpec, config: ResolvedConfig): WindowBatch[] {
  if (valEpisodes.length === 0) return [];
  const sampler = new WindowSampler(valEpisodes, spec);
  const rng = Rng.derive(config.seed, "validation");
  return Array.from({ length: config.train.val_batches }, () => {
    const batch = allocateBatch(config.train.batch_size, spec);
    sampler.sample(batch, rng);
    return batch;
  });
}
