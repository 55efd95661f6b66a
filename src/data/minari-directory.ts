/**
 * Minari dataset directories. A Minari dataset keeps its episodes in `data/`, where `metadata.json`
 * names the storage (`data_format`) and declares the spaces. The storages:
 *
 * - "hdf5": `data/main_data.hdf5` with episode_N groups (read by hdf5-reader). Minari 0.4 datasets
 *   have this file alone, their metadata in its root attributes.
 * - "arrow": one directory an episode, `data/<episode id>/part-0.arrow`, an Arrow IPC file whose
 *   columns (observations, actions, rewards, terminations, truncations, infos) all hold T+1 rows:
 *   observations end with the one after the last step, the others with a padding row to drop. The
 *   episode id is the directory's name (pyarrow's partitioning keeps it out of the file), and
 *   `data/<episode id>/metadata.json` records the episode's `total_steps`.
 * - "parquet": as "arrow", in `data/<episode id>/part-0.parquet`.
 *
 * Box spaces are FixedSizeList columns (of the flattened shape), Discrete spaces int32 columns,
 * Dict and Tuple spaces struct columns (a Tuple's fields named 0, 1, ...); observations of those are
 * flattened by observation-parts.
 */
import { existsSync, readdirSync, readFileSync, statSync, type Stats } from "node:fs";
import * as path from "node:path";
import { Type, type Table } from "apache-arrow";
import { InputError } from "../runtime/errors.js";
import type { ProgressFactory } from "../runtime/progress.js";
import { yieldToEventLoop } from "../runtime/event-loop.js";
import { refuseIdColumns, requireStepColumns, type ColumnNames } from "./columns.js";
import { flattenNumbers, type NestedNumbers } from "./arrow-nested.js";
import { observationRows, parseArrowFile, perStepWidth, structFieldNames } from "./arrow-reader.js";
import { decodeParquetFiles } from "./parquet-reader.js";
import { detectFormat } from "./detect.js";
import { MINARI_DATA_FILE, MINARI_METADATA_FILE, parsePythonJson, recordedCount, serializedSpace } from "./minari-metadata.js";
import type { RawDataset, RawEpisode, SourceFormat } from "./raw.js";
import { declaredObservation, describeLayout, lazyObservationDeclaration, sameLayout, type ObservationPart } from "./observation-parts.js";

const DATA_DIR = "data";
/**
 * pyarrow's write_dataset names an episode's file part-{i}.<the format's extension>; Minari writes one
 * an episode. Older pyarrow gave its Arrow IPC format the extension "feather".
 */
const PART_FILE = { arrow: /^part-\d+\.(arrow|feather)$/, parquet: /^part-\d+\.parquet$/ } as const;

/** A Minari dataset whose episodes are files of their own, one directory an episode. */
export interface MinariEpisodeFiles {
  storage: "arrow" | "parquet";
  dataDir: string;
  metadataFile: string;
  metadata: Record<string, unknown>;
}

/** Where a Minari dataset's episodes are, by storage. */
export type MinariStorage = { storage: "hdf5"; file: string } | MinariEpisodeFiles;

/** One episode of an arrow or parquet storage: its id, its file and the steps its metadata records (if any). */
export interface MinariEpisodeFile {
  id: number;
  file: string;
  totalSteps: number | null;
}

export interface MinariReadOptions {
  columns?: ColumnNames;
  progress?: ProgressFactory;
}

function readJsonObject(file: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parsePythonJson(readFileSync(file, "utf8"));
  } catch (err) {
    throw new InputError(`${file}: cannot read it as JSON (${(err as Error).message}); expected ${what}.`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new InputError(`${file}: holds ${JSON.stringify(parsed)?.slice(0, 40)}; expected ${what} (a JSON object).`);
  return parsed as Record<string, unknown>;
}

/**
 * The storage of the Minari dataset at `dir` (the dataset's directory or its `data/`), or null when
 * `dir` is no Minari dataset. A Minari dataset in a storage snndt cannot read is an InputError.
 */
export function locateMinariDataset(dir: string): MinariStorage | null {
  let storageless: string | null = null;
  for (const dataDir of [dir, path.join(dir, DATA_DIR)]) {
    const metadataFile = path.join(dataDir, MINARI_METADATA_FILE);
    const hdf5File = path.join(dataDir, MINARI_DATA_FILE);
    if (!existsSync(metadataFile)) {
      if (existsSync(hdf5File)) return { storage: "hdf5", file: hdf5File };
      continue;
    }
    let metadata: Record<string, unknown>;
    try {
      metadata = readJsonObject(metadataFile, "Minari's dataset metadata");
    } catch (err) {
      // The HDF5 reader warns about the unusable metadata itself and reads the file's own.
      if (existsSync(hdf5File)) return { storage: "hdf5", file: hdf5File };
      throw err;
    }
    const format = metadata["data_format"];
    if (format === "arrow" || format === "parquet") return { storage: format, dataDir, metadataFile, metadata };
    if (format === "hdf5" || (format === undefined && existsSync(hdf5File))) {
      if (!existsSync(hdf5File)) throw new InputError(`${metadataFile}: "data_format" is "hdf5", but ${hdf5File} is missing; the dataset is incomplete (download it again).`);
      return { storage: "hdf5", file: hdf5File };
    }
    if (format !== undefined) throw new InputError(`${metadataFile}: "data_format" is ${JSON.stringify(format)}; expected "hdf5", "arrow" or "parquet" (Minari's storages).`);
    storageless ??= metadataFile;
  }
  if (storageless !== null) {
    throw new InputError(`${storageless}: names no "data_format", and no ${MINARI_DATA_FILE} is beside it; expected a Minari dataset's metadata (data_format "hdf5", "arrow" or "parquet").`);
  }
  return null;
}

/** Whether `name` is an episode's directory name: Minari writes str(id), so "7", never "07". */
function isEpisodeDirName(name: string): boolean {
  return /^\d+$/.test(name) && String(Number(name)) === name && Number.isSafeInteger(Number(name));
}

/** What `file` is, following symbolic links; null when nothing is there (also a dangling or looping link). */
function statOrNull(file: string): Stats | null {
  try {
    return statSync(file);
  } catch (err) {
    if (["ENOENT", "ELOOP", "ENOTDIR"].includes((err as NodeJS.ErrnoException).code ?? "")) return null;
    throw err;
  }
}

/** The first `limit` ids in 0..recorded-1 that `present` lacks (present is sorted; the walk stops early however large recorded is). */
function missingIds(present: readonly number[], recorded: number, limit: number): number[] {
  const missing: number[] = [];
  let at = 0;
  for (let id = 0; id < recorded && missing.length < limit; id++) {
    while (at < present.length && present[at]! < id) at++;
    if (present[at] !== id) missing.push(id);
  }
  return missing;
}

/** The episodes of an arrow or parquet storage in id order (directory names sort as text: 10 before 2), checked against the metadata's count. */
export function listMinariEpisodes(found: MinariEpisodeFiles): MinariEpisodeFile[] {
  // Episode directories may be symbolic links (a dataset assembled from a cache).
  const ids = readdirSync(found.dataDir)
    .filter((name) => isEpisodeDirName(name) && statOrNull(path.join(found.dataDir, name))?.isDirectory() === true)
    .map(Number)
    .sort((a, b) => a - b);
  const recorded = recordedCount(found.metadataFile, found.metadata, "total_episodes");
  if (recorded === 0) throw new InputError(`${found.metadataFile}: "total_episodes" is 0; the dataset is empty.`);
  if (ids.length === 0) {
    throw new InputError(`${found.dataDir}: no episode directories (0/, 1/, ...) beside ${MINARI_METADATA_FILE}${recorded ? `, which records ${recorded} episodes` : ""}; the dataset is incomplete.`);
  }
  if (recorded !== null && (recorded !== ids.length || ids[ids.length - 1]! !== recorded - 1)) {
    const missing = missingIds(ids, recorded, 6);
    const detail = missing.length > 0 ? `; missing: ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""}` : `; beyond them: ${ids.filter((id) => id >= recorded).slice(0, 5).join(", ")}`;
    throw new InputError(
      `${found.metadataFile}: "total_episodes" is ${recorded}, so episodes 0..${recorded - 1}, but ${found.dataDir} holds ${ids.length} episode directories${detail}; the dataset is incomplete or was changed.`,
    );
  }
  return ids.map((id) => {
    const dir = path.join(found.dataDir, String(id));
    const files = readdirSync(dir)
      .filter((name) => !name.startsWith(".") && !name.startsWith("_") && name !== MINARI_METADATA_FILE)
      .sort();
    if (files.length !== 1 || !PART_FILE[found.storage].test(files[0]!)) {
      const present = files.length === 0 ? "none" : files.join(", ");
      throw new InputError(`${dir}: expected one episode file part-0.${found.storage} (and ${MINARI_METADATA_FILE}), as Minari writes them, but found: ${present}.`);
    }
    const file = path.join(dir, files[0]!);
    const stat = statOrNull(file);
    if (stat === null) throw new InputError(`${file}: no such file (a link to a file that is not there?); the dataset is incomplete.`);
    if (!stat.isFile()) throw new InputError(`${file} is not a file; expected the episode's ${found.storage} file.`);
    const episodeMetadata = path.join(dir, MINARI_METADATA_FILE);
    const totalSteps = existsSync(episodeMetadata) ? recordedCount(episodeMetadata, readJsonObject(episodeMetadata, "Minari's episode metadata"), "total_steps") : null;
    return { id, file, totalSteps };
  });
}

/** The files whose bytes make up the dataset: the dataset metadata (it declares the spaces), then each episode's file. */
export function minariEpisodeFiles(found: MinariEpisodeFiles, episodes: readonly MinariEpisodeFile[]): string[] {
  return [found.metadataFile, ...episodes.map((ep) => ep.file)];
}

/** A column of one episode's table, refused with a clear reason when it holds a Dict or Tuple space (a struct). */
function numbersOf(file: string, table: Table, name: string, valueType: "f32" | "f64"): NestedNumbers {
  const vector = table.getChild(name)!;
  if (vector.type.typeId === Type.Struct) {
    const fields = structFieldNames(vector).map((f) => `"${f}"`).join(", ");
    throw new InputError(`${file}: column "${name}" is a struct of ${fields}, as Minari stores a Dict or Tuple space; snndt reads those for observations only, and Box and Discrete spaces (one vector or index a step) for the rest.`);
  }
  return flattenNumbers(file, name, vector, valueType);
}

/**
 * The episode files' tables, in order. Each file must hold its storage's format, told from its
 * content (so an empty or foreign file is named as such); Parquet files are decoded by one worker.
 */
async function* episodeTables(found: MinariEpisodeFiles, episodeFiles: readonly MinariEpisodeFile[]): AsyncGenerator<Table> {
  const formats: SourceFormat[] = [];
  for (const { file } of episodeFiles) {
    const format = await detectFormat(file);
    if ((format === "parquet") !== (found.storage === "parquet") || format === "hdf5") {
      throw new InputError(`${file}: holds ${format === "hdf5" ? "HDF5" : format === "parquet" ? "Parquet" : "Arrow IPC"}; expected the episode's ${found.storage} file.`);
    }
    formats.push(format);
  }
  if (found.storage === "parquet") {
    yield* decodeParquetFiles(episodeFiles.map(({ file }) => file));
    return;
  }
  for (const [index, { file }] of episodeFiles.entries()) yield await parseArrowFile(file, formats[index]!);
}

/** Read the episodes of a Minari arrow or parquet storage, in id order. */
export async function readMinariEpisodes(found: MinariEpisodeFiles, episodeFiles: readonly MinariEpisodeFile[], options: MinariReadOptions = {}): Promise<RawDataset> {
  const cols = options.columns ?? {};
  refuseIdColumns(found.dataDir, cols, "a Minari dataset's episodes are its episode directories");
  const bar = options.progress?.start(`reading ${minariDatasetName(found.dataDir)}`, episodeFiles.length);
  const episodes: RawEpisode[] = [];
  const used: Record<string, string> = {};
  let obsDim = -1;
  let obsParts: ObservationPart[] | null = null;
  let actWidth = -1;
  let integerTyped = false;
  let index = 0;
  const serializedObservation = found.metadata["observation_space"];
  const observationSpace = lazyObservationDeclaration(() =>
    serializedObservation === undefined || serializedObservation === null ? null : declaredObservation(serializedObservation, `${path.resolve(found.metadataFile)}: "observation_space"`, parsePythonJson),
  );
  for await (const table of episodeTables(found, episodeFiles)) {
    const { file, totalSteps } = episodeFiles[index++]!;
    const names = table.schema.fields.map((f) => f.name);
    const { observations: obsName, actions: actName, rewards: rewName, terminals: termName, timeouts: timeoutName } = requireStepColumns(file, names, cols);
    const obs = observationRows(file, table, [obsName], observationSpace.get);
    const act = numbersOf(file, table, actName, "f32");
    const oneValueAStep = (name: string | undefined): NestedNumbers | null => {
      if (name === undefined) return null;
      const nested = numbersOf(file, table, name, name === rewName ? "f64" : "f32");
      if (perStepWidth(file, name, nested) !== 1) throw new InputError(`${file}: column "${name}" holds several values a row; expected one a step.`);
      return nested;
    };
    const rew = oneValueAStep(rewName)!;
    const terminations = oneValueAStep(termName);
    const truncations = oneValueAStep(timeoutName);
    const width = { obs: obs.width, act: perStepWidth(file, actName, act) };
    const rows = table.numRows;
    if (rows === 0) throw new InputError(`${file}: holds no rows; expected one row more than the episode's steps (Minari's layout).`);
    const length = rows - 1;
    if (totalSteps !== null && totalSteps !== length) {
      throw new InputError(
        `${file}: holds ${rows} rows, but ${path.join(path.dirname(file), MINARI_METADATA_FILE)} records total_steps ${totalSteps}; expected ${totalSteps + 1} rows ` +
          `(one more than the steps: the observation after the last step, the other columns padded).`,
      );
    }
    if (obsDim === -1) {
      obsDim = width.obs;
      obsParts = obs.parts;
      actWidth = width.act;
      integerTyped = act.integerTyped;
      Object.assign(used, { observations: obsName, actions: actName, rewards: rewName });
      if (termName) used["terminals"] = termName;
      if (timeoutName) used["timeouts"] = timeoutName;
    } else if (!sameLayout(obs, { parts: obsParts, width: obsDim }) && (obs.parts !== null || obsParts !== null)) {
      throw new InputError(`${file}: column "${obsName}" holds ${describeLayout(obs.parts, obs.width)} but earlier episodes hold ${describeLayout(obsParts, obsDim)} (ragged observations).`);
    } else if (width.obs !== obsDim || width.act !== actWidth) {
      const [name, here, earlier] = width.obs !== obsDim ? [obsName, width.obs, obsDim] : [actName, width.act, actWidth];
      throw new InputError(`${file}: column "${name}" has ${here} values a step but earlier episodes have ${earlier} (ragged ${name}).`);
    }
    const lastFlag = (nested: NestedNumbers | null): boolean => nested !== null && length > 0 && nested.values[length - 1]! !== 0;
    const relative = path.relative(found.dataDir, file).split(path.sep).join("/");
    episodes.push({
      length,
      // Row T is the observation after the last step, and padding in the other columns.
      observations: obs.values.subarray(0, length * width.obs),
      actions: (act.values as Float32Array).subarray(0, length * width.act),
      rewards: (rew.values as Float64Array).subarray(0, length),
      terminated: lastFlag(terminations),
      truncated: lastFlag(truncations),
      locate: (t) => `${relative} row ${t}`,
    });
    bar?.update(index);
    await yieldToEventLoop();
  }
  bar?.stop();
  const steps = episodes.reduce((sum, ep) => sum + ep.length, 0);
  const recordedSteps = recordedCount(found.metadataFile, found.metadata, "total_steps");
  if (recordedSteps !== null && recordedSteps !== steps) {
    throw new InputError(`${found.metadataFile}: "total_steps" is ${recordedSteps}, but the episode files hold ${steps} steps; the dataset is incomplete or was changed.`);
  }
  const serialized = found.metadata["action_space"];
  const declared = serialized === undefined || serialized === null ? null : serializedSpace(serialized, `${path.resolve(found.metadataFile)}: "action_space"`);
  return {
    file: found.dataDir,
    format: found.storage === "arrow" ? "arrow-file" : "parquet",
    layout: "minari",
    columns: used,
    obsDim,
    actWidth,
    actionsIntegerTyped: integerTyped,
    episodes,
    droppedPartialSteps: 0,
    warnings: [declared?.warning ?? null, obsParts !== null ? observationSpace.warning() : null].filter((w) => w !== null),
    ...(declared?.declaration ? { declaredActionSpace: declared.declaration } : {}),
    ...(obsParts !== null ? { observationParts: obsParts } : {}),
  };
}

/**
 * The name of the file or directory at `input` (names runs and progress bars). A Minari dataset goes
 * by the dataset_id its metadata.json records, "/" made "-" ("mujoco-halfcheetah-expert-v0"): its
 * directory's own name ("expert-v0") leaves out the environment. Without one, its data/ goes by the
 * dataset's directory.
 */
export function minariDatasetName(input: string): string {
  const resolved = path.resolve(input);
  const minariData = path.basename(resolved) === DATA_DIR && [MINARI_METADATA_FILE, MINARI_DATA_FILE].some((name) => existsSync(path.join(resolved, name)));
  const datasetDir = minariData ? path.dirname(resolved) : resolved;
  return recordedDatasetId(path.join(datasetDir, DATA_DIR, MINARI_METADATA_FILE)) ?? path.basename(datasetDir);
}

/** A Minari metadata.json's dataset_id as a file name, or null (no such file, no usable id). */
function recordedDatasetId(metadataFile: string): string | null {
  let metadata: unknown;
  try {
    metadata = parsePythonJson(readFileSync(metadataFile, "utf8"));
  } catch {
    return null; // absent or unreadable: reading the dataset reports what is wrong with it
  }
  const id = typeof metadata === "object" && metadata !== null ? (metadata as Record<string, unknown>)["dataset_id"] : undefined;
  if (typeof id !== "string") return null;
  const name = id.split("/").map((part) => part.replace(/[^A-Za-z0-9._-]+/g, "-")).filter((part) => part !== "" && part !== "." && part !== "..").join("-");
  return name === "" ? null : name;
}
