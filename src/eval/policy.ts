/**
 * A trained model as a policy: load a checkpoint (weights + the normalisation it was trained with)
 * and choose actions from the same windows training used (src/data/windows.ts).
 */
import { InputError, UsageError } from "../runtime/errors.js";
import { ENV_IDS, makeEnv } from "./envs/index.js";
import type { ActionSpace } from "../data/types.js";
import { describeObservationParts, type ObservationPart } from "../data/observation-parts.js";
import type { WindowBatch, WindowSpec } from "../data/windows.js";
import { createDecisionRunner, createModel, type DecisionRunner, type ForwardStats, type ModelConfig, type SequenceModel } from "../model/index.js";
import { restoreVariables, type CheckpointState } from "../train/checkpoint.js";
import { readCheckpointWeights, resolveCheckpoint } from "../train/find-checkpoint.js";
import { modelConfigOf, windowSpecOf } from "../train/trainer.js";

export interface LoadedPolicy {
  /** The checkpoint directory the weights came from. */
  checkpoint: string;
  /** The run directory (parent of checkpoints/). */
  runDir: string;
  state: CheckpointState;
  model: SequenceModel;
  /** The batch-1 fast path (no tape, no padding work), equal to the model's forward. */
  runner: DecisionRunner;
  modelConfig: ModelConfig;
  spec: WindowSpec;
}

/** A spiking model's decisions fire spikes to count (and to record); a plain DT's none. */
export function isSpiking(policy: LoadedPolicy): boolean {
  return policy.modelConfig.kind !== "dt";
}

export async function loadPolicy(target: string): Promise<LoadedPolicy> {
  const { checkpoint, runDir } = await resolveCheckpoint(target);
  const loaded = await readCheckpointWeights(checkpoint, runDir);
  const norm = loaded.state.normalisation;
  const modelConfig = modelConfigOf(loaded.state.config, { obsDim: norm.obsDim, actionSpace: norm.actionSpace });
  const model = createModel(modelConfig, loaded.state.config.seed);
  restoreVariables(model, loaded.weights, checkpoint);
  return { checkpoint, runDir, state: loaded.state, model, runner: createDecisionRunner(model), modelConfig, spec: windowSpecOf(norm) };
}

export interface Decision {
  /** Discrete: the argmax index; continuous: the bounded action vector. */
  action: number | Float32Array;
  /** The model's outputs the action came from: a discrete model's scores (logits), a continuous one's action. */
  scores: Float32Array;
  stats?: ForwardStats;
}

/** The action of the last step of a batch-1 window (greedy: argmax for discrete, the tanh output for continuous). */
export function decide(runner: DecisionRunner, window: WindowBatch, actionSpace: ActionSpace, collectStats: boolean): Decision {
  const { action: values, stats } = runner.decide(window, { collectStats });
  const action = actionSpace.kind === "discrete" ? argMax(values) : values;
  return stats ? { action, scores: values, stats } : { action, scores: values };
}

function argMax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** One side of a shape check: a checkpoint, a dataset or an environment, named as messages name it. */
interface Shapes {
  name: string;
  obsDim: number;
  actionSpace: ActionSpace;
}

/** What differs between two sides' observation widths and action spaces ([] when they agree). */
function shapeMismatches(a: Shapes, b: Shapes): string[] {
  const problems: string[] = [];
  if (a.obsDim !== b.obsDim) problems.push(`observations have ${a.obsDim} dimensions in ${a.name} but ${b.obsDim} in ${b.name}`);
  const [x, y] = [a.actionSpace, b.actionSpace];
  if (x.kind !== y.kind) problems.push(`${a.name} has ${x.kind} actions, ${b.name} ${y.kind}`);
  else if (x.kind === "discrete" && y.kind === "discrete" && x.n !== y.n) problems.push(`${a.name} has ${x.n} actions, ${b.name} ${y.n}`);
  else if (x.kind === "continuous" && y.kind === "continuous" && x.dim !== y.dim) problems.push(`${a.name} actions have ${x.dim} dimensions, ${b.name}'s ${y.dim}`);
  return problems;
}

/**
 * Same shapes and an episode limit the model can time, or an error naming both: a checkpoint for
 * one environment cannot act in another, and one whose timesteps stop at max_ep_len cannot play
 * an episode past it (found here, not when the first long episode reaches it mid-evaluation).
 */
export function checkCompatible(
  spec: WindowSpec,
  env: { id: string; observationSpace: { shape: [number] }; actionSpace: ActionSpace; maxEpisodeSteps: number },
  checkpoint: string,
): void {
  const problems = shapeMismatches(
    { name: env.id, obsDim: env.observationSpace.shape[0], actionSpace: env.actionSpace },
    { ...spec, name: "the checkpoint" },
  );
  if (env.maxEpisodeSteps > spec.maxEpLen) {
    problems.push(
      `${env.id} runs episodes of up to ${env.maxEpisodeSteps} steps but the checkpoint's model.max_ep_len is ${spec.maxEpLen} ` +
        `(retrain with model.max_ep_len of at least ${env.maxEpisodeSteps}; timesteps are never clipped)`,
    );
  }
  if (problems.length) throw new InputError(`${checkpoint} cannot act in ${env.id}: ${problems.join("; ")}.`);
}

/** Below this share of the environment's box a model's action box is worth a warning (data from a tanh policy reaches 0.999...). */
const NARROW_BOX_SHARE = 0.99;

/**
 * A continuous model acts within its dataset's action box `data` (observed or declared; the head's
 * tanh is scaled to it); `model` names it (a checkpoint, or the model a training will make). Where
 * that box reaches outside the environment's, some of its actions are ones the environment clips or
 * refuses; where it covers clearly less, the model can never choose the rest. One warning for each
 * (none when the boxes agree, to float32 rounding).
 */
export function actionBoxWarnings(data: ActionSpace, env: { id: string; actionSpace: ActionSpace }, model: string): string[] {
  const box = env.actionSpace;
  if (data.kind !== "continuous" || box.kind !== "continuous" || data.dim !== box.dim) return [];
  const slack = (bound: number) => 1e-6 * Math.max(1, Math.abs(bound));
  const outside: string[] = [];
  const narrow: string[] = [];
  data.low.forEach((low, i) => {
    const [high, boxLow, boxHigh] = [data.high[i]!, box.low[i]!, box.high[i]!];
    const against = `dimension ${i}: [${low}, ${high}] against [${boxLow}, ${boxHigh}]`;
    if (low < boxLow - slack(boxLow) || high > boxHigh + slack(boxHigh)) outside.push(against);
    else if (Number.isFinite(boxHigh - boxLow) && high - low < NARROW_BOX_SHARE * (boxHigh - boxLow)) narrow.push(against);
  });
  const warnings: string[] = [];
  if (outside.length) {
    warnings.push(
      `${model} acts within its dataset's action box, which reaches outside ${env.id}'s action box (${outside.join("; ")}); ` +
        `actions beyond the box are the environment's to clip or refuse. Check that the data came from this environment (and the box declared when preparing it, if one was).`,
    );
  }
  if (narrow.length) {
    warnings.push(
      `${model} acts within its dataset's action box, which covers only part of ${env.id}'s (${narrow.join("; ")}): it can never choose ` +
        `the actions beyond. If they matter, declare the environment's box when preparing the data (prepare-dataset --action-low/--action-high) and train on the data so prepared.`,
    );
  }
  return warnings;
}

/** Why a built-in environment cannot play a model of data with these shapes ([] when it can). */
function shapeMisfits(envId: string, data: { obsDim: number; actionSpace: ActionSpace }): string[] {
  const env = makeEnv(envId);
  return shapeMismatches({ ...data, name: "the data" }, { name: envId, obsDim: env.observationSpace.shape[0], actionSpace: env.actionSpace });
}

/**
 * Before training: can `snndt eval` play a model of this data in the config's eval.env? Found
 * before the training, not after it. Data of another environment is an error naming the built-in
 * environments of its shapes; a max_ep_len shorter than the environment's episodes, an error saying
 * so. Returned as warnings: an id that is not built in (an external environment, --env-cmd, may
 * answer to it), observations flattened from parts, whose order nothing here can check, and an
 * action box that reaches outside the environment's or covers clearly less of it.
 */
export function checkEvalEnvironment(
  envId: string,
  maxEpLen: number,
  data: { obsDim: number; actionSpace: ActionSpace; manifest: { observation_parts?: ObservationPart[] } },
  dataPath: string,
): string[] {
  if (!ENV_IDS.includes(envId)) {
    return [`eval.env "${envId}" is not a built-in environment (${ENV_IDS.join(", ")}): its returns will need eval --env-cmd (or --env with a built-in one); eval --offline measures it on held-out data.`];
  }
  const problems = shapeMisfits(envId, data);
  const env = makeEnv(envId);
  const limit = env.maxEpisodeSteps;
  if (problems.length === 0) {
    if (limit > maxEpLen) {
      throw new UsageError(`eval.env ${envId} runs episodes of up to ${limit} steps but model.max_ep_len is ${maxEpLen}; set model.max_ep_len to at least ${limit} (snndt never clips timesteps).`);
    }
    const parts = data.manifest.observation_parts;
    // Parts are flattened in the order of their (sorted) names, as Gymnasium flattens a Dict; the
    // built-in environments observe one vector, whose order nothing here can check.
    const partsWarning = parts
      ? [
          `${dataPath}'s observations were flattened from parts: ${describeObservationParts(parts)}. ${envId} observes one vector in its own order, ` +
            "and eval gives the model the environment's: if the parts are not in that order, store the observation as one vector column in it and prepare the data again.",
        ]
      : [];
    return [...partsWarning, ...actionBoxWarnings(data.actionSpace, { id: envId, actionSpace: env.actionSpace }, `a model trained on ${dataPath}`)];
  }
  if (limit > maxEpLen) problems.push(`${envId} runs episodes of up to ${limit} steps but model.max_ep_len is ${maxEpLen}`);
  const fitting = ENV_IDS.filter((id) => shapeMisfits(id, data).length === 0);
  const hint = fitting.length ? ` (built-in environments with the data's shapes: ${fitting.join(", ")})` : "";
  // Discrete actions are counted from the data (its largest index + 1), which may miss actions it never takes.
  const fewerActions =
    data.actionSpace.kind === "discrete" && env.actionSpace.kind === "discrete" && data.actionSpace.n < env.actionSpace.n && data.obsDim === env.observationSpace.shape[0]
      ? ` If the data is of ${envId} and never takes its highest actions, declare them: prepare it with snndt prepare-dataset --action-n ${env.actionSpace.n}.`
      : "";
  throw new UsageError(
    `${dataPath} does not fit eval.env ${envId}, where snndt eval plays the trained model: ${problems.join("; ")}.${fewerActions} ` +
      `Choose the data's environment with --config configs/<env>.yaml or --set eval.env=<id>${hint}, and a model.max_ep_len of at least its episode limit; ` +
      `for an environment snndt does not build in, name it with --set eval.env=<its id> and play it with eval --env-cmd (or measure offline with eval --offline).`,
  );
}

/** A dataset evaluated offline (`eval --data`) must have the checkpoint's shapes and fit its max_ep_len. */
export function checkDataCompatible(spec: WindowSpec, data: { obsDim: number; actionSpace: ActionSpace; longestEpisode: number }, file: string, checkpoint: string): void {
  const problems = shapeMismatches({ ...data, name: "the dataset" }, { ...spec, name: "the checkpoint" });
  if (data.longestEpisode > spec.maxEpLen) {
    problems.push(`the dataset has an episode of ${data.longestEpisode} steps but the checkpoint's model.max_ep_len is ${spec.maxEpLen}`);
  }
  if (problems.length) throw new InputError(`${file} cannot be evaluated with ${checkpoint}: ${problems.join("; ")}.`);
}
