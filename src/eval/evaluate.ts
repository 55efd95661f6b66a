/**
 * `snndt eval`: load a checkpoint and measure it — returns in an environment (per target return),
 * offline action quality on held-out data, spikes per decision, an energy estimate beside a plain
 * DT of the same size, and decision latency. The result is one plain object (eval.json).
 */
import { existsSync } from "node:fs";
import { join, sep } from "node:path";
import { tf, type BackendInfo } from "../runtime/backend.js";
import type { RunContext } from "../runtime/context.js";
import { InputError, SnndtError, UsageError } from "../runtime/errors.js";
import { SNNDT_VERSION } from "../runtime/version.js";
import { episodeReturns, episodesSha256, loadDataset, returnSupport, type ReturnSupport } from "../data/dataset.js";
import type { ActionSpace, Episode } from "../data/types.js";
import { collectedByMetadata, type CollectedBy } from "../data/raw.js";
import { EpisodeHistory } from "../data/windows.js";
import { createModel, disposeInputs, inputsFromBatch, modelLabel, SPIKE_KINDS, type SpikeKind } from "../model/index.js";
import { firingRate } from "../model/populations.js";
import { configHash, loadConfig, resolvePackagePath } from "../train/config.js";
import { splitOfRun } from "../train/split.js";
import { checkpointDir, trainedOn, type InitSource } from "../train/checkpoint.js";
import { EVAL_METHOD_VERSION, REFERENCE_GIVEN } from "./method.js";
import { ENV_IDS, makeEnv, type Environment } from "./envs/index.js";
import { spawnExternalEnv, type AsyncEnvironment } from "./external-env.js";
import { DEFAULT_ENERGY, energyOf, type EnergyConstants } from "./energy.js";
import { offlineActionQuality, replayDecisions, type OfflineQuality } from "./offline.js";
import { referenceReturns } from "./policies/index.js";
import { actionBoxWarnings, checkCompatible, checkDataCompatible, isSpiking, loadPolicy, type LoadedPolicy } from "./policy.js";
import { decisionLatency, rollouts, type EpisodeOutcome, type RolloutEnvironment, type SpikeTally } from "./rollout.js";
import { checkTrajectorySize, TrajectoryRecorder } from "./trajectories.js";
import { CHECKPOINTS_DIR, RESOLVED_CONFIG_FILE, SUMMARY_JSON, TRAJECTORIES_FILE } from "../train/run-layout.js";
import { runTrainer, stillTraining } from "../runtime/run-lock.js";
import { extent } from "../data/summary.js";

/** Batch-1 decisions timed for latency. */
export const DEFAULT_LATENCY_DECISIONS = 200;
/** Spike statistics on one decision in this many: a counted decision also runs the full window (~4.5x a decision). */
export const DEFAULT_STATS_EVERY = 10;

export interface EvalRequest {
  /** Run directory or checkpoint directory. */
  target: string;
  /** Built-in environment id (default: the run's eval.env). */
  env?: string;
  /** External environment command speaking docs/env-protocol.md (instead of a built-in env). */
  envCmd?: string;
  envTimeoutMs?: number;
  /** Episodes per target return (default: the run's eval.episodes). */
  episodes?: number;
  /** Target returns (default: the run's eval.target_returns, else the dataset's best return). */
  targets?: number[];
  /** Evaluation seeds (default: the run's eval.seeds). */
  seeds?: number[];
  /** Returns that score 0 and 100 (default: the built-in environment's reference policies'). */
  reference?: { random: number; expert: number };
  /**
   * Dataset for offline action quality, the default target (its best return) and the targets' data
   * support (default: the run's own; offline quality on its held-out episodes).
   */
  data?: string;
  energy?: EnergyConstants;
  /** Decisions timed for latency (batch 1, no spike accounting); default DEFAULT_LATENCY_DECISIONS. */
  latencyDecisions?: number;
  /** Spikes and operations are counted on decisions 0, n, 2n, ... of each episode; default DEFAULT_STATS_EVERY. */
  statsEvery?: number;
  /**
   * No environment: measure on held-out data only (action quality, and spikes, energy and latency of
   * decisions replayed from the data). For runs of a task snndt cannot simulate.
   */
  offline?: boolean;
  /** Keep every step of the episodes played, for trajectories.arrow (src/eval/trajectories.ts). */
  trajectories?: boolean;
  backend: BackendInfo;
  context: RunContext;
}

export interface Summary {
  mean: number;
  std: number;
  min: number;
  max: number;
}

export interface TargetResult {
  target: number;
  episodes: number;
  returns: Summary;
  /** D4RL-style 100 * (R - random) / (expert - random); null without reference returns. */
  normalised: Summary | null;
  lengths: Summary;
  /**
   * How many episodes of the dataset eval read (`dataset`: the run's own, training and held-out
   * episodes alike, or --data) reached at least this return: a target that few or no episodes reach
   * asks the model to extrapolate (docs/results-findings.md shows what that did on MountainCar-v0).
   * Null when no dataset could be read; absent from eval.json files written before snndt counted it.
   */
  dataSupport?: (ReturnSupport & { dataset: string }) | null;
}

export interface LayerSpikes {
  layer: number;
  /** Mean spikes per decision by kind. */
  spikes: Record<SpikeKind, number>;
  total: number;
  /** Spikes per neuron per simulation step. */
  firingRate: number;
}

export interface EvalResult {
  snndtVersion: string;
  /** EVAL_METHOD_VERSION of the snndt that made it; absent in eval.json made before the field (method 1). */
  methodVersion?: number;
  createdAt: string;
  checkpoint: string;
  /** The optimizer step the checkpoint was taken at, and the steps its run was configured for. */
  checkpointStep: { step: number; of: number };
  /** The checkpoint whose weights the run started from (`train --init-from`); absent for a run started from its seed. */
  initFrom?: InitSource;
  runDir: string;
  configHash: string;
  model: { kind: string; variant: string; parameters: number; dModel: number; nLayers: number; nHeads: number; context: number; T: number };
  backend: { name: string; reason: string };
  /** Null for an offline evaluation (no environment; no returns, targets or episodes). */
  /** maxEpisodeSteps: the environment's episode limit (absent in eval.json files written before it was recorded). */
  env: { id: string; external: boolean; command?: string; maxEpisodeSteps?: number } | null;
  settings: { episodesPerTarget: number; seeds: number[]; targets: number[]; targetSource: string; latencyDecisions: number; statsEvery: number; energy: EnergyConstants };
  partial: { reason: string } | null;
  reference: { random: number; expert: number; source: string } | null;
  targets: TargetResult[];
  episodes: EpisodeOutcome[];
  /**
   * `episodeIndices`: the dataset episodes (0-based indices) that had a window measured; with more
   * steps than windows, evenly spaced windows skip some episodes. Absent from eval.json files written
   * before snndt recorded it. `datasetEpisodesHash`: the hash of the dataset's episodes those indices
   * count in (the same for a raw file and its prepared copy); absent from older eval.json files.
   */
  offline: (OfflineQuality & { source: string; episodeIndices?: number[]; datasetEpisodesHash?: string }) | null;
  /** `thinnedFrom` (offline only, when set): the counted decisions were thinned evenly from this many. */
  spikes: { decisions: number; perDecision: number; byLayer: LayerSpikes[]; firingRate: number; thinnedFrom?: number } | null;
  energy: {
    constants: EnergyConstants;
    model: { synapticOps: number; macs: number; nanojoules: number };
    dtSameSize: { macs: number; nanojoules: number };
    /** model energy / plain DT energy. */
    ratioToDt: number;
    assumptions: string;
  };
  /** `failure`: why no decision was timed when the environment failed during the timing (the episodes are complete). */
  latencyMs: { median: number; p95: number; mean: number; decisions: number; failure: string | null };
  /** Wall-clock seconds the whole evaluation took (rollouts or the offline replay, offline quality, latency). */
  wallSeconds: number;
  /** The per-step file of the episodes, beside eval.json (`eval --trajectories`); absent or null without one. */
  trajectories?: { file: string; episodes: number; steps: number } | null;
}

/** An evaluation's result and, with `trajectories`, the bytes of trajectories.arrow. */
export interface Evaluation {
  result: EvalResult;
  trajectories: Uint8Array | null;
}

export function summarise(values: number[]): Summary {
  if (values.length === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(variance), ...extent(values) };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export const ENERGY_ASSUMPTIONS =
  "SNN: synaptic operations (spikes x fan-out) x E_AC + float multiply-accumulates (embeddings, projections of float inputs, attention on rates, head) x E_MAC; " +
  "plain DT of the same d_model/layers/heads/K: all multiply-accumulates x E_MAC. 45 nm figures (Horowitz 2014); arithmetic only, memory traffic not counted.";

interface OpenedEnvironments {
  /** Spaces and id, for the compatibility check. */
  describe: Pick<Environment, "id" | "observationSpace" | "actionSpace" | "maxEpisodeSteps">;
  /** A fresh environment (one per evaluation seed, so each seed's episodes form one stream). */
  make: () => Promise<RolloutEnvironment>;
  /** Close one environment from make() now (an external child exits), instead of at closeAll(). */
  release: (env: RolloutEnvironment) => Promise<void>;
  closeAll: () => Promise<void>;
}

async function openEnv(request: EvalRequest, envId: string): Promise<OpenedEnvironments> {
  const command = request.envCmd;
  if (command === undefined) {
    return { describe: makeEnv(envId), make: async () => makeEnv(envId), release: async () => {}, closeAll: async () => {} };
  }
  const opened: AsyncEnvironment[] = [];
  const spawnOne = async () => {
    const env = await spawnExternalEnv(command, { timeoutMs: request.envTimeoutMs });
    opened.push(env);
    return env;
  };
  // The first child answers the spec question and then serves the first seed.
  let probe: AsyncEnvironment | undefined = await spawnOne();
  const describe = probe;
  return {
    describe,
    make: async () => {
      const env = probe ?? (await spawnOne());
      probe = undefined;
      return env;
    },
    release: async (env) => {
      const index = opened.findIndex((e) => e === env);
      if (index < 0) return;
      const [child] = opened.splice(index, 1);
      await child!.close();
    },
    closeAll: async () => {
      await Promise.all(opened.map((env) => env.close()));
    },
  };
}

/** Episodes measured offline, with their indices in the dataset they came from. */
interface HeldOut {
  indices: number[];
  episodes: Episode[];
  /** The episodes hash of the dataset `indices` count in. */
  datasetEpisodesHash: string;
}

/**
 * Where the run's dataset is: the checkpoint's data.path, else, when nothing is there, that of the
 * run's config.resolved.yaml, which `train --resume --data` rewrites when the data has moved (a
 * checkpoint written before the move keeps the old path). `moved` marks the second; only a checkpoint
 * in its run's checkpoints/ looks there.
 */
function runDataPath(policy: LoadedPolicy): { path: string; moved: boolean } {
  const recorded = resolvePackagePath(policy.state.config.data.path);
  const inRun = policy.checkpoint.startsWith(join(policy.runDir, CHECKPOINTS_DIR) + sep);
  if (existsSync(recorded) || !inRun) return { path: recorded, moved: false };
  try {
    const current = resolvePackagePath(loadConfig({ configPath: join(policy.runDir, RESOLVED_CONFIG_FILE) }).data.path);
    return existsSync(current) ? { path: current, moved: true } : { path: recorded, moved: false };
  } catch (err) {
    if (err instanceof SnndtError) return { path: recorded, moved: false }; // no readable config beside the checkpoint
    throw err;
  }
}

/** Best episode return in the run's dataset, and the dataset's held-out episodes. */
async function runDataset(
  policy: LoadedPolicy,
  request: EvalRequest,
): Promise<{ returns: number[] | null; longestEpisode?: number; path: string; heldOut: HeldOut | null; source: string; collectedBy?: CollectedBy }> {
  const config = policy.state.config;
  const { path: own, moved } = runDataPath(policy);
  const path = request.data ? resolvePackagePath(request.data) : own;
  const notFound = (where: string) => ({ returns: null, path: where, heldOut: null, source: `${where} (not found)` });
  if (!existsSync(path)) {
    if (request.data) throw new InputError(`--data ${request.data}: no such file or directory.`);
    return notFound(own);
  }
  const dataset = await loadDataset(path, { progress: request.context.progress, warn: (message) => request.context.logger.warn(message) });
  // The run's config names a new place, but what is there is not the run's data: its data stays missing.
  if (moved && !request.data && !trainedOn(policy.state, dataset)) return notFound(resolvePackagePath(config.data.path));
  checkDataCompatible(policy.spec, { obsDim: dataset.obsDim, actionSpace: dataset.actionSpace, longestEpisode: dataset.manifest.lengths.max }, path, policy.checkpoint);
  const returns = episodeReturns(dataset.episodes);
  const collectedBy = dataset.manifest.source.collected_by;
  // What eval says of any dataset, held-out episodes aside: its longest episode and who collected it.
  const facts = { longestEpisode: dataset.manifest.lengths.max, ...(collectedBy ? { collectedBy } : {}) };
  if (trainedOn(policy.state, dataset)) {
    const split = splitOfRun(config, dataset.episodes.length);
    // Validation picked best/, so its score on these episodes leans optimistic: say so.
    const pickedBy = policy.checkpoint === checkpointDir(policy.runDir, "best") ? ", which also chose this best/ checkpoint" : "";
    const heldOut = { indices: split.val, episodes: split.val.map((i) => dataset.episodes[i]!), datasetEpisodesHash: dataset.episodesSha256 };
    return { returns, path, heldOut, source: `${path}: the run's held-out episodes${pickedBy}`, ...facts };
  }
  // Another dataset may still hold episodes the run trained on (the same data in another format, a
  // superset): those are left out, when the run's own data is at hand to tell them.
  const split = path === own ? "the run's dataset changed after training" : await runSplitFingerprints(policy, own, request);
  if (typeof split === "string") {
    const heldOut = { indices: dataset.episodes.map((_, i) => i), episodes: dataset.episodes, datasetEpisodesHash: dataset.episodesSha256 };
    const source = `${path}: all episodes${path === own ? "" : ", of another dataset than the run's"}; whether any is one the run trained on is unknown (${split})`;
    return { returns, path, heldOut, source, ...facts };
  }
  const fingerprints = dataset.episodes.map((ep) => contentFingerprint(ep, dataset));
  const indices = dataset.episodes.map((_, i) => i).filter((i) => !split.train.has(fingerprints[i]!));
  const heldOut = { indices, episodes: indices.map((i) => dataset.episodes[i]!), datasetEpisodesHash: dataset.episodesSha256 };
  const trainedEpisodes = dataset.episodes.length - indices.length;
  const episodes = (n: number): string => `${n} episode${n === 1 ? "" : "s"}`;
  let source =
    trainedEpisodes === 0 ? `${path}: all episodes, none of them one the run trained on` : `${path}: the ${episodes(indices.length)} not among the run's training episodes (${episodes(trainedEpisodes)} that are were left out)`;
  // As for the run's own held-out episodes: those of its validation chose best/.
  const validation = indices.filter((i) => split.validation.has(fingerprints[i]!)).length;
  if (validation > 0 && policy.checkpoint === checkpointDir(policy.runDir, "best")) source += `; ${episodes(validation)} of them the run's validation episodes, which also chose this best/ checkpoint`;
  return { returns, path, heldOut, source, ...facts };
}

/**
 * Fingerprints of the episodes the run trained on and validated with (content only: the same episode
 * read from another format has other end flags at most), or why they cannot be had.
 */
async function runSplitFingerprints(policy: LoadedPolicy, own: string, request: EvalRequest): Promise<{ train: Set<string>; validation: Set<string> } | string> {
  if (!existsSync(own)) return `the run's dataset ${own} is missing`;
  const config = policy.state.config;
  let dataset: Awaited<ReturnType<typeof loadDataset>>;
  try {
    dataset = await loadDataset(own, { progress: request.context.progress });
  } catch (err) {
    if (!(err instanceof SnndtError)) throw err;
    return `the run's dataset ${own} could not be read: ${err.message}`;
  }
  if (!trainedOn(policy.state, dataset)) return `the run's dataset ${own} changed after training`;
  const split = splitOfRun(config, dataset.episodes.length);
  const fingerprintsOf = (indices: number[]): Set<string> => new Set(indices.map((i) => contentFingerprint(dataset.episodes[i]!, dataset)));
  return { train: fingerprintsOf(split.train), validation: fingerprintsOf(split.val) };
}

/**
 * The reference returns of the normalised score: those of the built-in environment of that id, for
 * it or an external environment of the same id and episode limit. Under another limit (a gymnasium
 * adapter with --max-episode-steps) returns are on another scale, so no score is given.
 */
function referenceFor(env: OpenedEnvironments["describe"], external: boolean, logger: RunContext["logger"]): EvalResult["reference"] {
  if (!ENV_IDS.includes(env.id)) return null; // an external environment without reference policies
  const builtIn = makeEnv(env.id).maxEpisodeSteps;
  if (external && env.maxEpisodeSteps !== builtIn) {
    logger.warn(
      `the external ${env.id} ends episodes at ${env.maxEpisodeSteps} steps, the built-in one at ${builtIn}: its returns are not on the scale of the reference policies' returns, so no normalised score is given.`,
    );
    return null;
  }
  return { ...referenceReturns(env.id), source: "random and expert behaviour policies of src/eval/policies (100 episodes, seed 0)" };
}

/**
 * The metadata by which a dataset made of these episodes is known to have been played under their
 * seeds (`snndt collect` writes the same keys), so that evaluating under one of them is warned about.
 */
function playedWith(envId: string, checkpoint: string, episodes: readonly EpisodeOutcome[]): Record<string, string> {
  const seeds = [...new Set(episodes.map((e) => e.seed))];
  return collectedByMetadata({ env: envId, policy: `snndt eval ${checkpoint}`, seed: seeds[0]!, seeds });
}

/** An episode's states, actions and rewards hashed (its end flags left out). */
function contentFingerprint(ep: Episode, dataset: { obsDim: number; actionSpace: ActionSpace }): string {
  return episodesSha256([{ ...ep, terminated: false, truncated: false }], dataset.obsDim, dataset.actionSpace);
}

/** Offline action quality on the held-out episodes, with where they came from and which were measured. */
async function offlineRecord(policy: LoadedPolicy, heldOut: HeldOut, source: string): Promise<NonNullable<EvalResult["offline"]>> {
  const { quality, measured } = await offlineActionQuality(policy.model, heldOut.episodes, policy.spec);
  return { ...quality, source, episodeIndices: measured.map((i) => heldOut.indices[i]!), datasetEpisodesHash: heldOut.datasetEpisodesHash };
}

/** MACs of one batch-1 decision of a plain DT with the SNN-DT's sizes (weights do not matter for counts). */
function dtMacsOfSameSize(policy: LoadedPolicy): number {
  const dt = createModel({ ...policy.modelConfig, kind: "dt", plasticity: { ...policy.modelConfig.plasticity, enabled: false } }, 0);
  try {
    const history = new EpisodeHistory(policy.spec);
    history.observe(new Float32Array(policy.spec.obsDim), 0);
    const inputs = inputsFromBatch(history.window());
    const output = dt.forward(inputs, { training: false, collectStats: true });
    tf.dispose(output.actions);
    disposeInputs(inputs);
    return output.stats!.totalMacs;
  } finally {
    dt.dispose();
  }
}

export async function evaluate(request: EvalRequest): Promise<Evaluation> {
  const started = performance.now();
  const policy = await loadPolicy(request.target);
  const training = runTrainer(policy.runDir);
  const step = `step ${policy.state.step} of ${policy.state.config.train.steps}`;
  if (training !== null) {
    // A step-N stays as it is; best/ moves on while the run trains.
    const which = policy.checkpoint === checkpointDir(policy.runDir, "best") ? "its best checkpoint so far" : "a checkpoint of a training not yet finished";
    request.context.logger.warn(`${stillTraining(policy.runDir, training)}: this evaluates ${which} (${policy.checkpoint}, ${step}); evaluate again when training ends.`);
  } else if (existsSync(join(policy.runDir, RESOLVED_CONFIG_FILE)) && !existsSync(join(policy.runDir, SUMMARY_JSON))) {
    // Stopped (Ctrl-C, a full disk, a crash) and not resumed: its checkpoints are of a training cut short.
    request.context.logger.warn(
      `${policy.runDir} stopped before it finished training (it has no ${SUMMARY_JSON}): this evaluates ${policy.checkpoint}, ` +
        `${step}; to finish it, snndt train --resume ${policy.runDir}.`,
    );
  }
  try {
    return request.offline ? { result: await evaluateOffline(policy, request, started), trajectories: null } : await evaluateInEnvironment(policy, request, started);
  } finally {
    policy.model.dispose();
  }
}

/** What every eval.json begins with: the snndt, the checkpoint, the model and the backend. */
function resultHeader(policy: LoadedPolicy, request: EvalRequest): Pick<EvalResult, "snndtVersion" | "createdAt" | "methodVersion" | "checkpoint" | "checkpointStep" | "initFrom" | "runDir" | "configHash" | "model" | "backend"> {
  const config = policy.state.config;
  return {
    snndtVersion: SNNDT_VERSION,
    createdAt: new Date().toISOString(),
    methodVersion: EVAL_METHOD_VERSION,
    checkpoint: policy.checkpoint,
    checkpointStep: { step: policy.state.step, of: config.train.steps },
    ...(policy.state.initFrom && { initFrom: policy.state.initFrom }),
    runDir: policy.runDir,
    configHash: configHash(config),
    model: {
      kind: config.model.kind,
      variant: modelLabel(config.model),
      parameters: policy.model.variables.reduce((n, v) => n + v.size, 0),
      dModel: config.model.d_model,
      nLayers: config.model.n_layers,
      nHeads: config.model.n_heads,
      context: config.model.context,
      T: config.model.lif.T,
    },
    backend: { name: request.backend.name, reason: request.backend.reason },
  };
}

/** Mean spikes per decision by layer and kind, from the counted decisions (null for a plain DT). */
function spikesOf(policy: LoadedPolicy, tally: SpikeTally, candidates = tally.decisions): EvalResult["spikes"] {
  if (tally.decisions === 0) return null;
  const tokens = 3 * policy.spec.context;
  const byLayer: LayerSpikes[] = tally.spikes.map((sums, layer) => {
    const mean = Object.fromEntries(SPIKE_KINDS.map((k) => [k, sums[k] / tally.decisions])) as Record<SpikeKind, number>;
    const total = SPIKE_KINDS.reduce((a, k) => a + mean[k], 0);
    const rate = firingRate(policy.modelConfig, { layer, spikes: mean, synapticOps: mean, macs: 0 }, tokens);
    return { layer, spikes: mean, total, firingRate: rate };
  });
  return {
    decisions: tally.decisions,
    perDecision: byLayer.reduce((a, l) => a + l.total, 0),
    byLayer,
    firingRate: byLayer.length ? byLayer.reduce((a, l) => a + l.firingRate, 0) / byLayer.length : 0,
    ...(candidates > tally.decisions ? { thinnedFrom: candidates } : {}),
  };
}

/** Energy per decision of the model (from the counted decisions) beside a plain DT of its size. */
function energyReport(policy: LoadedPolicy, tally: SpikeTally, constants: EnergyConstants): EvalResult["energy"] {
  const dtEnergy = energyOf({ totalSynapticOps: 0, totalMacs: dtMacsOfSameSize(policy) }, constants);
  const modelEnergy = isSpiking(policy)
    ? energyOf({ totalSynapticOps: tally.synapticOps / Math.max(1, tally.decisions), totalMacs: tally.macs / Math.max(1, tally.decisions) }, constants)
    : dtEnergy;
  return {
    constants,
    model: { synapticOps: modelEnergy.synapticOps, macs: modelEnergy.macs, nanojoules: modelEnergy.nanojoules },
    dtSameSize: { macs: dtEnergy.macs, nanojoules: dtEnergy.nanojoules },
    ratioToDt: modelEnergy.nanojoules / dtEnergy.nanojoules,
    assumptions: ENERGY_ASSUMPTIONS,
  };
}

function latencySummary(times: number[], failure: string | null): EvalResult["latencyMs"] {
  const sorted = [...times].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), mean: summarise(times).mean, decisions: times.length, failure };
}

/** `eval --offline`: the held-out episodes stand in for the environment. */
async function evaluateOffline(policy: LoadedPolicy, request: EvalRequest, started: number): Promise<EvalResult> {
  const data = await runDataset(policy, request);
  if (!data.heldOut) throw new InputError(`--offline measures the model on held-out data, but the run's dataset is missing (${data.source}); pass --data <dataset>.`);
  // A run trained on a single episode holds none out.
  const episodes = data.heldOut.episodes;
  if (episodes.length === 0) throw new UsageError(`--offline: no episode to measure on (${data.source}); pass --data <dataset> with episodes the run did not train on.`);
  const steps = episodes.reduce((n, ep) => n + ep.length, 0);
  request.context.logger.info({ checkpoint: policy.checkpoint, episodes: episodes.length, steps, source: data.source }, "evaluating offline (no environment)");
  const offline = await offlineRecord(policy, data.heldOut, data.source);
  const latencyDecisions = request.latencyDecisions ?? DEFAULT_LATENCY_DECISIONS;
  const bar = request.context.progress.start("replay", episodes.length, { format: "replay [{bar}] {value}/{total} held-out episodes eta {eta_formatted}" });
  const statsEvery = request.statsEvery ?? DEFAULT_STATS_EVERY;
  const replay = await replayDecisions(policy, episodes, { statsEvery, latencyDecisions, progress: bar });
  bar.stop();
  const constants = request.energy ?? DEFAULT_ENERGY;
  return {
    ...resultHeader(policy, request),
    env: null,
    settings: {
      episodesPerTarget: 0,
      seeds: [],
      targets: [],
      targetSource: "none (offline: each held-out episode's own returns-to-go)",
      latencyDecisions,
      statsEvery,
      energy: constants,
    },
    partial: null,
    reference: null,
    targets: [],
    episodes: [],
    offline,
    spikes: spikesOf(policy, replay.tally, replay.candidates),
    energy: energyReport(policy, replay.tally, constants),
    latencyMs: latencySummary(replay.latencyMs, null),
    wallSeconds: (performance.now() - started) / 1000,
  };
}

async function evaluateInEnvironment(policy: LoadedPolicy, request: EvalRequest, started: number): Promise<Evaluation> {
  const { logger } = request.context;
  const config = policy.state.config;
  const envId = request.env ?? config.eval.env;
  if (request.envCmd === undefined && !ENV_IDS.includes(envId)) {
    throw new UsageError(
      `snndt has no built-in environment "${envId}" (${request.env ? "--env" : "the run's eval.env"}); built in: ${ENV_IDS.join(", ")}. ` +
        `For another task, play it through --env-cmd (docs/env-protocol.md) or measure on held-out data with --offline.`,
    );
  }
  const env = await openEnv(request, envId);
  try {
    checkCompatible(policy.spec, env.describe, policy.checkpoint);
    for (const warning of actionBoxWarnings(policy.spec.actionSpace, env.describe, policy.checkpoint)) logger.warn(warning);
    const data = await runDataset(policy, request);
    if (data.heldOut === null) logger.warn(`the run's dataset ${data.path} is not there: no offline action quality or data support is measured; pass --data <where it is now>.`);
    else if (data.heldOut.episodes.length === 0) logger.warn(`no offline action quality is measured: no episode to measure on (${data.source}).`);
    // The run keeps its dataset's return range, so a moved dataset still gives the default target.
    const recorded = data.returns === null ? (policy.state.datasetReturns ?? null) : null;
    const returnRange = data.returns ? extent(data.returns) : recorded;
    let targets = request.targets ?? (config.eval.target_returns.length ? config.eval.target_returns : null);
    let targetSource = request.targets ? "--target-return" : "eval.target_returns of the run's config";
    if (!targets) {
      if (returnRange === null) {
        throw new InputError(
          `the run's dataset (${data.source}) is not available to find its best return, and the run was trained before snndt recorded its dataset's returns ` +
            "(state.json datasetReturns); pass --data <where it is now>, or --target-return.",
        );
      }
      targets = [returnRange.max];
      targetSource = recorded ? "the best episode return in the run's dataset, as recorded when it trained" : "the best episode return in the dataset";
    }
    const repeated = targets.find((t, i) => targets!.indexOf(t) !== i);
    if (repeated !== undefined) {
      // Episodes are grouped by their target: a target listed twice would pool both lists' episodes in each.
      throw new UsageError(`target return ${repeated} is listed twice in ${targetSource}; list each target once (raise --episodes for more episodes).`);
    }
    const seeds = request.seeds ?? config.eval.seeds;
    const episodes = request.episodes ?? config.eval.episodes;
    if (seeds.length === 0) throw new UsageError("--seeds needs at least one seed");
    if (request.trajectories) checkTrajectorySize(policy, targets.length, episodes, env.describe.maxEpisodeSteps);
    // Targets as a person reads them (the dataset's best return is a float32 sum: -227.12118530273438).
    const shownTargets = targets.map((t) => Number(t.toPrecision(6)));
    logger.info({ checkpoint: policy.checkpoint, env: env.describe.id, targets: shownTargets, episodes, seeds }, "evaluating");
    // A built-in environment under a seed the data was played with starts where the data's episodes started.
    const collected = data.collectedBy;
    const replayed = collected && request.envCmd === undefined && collected.env === env.describe.id ? seeds.filter((s) => (collected.seeds ?? [collected.seed]).includes(s)) : [];
    if (collected && replayed.length > 0) {
      const subject = replayed.length > 1 ? `eval seeds ${replayed.join(", ")} are among` : `eval seed ${replayed[0]} is${collected.seeds ? " one of" : ""}`;
      const origin = collected.seeds
        ? `the seeds ${data.path} was played with (${collected.policy} --trajectories, seeds ${collected.seeds.join(", ")})`
        : `the seed ${data.path} was collected with (snndt collect --seed ${collected.seed})`;
      logger.warn(
        `${subject} ${origin}: ${replayed.length > 1 ? "their" : "its"} episodes start where the data's episodes started, so they replay the data's start states; ` +
          "evaluate with other seeds (--seeds).",
      );
    }
    if (data.longestEpisode !== undefined && data.longestEpisode > env.describe.maxEpisodeSteps) {
      logger.warn(
        `the dataset's episodes run up to ${data.longestEpisode} steps, but ${env.describe.id} here ends episodes at ${env.describe.maxEpisodeSteps}: ` +
          "returns the data reaches may be out of reach, its best return as a target among them.",
      );
    }
    // Before the episodes, so a mistyped target can be stopped: the data shows no return beyond its own range.
    if (returnRange) {
      const { min: worst, max: highest } = returnRange;
      for (const target of targets) {
        if (target > highest) logger.warn({ target, best: highest }, "no episode of the dataset reaches this target return: the model extrapolates");
        else if (target < worst) logger.warn({ target, worst }, "every episode of the dataset exceeds this target return: the model extrapolates below the data");
      }
    }

    const bar = request.context.progress.start("eval", targets.length * episodes, {
      format: "eval [{bar}] {value}/{total} episodes, last return {ret} eta {eta_formatted}",
      fields: { ret: "-" },
    });
    const statsEvery = request.statsEvery ?? DEFAULT_STATS_EVERY;
    const recorder = request.trajectories ? new TrajectoryRecorder(policy) : undefined;
    const online = await rollouts(policy, env.make, { targets, seeds, episodes, statsEvery, progress: bar, release: env.release, recorder });
    bar.stop();
    if (online.partial) logger.error({ reason: online.partial.reason, finished: online.episodes.length }, "environment failed: results are partial");
    const trajectories =
      recorder
        ? recorder.arrowFile(online.episodes, {
            ...(request.envCmd === undefined ? playedWith(env.describe.id, policy.checkpoint, online.episodes) : {}),
            "snndt.version": SNNDT_VERSION,
            "snndt.eval.checkpoint": policy.checkpoint,
            "snndt.eval.config_hash": configHash(config),
            "snndt.eval.env": request.envCmd ? `${env.describe.id} (--env-cmd ${request.envCmd})` : env.describe.id,
            "snndt.eval.rtg_scale": String(policy.spec.rtgScale),
            "snndt.eval.stats_every": String(statsEvery),
          })
        : null;

    const reference = request.reference ? { ...request.reference, source: REFERENCE_GIVEN } : referenceFor(env.describe, request.envCmd !== undefined, logger);
    const normalise = (r: number) => (reference ? (100 * (r - reference.random)) / (reference.expert - reference.random) : NaN);
    const perTarget: TargetResult[] = targets.map((target) => {
      const mine = online.episodes.filter((e) => e.target === target);
      return {
        target,
        episodes: mine.length,
        returns: summarise(mine.map((e) => e.return)),
        normalised: reference ? summarise(mine.map((e) => normalise(e.return))) : null,
        lengths: summarise(mine.map((e) => e.length)),
        dataSupport: data.returns ? { ...returnSupport(data.returns, target), dataset: data.path } : null,
      };
    });

    const offline = data.heldOut && data.heldOut.episodes.length > 0 ? await offlineRecord(policy, data.heldOut, data.source) : null;

    const constants = request.energy ?? DEFAULT_ENERGY;
    const latencyDecisions = request.latencyDecisions ?? DEFAULT_LATENCY_DECISIONS;
    let times: number[] = [];
    let latencyFailure: string | null = null;
    if (!online.partial) {
      try {
        times = await decisionLatency(policy, await env.make(), targets[0]!, seeds[0]!, latencyDecisions);
      } catch (err) {
        // Every episode finished: an environment that fails while decisions are timed costs the latency only.
        if (!(err instanceof SnndtError)) throw err;
        latencyFailure = err.message;
        logger.error({ reason: latencyFailure }, "environment failed while decisions were timed: latency not measured");
      }
    }

    const result: EvalResult = {
      ...resultHeader(policy, request),
      env: { id: env.describe.id, external: request.envCmd !== undefined, ...(request.envCmd ? { command: request.envCmd } : {}), maxEpisodeSteps: env.describe.maxEpisodeSteps },
      settings: { episodesPerTarget: episodes, seeds, targets, targetSource, latencyDecisions, statsEvery, energy: constants },
      partial: online.partial,
      reference,
      targets: perTarget,
      episodes: online.episodes,
      offline,
      spikes: spikesOf(policy, online.tally),
      energy: energyReport(policy, online.tally, constants),
      latencyMs: latencySummary(times, latencyFailure),
      wallSeconds: (performance.now() - started) / 1000,
      trajectories: trajectories ? { file: TRAJECTORIES_FILE, episodes: online.episodes.length, steps: online.episodes.reduce((n, e) => n + e.length, 0) } : null,
    };
    return { result, trajectories };
  } finally {
    await env.closeAll();
  }
}
