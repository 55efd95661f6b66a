/**
 * Parquet files (as pyarrow, polars, Spark and Hugging Face datasets write them; Minari's parquet
 * storage), decoded by parquet-wasm (the Apache arrow-rs Parquet reader compiled to WebAssembly)
 * into an Arrow table, which is then read as an Arrow file is: per step or per episode.
 */
import { promises as fs } from "node:fs";
import { tableFromIPC, type Table } from "apache-arrow";
import { InputError } from "../runtime/errors.js";
import { rawFromTable, type ArrowReadOptions } from "./arrow-reader.js";
import type { RawDataset } from "./raw.js";

const PARQUET_MAGIC = "PAR1";

type ParquetWasm = typeof import("parquet-wasm");
let modulePromise: Promise<ParquetWasm> | null = null;

/** parquet-wasm compiles a 15 MB WebAssembly module: loaded on the first Parquet file, not on every start. */
function loadParquetWasm(): Promise<ParquetWasm> {
  modulePromise ??= import("parquet-wasm");
  return modulePromise;
}

/** Decode a Parquet file into an Arrow table; a file the decoder refuses is reported as truncated or corrupt, not as a crash. */
export async function parseParquetFile(file: string): Promise<Table> {
  const bytes = await fs.readFile(file);
  // A Parquet file ends with its footer and the magic again; without it the footer was cut off.
  const tail = bytes.subarray(Math.max(0, bytes.length - PARQUET_MAGIC.length)).toString("latin1");
  if (tail !== PARQUET_MAGIC) {
    throw new InputError(`${file}: the file starts like a Parquet file but does not end with the "PAR1" footer magic (${bytes.length} bytes); it is truncated or corrupt.`);
  }
  const parquet = await loadParquetWasm();
  let ipc: Uint8Array;
  try {
    ipc = parquet.readParquet(bytes).intoIPCStream();
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).replace(/\.$/, "");
    throw new InputError(`${file}: cannot read it as a Parquet file (${reason}); the file is corrupt or uses a Parquet feature the reader lacks.`);
  }
  const table = tableFromIPC(ipc);
  if (table.schema.fields.length === 0) {
    throw new InputError(`${file}: the Parquet file holds no columns; expected trajectory columns (observations, actions, rewards, ...).`);
  }
  return table;
}

/** Read a Parquet file in either layout. */
export async function readParquet(file: string, options: ArrowReadOptions = {}): Promise<RawDataset> {
  return rawFromTable(file, "parquet", await parseParquetFile(file), options);
}
