/**
 * Checkpoints: `<run>/checkpoints/step-<N>/` and `<run>/checkpoints/best/`, each a directory of
 *
 *   model.safetensors       every trainable variable by its stable name (F32; tfjs layout: dense kernels [in, out])
 *   optimizer.safetensors   AdamW moments as "exp_avg/<name>" and "exp_avg_sq/<name>" (PyTorch's names);
 *                           the update count in the metadata ("step")
 *   state.json              CheckpointState: step, epoch, RNG streams, best val loss, the resolved config and
 *                           its hash, the dataset manifest hash and return range, normalisation stats, model kind/variant,
 *                           snndt version, tfjs backend
 *   checksums.json          sha256 of each file above, written last
 *
 * A checkpoint is built in a temporary sibling directory and renamed into place (writeDirAtomic),
 * so `step-<N>` and `best` are always complete; a crash leaves at most a `.step-<N>.tmp-*`
 * directory, which is ignored. Loading verifies every checksum and every shape before anything
 * is assigned to a variable.
 */
import { createHash } from "node:crypto";
import { promises as fs, existsSync } from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { PreparedDataset } from "../data/dataset.js";
import type { ActionSpace } from "../data/types.js";
import { fileSystemError, InputError, outOfSpace, SnndtError } from "../runtime/errors.js";
import { removeOrphanedTemporaries, writeDirAtomic, writeSynced } from "../runtime/fs-atomic.js";
import type { RngState } from "../runtime/rng.js";
import { configHash, type ResolvedConfig } from "./config.js";
import { CHECKPOINTS_DIR } from "./run-layout.js";
import type { AdamW, AdamWState } from "./optimizer.js";
import { encodeSafetensors, decodeSafetensors } from "./safetensors.js";

export const CHECKPOINT_FORMAT_VERSION = 1;
export const MODEL_FILE = "model.safetensors";
export const OPTIMIZER_FILE = "optimizer.safetensors";
export const STATE_FILE = "state.json";
export const CHECKSUMS_FILE = "checksums.json";
const CHECKSUMMED_FILES = [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE] as const;

const STEP_DIR = /^step-(\d+)$/;
const FIRST_MOMENT = "exp_avg/";
const SECOND_MOMENT = "exp_avg_sq/";

/** What the window builder and the model need to use the weights: saved with every checkpoint. */
export interface NormalisationState {
  stateMean: number[];
  stateStd: number[];
  rtgScale: number;
  /** K, the context length. */
  context: number;
  maxEpLen: number;
  actionSpace: ActionSpace;
  obsDim: number;
}

/** Non-trainable tensors (e.g. plasticity eligibility traces) by name, as plain JSON numbers (exact for float32). */
export type StateTensors = Record<string, { shape: number[]; data: number[] }>;

/** Trainer bookkeeping that an exact resume needs besides weights, moments and RNG streams. */
export interface TrainerCheckpointState {
  /** Sum and count of the train losses since the last metrics row. */
  lossWindow: { sum: number; count: number };
  /** Step of the best validation loss so far; null before the first validation. */
  bestValStep: number | null;
  /** The model's plasticity state; null when plasticity is off. */
  plasticity: StateTensors | null;
  /**
   * The train loss of the checkpoint's step (the summary's finalTrainLoss), so a run resumed at its
   * last step writes the summary it would have written. Absent in checkpoints written before it.
   */
  lastStepLoss?: number | null;
}

/** The checkpoint whose weights a run started from (`train --init-from`). */
export interface InitSource {
  /** Its directory, as an absolute path. */
  checkpoint: string;
  step: number;
  configHash: string;
  /** sha256 of its model.safetensors: exactly which weights. */
  modelSha256: string;
}

export interface CheckpointState {
  formatVersion: number;
  /** Optimizer updates applied when the checkpoint was taken. */
  step: number;
  epoch: number;
  /** Rng.getState() of every stream, by stream name ("sampler", "dropout", ...). */
  rng: Record<string, RngState>;
  /** null until the first validation. */
  bestValLoss: number | null;
  config: ResolvedConfig;
  configHash: string;
  /** The dataset's manifest sha256: the source file's (raw file) or the steps file's (prepared directory). */
  datasetManifestHash: string;
  /**
   * sha256 of the training episodes themselves (see episodesSha256), the same for a raw file and its
   * prepared copy. Absent in checkpoints written before it; readers then compare datasetManifestHash.
   */
  datasetEpisodesHash?: string;
  /**
   * The lowest and highest episode return of the whole dataset, so eval can condition on the best
   * return once the data has moved. Absent in checkpoints written before it.
   */
  datasetReturns?: { min: number; max: number };
  normalisation: NormalisationState;
  model: { kind: string; variant: string };
  snndtVersion: string;
  /** tfjs backend that produced the checkpoint ("wasm", "tensorflow", "cpu"). */
  backend: string;
  trainer: TrainerCheckpointState;
  /** Where the run's weights started, when not from its seed. Absent in checkpoints written before it. */
  initFrom?: InitSource;
}

/**
 * Trainable variables and the stable names ("blocks.0.attn.q.weight") that key them in checkpoint
 * files. A tfjs variable's own name is process-global and carries a "#<n>" suffix while another live
 * model holds the plain one (ParamStore), so files never use it. A SequenceModel is one of these.
 */
export interface NamedParameters {
  readonly variables: readonly tf.Variable[];
  readonly parameterNames: readonly string[];
}

/** Each variable with its stable name. */
function namedVariables(parameters: NamedParameters): [name: string, variable: tf.Variable][] {
  if (parameters.parameterNames.length !== parameters.variables.length) {
    throw new Error(`${parameters.variables.length} variables but ${parameters.parameterNames.length} parameter names`);
  }
  return parameters.variables.map((variable, i) => [parameters.parameterNames[i]!, variable]);
}

/** tfjs variable name -> stable name (the optimizer keys its moments by tfjs name). */
function stableNames(parameters: NamedParameters): Map<string, string> {
  return new Map(namedVariables(parameters).map(([name, variable]) => [variable.name, name]));
}

export interface LoadedCheckpoint {
  dir: string;
  /** Weights by stable parameter name, in file order. */
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  /** sha256 of model.safetensors (verified against checksums.json): which weights these are. */
  modelSha256: string;
  /** AdamW state with its moments keyed by stable parameter name (restoreOptimizer maps them back). */
  optimizer: AdamWState;
  state: CheckpointState;
}

/** `<runDir>/checkpoints/step-<N>` or `<runDir>/checkpoints/best`. */
export function checkpointDir(runDir: string, which: number | "best"): string {
  return path.join(runDir, CHECKPOINTS_DIR, which === "best" ? "best" : `step-${which}`);
}

function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Save variables, optimizer state and run state as a complete checkpoint directory, atomically;
 * an existing directory of the same name (e.g. `best/`) is replaced only once the new one is whole.
 */
export async function saveCheckpoint(
  dir: string,
  parts: { parameters: NamedParameters; optimizer: AdamW; state: Omit<CheckpointState, "formatVersion"> },
): Promise<void> {
  const { parameters, optimizer } = parts;
  const names = stableNames(parameters);
  const state: CheckpointState = { formatVersion: CHECKPOINT_FORMAT_VERSION, ...parts.state };
  const weights: [string, { shape: number[]; data: Float32Array }][] = [];
  for (const [name, variable] of namedVariables(parameters)) {
    if (variable.dtype !== "float32") throw new Error(`variable "${name}" is ${variable.dtype}; checkpoints hold float32`);
    weights.push([name, { shape: [...variable.shape], data: (await variable.data()) as Float32Array }]);
  }
  const optimizerState = await optimizer.getState();
  if (optimizerState.step !== state.step) {
    throw new Error(`checkpoint state.step ${state.step} disagrees with the optimizer's ${optimizerState.step} updates`);
  }
  const moments: [string, { shape: number[]; data: Float32Array }][] = [];
  const stable = (name: string): string => {
    const found = names.get(name);
    if (found === undefined) throw new Error(`the optimizer holds moments of "${name}", which is not among the parameters`);
    return found;
  };
  for (const [name, { shape, m }] of optimizerState.moments) moments.push([FIRST_MOMENT + stable(name), { shape, data: m }]);
  for (const [name, { shape, v }] of optimizerState.moments) moments.push([SECOND_MOMENT + stable(name), { shape, data: v }]);
  const files: Record<(typeof CHECKSUMMED_FILES)[number], Uint8Array | string> = {
    [MODEL_FILE]: encodeSafetensors(weights, {
      producer: `snndt ${state.snndtVersion}`,
      layout: "tfjs: dense kernels are [in, out]",
      step: String(state.step),
    }),
    [OPTIMIZER_FILE]: encodeSafetensors(moments, {
      optimizer: "adamw",
      step: String(optimizerState.step),
      beta1: String(optimizer.options.beta1),
      beta2: String(optimizer.options.beta2),
      eps: String(optimizer.options.eps),
      weight_decay: String(optimizer.options.weightDecay),
    }),
    [STATE_FILE]: JSON.stringify(state, null, 2) + "\n",
  };
  try {
    await writeDirAtomic(
      dir,
      async (tmp) => {
        const checksums: Record<string, string> = {};
        for (const name of CHECKSUMMED_FILES) {
          await writeSynced(path.join(tmp, name), files[name]);
          checksums[name] = sha256(files[name]);
        }
        await writeSynced(path.join(tmp, CHECKSUMS_FILE), JSON.stringify(checksums, null, 2) + "\n");
      },
      { replace: true },
    );
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!code) throw err;
    // Said by train with the way on (--resume once there is space).
    if (outOfSpace(err)) throw err;
    // A read-only or missing directory: nothing was replaced, earlier checkpoints are intact.
    const why = fileSystemError(err)?.message.replace(/\.$/, "") ?? (err as Error).message;
    throw new SnndtError(`cannot write checkpoint ${dir}: ${why}. Nothing was replaced; the earlier checkpoints are intact.`);
  }
}

/** A checkpoint's weights and state, for evaluation: its optimizer file is neither needed nor read. */
export async function loadCheckpointWeights(dir: string): Promise<Omit<LoadedCheckpoint, "optimizer">> {
  const { weights, state, modelSha256 } = await readCheckpoint(dir, [MODEL_FILE, STATE_FILE]);
  return { dir, weights, state, modelSha256 };
}

/** A whole checkpoint, weights, optimizer and state, for resuming a run. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const { weights, state, contents, modelSha256 } = await readCheckpoint(dir, [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE]);
  const optimizerFile = path.join(dir, OPTIMIZER_FILE);
  const optimizerContent = decodeSafetensors(contents.get(OPTIMIZER_FILE)!, optimizerFile);
  const step = Number(optimizerContent.metadata.step);
  if (!Number.isInteger(step) || step < 0) {
    throw new InputError(`${optimizerFile}: metadata "step" is ${JSON.stringify(optimizerContent.metadata.step)}, expected an integer >= 0.`);
  }
  const moments: AdamWState["moments"] = new Map();
  for (const [name, weight] of weights) {
    const m = optimizerContent.tensors.get(FIRST_MOMENT + name);
    const v = optimizerContent.tensors.get(SECOND_MOMENT + name);
    if (!m || !v) throw new InputError(`${optimizerFile} has no moments for variable "${name}".`);
    for (const [label, t] of [[FIRST_MOMENT, m], [SECOND_MOMENT, v]] as const) {
      if (t.dtype !== "F32" || t.shape.join(",") !== weight.shape.join(",")) {
        throw new InputError(`${optimizerFile}: "${label}${name}" is ${t.dtype} [${t.shape}], the weight is F32 [${weight.shape}].`);
      }
    }
    moments.set(name, { shape: weight.shape, m: m.data as Float32Array, v: v.data as Float32Array });
  }
  if (optimizerContent.tensors.size !== 2 * weights.size) {
    const extra = [...optimizerContent.tensors.keys()].filter((k) => !weights.has(k.replace(/^exp_avg(_sq)?\//, "")));
    throw new InputError(`${optimizerFile} holds moments for variables not in ${MODEL_FILE}: ${extra.join(", ")}.`);
  }
  if (state.step !== step) {
    throw new InputError(`${dir} is inconsistent: ${STATE_FILE} says step ${state.step}, ${OPTIMIZER_FILE} says ${step}.`);
  }
  return { dir, weights, optimizer: { step, moments }, state, modelSha256 };
}

/**
 * Verify `files` against the checkpoint's checksums, then decode its weights and state; anything
 * missing, altered or half-written is an InputError.
 */
async function readCheckpoint(
  dir: string,
  files: (typeof CHECKSUMMED_FILES)[number][],
): Promise<{ weights: LoadedCheckpoint["weights"]; state: CheckpointState; contents: Map<string, Buffer>; modelSha256: string }> {
  const base = path.basename(path.resolve(dir));
  if (base.startsWith(".") && base.includes(".tmp-")) {
    throw new InputError(`${dir} is a half-written checkpoint (a temporary directory left by an interrupted save); use a complete step-<N> or best directory.`);
  }
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`cannot read checkpoint directory ${dir}: ${code === "ENOENT" ? "no such directory" : code === "ENOTDIR" ? "not a directory" : (err as Error).message}.`);
  }
  if (!entries.includes(CHECKSUMS_FILE)) {
    throw new InputError(
      `${dir} is not a complete checkpoint: ${CHECKSUMS_FILE} (written last) is missing. Found: ${entries.join(", ") || "nothing"}.`,
    );
  }
  const checksumsPath = path.join(dir, CHECKSUMS_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fs.readFile(checksumsPath, "utf8"));
  } catch (err) {
    throw new InputError(`${checksumsPath} is not valid JSON: ${(err as Error).message}.`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new InputError(`${checksumsPath} holds ${JSON.stringify(parsed)}; expected an object mapping each checkpoint file to its sha256.`);
  }
  const checksums = parsed as Record<string, unknown>;
  const contents = new Map<string, Buffer>();
  for (const name of files) {
    const file = path.join(dir, name);
    if (!entries.includes(name)) throw new InputError(`${dir} is not a complete checkpoint: ${name} is missing.`);
    const expected = checksums[name];
    if (typeof expected !== "string") throw new InputError(`${checksumsPath} has no sha256 for ${name}.`);
    const bytes = await fs.readFile(file);
    const actual = sha256(bytes);
    if (actual !== expected) {
      throw new InputError(`${file} is corrupt: its sha256 is ${actual}, ${CHECKSUMS_FILE} records ${expected}.`);
    }
    contents.set(name, bytes);
  }

  const modelFile = path.join(dir, MODEL_FILE);
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of decodeSafetensors(contents.get(MODEL_FILE)!, modelFile).tensors) {
    if (t.dtype !== "F32") throw new InputError(`${modelFile}: tensor "${name}" is ${t.dtype}; snndt weights are F32.`);
    weights.set(name, { shape: t.shape, data: t.data as Float32Array });
  }

  const stateFile = path.join(dir, STATE_FILE);
  let state: CheckpointState;
  try {
    state = JSON.parse(contents.get(STATE_FILE)!.toString("utf8")) as CheckpointState;
  } catch (err) {
    throw new InputError(`${stateFile} is not valid JSON: ${(err as Error).message}.`);
  }
  checkStateFields(state, stateFile);
  if (state.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw new InputError(`${stateFile}: checkpoint format version ${state.formatVersion}, this snndt reads version ${CHECKPOINT_FORMAT_VERSION}.`);
  }
  if (configHash(state.config) !== state.configHash) {
    throw new InputError(`${stateFile}: the stored config does not match its configHash ${state.configHash}; the file was edited.`);
  }
  return { weights, state, contents, modelSha256: checksums[MODEL_FILE] as string };
}

/**
 * Whether `dataset` holds the episodes a checkpoint was trained on: by the episodes' own hash when
 * the checkpoint has it (a raw file and its prepared copy then match), else by the manifest's.
 */
export function trainedOn(state: Pick<CheckpointState, "datasetManifestHash" | "datasetEpisodesHash">, dataset: PreparedDataset): boolean {
  return state.datasetEpisodesHash !== undefined ? state.datasetEpisodesHash === dataset.episodesSha256 : state.datasetManifestHash === dataset.manifest.sha256;
}

/** The fields every reader of state.json relies on, with their JSON types. */
const STATE_FIELD_TYPES: Record<keyof CheckpointState, "number" | "string" | "object" | "number|null" | "string|undefined" | "object|undefined"> = {
  formatVersion: "number",
  step: "number",
  epoch: "number",
  rng: "object",
  bestValLoss: "number|null",
  config: "object",
  configHash: "string",
  datasetManifestHash: "string",
  datasetEpisodesHash: "string|undefined",
  datasetReturns: "object|undefined",
  normalisation: "object",
  model: "object",
  snndtVersion: "string",
  backend: "string",
  trainer: "object",
  initFrom: "object|undefined",
};

function checkStateFields(state: unknown, file: string): asserts state is CheckpointState {
  if (typeof state !== "object" || state === null || Array.isArray(state)) throw new InputError(`${file} is not a JSON object.`);
  const record = state as Record<string, unknown>;
  for (const [field, type] of Object.entries(STATE_FIELD_TYPES)) {
    const value = record[field];
    const actual = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
    if (!type.split("|").includes(actual)) {
      throw new InputError(`${file}: field "${field}" should be ${type.replace("|undefined", " or absent").replace("|", " or ")}, found ${actual === "undefined" ? "nothing" : actual}.`);
    }
  }
}

/**
 * Assign loaded weights to the variables, matched by stable name. Every variable must be present
 * with its exact shape and the checkpoint must hold no other weights; otherwise nothing is assigned
 * and the error names each mismatched variable with both shapes.
 */
export function restoreVariables(parameters: NamedParameters, weights: LoadedCheckpoint["weights"], source = "the checkpoint"): void {
  const problems: string[] = [];
  const named = namedVariables(parameters);
  const known = new Set(parameters.parameterNames);
  for (const [name, variable] of named) {
    const saved = weights.get(name);
    if (!saved) problems.push(`"${name}" [${variable.shape}] is missing from ${source}`);
    else if (saved.shape.join(",") !== variable.shape.join(",")) {
      problems.push(`"${name}" is [${saved.shape}] in ${source} but [${variable.shape}] in the model`);
    }
  }
  for (const [name, saved] of weights) if (!known.has(name)) problems.push(`"${name}" [${saved.shape}] in ${source} is not in the model`);
  if (problems.length > 0) {
    const shown = problems.slice(0, 8).join("; ") + (problems.length > 8 ? `; and ${problems.length - 8} more` : "");
    throw new InputError(`${source} was saved from a model of another shape: ${shown}. Check model.* in the config against the checkpoint's state.json.`);
  }
  for (const [name, variable] of named) {
    const saved = weights.get(name)!;
    tf.tidy(() => variable.assign(tf.tensor(saved.data, variable.shape, "float32")));
  }
}

/** Restore the optimizer from a loaded checkpoint, whose moments are keyed by stable name. */
export function restoreOptimizer(parameters: NamedParameters, optimizer: AdamW, saved: AdamWState): void {
  const tfjsNames = new Map(namedVariables(parameters).map(([name, variable]) => [name, variable.name]));
  const unknown = [...saved.moments.keys()].filter((name) => !tfjsNames.has(name));
  if (unknown.length > 0) throw new InputError(`the optimizer state holds moments of ${unknown.join(", ")}, which the model does not have`);
  const moments: AdamWState["moments"] = new Map();
  for (const [name, moment] of saved.moments) moments.set(tfjsNames.get(name)!, moment);
  optimizer.setState({ step: saved.step, moments });
}

/** The newest complete step-<N> checkpoint of a run (one with its checksums file), or undefined. */
export async function latestCheckpoint(runDir: string): Promise<string | undefined> {
  return (await intactCheckpoints(runDir))[0]?.dir;
}

/** step-<N> directories whose save completed (their checksums, written last, are there), newest first. */
export async function intactCheckpoints(runDir: string): Promise<{ step: number; dir: string }[]> {
  return (await stepCheckpoints(runDir)).filter(({ dir }) => existsSync(path.join(dir, CHECKSUMS_FILE)));
}

/** step-<N> directories of a run, newest first (temporary directories are never listed). */
export async function stepCheckpoints(runDir: string): Promise<{ step: number; dir: string }[]> {
  const root = path.join(runDir, CHECKPOINTS_DIR);
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return names
    .map((name) => ({ name, match: STEP_DIR.exec(name) }))
    .filter((e): e is { name: string; match: RegExpExecArray } => e.match !== null)
    .map((e) => ({ step: Number(e.match[1]), dir: path.join(root, e.name) }))
    .sort((a, b) => b.step - a.step);
}

/**
 * Keep the newest `keepLast` step-<N> checkpoints taken on schedule; one taken off it (at an
 * interrupt) only while it is the newest, so a resumed run keeps the checkpoints an uninterrupted
 * one keeps. The half-written saves a killed process left go too; `best/` is never touched.
 * Returns the removed step-<N> dirs.
 */
export async function pruneCheckpoints(runDir: string, keepLast: number, onSchedule: (step: number) => boolean = () => true): Promise<string[]> {
  if (!Number.isInteger(keepLast) || keepLast < 1) throw new Error(`keepLast must be an integer >= 1, got ${keepLast}`);
  removeOrphanedTemporaries(path.join(runDir, CHECKPOINTS_DIR));
  const steps = await stepCheckpoints(runDir);
  const scheduled = steps.filter(({ step }) => onSchedule(step));
  const stale = [...scheduled.slice(keepLast), ...steps.slice(1).filter(({ step }) => !onSchedule(step))];
  const removed: string[] = [];
  for (const { dir } of stale) {
    await fs.rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
