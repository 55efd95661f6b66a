/**
 * HDF5 readers on h5wasm for the two layouts RL datasets are published in:
 *
 * - D4RL: flat root datasets observations (N, obs_dim), actions (N, act_dim) or (N,), rewards (N,)
 *   or (N, 1), terminals and timeouts (h5py bools, an int8 enum); next_observations, infos/* and
 *   metadata/* are ignored. An episode ends where terminals | timeouts. Datasets are read in row
 *   slices (chunked and gzip datasets decode slice by slice), so the whole file is never in memory twice.
 * - Minari: groups episode_N (N sorted numerically: episode_10 comes after episode_9) with
 *   observations (T+1 rows; the final observation is dropped), actions, rewards, terminations, truncations.
 *   Observations of a Dict or Tuple space are a group of datasets (Tuple parts named _index_0, ...),
 *   flattened by observation-parts.
 */
import * as path from "node:path";
import type { Dataset as H5Dataset, Group as H5Group } from "h5wasm";
import { InputError } from "../runtime/errors.js";
import type { ProgressFactory } from "../runtime/progress.js";
import { ambiguousEndsWarning, NO_COLUMN, refuseIdColumns, requireStepColumns, setAsideNote, type ColumnNames } from "./columns.js";
import { splitAtFlags, type RawDataset, type RawEpisode } from "./raw.js";
import { checkMinariCounts, minariActionSpace, minariMetadataBeside, minariObservationSpace } from "./minari-metadata.js";
import { describeLayout, flattenObservationParts, lazyObservationDeclaration, MAX_OBSERVATION_VALUES, sameLayout, type DeclaredObservation, type ObservationPart, type StoredPart } from "./observation-parts.js";
import { yieldToEventLoop } from "../runtime/event-loop.js";

type H5Module = typeof import("h5wasm/node");

export interface Hdf5ReadOptions {
  columns?: ColumnNames;
  keepPartial?: boolean;
  progress?: ProgressFactory;
}

/**
 * Rows read per slice: at most SLICE_ROWS and SLICE_BYTES (wide rows, such as images, take fewer),
 * rounded up to whole chunks so every chunk is decompressed once.
 */
const SLICE_ROWS = 131_072;
const SLICE_BYTES = 64 * 1024 ** 2;
/** The most values a typed array holds (V8's limit). */
const MAX_ARRAY_VALUES = 2 ** 32 - 1;

/** HDF5 datatype classes (H5T_class_t) as h5wasm reports them in metadata.type. */
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_ENUM = 8;

let modulePromise: Promise<H5Module> | null = null;

/**
 * h5wasm is ESM-only and loads a WebAssembly module: import it once, on first use. Its HDF5 error
 * handler is switched to throwing, so library errors arrive as exceptions carrying HDF5's own
 * diagnosis instead of being printed on stderr and surfacing later as unrelated failures.
 */
async function loadH5wasm(): Promise<H5Module> {
  modulePromise ??= (async () => {
    const mod = await import("h5wasm/node");
    const module = await mod.ready;
    module.activate_throwing_error_handler();
    return mod;
  })();
  return modulePromise;
}

/** The most specific line of an HDF5 error stack ("truncated file: eof = 2000, ... stored_eof = 106502"). */
function hdf5Reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const details = [...text.matchAll(/#\d+: .* in [^\s]+\(\): (.*)$/gm)].map((m) => m[1]!.trim());
  return details.length > 0 ? details[details.length - 1]! : text.split("\n")[0]!.trim();
}

/** Run an h5wasm call; an HDF5 failure becomes an InputError naming the file and what was being read. */
function h5call<T>(file: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${file}: HDF5 error while ${what}: ${hdf5Reason(err)}; the file is truncated or corrupt.`);
  }
}

function typeName(ds: H5Dataset): string {
  const m = ds.metadata;
  if (m.type === H5T_FLOAT) return `float${m.size * 8}`;
  if (m.type === H5T_INTEGER) return `${m.signed ? "int" : "uint"}${m.size * 8}`;
  if (m.type === H5T_ENUM) return `enum (${m.size * 8}-bit)`;
  return `HDF5 type class ${m.type}`;
}

/** A dataset's rows and per-row width, checked against what the role allows. */
interface Column {
  name: string;
  ds: H5Dataset;
  rows: number;
  width: number;
  integerTyped: boolean;
}

function describeShape(shape: number[] | null): string {
  return shape === null ? "a scalar" : `shape (${shape.join(", ")})`;
}

/**
 * Open a dataset of one row a step, of at most `maxWidth` values a row (null: any). `ravel` accepts
 * rows of several dimensions (a Box of shape (2, 2) stored as (steps, 2, 2)), read row-major.
 */
function openColumn(file: string, group: H5Group, name: string, prefix: string, maxWidth: number | null, ravel = false): Column {
  const full = prefix + name;
  return h5call(file, `opening dataset "${full}"`, () => openColumnUnchecked(file, group, name, full, maxWidth, ravel));
}

/** HDF5's own filters (deflate, shuffle, fletcher32, szip, nbit, scaleoffset); others (LZF, Blosc, zstd, ...) are plugins. */
const HDF5_BUILT_IN_FILTERS = new Set([1, 2, 3, 4, 5, 6]);

/** Whether an h5wasm entity is a group (h5wasm's classes are told apart by their methods). */
function isGroup(entity: unknown): entity is H5Group {
  return typeof entity === "object" && entity !== null && "keys" in entity && !("slice" in entity);
}

function openColumnUnchecked(file: string, group: H5Group, name: string, full: string, maxWidth: number | null, ravel: boolean): Column {
  const entity = group.get(name);
  if (entity === null || !("slice" in entity)) {
    throw new InputError(
      `${file}: "${full}" is ${isGroup(entity) ? "a group (a Dict or Tuple space?)" : "not a dataset"}; expected a numeric dataset of one row a step` +
        (isGroup(entity) ? "; snndt reads Dict and Tuple spaces only for the observations of Minari datasets." : "."),
    );
  }
  const ds = entity as H5Dataset;
  const m = ds.metadata;
  if (m.type !== H5T_FLOAT && m.type !== H5T_INTEGER && m.type !== H5T_ENUM) {
    throw new InputError(`${file}: dataset "${full}" has type ${typeName(ds)}; expected float, integer or bool values.`);
  }
  if (m.type === H5T_FLOAT && m.size < 4) {
    // h5wasm, which reads the file, has no half-precision conversion.
    throw new InputError(`${file}: dataset "${full}" has type ${typeName(ds)}; expected float32 or float64 (convert it, e.g. with h5py: astype("float32")).`);
  }
  const foreign = ds.filters.find((filter) => !HDF5_BUILT_IN_FILTERS.has(filter.id));
  if (foreign) {
    throw new InputError(
      `${file}: dataset "${full}" is compressed with the ${foreign.name || "unnamed"} filter (HDF5 filter ${foreign.id}), a plugin snndt's HDF5 reader does not have; ` +
        `expected no compression or gzip (rewrite it, e.g. with h5py: compression="gzip").`,
    );
  }
  const shape = ds.shape;
  if (shape === null || shape.length === 0 || (shape.length > 2 && !ravel)) {
    throw new InputError(`${file}: dataset "${full}" has ${describeShape(shape)}; expected (steps,) or (steps, width).`);
  }
  const width = shape.slice(1).reduce((a, b) => a * b, 1);
  if (maxWidth !== null && width > maxWidth) {
    throw new InputError(`${file}: dataset "${full}" has ${describeShape(shape)}; expected one value a step, (steps,) or (steps, 1).`);
  }
  return { name: full, ds, rows: shape[0]!, width, integerTyped: m.type === H5T_INTEGER };
}

/** An observation column, refused before anything is read when its rows are wider than snndt reads (images). */
function observationColumn(file: string, col: Column): Column {
  if (col.width > MAX_OBSERVATION_VALUES) {
    throw new InputError(
      `${file}: dataset "${col.name}" has ${describeShape(col.ds.shape)}, ${col.width} values a step; snndt reads HDF5 observations of up to ${MAX_OBSERVATION_VALUES} values a step ` +
        "(a small image, 84x84x3, fits), embedded as one flat vector.",
    );
  }
  return col;
}

/** The typed array matching a dataset's stored values: float or integer of its size and sign (enums: their base type). */
function valueArrayType(ds: H5Dataset): Float32ArrayConstructor | Float64ArrayConstructor | Int8ArrayConstructor | Uint8ArrayConstructor | Int16ArrayConstructor | Uint16ArrayConstructor | Int32ArrayConstructor | Uint32ArrayConstructor | BigInt64ArrayConstructor | BigUint64ArrayConstructor {
  const m = ds.metadata;
  const type = m.type === H5T_ENUM ? m.enum_type!.type : m.type;
  if (type === H5T_FLOAT) return m.size === 8 ? Float64Array : Float32Array;
  if (m.size === 8) return m.signed ? BigInt64Array : BigUint64Array;
  if (m.size === 4) return m.signed ? Int32Array : Uint32Array;
  if (m.size === 2) return m.signed ? Int16Array : Uint16Array;
  return m.signed ? Int8Array : Uint8Array;
}

/**
 * Reads a dataset's row slices straight from HDF5 into one reused buffer on the WebAssembly heap,
 * then into the caller's array. (h5wasm's `slice` copies each slice into a fresh array first; on a
 * large file those fresh pages cost as much as the read itself.)
 */
class RowReader {
  private ptr = 0;
  private capacity = 0;

  constructor(
    private readonly h5: H5Module,
    private readonly file: string,
  ) {}

  /** Copy rows [begin, end) of `col` into `out` at `outOffset` (values, not rows). */
  read(col: Column, begin: number, end: number, out: Float32Array | Float64Array, outOffset: number): void {
    const what = `reading rows ${begin}..${end - 1} of dataset "${col.name}"`;
    const Values = valueArrayType(col.ds);
    const count = (end - begin) * col.width;
    const bytes = count * Values.BYTES_PER_ELEMENT;
    const module = this.h5.Module;
    if (bytes > this.capacity) {
      this.release();
      this.ptr = module._malloc(bytes);
      if (this.ptr === 0) throw new InputError(`${this.file}: ${what}: out of memory for ${bytes} bytes.`);
      this.capacity = bytes;
    }
    const rowShape = col.ds.shape!.slice(1);
    const counts = [BigInt(end - begin), ...rowShape.map(BigInt)];
    const offsets = [BigInt(begin), ...rowShape.map(() => 0n)];
    const strides = counts.map(() => 1n);
    h5call(this.file, what, () => module.get_dataset_data(col.ds.file_id, col.ds.path, counts, offsets, strides, BigInt(this.ptr)));
    // The heap may have grown during the read: view its current buffer.
    const values = new Values(module.HEAPU8.buffer as ArrayBuffer, this.ptr, count);
    if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
      for (let i = 0; i < count; i++) out[outOffset + i] = Number(values[i]!);
    } else {
      out.set(values, outOffset);
    }
  }

  /** Every row of `col`, in a new array of float32 or float64 values. */
  readAll(col: Column, precision: "f32"): Float32Array;
  readAll(col: Column, precision: "f64"): Float64Array;
  readAll(col: Column, precision: "f32" | "f64"): Float32Array | Float64Array;
  readAll(col: Column, precision: "f32" | "f64"): Float32Array | Float64Array {
    const values = precision === "f64" ? new Float64Array(col.rows * col.width) : new Float32Array(col.rows * col.width);
    if (col.rows > 0) this.read(col, 0, col.rows, values, 0);
    return values;
  }

  /** Free the buffer (safe to call twice). */
  release(): void {
    if (this.ptr !== 0) this.h5.Module._free(this.ptr);
    this.ptr = 0;
    this.capacity = 0;
  }
}

function sliceRowsFor(col: Column): number {
  const rowBytes = col.width * valueArrayType(col.ds).BYTES_PER_ELEMENT;
  const rows = Math.max(1, Math.min(SLICE_ROWS, Math.floor(SLICE_BYTES / rowBytes)));
  const chunkRows = col.ds.metadata.chunks?.[0] ?? 0;
  return chunkRows > 0 ? Math.ceil(rows / chunkRows) * chunkRows : rows;
}

/**
 * A group's own names, and every name a flag gives as a path below it ("infos/qpos") that exists:
 * D4RL and Minari files keep more per-step data in subgroups such as infos/.
 */
function withNestedNames(group: H5Group, keys: string[], cols: ColumnNames): string[] {
  const nested = Object.values(cols).filter((name) => name.includes("/") && !keys.includes(name));
  const found = nested.filter((name) => {
    try {
      return group.get(name) !== null;
    } catch {
      return false; // a path through a missing group
    }
  });
  return [...keys, ...found];
}

/** How column errors name what an HDF5 group holds. */
const DATASETS = 'datasets (one in a subgroup is named by its path, such as "infos/qpos")';

async function readD4rl(file: string, h5file: H5Group, reader: RowReader, options: Hdf5ReadOptions): Promise<RawDataset> {
  const cols = options.columns ?? {};
  const keys = withNestedNames(h5file, h5call(file, "listing the root group", () => h5file.keys()), cols);
  // Observations of more than one axis a step (small images) are read flat, as in Minari files.
  const { observations: obsName, actions: actName, rewards: rewName, terminals: termName, timeouts: timeoutName } = requireStepColumns(file, keys, cols, DATASETS, "dataset");
  const obs = observationColumn(file, openColumn(file, h5file, obsName, "", null, true));
  const act = openColumn(file, h5file, actName, "", null);
  const rew = openColumn(file, h5file, rewName, "", 1);
  if (termName === undefined && timeoutName === undefined) {
    const declaredAbsent = cols.terminals === NO_COLUMN && cols.timeouts === NO_COLUMN;
    throw new InputError(
      declaredAbsent
        ? `${file}: --terminal-column/--timeout-column none leave no "terminals" or "timeouts" dataset to end episodes at; a D4RL-style file needs at least one of them.`
        : `${file}: no "terminals" or "timeouts" dataset (or --terminal-column / --timeout-column), so episode ends cannot be found; found datasets: ${keys.map((k) => `"${k}"`).join(", ")}` +
          `${setAsideNote(cols, ["terminals", "timeouts"])}. If the episodes are of one fixed length, say 200 steps, one after another, add a "timeouts" dataset ` +
          `true at each episode's last step (h5py: f["timeouts"] = numpy.arange(len(f["rewards"])) % 200 == 199).`,
    );
  }
  const term = termName !== undefined ? openColumn(file, h5file, termName, "", 1) : null;
  const timeout = timeoutName !== undefined ? openColumn(file, h5file, timeoutName, "", 1) : null;
  const n = obs.rows;
  if (n * obs.width > MAX_ARRAY_VALUES) {
    throw new InputError(
      `${file}: dataset "${obs.name}" holds ${n} steps of ${obs.width} values, ${n * obs.width} in all; snndt keeps a file's observations in one ` +
        `array of at most ${MAX_ARRAY_VALUES} values. Split the file, or keep fewer values a step.`,
    );
  }
  for (const col of [act, rew, term, timeout]) {
    if (col !== null && col.rows !== n) {
      throw new InputError(
        `${file}: dataset "${col.name}" has ${col.rows} rows but "${obs.name}" has ${n}; expected one row a step in every dataset (mismatched lengths).`,
      );
    }
  }
  const observations = new Float32Array(n * obs.width);
  const actions = new Float32Array(n * act.width);
  const rewards = new Float64Array(n);
  const terminals = term ? new Float32Array(n) : null;
  const timeouts = timeout ? new Float32Array(n) : null;
  const jobs: Array<[Column, Float32Array | Float64Array]> = [[obs, observations], [act, actions], [rew, rewards]];
  if (term) jobs.push([term, terminals!]);
  if (timeout) jobs.push([timeout, timeouts!]);
  const bar = options.progress?.start(`reading ${path.basename(file)}`, n * jobs.length);
  let done = 0;
  for (const [col, out] of jobs) {
    const step = sliceRowsFor(col);
    for (let begin = 0; begin < n; begin += step) {
      const end = Math.min(n, begin + step);
      reader.read(col, begin, end, out, begin * col.width);
      done += end - begin;
      bar?.update(done);
      // Let the progress bar draw between slices.
      await yieldToEventLoop();
    }
  }
  bar?.stop();
  const split = splitAtFlags(n, terminals, timeouts, options.keepPartial ?? false);
  const episodes: RawEpisode[] = split.ranges.map(([start, end]) => ({
    length: end - start,
    observations: observations.subarray(start * obs.width, end * obs.width),
    actions: actions.subarray(start * act.width, end * act.width),
    rewards: rewards.subarray(start, end),
    terminated: terminals !== null && terminals[end - 1]! !== 0,
    truncated: timeouts !== null && timeouts[end - 1]! !== 0,
    locate: (t) => `row ${start + t}`,
  }));
  const used: Record<string, string> = { observations: obs.name, actions: act.name, rewards: rew.name };
  if (term) used["terminals"] = term.name;
  if (timeout) used["timeouts"] = timeout.name;
  return {
    file,
    format: "hdf5",
    layout: "d4rl",
    columns: used,
    obsDim: obs.width,
    actWidth: act.width,
    actionsIntegerTyped: act.integerTyped,
    episodes,
    droppedPartialSteps: split.droppedPartialSteps,
    warnings: [...ambiguousEndsWarning(termName, timeoutName), ...split.warnings],
  };
}

const EPISODE_GROUP = /^episode_(\d+)$/;


/** An episode's observations: one dataset, or a Dict/Tuple space's group flattened (then `parts` says where each part went). */
interface MinariObservations {
  name: string;
  rows: number;
  width: number;
  values: Float32Array;
  parts: ObservationPart[] | null;
}

/** A Dict or Tuple space's group as StoredParts; each dataset is read whole when flattening asks for it. */
function storedParts(file: string, group: H5Group, full: string, reader: RowReader): StoredPart {
  const keys = h5call(file, `listing group "${full}"`, () => group.keys());
  const children = new Map<string, StoredPart>();
  for (const key of keys) {
    const entity = h5call(file, `opening "${full}/${key}"`, () => group.get(key));
    if (isGroup(entity)) {
      children.set(key, storedParts(file, entity, `${full}/${key}`, reader));
      continue;
    }
    const col = openColumn(file, group, key, `${full}/`, null, true);
    children.set(key, {
      kind: "leaf",
      read: (precision) => ({ rows: col.rows, width: col.width, values: reader.readAll(col, precision) }),
    });
  }
  return { kind: "group", children };
}

function readMinariObservations(file: string, group: H5Group, name: string, prefix: string, reader: RowReader, declared: () => DeclaredObservation | null): MinariObservations {
  const full = prefix + name;
  const entity = h5call(file, `opening "${full}"`, () => group.get(name));
  if (isGroup(entity)) {
    const flat = flattenObservationParts(file, full, storedParts(file, entity, full, reader), "_index_N", declared());
    return { name: full, rows: flat.rows, width: flat.width, values: flat.values, parts: flat.parts };
  }
  const col = observationColumn(file, openColumn(file, group, name, prefix, null, true));
  return { name: full, rows: col.rows, width: col.width, values: reader.readAll(col, "f32"), parts: null };
}

async function readMinari(file: string, h5file: H5Group, groupNames: string[], reader: RowReader, options: Hdf5ReadOptions): Promise<RawDataset> {
  const cols = options.columns ?? {};
  // Numeric order: HDF5 lists episode_10 before episode_2.
  const ordered = [...groupNames].sort((a, b) => Number(EPISODE_GROUP.exec(a)![1]) - Number(EPISODE_GROUP.exec(b)![1]));
  const episodes: RawEpisode[] = [];
  const used: Record<string, string> = {};
  let obsDim = -1;
  let actWidth = -1;
  let integerTyped = false;
  let obsParts: ObservationPart[] | null = null;
  const rootAttributes = h5call(file, "reading the root group's attributes", () => h5file.attrs);
  const metadata = minariMetadataBeside(file);
  const observationSpace = lazyObservationDeclaration(() => minariObservationSpace(metadata, rootAttributes["observation_space"]?.value ?? null));
  const bar = options.progress?.start(`reading ${path.basename(file)}`, ordered.length);
  for (const [index, groupName] of ordered.entries()) {
    const group = h5call(file, `opening group "${groupName}"`, () => h5file.get(groupName) as H5Group);
    const keys = withNestedNames(group, h5call(file, `listing group "${groupName}"`, () => group.keys()), cols);
    const what = `datasets in "${groupName}" (one in a subgroup is named by its path below it, such as "infos/success")`;
    const prefix = `${groupName}/`;
    const { observations: obsName, actions: actName, rewards: rewName, terminals: termName, timeouts: timeoutName } = requireStepColumns(file, keys, cols, what, "dataset");
    const obs = readMinariObservations(file, group, obsName, prefix, reader, observationSpace.get);
    const act = openColumn(file, group, actName, prefix, null);
    const rew = openColumn(file, group, rewName, prefix, 1);
    const term = termName !== undefined ? openColumn(file, group, termName, prefix, 1) : null;
    const timeout = timeoutName !== undefined ? openColumn(file, group, timeoutName, prefix, 1) : null;
    const length = rew.rows;
    if (obs.rows !== length + 1 && obs.rows !== length) {
      throw new InputError(
        `${file}: dataset "${obs.name}" has ${obs.rows} rows but "${rew.name}" has ${length}; expected ${length + 1} (one more observation than steps, Minari's layout) (mismatched lengths).`,
      );
    }
    for (const col of [act, term, timeout]) {
      if (col !== null && col.rows !== length) {
        throw new InputError(`${file}: dataset "${col.name}" has ${col.rows} rows but "${rew.name}" has ${length}; expected one row a step (mismatched lengths).`);
      }
    }
    if (obsDim === -1) {
      obsDim = obs.width;
      obsParts = obs.parts;
      actWidth = act.width;
      integerTyped = act.integerTyped;
      Object.assign(used, { observations: obs.name, actions: act.name, rewards: rew.name });
      if (term) used["terminals"] = term.name;
      if (timeout) used["timeouts"] = timeout.name;
    } else if (!sameLayout(obs, { parts: obsParts, width: obsDim })) {
      if (obs.parts === null && obsParts === null) {
        throw new InputError(`${file}: dataset "${obs.name}" has ${obs.width} values a step but earlier episodes have ${obsDim} (ragged observations).`);
      }
      throw new InputError(`${file}: "${obs.name}" holds ${describeLayout(obs.parts, obs.width)} but earlier episodes hold ${describeLayout(obsParts, obsDim)} (ragged observations).`);
    } else if (act.width !== actWidth) {
      throw new InputError(`${file}: dataset "${act.name}" has ${act.width} values a step but earlier episodes have ${actWidth} (ragged actions).`);
    }
    const actions = reader.readAll(act, "f32");
    const rewards = reader.readAll(rew, "f64");
    const lastFlag = (col: Column | null): boolean => length > 0 && col !== null && reader.readAll(col, "f32")[length - 1]! !== 0;
    episodes.push({
      length,
      // The extra last row is the observation after the final step: no action follows it.
      observations: obs.values.subarray(0, length * obs.width),
      actions,
      rewards,
      terminated: lastFlag(term),
      truncated: lastFlag(timeout),
      locate: (t) => `${groupName} row ${t}`,
    });
    bar?.update(index + 1);
    await yieldToEventLoop();
  }
  bar?.stop();
  checkMinariCounts(metadata, file, episodes.length, episodes.reduce((sum, ep) => sum + ep.length, 0));
  const declared = minariActionSpace(metadata, rootAttributes["action_space"]?.value ?? null);
  return {
    file,
    format: "hdf5",
    layout: "minari",
    columns: used,
    obsDim: Math.max(obsDim, 0),
    actWidth: Math.max(actWidth, 0),
    actionsIntegerTyped: integerTyped,
    episodes,
    droppedPartialSteps: 0,
    warnings: [declared.warning, obsParts !== null ? observationSpace.warning() : null].filter((w) => w !== null),
    ...(declared.declaration ? { declaredActionSpace: declared.declaration } : {}),
    ...(obsParts !== null ? { observationParts: obsParts } : {}),
  };
}

/**
 * A flag's dataset path as HDF5 files are read here: relative to the root (D4RL) or to each episode
 * group (Minari), so a leading "/" (as h5ls and h5py print paths) is dropped, and so are empty steps
 * ("infos//qpos", "infos/qpos/"): one path, one name in the manifest.
 */
function relativePath(name: string): string {
  return name === NO_COLUMN ? name : name.split("/").filter((step) => step !== "").join("/");
}

/** Read a D4RL or Minari HDF5 file (the layout is found from its contents). */
export async function readHdf5(file: string, given: Hdf5ReadOptions = {}): Promise<RawDataset> {
  const columns = Object.fromEntries(Object.entries(given.columns ?? {}).map(([role, name]) => [role, relativePath(name)])) as ColumnNames;
  const options = { ...given, columns };
  refuseIdColumns(
    file,
    columns,
    "an HDF5 file's episodes end at its terminals/timeouts (D4RL layout; --terminal-column and --timeout-column name those datasets) or are its episode_N groups (Minari layout)",
  );
  const h5 = await loadH5wasm();
  const h5file = h5call(file, "opening the file", () => new h5.File(path.resolve(file), "r"));
  const reader = new RowReader(h5, file);
  try {
    const keys = h5call(file, "listing the root group", () => h5file.keys());
    const episodeGroups = keys.filter((k) => EPISODE_GROUP.test(k) && h5call(file, `opening "${k}"`, () => h5file.get(k)) instanceof h5.Group);
    if (episodeGroups.length > 0) return await readMinari(file, h5file, episodeGroups, reader, options);
    return await readD4rl(file, h5file, reader, options);
  } finally {
    reader.release();
    try {
      h5file.close();
    } catch {
      // closing a file HDF5 found corrupt can fail too; the read error is what matters.
    }
  }
}
