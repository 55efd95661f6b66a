/**
 * Parquet files (as pyarrow, polars, Spark and Hugging Face datasets write them; Minari's parquet
 * storage), decoded by parquet-wasm (the Apache arrow-rs Parquet reader compiled to WebAssembly)
 * into an Arrow table, which is then read as an Arrow file is: per step or per episode.
 *
 * The decoding runs in a worker thread: WebAssembly memory never shrinks, so decoding on the main
 * thread would keep about three times the decoded columns for the rest of a training run.
 */
import { promises as fs, readdirSync, statSync } from "node:fs";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { tableFromIPC, type Table } from "apache-arrow";
import { InputError, SnndtError } from "../runtime/errors.js";
import { MAX_WHOLE_FILE_BYTES, rawFromTable, tooLargeError, type ArrowReadOptions } from "./arrow-reader.js";
import type { RawDataset } from "./raw.js";
import { totalBytes } from "./hashing.js";
import type { ProgressFactory } from "../runtime/progress.js";

const PARQUET_MAGIC = "PAR1";
const WORKER_URL = new URL("./parquet-worker.js", import.meta.url);

/** The last bytes of `file` and its size, without reading the rest. */
async function fileTail(file: string, count: number): Promise<{ tail: string; bytes: number }> {
  const handle = await fs.open(file, "r");
  try {
    const { size } = await handle.stat();
    const tail = Buffer.alloc(Math.min(count, size));
    await handle.read(tail, 0, tail.length, size - tail.length);
    return { tail: tail.toString("latin1"), bytes: size };
  } finally {
    await handle.close();
  }
}

/** The checks before decoding: the footer's magic (a cut file) and a size that can be read whole. */
async function checkParquetFile(file: string): Promise<void> {
  const { tail, bytes } = await fileTail(file, PARQUET_MAGIC.length);
  // A Parquet file ends with its footer and the magic again; without it the footer was cut off.
  if (tail !== PARQUET_MAGIC) {
    throw new InputError(`${file}: the file starts like a Parquet file but does not end with the "PAR1" footer magic (${bytes} bytes); it is truncated or corrupt.`);
  }
  if (bytes > MAX_WHOLE_FILE_BYTES) throw tooLargeError(file, bytes, "Parquet file");
}

/** The decoding worker's reply about the next file. */
interface DecodedFile {
  result?: Uint8Array;
  error?: string;
  /** Set when the file could not be read: its errno code. */
  reading?: string;
  /** Set when the decoder could not be loaded (a broken installation). */
  loading?: boolean;
}

function decodingError(file: string, reply: DecodedFile): Error {
  const reason = reply.error!.replace(/\.$/, "");
  if (reply.loading) return new SnndtError(`the Parquet decoder (parquet-wasm) could not be loaded (${reason}); reinstall snndt's dependencies (npm ci).`);
  if (reply.reading !== undefined) {
    return reply.reading === "ENOENT" ? new InputError(`${file}: no such file (it was removed while being read).`) : new InputError(`${file}: cannot read it (${reason}).`);
  }
  return new InputError(
    reason.startsWith("RuntimeError")
      ? `${file}: the Parquet decoder failed (${reason}): the file is corrupt, or its decoded columns need more than the decoder's 4 GB of ` +
          `WebAssembly memory (above about 1.2 GB of data); convert a file that large to Arrow IPC or HDF5.`
      : `${file}: cannot read it as a Parquet file (${reason}); the file is corrupt or uses a Parquet feature the reader lacks.`,
  );
}

/**
 * The Parquet files' tables, in order, decoded one after another by one worker (which loads the
 * decoder once: a Minari dataset has a file an episode). Stopping early stops the worker.
 */
export async function* decodeParquetFiles(files: readonly string[]): AsyncGenerator<Table> {
  if (files.length === 0) return;
  for (const file of files) await checkParquetFile(file);
  // No Node flags: a worker would inherit the parent's, and some (--expose-gc) make it fail to start.
  const worker = new Worker(WORKER_URL, { workerData: { files: [...files] }, execArgv: [] });
  const replies: DecodedFile[] = [];
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const wakeUp = (): void => {
    wake?.();
    wake = null;
  };
  worker.on("message", (reply: DecodedFile) => {
    replies.push(reply);
    wakeUp();
  });
  worker.once("error", (err) => {
    failure = err;
    wakeUp();
  });
  // Also after the last reply: Node delivers every reply before "exit", and replies are taken first.
  worker.once("exit", (code) => {
    failure ??= new Error(`exited (code ${code})`);
    wakeUp();
  });
  try {
    for (const file of files) {
      while (replies.length === 0 && failure === null) await new Promise<void>((resolve) => (wake = resolve));
      const reply = replies.shift();
      if (reply === undefined) {
        throw new SnndtError(`${file}: the Parquet decoder stopped while decoding it (${(failure as Error | null)?.message}); the file may be too large for it, or corrupt.`);
      }
      worker.postMessage("taken");
      if (reply.result === undefined) throw decodingError(file, reply);
      let table: Table;
      try {
        table = tableFromIPC(reply.result);
      } catch (err) {
        throw new InputError(`${file}: the Parquet decoder's output is no Arrow table (${(err as Error).message}); the file is corrupt.`);
      }
      if (table.schema.fields.length === 0) {
        throw new InputError(`${file}: the Parquet file holds no columns; expected trajectory columns (observations, actions, rewards, ...).`);
      }
      yield table;
    }
  } finally {
    await worker.terminate();
  }
}

/** Decode one Parquet file into an Arrow table; a file the decoder refuses is reported as corrupt, not as a crash. */
export async function parseParquetFile(file: string): Promise<Table> {
  for await (const table of decodeParquetFiles([file])) return table;
  throw new Error(`decoding ${file} gave no table`);
}

/**
 * Read a Parquet file in either layout. Decoding, most of the time a large file takes (seconds a few
 * hundred MB), runs in a worker, so a bar with the time spent can draw meanwhile.
 */
export async function readParquet(file: string, options: ArrowReadOptions & { progress?: ProgressFactory } = {}): Promise<RawDataset> {
  const bytes = (await fs.stat(file).catch(() => null))?.size;
  const label = `decoding ${path.basename(file)}${bytes === undefined ? "" : ` (${Math.round(bytes / 1e6)} MB)`}`;
  const bar = options.progress?.start(label, 1, { format: `${label} {duration_formatted}` });
  try {
    const table = await parseParquetFile(file);
    bar?.update(1);
    if (table.numRows === 0) throw new InputError(`${file}: the Parquet file holds no rows.`);
    return rawFromTable(file, "parquet", table, options);
  } finally {
    bar?.stop();
  }
}

/** Part names in the order their writer numbered them: part-2 before part-10 (pyarrow does not pad). */
const byPartNumber = new Intl.Collator("en", { numeric: true }).compare;

/**
 * A directory's Parquet parts, as partitioned writers leave them (Spark, pyarrow's write_dataset,
 * Hugging Face datasets' shards), in part order, and the first visible entry that is no part (a
 * directory holding one is no parts directory). Names starting with "_" or "." are the writers'
 * markers and checksums (_SUCCESS, .part-0.parquet.crc), not data.
 */
export function parquetParts(dir: string): { parts: string[]; stray: string | undefined } {
  const names = readdirSync(dir).filter((name) => !name.startsWith("_") && !name.startsWith("."));
  const parts = new Set(names.filter((name) => /\.parquet$/i.test(name) && (statSync(path.join(dir, name), { throwIfNoEntry: false })?.isFile() ?? false)));
  return { parts: [...parts].sort(byPartNumber).map((name) => path.join(dir, name)), stray: names.find((name) => !parts.has(name)) };
}

/** What names the parts of one dataset share: the name up to its first digit (part-, train-). */
function partPrefix(name: string): string {
  return name.replace(/\d.*$/, "");
}

/**
 * Refuse parts that are not one dataset's: names of more than one prefix (a Hugging Face dataset's
 * train-* and test-* shards side by side would be merged into one), or numbered shards "-k-of-n"
 * with some missing.
 */
function checkPartNames(dir: string, files: readonly string[]): void {
  const names = files.map((file) => path.basename(file));
  const prefixes = [...new Set(names.map(partPrefix))];
  if (prefixes.length > 1) {
    const examples = prefixes.map((prefix) => names.find((name) => partPrefix(name) === prefix)!);
    throw new InputError(
      `${dir}: its Parquet files are named in ${prefixes.length} ways (${examples.join(", ")}), so they may be more than one dataset or split; ` +
        `put the parts of one in a directory of its own (named part-0.parquet, part-1.parquet, ... if they are one).`,
    );
  }
  const shards = names.map((name) => /-(\d+)-of-(\d+)\.parquet$/i.exec(name)).filter((match) => match !== null);
  if (shards.length === names.length && shards.length > 0) {
    const total = Number(shards[0]![2]);
    const present = new Set(shards.map((match) => Number(match[1])));
    const missing = Array.from({ length: total }, (_, k) => k).filter((k) => !present.has(k));
    if (missing.length > 0) {
      throw new InputError(`${dir}: its shards are numbered k-of-${total}, but shard${missing.length > 1 ? "s" : ""} ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""} ${missing.length > 1 ? "are" : "is"} missing.`);
    }
  }
}

/** The column names and types of a table, to compare parts by. */
function columnsOf(table: Table): string {
  return table.schema.fields.map((field) => `${field.name}: ${String(field.type)}`).join(", ");
}

/**
 * Read a directory of Parquet parts as one table, the parts one after another in part order: an
 * episode may go on from one part into the next. Every part must have the same columns; parts
 * without rows (Dask and Spark write some) add none.
 */
export async function readParquetParts(dir: string, files: readonly string[], options: ArrowReadOptions & { progress?: ProgressFactory } = {}): Promise<RawDataset> {
  checkPartNames(dir, files);
  const bytes = totalBytes(files);
  if (bytes > MAX_WHOLE_FILE_BYTES) {
    throw new InputError(`${dir}: its Parquet parts add up to ${bytes} bytes; snndt reads a dataset whole, up to ${MAX_WHOLE_FILE_BYTES} bytes (2 GiB). Convert it to HDF5 (read in slices).`);
  }
  const bar = options.progress?.start(`decoding ${files.length} Parquet parts of ${path.basename(dir)}`, files.length);
  try {
    const tables: Table[] = [];
    for await (const table of decodeParquetFiles(files)) {
      const first = tables[0];
      if (first !== undefined && columnsOf(table) !== columnsOf(first)) {
        throw new InputError(
          `${files[tables.length]}: its columns (${columnsOf(table)}) differ from those of ${path.basename(files[0]!)} (${columnsOf(first)}); ` +
            `the parts of one dataset must have the same columns.`,
        );
      }
      tables.push(table);
      bar?.update(tables.length);
    }
    const [first, ...rest] = tables.filter((table) => table.numRows > 0);
    if (first === undefined) throw new InputError(`${dir}: its ${files.length} Parquet part${files.length > 1 ? "s hold" : " holds"} no rows.`);
    return rawFromTable(dir, "parquet", first.concat(...rest), options);
  } finally {
    bar?.stop();
  }
}
