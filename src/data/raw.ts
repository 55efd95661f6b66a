/**
 * The shape every reader produces before the shared finishing steps (non-finite checks, action
 * space detection, returns-to-go, statistics). Readers only split rows into episodes; everything
 * that decides values lives here, so Arrow, D4RL and Minari inputs are treated identically.
 */
import type { ActionSpace, Episode, StateStats } from "./types.js";
import type { ObservationPart } from "./observation-parts.js";
import { InputError, UsageError } from "../runtime/errors.js";

export type SourceFormat = "arrow-file" | "arrow-stream" | "parquet" | "hdf5";
export type SourceLayout = "per-step" | "per-episode" | "d4rl" | "minari";

/** One episode as read, before checks. Arrays may be views into a reader's large flat buffers. */
export interface RawEpisode {
  length: number;
  /** length * obsDim */
  observations: Float32Array;
  /** length * actWidth */
  actions: Float32Array;
  /** Kept in float64 so returns-to-go are accumulated from the source's own precision. */
  rewards: Float64Array;
  terminated: boolean;
  truncated: boolean;
  /** Where step t of this episode is in the source, for error messages (e.g. "row 1203", "episode_7 row 3"). */
  locate(t: number): string;
}

export interface RawDataset {
  file: string;
  format: SourceFormat;
  layout: SourceLayout;
  /** The source names of the columns/datasets that were used, keyed by role. */
  columns: Record<string, string>;
  obsDim: number;
  actWidth: number;
  /** The action column has an integer type (so its values are indices of a discrete space). */
  actionsIntegerTyped: boolean;
  episodes: RawEpisode[];
  /** Steps after the last episode end that were dropped (0 when kept or when there were none). */
  droppedPartialSteps: number;
  warnings: string[];
  /** How `snndt collect` made the file, from its metadata (absent for other files). */
  collectedBy?: CollectedBy;
  /** The action space the file's own metadata declares (Minari's), used unless the user declares one. */
  declaredActionSpace?: ActionSpaceDeclaration;
  /** For observations of a Dict or Tuple space: where each part sits in the flattened vector. */
  observationParts?: ObservationPart[];
  /** For observations or actions spread over scalar columns (obs_0, obs_1, ...): the column of each element. */
  spreadColumns?: { observations?: string[]; actions?: string[] };
}

/**
 * How snndt played a dataset: `snndt collect` (a scripted policy, one seed) or `eval --trajectories`
 * (a model, its evaluation seeds). An evaluation under one of these seeds meets the same start states.
 */
export interface CollectedBy {
  env: string;
  /** The scripted policy's name, or "snndt eval <checkpoint>". */
  policy: string;
  /** The seed of the first reset. */
  seed: number;
  /** Every seed the episodes were played under, when there were several (eval --trajectories). */
  seeds?: number[];
}

/**
 * How an snndt steps file says who played it (snndt collect, eval --trajectories), in its schema
 * metadata; `collectedByOf` reads it back, so a dataset made from the file keeps it.
 */
export function collectedByMetadata(by: CollectedBy): Record<string, string> {
  return { "snndt.env": by.env, "snndt.policy": by.policy, "snndt.seed": String(by.seed), ...(by.seeds ? { "snndt.seeds": by.seeds.join(",") } : {}) };
}

/** The CollectedBy of a file's schema metadata, or undefined when it has none (or a damaged one). */
export function collectedByOf(metadata: ReadonlyMap<string, string>): CollectedBy | undefined {
  const seed = Number(metadata.get("snndt.seed"));
  const env = metadata.get("snndt.env");
  if (env === undefined || !Number.isSafeInteger(seed)) return undefined;
  const seeds = (metadata.get("snndt.seeds") ?? "").split(",").filter((s) => s !== "").map(Number);
  return { env, policy: metadata.get("snndt.policy") ?? "", seed, ...(seeds.length > 0 && seeds.every(Number.isSafeInteger) ? { seeds } : {}) };
}

/**
 * A declared action space: by the user (prepare-dataset's --action-space, --action-n,
 * --action-low/--action-high) or by the file's own metadata (Minari's). Whatever is left out is
 * detected from the data. Continuous bounds hold one number for every dimension or one per
 * dimension. `by` names who declared it, for messages and the manifest.
 */
export type ActionSpaceDeclaration =
  | { kind: "discrete"; n?: number; by?: string }
  | { kind: "continuous"; bounds?: { low: number[]; high: number[] }; by?: string };

function actionColumnOf(raw: RawDataset): string {
  return raw.columns["actions"] ?? "actions";
}

/** A declaration that does not fit the data: the user's flags are a usage error, a file's own metadata an input error. */
function misfit(declared: ActionSpaceDeclaration | undefined, message: string): Error {
  return declared?.by === undefined ? new UsageError(message) : new InputError(message);
}

/** For an error a file's own declaration caused: how to set it aside ("" when a flag declared it). */
function setAsideHint(declared: ActionSpaceDeclaration | undefined): string {
  return declared?.by === undefined ? "" : " Declare the space with --action-n or --action-low/--action-high to set the file's declaration aside.";
}

/**
 * The user's declaration or the file's own: a flag that names only the file's kind keeps its n or
 * bounds; any other flag sets the file's declaration aside, with a warning.
 */
function declarationToUse(user: ActionSpaceDeclaration | undefined, file: ActionSpaceDeclaration | undefined, warnings: string[]): ActionSpaceDeclaration | undefined {
  if (user === undefined || file === undefined) return user ?? file;
  if (declaredBy(user) === null && user.kind === file.kind) return file;
  const text = (d: ActionSpaceDeclaration): string =>
    d.kind === "discrete" ? `discrete${d.n === undefined ? "" : `, n = ${d.n}`}` : `continuous${d.bounds ? `, low [${d.bounds.low.join(", ")}], high [${d.bounds.high.join(", ")}]` : ""}`;
  if (text(user) !== text(file)) warnings.push(`the action space ${text(file)} declared by ${declaredBy(file)} is set aside for ${text(user)}, as the command line declares`);
  return user;
}

/** Who declared the space itself (its n, or its bounds) rather than only its kind; null when it was read off the data. */
function declaredBy(declared: ActionSpaceDeclaration | undefined): string | null {
  if (declared?.kind === "discrete" && declared.n !== undefined) return declared.by ?? "--action-n";
  if (declared?.kind === "continuous" && declared.bounds !== undefined) return declared.by ?? "--action-low/--action-high";
  return null;
}

export interface FinishOptions {
  /** Drop episodes holding NaN/Inf instead of failing. */
  dropNonfinite?: boolean;
  actionSpace?: ActionSpaceDeclaration;
}

export interface FinishedDataset {
  episodes: Episode[];
  obsDim: number;
  actionSpace: ActionSpace;
  /** Who declared the space's n or bounds (a flag, a metadata file); null when they were read off the data. */
  actionSpaceDeclaredBy: string | null;
  stateStats: StateStats;
  droppedNonfiniteEpisodes: number;
  warnings: string[];
}

function firstNonfinite(values: Float32Array | Float64Array): number {
  // Fast path: v * 0 is 0 for finite v and NaN for NaN or +-Inf, so the sum stays 0 iff all are finite.
  let probe = 0;
  for (let i = 0; i < values.length; i++) probe += values[i]! * 0;
  if (probe === 0) return -1;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/** A description of the first NaN/Inf in an episode, or null when all its values are finite. */
function describeNonfinite(raw: RawDataset, ep: RawEpisode): string | null {
  const checks: Array<[string, Float32Array | Float64Array, number, string[] | undefined]> = [
    [raw.columns["observations"] ?? "observations", ep.observations, raw.obsDim, raw.spreadColumns?.observations],
    [actionColumnOf(raw), ep.actions, raw.actWidth, raw.spreadColumns?.actions],
    [raw.columns["rewards"] ?? "rewards", ep.rewards, 1, undefined],
  ];
  for (const [column, values, width, spread] of checks) {
    const i = firstNonfinite(values);
    if (i >= 0) {
      const t = Math.floor(i / width);
      const element = i % width;
      if (spread) return `column "${spread[element]}" at ${ep.locate(t)} holds ${values[i]}`;
      // In a flattened Dict/Tuple observation, the part the element came from.
      const part = values === ep.observations ? raw.observationParts?.find((p) => element >= p.start && element < p.start + p.width) : undefined;
      const where = width > 1 ? `, element ${element}${part ? ` (part "${part.name}")` : ""}` : "";
      return `column "${column}" at ${ep.locate(t)}${where} holds ${values[i]}`;
    }
  }
  return null;
}

/**
 * Discrete when declared so, or when undeclared and actions are one number a step and either typed
 * as integers or all integer-valued and non-negative; n is the declared n, else max + 1. Otherwise a
 * continuous box: the declared bounds, else the observed per-dimension min/max. Declared spaces are
 * checked against every action.
 */
export function detectActionSpace(raw: RawDataset, episodes: RawEpisode[], declared?: ActionSpaceDeclaration): ActionSpace {
  const actionColumn = actionColumnOf(raw);
  let integerValued = true;
  let nonNegative = true;
  let maxValue = -Infinity;
  const low = new Array<number>(raw.actWidth).fill(Infinity);
  const high = new Array<number>(raw.actWidth).fill(-Infinity);
  const width = raw.actWidth;
  for (const ep of episodes) {
    const a = ep.actions;
    for (let t = 0; t < ep.length; t++) {
      for (let d = 0; d < width; d++) {
        const v = a[t * width + d]!;
        if (v < low[d]!) low[d] = v;
        if (v > high[d]!) high[d] = v;
      }
    }
  }
  for (const d of high) if (d > maxValue) maxValue = d;
  for (const d of low) if (d < 0) nonNegative = false;
  for (const ep of episodes) {
    const a = ep.actions;
    for (let i = 0; integerValued && i < a.length; i++) if (!Number.isInteger(a[i]!)) integerValued = false;
    if (!integerValued) break;
  }
  const wantDiscrete =
    declared !== undefined ? declared.kind === "discrete" : raw.actWidth === 1 && (raw.actionsIntegerTyped || integerValued) && nonNegative;
  if (!wantDiscrete) {
    const bounds = declared?.kind === "continuous" ? declared.bounds : undefined;
    return bounds ? declaredBox(raw, episodes, bounds, declared!) : { kind: "continuous", dim: width, low, high };
  }
  // The errors below arise only from a declaration: undeclared data is taken as discrete only when it fits.
  const who = declaredBy(declared) ?? "--action-space discrete";
  if (raw.actWidth !== 1) {
    throw misfit(
      declared,
      `${raw.file}: ${who} declares a discrete space, which needs one action index a step or one-hot rows, ` +
        `but column "${actionColumn}" has ${raw.actWidth} values a step that are not all one-hot.${setAsideHint(declared)}`,
    );
  }
  const declaredN = declared?.kind === "discrete" ? declared.n : undefined;
  for (const ep of episodes) {
    for (let t = 0; t < ep.length; t++) {
      const v = ep.actions[t]!;
      if (!Number.isInteger(v) || v < 0) {
        throw new InputError(
          `${raw.file}: column "${actionColumn}" at ${ep.locate(t)} holds ${v}, but ${who} declares a discrete space, ` +
            `whose actions are non-negative integer indices.${setAsideHint(declared)}`,
        );
      }
      if (declaredN !== undefined && v >= declaredN) {
        throw new InputError(
          `${raw.file}: column "${actionColumn}" at ${ep.locate(t)} holds action ${v}, but ${who} declares ${declaredN} actions, 0..${declaredN - 1}.${setAsideHint(declared)}`,
        );
      }
    }
  }
  return { kind: "discrete", n: declaredN ?? maxValue + 1 };
}

/** One bound a dimension from a declaration of one number (for every dimension) or one per dimension. */
function boundsPerDimension(raw: RawDataset, which: "low" | "high", values: number[], declared: ActionSpaceDeclaration): number[] {
  if (values.length === raw.actWidth) return values;
  if (values.length === 1) return new Array<number>(raw.actWidth).fill(values[0]!);
  throw misfit(
    declared,
    `${raw.file}: the ${which} bounds declared by ${declaredBy(declared)} are ${values.length} numbers, but column "${actionColumnOf(raw)}" has ${raw.actWidth} a step; ` +
      `expected one number for every dimension or ${raw.actWidth}.${setAsideHint(declared)}`,
  );
}

/** The declared box, once every action is found inside it (compared in float32, as the actions are stored). */
function declaredBox(raw: RawDataset, episodes: RawEpisode[], bounds: { low: number[]; high: number[] }, declared: ActionSpaceDeclaration): ActionSpace {
  const by = declaredBy(declared);
  const low = boundsPerDimension(raw, "low", bounds.low, declared);
  const high = boundsPerDimension(raw, "high", bounds.high, declared);
  low.forEach((lowValue, d) => {
    if (!(high[d]! > lowValue)) {
      throw misfit(declared, `${raw.file}: ${by} declares the action bounds [${lowValue}, ${high[d]}] for dimension ${d}; expected low < high.${setAsideHint(declared)}`);
    }
  });
  const width = raw.actWidth;
  const [lowF32, highF32] = [low.map(Math.fround), high.map(Math.fround)];
  for (const ep of episodes) {
    for (let t = 0; t < ep.length; t++) {
      for (let d = 0; d < width; d++) {
        const v = ep.actions[t * width + d]!;
        if (v < lowF32[d]! || v > highF32[d]!) {
          const element = width > 1 ? `, element ${d},` : "";
          throw new InputError(
            `${raw.file}: column "${actionColumnOf(raw)}" at ${ep.locate(t)}${element} holds ${v}, ` +
              `outside the action bounds [${low[d]}, ${high[d]}] declared by ${by}.${setAsideHint(declared)}`,
          );
        }
      }
    }
  }
  return { kind: "continuous", dim: width, low, high };
}

/** Each episode's action indices if every action row is one-hot (a single 1, the rest 0), else null. */
function oneHotIndices(episodes: RawEpisode[], width: number): Float32Array[] | null {
  const indices: Float32Array[] = [];
  for (const ep of episodes) {
    const picked = new Float32Array(ep.length);
    for (let t = 0; t < ep.length; t++) {
      let hot = -1;
      for (let k = 0; k < width; k++) {
        const v = ep.actions[t * width + k]!;
        if (v === 1 && hot < 0) hot = k;
        else if (v !== 0) return null;
      }
      if (hot < 0) return null;
      picked[t] = hot;
    }
    indices.push(picked);
  }
  return indices;
}

/** G_t = sum_{k>=t} r_k, accumulated backwards in float64. */
export function returnsToGo(rewards: ArrayLike<number>): Float32Array {
  const out = new Float32Array(rewards.length);
  let g = 0;
  for (let t = rewards.length - 1; t >= 0; t--) {
    g += rewards[t]!;
    out[t] = g;
  }
  return out;
}

/**
 * Per-dimension mean and population std over all steps, accumulated in float64 around a shift K_d
 * (the first observation): with y = x - K_d, mean = K_d + sum(y)/n and var = sum(y^2)/n - (sum(y)/n)^2.
 * Shifting by a sample value keeps the one-pass formula free of the cancellation that raw
 * sums of squares suffer when |mean| >> std.
 */
export function stateStatistics(episodes: Array<{ length: number; observations: Float32Array }>, obsDim: number): StateStats {
  const nonEmpty = episodes.filter((ep) => ep.length > 0);
  const steps = nonEmpty.reduce((n, ep) => n + ep.length, 0);
  const first = nonEmpty[0]?.observations;
  const shift = Float64Array.from({ length: obsDim }, (_, d) => (first !== undefined ? first[d]! : 0));
  const sum = new Float64Array(obsDim);
  const squares = new Float64Array(obsDim);
  // Row by row, so memory is read in order; each dimension's sums still add in step order.
  for (const ep of nonEmpty) {
    const o = ep.observations;
    const end = ep.length * obsDim;
    for (let row = 0; row < end; row += obsDim) {
      for (let d = 0; d < obsDim; d++) {
        const y = o[row + d]! - shift[d]!;
        sum[d]! += y;
        squares[d]! += y * y;
      }
    }
  }
  const n = Math.max(steps, 1);
  const mean = Array.from(shift, (k, d) => k + sum[d]! / n);
  const std = Array.from(sum, (s, d) => Math.sqrt(Math.max(0, squares[d]! / n - (s / n) * (s / n))));
  return { mean, std };
}

/** Non-finite checks, emptiness check, action space, returns-to-go and state statistics. */
export function finishDataset(raw: RawDataset, options: FinishOptions = {}): FinishedDataset {
  // (A file without steps has no widths either; it is refused as empty below.)
  const hasSteps = raw.episodes.some((ep) => ep.length > 0);
  for (const [column, width] of [[raw.columns["observations"] ?? "observations", raw.obsDim], [actionColumnOf(raw), raw.actWidth]] as const) {
    if (width === 0 && hasSteps) throw new InputError(`${raw.file}: column "${column}" holds no values a step; expected at least one.`);
  }
  const warnings = [...raw.warnings];
  let kept: RawEpisode[] = [];
  let droppedNonfinite = 0;
  let firstProblem: string | null = null;
  raw.episodes.forEach((ep) => {
    const problem = describeNonfinite(raw, ep);
    if (problem === null) {
      kept.push(ep);
      return;
    }
    if (!options.dropNonfinite) {
      throw new InputError(
        `${raw.file}: ${problem}; every observation, action and reward must be a finite number. ` +
          `Fix the data or pass --drop-nonfinite to drop the episodes that hold NaN or Inf.`,
      );
    }
    droppedNonfinite++;
    firstProblem ??= problem;
  });
  if (droppedNonfinite > 0) {
    warnings.push(
      `dropped ${droppedNonfinite} of ${raw.episodes.length} episodes holding NaN or Inf (--drop-nonfinite); the first: ${firstProblem}`,
    );
  }
  kept = kept.filter((ep) => ep.length > 0);
  if (kept.length === 0) {
    const why =
      raw.episodes.length === 0
        ? raw.droppedPartialSteps > 0
          ? `its ${raw.droppedPartialSteps} steps form one unfinished episode (no terminal or timeout flag), which is dropped unless --keep-partial`
          : "it holds no steps"
        : droppedNonfinite > 0
          ? `all ${droppedNonfinite} episodes hold NaN or Inf and were dropped`
          : "every episode has zero steps";
    throw new InputError(`${raw.file}: the dataset is empty: expected at least one episode with at least one step, but ${why}.`);
  }
  // One-hot rows are discrete actions in another spelling: read as indices unless told continuous.
  const declared = declarationToUse(options.actionSpace, raw.declaredActionSpace, warnings);
  const indices = raw.actWidth > 1 && declared?.kind !== "continuous" ? oneHotIndices(kept, raw.actWidth) : null;
  if (indices && declared?.kind === "discrete" && declared.n !== undefined && declared.n !== raw.actWidth) {
    const actionColumn = actionColumnOf(raw);
    throw misfit(declared, `${raw.file}: column "${actionColumn}" is one-hot over ${raw.actWidth} actions, but ${declaredBy(declared)} declares ${declared.n}.${setAsideHint(declared)}`);
  }
  if (indices) {
    const actionColumn = actionColumnOf(raw);
    warnings.push(`column "${actionColumn}" is one-hot (${raw.actWidth} wide, one 1 a row): read as discrete action indices 0..${raw.actWidth - 1} (--action-space continuous keeps the vectors)`);
  }
  const actionSpace: ActionSpace = indices ? { kind: "discrete", n: raw.actWidth } : detectActionSpace(raw, kept, declared);
  if (actionSpace.kind === "discrete" && !indices && !(declared?.kind === "discrete" && declared.n !== undefined)) {
    // n is counted as the largest index + 1: actions numbered from 1 would add an action never taken.
    const lowest = kept.reduce((min, ep) => ep.actions.reduce((m, a) => Math.min(m, a), min), Infinity);
    if (lowest > 0) {
      warnings.push(`action ${lowest === 1 ? "0 never occurs" : `0..${lowest - 1} never occur`} in column "${actionColumnOf(raw)}", so n = ${actionSpace.n} counts ${lowest === 1 ? "an action" : "actions"} the data never takes; if its actions are numbered from ${lowest}, subtract ${lowest} from them`);
    }
  }
  const episodes: Episode[] = kept.map((ep, i) => ({
    length: ep.length,
    observations: ep.observations,
    actions: indices ? indices[i]! : ep.actions,
    rewards: Float32Array.from(ep.rewards),
    returnsToGo: returnsToGo(ep.rewards),
    terminated: ep.terminated,
    truncated: ep.truncated,
  }));
  const stateStats = stateStatistics(episodes, raw.obsDim);
  const constant = stateStats.std.flatMap((std, d) => (std === 0 ? [d] : []));
  if (constant.length === raw.obsDim) {
    // A column of zeros (an unused info field named as the observations) trains a model blind to the state.
    warnings.push(`every observation value is the same at every step (std 0 in each of its ${raw.obsDim} dimension${raw.obsDim === 1 ? "" : "s"}): a model trained on it cannot see the state; check the observation column${raw.columns["observations"] ? ` ("${raw.columns["observations"]}")` : ""}`);
  } else if (constant.length > 0) {
    const listed = constant.length > 10 ? `${constant.slice(0, 10).join(", ")}, ... (${constant.length} in all)` : constant.join(", ");
    warnings.push(`observation dimension${constant.length === 1 ? "" : "s"} ${listed} of ${raw.obsDim} ${constant.length === 1 ? "is" : "are"} the same at every step (std 0): centred but not scaled, they tell the model nothing, and a value they take at evaluation reaches it unscaled`);
  }
  return {
    episodes,
    obsDim: raw.obsDim,
    actionSpace,
    actionSpaceDeclaredBy: declaredBy(declared),
    stateStats,
    droppedNonfiniteEpisodes: droppedNonfinite,
    warnings,
  };
}

export interface FlagSplit {
  /** Episode row ranges [start, end). */
  ranges: Array<[number, number]>;
  droppedPartialSteps: number;
  warnings: string[];
}

/** True if a terminal or timeout flag is set at `row` (either column may be absent). */
export function endsEpisode(terminals: ArrayLike<number> | null, timeouts: ArrayLike<number> | null, row: number): boolean {
  return (terminals !== null && terminals[row]! !== 0) || (timeouts !== null && timeouts[row]! !== 0);
}

/**
 * Split rows 0..rows-1 into episodes ending at rows whose terminal or timeout flag is set (the D4RL
 * rule `terminals | timeouts`). Rows after the last end form an unfinished episode, dropped with a
 * warning that counts its steps unless `keepPartial`.
 */
export function splitAtFlags(
  rows: number,
  terminals: ArrayLike<number> | null,
  timeouts: ArrayLike<number> | null,
  keepPartial: boolean,
): FlagSplit {
  const ranges: Array<[number, number]> = [];
  const warnings: string[] = [];
  let start = 0;
  for (let r = 0; r < rows; r++) {
    if (endsEpisode(terminals, timeouts, r)) {
      ranges.push([start, r + 1]);
      start = r + 1;
    }
  }
  let droppedPartialSteps = 0;
  if (start < rows) {
    if (keepPartial) {
      ranges.push([start, rows]);
    } else {
      droppedPartialSteps = rows - start;
      warnings.push(
        `dropped the last ${droppedPartialSteps} steps (rows ${start}..${rows - 1}): no terminal or timeout flag ends them, ` +
          `so they form an unfinished episode (keep it with --keep-partial)`,
      );
    }
  }
  return { ranges, droppedPartialSteps, warnings };
}
