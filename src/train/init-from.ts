/**
 * A new run that starts from another run's weights (`snndt train --init-from <run or checkpoint>`):
 * fine-tuning on other data, or training a finished run further under a new schedule.
 *
 * Only the weights come over. The step count, the learning-rate schedule (warm-up included), AdamW's
 * moments, the RNG streams and plasticity's trace start afresh from the new run's config and seed, as
 * in a PyTorch fine-tuning script that loads a state_dict. The state statistics come over too: the
 * weights learned on states normalised by the source's mean and std, so the new run's states must
 * reach them the same way (d3rlpy keeps a loaded model's observation scaler for the same reason).
 *
 * The source is recorded in `<run>/init-from.json`, written together with the run's config, so that
 * a run stopped before its first checkpoint starts over from the same weights (checked by their
 * sha256); from its first checkpoint on, each checkpoint records it.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { PreparedDataset } from "../data/dataset.js";
import type { ActionSpace } from "../data/types.js";
import type { ModelConfig, SequenceModel } from "../model/index.js";
import { InputError } from "../runtime/errors.js";
import { replaceFilesTogether } from "../runtime/fs-atomic.js";
import { restoreVariables, STATE_FILE, trainedOn, type CheckpointState, type InitSource, type LoadedCheckpoint } from "./checkpoint.js";
import { configValueDifferences, resolvedConfigText, type LoadConfigOptions, type ResolvedConfig } from "./config.js";
import { readCheckpointWeights, resolveCheckpoint } from "./find-checkpoint.js";
import { CHECKPOINTS_DIR, INIT_FROM_FILE, RESOLVED_CONFIG_FILE } from "./run-layout.js";
import { splitOfRun } from "./split.js";

/** What init-from.json holds: the source, and the state statistics its weights were trained with. */
export interface InitRecord extends InitSource {
  stateStats: { mean: number[]; std: number[] };
}

export interface InitWeights {
  record: InitRecord;
  weights: LoadedCheckpoint["weights"];
  /** The source checkpoint's own state (its config and normalisation). */
  state: CheckpointState;
}

/** The source without its statistics: what checkpoints and the summary record. */
export function initSource(record: InitRecord): InitSource {
  const { checkpoint, step, configHash, modelSha256 } = record;
  return { checkpoint, step, configHash, modelSha256 };
}

/** An input error about the path --init-from gave, said of the flag ("--init-from x: no such ..."). */
export function saidOfInitFrom(err: unknown): never {
  throw err instanceof InputError ? new InputError(`--init-from ${err.message}`) : err;
}

/** Read the weights `target` names: a checkpoint directory, or a run's best/ (else its newest step-N). */
export async function readInitWeights(target: string): Promise<InitWeights> {
  const { checkpoint, runDir } = await resolveCheckpoint(target);
  const loaded = await readCheckpointWeights(checkpoint, runDir);
  const { state } = loaded;
  const stateStats = { mean: state.normalisation.stateMean, std: state.normalisation.stateStd };
  return {
    record: { checkpoint, step: state.step, configHash: state.configHash, modelSha256: loaded.modelSha256, stateStats },
    weights: loaded.weights,
    state,
  };
}

/**
 * The config a run from the weights `target` names takes unless given another, so that its model fits
 * them and it trains on the source's data by default: the source run's config.resolved.yaml (updated
 * when its data moved), or for a checkpoint outside a run, the config in its own state.json. `base`
 * is loadConfig's in place of a config file; `label` says where it came from; `name` names the new
 * run after the source.
 */
export async function initSourceConfig(
  target: string,
): Promise<{ base: Pick<LoadConfigOptions, "configPath" | "baseConfig">; label: string; name: string }> {
  const { checkpoint, runDir } = await resolveCheckpoint(target).catch(saidOfInitFrom);
  const configPath = path.join(runDir, RESOLVED_CONFIG_FILE);
  if (path.basename(path.dirname(checkpoint)) === CHECKPOINTS_DIR && existsSync(configPath)) {
    return { base: { configPath }, label: configPath, name: path.basename(runDir) };
  }
  const stateFile = path.join(checkpoint, STATE_FILE);
  let state: Partial<CheckpointState>;
  try {
    state = JSON.parse(readFileSync(stateFile, "utf8")) as Partial<CheckpointState>;
  } catch (err) {
    throw new InputError(`--init-from ${checkpoint}: cannot read its ${STATE_FILE} (${(err as Error).message}).`);
  }
  if (typeof state.config !== "object" || state.config === null) throw new InputError(`--init-from ${stateFile} holds no config.`);
  return { base: { baseConfig: { config: state.config, label: stateFile } }, label: stateFile, name: path.basename(checkpoint) };
}

/** A new run's config and the record of its starting weights, in one step: neither is ever there alone. */
export async function writeConfigWithInitRecord(runDir: string, config: ResolvedConfig, record: InitRecord): Promise<void> {
  await replaceFilesTogether([
    { target: path.join(runDir, INIT_FROM_FILE), data: JSON.stringify(record, null, 2) + "\n" },
    { target: path.join(runDir, RESOLVED_CONFIG_FILE), data: resolvedConfigText(config) },
  ]);
}

/** The record of a run that started from another's weights; undefined for a run that started from its seed. */
export function readInitRecord(runDir: string): InitRecord | undefined {
  const file = path.join(runDir, INIT_FROM_FILE);
  if (!existsSync(file)) return undefined;
  let record: Partial<InitRecord>;
  try {
    record = JSON.parse(readFileSync(file, "utf8")) as Partial<InitRecord>;
  } catch (err) {
    throw new InputError(`${file} is not valid JSON (${(err as Error).message}); it records the weights the run started from.`);
  }
  const { checkpoint, step, configHash, modelSha256, stateStats } = record;
  const numbers = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === "number");
  if (typeof checkpoint !== "string" || typeof step !== "number" || typeof configHash !== "string" || typeof modelSha256 !== "string" || !numbers(stateStats?.mean) || !numbers(stateStats?.std)) {
    throw new InputError(`${file} lacks one of checkpoint, step, configHash, modelSha256 and stateStats {mean, std}; it records the weights the run started from.`);
  }
  return record as InitRecord;
}

/**
 * The source's weights again, for a run that starts over (stopped before its first checkpoint):
 * refused when the source now holds other weights (a best/ its run has since replaced).
 */
export async function rereadInitWeights(record: InitRecord, runDir: string): Promise<InitWeights> {
  const init = await readInitWeights(record.checkpoint).catch((err: unknown) => {
    if (!(err instanceof InputError)) throw err;
    throw new InputError(`${runDir} starts from the weights of ${record.checkpoint}, which cannot be read: ${err.message} Start a new run instead.`);
  });
  if (init.record.modelSha256 !== record.modelSha256) {
    throw new InputError(
      `${runDir} started from the weights of ${record.checkpoint} (model sha256 ${record.modelSha256.slice(0, 12)}), which now holds others ` +
        `(${init.record.modelSha256.slice(0, 12)}); it has no checkpoint of its own, so it cannot go on: start a new run with --init-from.`,
    );
  }
  return init;
}

function describeSpace(space: ActionSpace): string {
  return space.kind === "discrete" ? `${space.n} discrete actions` : `continuous actions of ${space.low.length} numbers`;
}

/** A state dimension whose new data sits this many source stds from the source's mean, or spreads this many times wider, is named. */
const SHIFT_IN_STDS = 1;
const SPREAD_FACTOR = 3;

/**
 * Observation dimensions where the run's data reaches far beyond what the source's weights saw: those
 * weights read states normalised by the source's statistics, which the run keeps. (Narrower data, an
 * expert's beside a mixed dataset's, stays within what they saw.)
 */
function shiftedDimensions(source: { mean: number[]; std: number[] }, data: { mean: number[]; std: number[] }): string[] {
  const shifted: string[] = [];
  source.mean.forEach((mean, i) => {
    const std = source.std[i]!;
    const [dataMean, dataStd] = [data.mean[i]!, data.std[i]!];
    const ratio = std > 0 ? dataStd / std : dataStd > 0 ? Infinity : 1;
    if (Math.abs(dataMean - mean) > SHIFT_IN_STDS * std || ratio > SPREAD_FACTOR) {
      const fmt = (x: number) => Number(x.toPrecision(3));
      shifted.push(`${i} (mean ${fmt(mean)} there, ${fmt(dataMean)} here; std ${fmt(std)}, ${fmt(dataStd)})`);
    }
  });
  return shifted;
}

/**
 * Put the source's weights into the new run's model. Refused when they cannot serve the run's data
 * (another observation size or action space) or do not fit the model (the error names the model keys
 * that differ); returns warnings of what the weights meet for the first time.
 */
export function startFromInitWeights(
  model: SequenceModel,
  init: InitWeights,
  run: { config: ResolvedConfig; modelConfig: ModelConfig; dataPath: string; dataset: PreparedDataset; valEpisodes: readonly number[] },
): string[] {
  const { checkpoint } = init.record;
  const source = init.state.normalisation;
  const { modelConfig, dataPath, config, dataset } = run;
  const dataOfSource = `it was trained on ${init.state.config.data.path}: give --data of that shape`;
  if (source.obsDim !== modelConfig.obs_dim) {
    throw new InputError(`--init-from ${checkpoint}: its model reads observations of ${source.obsDim} numbers, but ${dataPath} has ${modelConfig.obs_dim}; ${dataOfSource}.`);
  }
  const [from, to] = [source.actionSpace, modelConfig.action_space];
  const sameShape = from.kind === to.kind && (from.kind === "discrete" ? from.n === (to as typeof from).n : from.low.length === (to as typeof from).low.length);
  if (!sameShape) {
    throw new InputError(`--init-from ${checkpoint}: its model chooses ${describeSpace(from)}, but ${dataPath} has ${describeSpace(to)}; ${dataOfSource}.`);
  }

  const differences = configValueDifferences(init.state.config.model, config.model).map(
    (d) => `model.${d.key} (${d.a ?? "absent"} there, ${d.b ?? "absent"} here)`,
  );
  try {
    restoreVariables(model, init.weights, checkpoint);
  } catch (err) {
    if (!(err instanceof InputError) || differences.length === 0) throw err;
    throw new InputError(
      `--init-from ${checkpoint}: its model differs from this run's in ${differences.join(", ")}, so its weights do not fit; drop those settings ` +
        `(without --config a run from its weights takes its config). ${err.message}`,
    );
  }
  const warnings: string[] = [];
  if (differences.length) warnings.push(`the weights of ${checkpoint} were trained with other settings: ${differences.join(", ")}`);
  if (source.rtgScale !== config.data.rtg_scale) {
    warnings.push(`${checkpoint} read returns-to-go divided by ${source.rtgScale}, this run divides them by data.rtg_scale ${config.data.rtg_scale}`);
  }
  if (from.kind === "continuous" && to.kind === "continuous" && JSON.stringify([from.low, from.high]) !== JSON.stringify([to.low, to.high])) {
    warnings.push(
      `${checkpoint} scaled its actions to low [${from.low.join(", ")}], high [${from.high.join(", ")}]; ${dataPath} has low [${to.low.join(", ")}], high [${to.high.join(", ")}]`,
    );
  }
  const shifted = shiftedDimensions(init.record.stateStats, dataset.stateStats);
  if (shifted.length) {
    warnings.push(
      `states are normalised by the statistics ${checkpoint} was trained with, and ${dataPath}'s states reach far beyond them in observation ` +
        `${shifted.slice(0, 5).join(", ")}${shifted.length > 5 ? ` and ${shifted.length - 5} more` : ""}: the weights meet inputs they did not see`,
    );
  }
  if (!trainedOn(init.state, dataset) && init.state.config.data.path === config.data.path) {
    warnings.push(
      `${dataPath}, named as the source's data.path (${config.data.path}), holds other episodes than ${checkpoint} was trained on: the data changed, or a relative path ` +
        "is read from another directory than the source's training was; give --data to say which data to train on",
    );
  }
  // The same episodes split another way: the source learned from some of the episodes this run validates on.
  if (trainedOn(init.state, dataset)) {
    const sourceTrain = new Set(splitOfRun(init.state.config, dataset.episodes.length).train);
    const seen = run.valEpisodes.filter((i) => sourceTrain.has(i)).length;
    if (seen > 0) {
      warnings.push(
        `${checkpoint} was trained on ${seen} of this run's ${run.valEpisodes.length} validation episodes (the same data, split by another seed or data.val_fraction), ` +
          `so the validation loss, best/ and eval's held-out scores flatter the model; keep the source's split with --seed ${init.state.config.seed} --val-fraction ${init.state.config.data.val_fraction}`,
      );
    }
  }
  return warnings;
}
