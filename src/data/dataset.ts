/**
 * Prepared datasets: `prepareDataset` turns an Arrow, Parquet or HDF5 trajectory file (or a Minari
 * dataset directory) into a directory with `steps.arrow` (the per-step steps file) and
 * `manifest.json`; `loadDataset` gives training and evaluation the episodes of such a directory, or
 * of a raw source prepared in memory by the same code.
 */
import { existsSync, promises as fs, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { InputError, UsageError } from "../runtime/errors.js";
import type { RunContext } from "../runtime/context.js";
import type { ProgressFactory } from "../runtime/progress.js";
import { fileOnPath, removeOrphanedTemporaries, writeDirAtomic, writeFileAtomic, writeIntoEmptyDirectory } from "../runtime/fs-atomic.js";
import { SNNDT_VERSION } from "../runtime/version.js";
import { actionWidth, type ActionSpace, type Episode, type StateStats } from "./types.js";
import { STEP_COLUMNS, writeStepsArrowHashed } from "./arrow-writer.js";
import { sha256FileInBackground, sha256ListingInBackground, totalBytes, type BackgroundHash } from "./hashing.js";
import { listMinariEpisodes, locateMinariDataset, minariEpisodeFiles, readMinariEpisodes } from "./minari-directory.js";
import { MINARI_DATA_FILE, MINARI_METADATA_FILE } from "./minari-metadata.js";
import { MAX_WHOLE_FILE_BYTES, parseArrowFile, rawFromTable, readArrow } from "./arrow-reader.js";
import { flattenNumbers } from "./arrow-nested.js";
import { readHdf5 } from "./hdf5-reader.js";
import { parquetParts, readParquet, readParquetParts } from "./parquet-reader.js";
import { detectFormat } from "./detect.js";
import { describeObservationParts, type ObservationPart } from "./observation-parts.js";
import type { ColumnNames } from "./columns.js";
import { finishDataset, type ActionSpaceDeclaration, type CollectedBy, type FinishedDataset, type RawDataset, type SourceFormat, type SourceLayout } from "./raw.js";
import { describeActionSpace, describeDistribution, distribution, fmt, renderHistogram, type DistributionStats } from "./summary.js";

export const MANIFEST_FILE = "manifest.json";
export const STEPS_FILE = "steps.arrow";
export const MANIFEST_FORMAT_VERSION = 1;

/** Everything known about a dataset without writing it (what --inspect prints). */
export interface DatasetSummary {
  format_version: number;
  snndt_version: string;
  source: {
    /** Absolute path of the file that was read. */
    path: string;
    sha256: string;
    bytes: number;
    format: SourceFormat;
    layout: SourceLayout;
    /** The source's column (or HDF5 dataset) names, keyed by role. */
    columns: Record<string, string>;
    /** How `snndt collect` made the source (its environment, policy and seed); absent for other files. */
    collected_by?: CollectedBy;
  };
  obs_dim: number;
  /** For observations of a Dict or Tuple space (flattened as Gymnasium does): where each part sits; absent otherwise. */
  observation_parts?: ObservationPart[];
  action_space: ActionSpace;
  /** Who declared the action space's n or bounds (a flag, the source's metadata); null, or absent in older manifests, when they were read off the data. */
  action_space_declared_by?: string | null;
  episodes: number;
  steps: number;
  terminated_episodes: number;
  truncated_episodes: number;
  dropped: { partial_steps: number; nonfinite_episodes: number };
  /** Undiscounted episode returns. */
  returns: DistributionStats;
  lengths: DistributionStats;
  /** Per-dimension state mean and population std over all steps (float64 accumulation). */
  state_mean: number[];
  state_std: number[];
  warnings: string[];
}

/** manifest.json of a prepared directory. */
export interface DatasetManifest extends DatasetSummary {
  /** The steps file, relative to the directory; null for a raw file loaded in memory. */
  steps_file: string | null;
  /**
   * Content hash identifying the prepared data: sha256 of the steps file; for a raw file loaded
   * in memory (no steps file), the source file's sha256.
   */
  sha256: string;
}

export interface PreparedDataset {
  manifest: DatasetManifest;
  /**
   * sha256 of the episodes themselves (episodesSha256): the same for a raw file and its prepared
   * copy, whose manifest hashes differ (the source file's bytes against the steps file's). Computed
   * on first read: training and eval's held-out check need it, most loads do not.
   */
  readonly episodesSha256: string;
  episodes: Episode[];
  obsDim: number;
  actionSpace: ActionSpace;
  stateStats: StateStats;
}

export interface ReaderOptions {
  columns?: ColumnNames;
  /** Keep the unfinished episode after the last terminal/timeout instead of dropping it. */
  keepPartial?: boolean;
  /** Drop episodes holding NaN/Inf instead of failing. */
  dropNonfinite?: boolean;
  /** The action space's kind, and perhaps its n or bounds, instead of detecting them from the data. */
  actionSpace?: ActionSpaceDeclaration;
  progress?: ProgressFactory;
  /** Told each reading warning (a dropped unfinished episode, say), prefixed with the file. */
  warn?: (message: string) => void;
}

export interface PrepareOptions extends ReaderOptions {
  /** Replace an existing output directory. */
  force?: boolean;
}

async function readRaw(file: string, format: SourceFormat, options: ReaderOptions): Promise<RawDataset> {
  if (format === "hdf5") return readHdf5(file, { columns: options.columns, keepPartial: options.keepPartial, progress: options.progress });
  if (format === "parquet") return readParquet(file, { columns: options.columns, keepPartial: options.keepPartial, progress: options.progress });
  return readArrow(file, format, { columns: options.columns, keepPartial: options.keepPartial });
}

/**
 * sha256 over what training sees of each episode, in order: its length and end flags, then its
 * observations, actions and rewards as float32 bytes. Returns-to-go follow from the rewards.
 */
export function episodesSha256(episodes: readonly Episode[], obsDim: number, actionSpace: ActionSpace): string {
  const hash = createHash("sha256");
  const bytes = (values: Float32Array, count: number): Uint8Array => new Uint8Array(values.buffer, values.byteOffset, count * Float32Array.BYTES_PER_ELEMENT);
  const width = actionWidth(actionSpace);
  for (const ep of episodes) {
    hash.update(Int32Array.of(ep.length, ep.terminated ? 1 : 0, ep.truncated ? 1 : 0));
    hash.update(bytes(ep.observations, ep.length * obsDim));
    hash.update(bytes(ep.actions, ep.length * width));
    hash.update(bytes(ep.rewards, ep.length));
  }
  return hash.digest("hex");
}

/** `dataset` with episodesSha256 hashed on first read and kept (a pass over every value: not on every load). */
function withEpisodesSha256(dataset: Omit<PreparedDataset, "episodesSha256">): PreparedDataset {
  let hash: string | undefined;
  return {
    ...dataset,
    get episodesSha256() {
      return (hash ??= episodesSha256(dataset.episodes, dataset.obsDim, dataset.actionSpace));
    },
  };
}

/** Each episode's undiscounted return: its return-to-go at step 0. */
export function episodeReturns(episodes: readonly Episode[]): number[] {
  return episodes.map((ep) => ep.returnsToGo[0]!);
}

/** How many episodes reach at least `target`, of how many: the data's support for conditioning on it. */
export interface ReturnSupport {
  atOrAbove: number;
  episodes: number;
}

export function returnSupport(returns: readonly number[], target: number): ReturnSupport {
  return { atOrAbove: returns.filter((r) => r >= target).length, episodes: returns.length };
}

function summarize(raw: RawDataset, finished: FinishedDataset, source: { path: string; sha256: string; bytes: number }): DatasetSummary {
  const returns = episodeReturns(finished.episodes);
  const lengths = finished.episodes.map((ep) => ep.length);
  return {
    format_version: MANIFEST_FORMAT_VERSION,
    snndt_version: SNNDT_VERSION,
    source: { ...source, format: raw.format, layout: raw.layout, columns: raw.columns, ...(raw.collectedBy ? { collected_by: raw.collectedBy } : {}) },
    obs_dim: finished.obsDim,
    ...(raw.observationParts ? { observation_parts: raw.observationParts } : {}),
    action_space: finished.actionSpace,
    action_space_declared_by: finished.actionSpaceDeclaredBy,
    episodes: finished.episodes.length,
    steps: lengths.reduce((a, b) => a + b, 0),
    terminated_episodes: finished.episodes.filter((ep) => ep.terminated).length,
    truncated_episodes: finished.episodes.filter((ep) => ep.truncated).length,
    dropped: { partial_steps: raw.droppedPartialSteps, nonfinite_episodes: finished.droppedNonfiniteEpisodes },
    returns: distribution(returns),
    lengths: distribution(lengths),
    state_mean: finished.stateStats.mean,
    state_std: finished.stateStats.std,
    warnings: finished.warnings,
  };
}

/**
 * Read and check a raw Arrow/Parquet/HDF5 file, a Minari dataset directory or a directory of Parquet
 * parts; returns its summary and episodes (nothing is written).
 */
export async function readSource(input: string, options: ReaderOptions = {}): Promise<{ summary: DatasetSummary; finished: FinishedDataset }> {
  if (statSync(input, { throwIfNoEntry: false })?.isDirectory()) {
    if (existsSync(path.join(input, MANIFEST_FILE))) {
      throw new InputError(`${input} is a directory holding ${MANIFEST_FILE}, so it is already a prepared dataset: give it to train or eval (--data) as it is.`);
    }
    const minari = locateMinariDataset(input);
    if (minari === null) {
      const { parts, stray } = parquetParts(input);
      if (parts.length > 0 && stray === undefined) {
        return readHashed(
          { path: path.resolve(input), hash: sha256ListingInBackground(input, parts), bytes: () => totalBytes(parts) },
          () => readParquetParts(input, parts, { columns: options.columns, keepPartial: options.keepPartial, progress: options.progress }),
          options,
        );
      }
      throw new InputError(
        `${input} is a directory, but neither a prepared dataset (no ${MANIFEST_FILE}) nor a Minari dataset (no data/${MINARI_METADATA_FILE} or data/${MINARI_DATA_FILE}) ` +
          `nor a directory of Parquet parts (only files named *.parquet, besides "_" and "." files${parts.length > 0 ? `; "${stray}" is none` : ""}); ` +
          `expected one of those, or an Arrow, Parquet or HDF5 file.`,
      );
    }
    if (minari.storage === "hdf5") return readSource(minari.file, options);
    const episodes = listMinariEpisodes(minari);
    const files = minariEpisodeFiles(minari, episodes);
    return readHashed(
      { path: path.resolve(minari.dataDir), hash: sha256ListingInBackground(minari.dataDir, files), bytes: () => totalBytes(files) },
      () => readMinariEpisodes(minari, episodes, { columns: options.columns, progress: options.progress }),
      options,
    );
  }
  const format = await detectFormat(input);
  return readHashed(
    { path: path.resolve(input), hash: sha256FileInBackground(input), bytes: () => statSync(input).size },
    () => readRaw(input, format, options),
    options,
  );
}

/** The dataset the directory `dir` holds, named by the file that shows it ("a prepared dataset (manifest.json)"), or null for none. */
export function datasetKindAt(dir: string): string | null {
  if (writtenByPrepare(path.join(dir, MANIFEST_FILE))) return `a prepared dataset (${MANIFEST_FILE})`;
  let minari: ReturnType<typeof locateMinariDataset>;
  try {
    minari = locateMinariDataset(dir);
  } catch {
    // A metadata.json that names no Minari storage: some other project's file.
    return null;
  }
  if (minari === null) return null;
  return `a Minari dataset (${minari.storage === "hdf5" ? minari.file : minari.metadataFile})`;
}

/** Read a source while a worker hashes its bytes; the reading warnings go to `options.warn`, prefixed with the source. */
async function readHashed(
  source: { path: string; hash: BackgroundHash; bytes: () => number },
  read: () => Promise<RawDataset>,
  options: ReaderOptions,
): Promise<{ summary: DatasetSummary; finished: FinishedDataset }> {
  let raw: RawDataset;
  let finished: FinishedDataset;
  try {
    raw = await read();
    finished = finishDataset(raw, { dropNonfinite: options.dropNonfinite, actionSpace: options.actionSpace });
  } catch (err) {
    source.hash.cancel();
    throw err;
  }
  const summary = summarize(raw, finished, { path: source.path, sha256: await source.hash.digest, bytes: source.bytes() });
  for (const warning of summary.warnings) options.warn?.(`${raw.file}: ${warning}`);
  return { summary, finished };
}

/**
 * Refuse an output that would lose something; else say what is there: nothing, an empty directory
 * (filled as it is, no --force needed) or a prepared dataset to replace. `--force` replaces only
 * what prepare-dataset itself wrote (a directory holding nothing but the manifest and the steps
 * file), and never the input or a directory holding it: a user's file is never deleted.
 */
function checkOutput(input: string, outDir: string, force: boolean): "new" | "empty" | "replace" {
  const out = path.resolve(outDir);
  const file = fileOnPath(out);
  if (file) {
    const where = file === out ? `output ${outDir} is a file` : `output ${outDir}: ${file} is a file`;
    throw new UsageError(`${where}; a prepared dataset needs a directory (choose another --out).`);
  }
  if (!existsSync(out)) return "new";
  // An empty directory (made for the output beforehand) loses nothing; a killed run's hidden temporary does not count.
  removeOrphanedTemporaries(out);
  if (readdirSync(out).length === 0) return "empty";
  if (!force) throw new UsageError(`output ${outDir} already exists; choose another --out or pass --force to replace it.`);
  const relative = path.relative(out, path.resolve(input));
  if (relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative))) {
    throw new UsageError(`output ${outDir} holds the input ${input}; --force would delete it (choose another --out).`);
  }
  const foreign = readdirSync(out).filter((entry) => entry !== MANIFEST_FILE && entry !== STEPS_FILE);
  if (foreign.length > 0) {
    throw new UsageError(
      `output ${outDir} holds ${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", ..." : ""}, which prepare-dataset did not write; ` +
        `--force replaces only a prepared dataset (${MANIFEST_FILE} and ${STEPS_FILE}) or an empty directory (choose another --out).`,
    );
  }
  // The two names alone do not make a prepared dataset: a user's own steps.arrow or manifest.json stays.
  const entries = readdirSync(out);
  if (entries.length > 0 && !writtenByPrepare(path.join(out, MANIFEST_FILE))) {
    throw new UsageError(
      `output ${outDir} holds ${entries.join(" and ")} but no ${MANIFEST_FILE} written by prepare-dataset; ` +
        `--force replaces only a prepared dataset or an empty directory (choose another --out).`,
    );
  }
  return "replace";
}

/** Whether `manifestPath` is a manifest prepare-dataset wrote (any format version). */
function writtenByPrepare(manifestPath: string): boolean {
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Record<string, unknown>;
    return typeof manifest["snndt_version"] === "string" && typeof manifest["format_version"] === "number" && manifest["steps_file"] === STEPS_FILE;
  } catch {
    return false;
  }
}

/**
 * Prepare `input` into `outDir` (steps.arrow + manifest.json), atomically: on any error nothing is
 * left at `outDir`. An existing `outDir` is an error unless `options.force` (see checkOutput).
 */
export async function prepareDataset(input: string, outDir: string, options: PrepareOptions, ctx: RunContext): Promise<DatasetManifest> {
  const existing = checkOutput(input, outDir, options.force ?? false);
  // The temporary directory is made before the input is read: an --out that cannot be written
  // fails at once, not after minutes of reading.
  const write = <T>(build: (tmpDir: string) => Promise<T>): Promise<T> =>
    existing === "empty" ? writeIntoEmptyDirectory(outDir, build, [MANIFEST_FILE]) : writeDirAtomic(outDir, build, { replace: existing === "replace" });
  return write(
    async (tmpDir) => {
      const { summary, finished } = await readSource(input, {
        ...options,
        progress: options.progress ?? ctx.progress,
        warn: options.warn ?? ((message) => ctx.logger.warn(message)),
      });
      // Its observations and actions alone (float32) can be too many to read back: said before writing.
      const steps = finished.episodes.reduce((n, ep) => n + ep.length, 0);
      const atLeast = steps * (finished.obsDim + actionWidth(finished.actionSpace)) * 4;
      if (atLeast > MAX_WHOLE_FILE_BYTES) throw tooLargeToPrepare(input, atLeast, "at least");
      const stepsPath = path.join(tmpDir, STEPS_FILE);
      const stepsSha256 = await writeStepsArrowHashed(stepsPath, finished.episodes, finished.actionSpace, {
        "snndt.version": SNNDT_VERSION,
        "snndt.source": summary.source.path,
        "snndt.source_sha256": summary.source.sha256,
      });
      const { size } = await fs.stat(stepsPath);
      if (size > MAX_WHOLE_FILE_BYTES) throw tooLargeToPrepare(input, size, "written");
      const manifest: DatasetManifest = { ...summary, steps_file: STEPS_FILE, sha256: stepsSha256 };
      await writeFileAtomic(path.join(tmpDir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
      return manifest;
    },
  );
}

/** A steps file snndt cannot read back (it is read whole): train from the source instead. */
function tooLargeToPrepare(source: string, bytes: number, size: "at least" | "written" | "prepared"): InputError {
  const is = { "at least": "would be at least", written: "would be", prepared: "is" }[size];
  return new InputError(
    `${source}: its prepared steps file ${is} ${bytes} bytes, more than snndt reads back whole (${MAX_WHOLE_FILE_BYTES} bytes, 2 GiB); ` +
      `give train and eval the source itself (--data ${source}), or prepare part of its episodes.`,
  );
}

async function loadPrepared(dir: string): Promise<PreparedDataset> {
  const manifestPath = path.join(dir, MANIFEST_FILE);
  let manifest: DatasetManifest;
  try {
    manifest = JSON.parse(await fs.readFile(manifestPath, "utf8")) as DatasetManifest;
  } catch (err) {
    throw new InputError(`${manifestPath}: cannot read the manifest (${(err as Error).message}); expected the JSON written by snndt prepare-dataset.`);
  }
  for (const field of ["format_version", "obs_dim", "action_space", "steps_file", "sha256", "state_mean", "state_std"] as const) {
    if (manifest[field] === undefined || manifest[field] === null) {
      throw new InputError(`${manifestPath}: field "${field}" is missing; expected a manifest written by snndt prepare-dataset.`);
    }
  }
  if (manifest.format_version !== MANIFEST_FORMAT_VERSION) {
    throw new InputError(`${manifestPath}: format_version is ${manifest.format_version}, expected ${MANIFEST_FORMAT_VERSION}; prepare the dataset again with this snndt.`);
  }
  const stepsPath = path.join(dir, manifest.steps_file!);
  if (!existsSync(stepsPath)) throw new InputError(`${stepsPath}: the steps file named by ${manifestPath} is missing; prepare the dataset again.`);
  const { size } = await fs.stat(stepsPath);
  if (size > MAX_WHOLE_FILE_BYTES) throw tooLargeToPrepare(manifest.source.path, size, "prepared");
  const hashMismatch = (found: string): InputError =>
    new InputError(`${stepsPath}: sha256 is ${found} but ${manifestPath} records ${manifest.sha256}; the steps file was changed or damaged, prepare the dataset again.`);
  // Verify the steps file's hash in a worker while this thread parses it.
  const hashing = sha256FileInBackground(stepsPath);
  let table;
  let raw;
  try {
    table = await parseArrowFile(stepsPath, "arrow-file");
    raw = rawFromTable(stepsPath, "arrow-file", table, {
      columns: { observations: STEP_COLUMNS.observation, actions: STEP_COLUMNS.action, rewards: STEP_COLUMNS.reward, episode: STEP_COLUMNS.episodeId, step: STEP_COLUMNS.step, terminals: STEP_COLUMNS.terminated, timeouts: STEP_COLUMNS.truncated },
    });
  } catch (err) {
    // A file that does not parse was most likely damaged: say so when its hash disagrees.
    const found = await hashing.digest.catch(() => null);
    if (found !== null && found !== manifest.sha256) throw hashMismatch(found);
    throw err;
  }
  const found = await hashing.digest;
  if (found !== manifest.sha256) throw hashMismatch(found);
  // The manifest's space (perhaps declared) is the dataset's; reading only needs its kind.
  const finished = finishDataset(raw, { actionSpace: { kind: manifest.action_space.kind } });
  // Use the stored returns-to-go: they were accumulated from the source's float64 rewards.
  const rtg = flattenNumbers(stepsPath, STEP_COLUMNS.returnToGo, table.getChild(STEP_COLUMNS.returnToGo)!, "f32").values as Float32Array;
  let row = 0;
  for (const ep of finished.episodes) {
    ep.returnsToGo = rtg.subarray(row, row + ep.length);
    row += ep.length;
  }
  if (finished.episodes.length !== manifest.episodes || row !== manifest.steps) {
    throw new InputError(`${stepsPath}: holds ${finished.episodes.length} episodes and ${row} steps but the manifest records ${manifest.episodes} and ${manifest.steps}.`);
  }
  return withEpisodesSha256({
    manifest,
    episodes: finished.episodes,
    obsDim: manifest.obs_dim,
    actionSpace: manifest.action_space,
    stateStats: { mean: manifest.state_mean, std: manifest.state_std },
  });
}

/** prepare-dataset's options for reading a source, as its messages name them. */
const PREPARE_READING_OPTION = /--(?:(?:obs|action|reward|terminal|timeout|episode|step)-column|keep-partial|drop-nonfinite|action-(?:space|n|low|high))\b/;

/**
 * A prepared directory (manifest.json + steps.arrow), or a raw Arrow/Parquet/HDF5 file or Minari dataset
 * directory (prepared in memory by the same code). A raw source's reading warnings go to
 * `options.warn`, as prepare-dataset logs them; a prepared directory's were shown when it was prepared.
 */
export async function loadDataset(pathOrDir: string, options: ReaderOptions = {}): Promise<PreparedDataset> {
  const stat = await fs.stat(pathOrDir).catch(() => null);
  if (stat === null) throw new InputError(`${pathOrDir}: no such file or directory; expected a prepared dataset directory, a Minari dataset directory, a directory of Parquet parts or an Arrow/Parquet/HDF5 file.`);
  if (stat.isDirectory() && existsSync(path.join(pathOrDir, MANIFEST_FILE))) return loadPrepared(pathOrDir);
  // Any other directory is a Minari dataset, or readSource says what was expected.
  const { summary, finished } = await readSource(pathOrDir, options).catch((error: unknown) => {
    // Its way out may be an option of prepare-dataset, which train and eval do not take.
    if (error instanceof Error && PREPARE_READING_OPTION.test(error.message)) {
      error.message += ` (${pathOrDir} was read with prepare-dataset's defaults; to give it that option, prepare it first: snndt prepare-dataset ${pathOrDir} <option> --out <dir>, then pass <dir> as --data)`;
    }
    throw error;
  });
  return withEpisodesSha256({
    manifest: { ...summary, steps_file: null, sha256: summary.source.sha256 },
    episodes: finished.episodes,
    obsDim: finished.obsDim,
    actionSpace: finished.actionSpace,
    stateStats: finished.stateStats,
  });
}

/** The summary as text for a person, with a histogram of the episode `returns`. */
export function formatSummary(summary: DatasetSummary, returns: readonly number[]): string {
  const s = summary;
  const dropped: string[] = [];
  if (s.dropped.partial_steps > 0) dropped.push(`${s.dropped.partial_steps} steps of an unfinished last episode`);
  if (s.dropped.nonfinite_episodes > 0) dropped.push(`${s.dropped.nonfinite_episodes} episodes with NaN/Inf`);
  const lines = [
    `source      ${s.source.path}`,
    `            ${s.source.format}, ${s.source.layout} layout, ${s.source.bytes} bytes, sha256 ${s.source.sha256.slice(0, 16)}...`,
    `columns     ${Object.entries(s.source.columns).map(([role, name]) => `${role}=${name}`).join(", ")}`,
    `episodes    ${s.episodes} (${s.terminated_episodes} terminated, ${s.truncated_episodes} truncated), steps ${s.steps}`,
  ];
  if (dropped.length > 0) lines.push(`dropped     ${dropped.join("; ")}`);
  lines.push(
    `obs_dim     ${s.obs_dim}${s.observation_parts ? `, flattened from ${describeObservationParts(s.observation_parts)}` : ""}`,
    `actions     ${describeActionSpace(s.action_space, s.action_space_declared_by ?? null)}`,
    `returns     ${describeDistribution(s.returns)}`,
    `lengths     ${describeDistribution(s.lengths)}`,
    `state mean  [${s.state_mean.map(fmt).join(", ")}]`,
    `state std   [${s.state_std.map(fmt).join(", ")}]`,
    `episode returns (histogram):`,
    ...renderHistogram(returns),
  );
  return lines.join("\n");
}
