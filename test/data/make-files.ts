/**
 * Real trajectory files for the reader tests, written by the real libraries: apache-arrow's IPC
 * writers (with lz4js and zstd-wasm as independent LZ4/ZSTD encoders), h5wasm's HDF5 writer and
 * parquet-wasm's Parquet writer (Apache arrow-rs).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  Bool,
  CompressionType,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int32,
  Int64,
  LargeList,
  List,
  RecordBatchFileWriter,
  RecordBatchStreamWriter,
  Table,
  compressionRegistry,
  tableToIPC,
  vectorFromArray,
  type DataType,
  type Vector,
} from "apache-arrow";
import * as lz4js from "lz4js";
import * as zstd from "@bokuweb/zstd-wasm";
import { registerArrowCodecs } from "../../src/data/codecs.js";

export const item = (type: DataType): Field => new Field("item", type, true);
export const f32 = new Float32();
export const f64 = new Float64();
export const int32 = new Int32();
export const int64 = new Int64();
export const bool = new Bool();
export const fixedList = (size: number, type: DataType = f32): FixedSizeList => new FixedSizeList(size, item(type));
export const list = (type: DataType): List => new List(item(type));
export const largeList = (type: DataType): LargeList => new LargeList(item(type));

export function vec(values: unknown[], type: DataType): Vector {
  return vectorFromArray(values as never[], type as never) as unknown as Vector;
}

/** A temporary directory removed after `fn`. */
export function withTmp(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "snndt-data-"));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

let encodersReady: Promise<void> | null = null;

/** Register encoders next to snndt's decoders, so apache-arrow can write compressed files. */
async function registerEncoders(): Promise<void> {
  encodersReady ??= (async () => {
    await zstd.init();
    registerArrowCodecs();
    // Keep snndt's decoders (the code under test) and add the independent encoders beside them.
    const withEncoder = (type: CompressionType, encode: (b: Uint8Array) => Uint8Array) => {
      const decoder = compressionRegistry.get(type);
      if (!decoder?.decode) throw new Error(`snndt registered no decoder for compression ${CompressionType[type]}`);
      compressionRegistry.set(type, { encode, decode: decoder.decode });
    };
    withEncoder(CompressionType.LZ4_FRAME, (b) => lz4js.compress(b));
    withEncoder(CompressionType.ZSTD, (b) => zstd.compress(b, 3));
  })();
  return encodersReady;
}

export interface ArrowWriteOptions {
  stream?: boolean;
  compression?: "lz4" | "zstd";
  /** Rows per record batch (default: one batch). */
  batchRows?: number;
}

/** Write columns (equal lengths) as an Arrow IPC file or stream. */
export async function writeArrow(file: string, columns: Record<string, Vector>, options: ArrowWriteOptions = {}): Promise<void> {
  let table = new Table(columns as never);
  if (options.batchRows !== undefined) {
    const parts: Table[] = [];
    for (let start = 0; start < table.numRows; start += options.batchRows) parts.push(table.slice(start, start + options.batchRows));
    table = parts.reduce((a, b) => a.concat(b));
  }
  if (options.compression) await registerEncoders();
  const compressionType =
    options.compression === "lz4" ? CompressionType.LZ4_FRAME : options.compression === "zstd" ? CompressionType.ZSTD : null;
  const Writer = options.stream ? RecordBatchStreamWriter : RecordBatchFileWriter;
  const bytes = Writer.writeAll(table, { compressionType }).toUint8Array(true);
  writeFileSync(file, bytes);
}

export interface ParquetWriteOptions {
  compression?: "snappy" | "zstd" | "gzip" | "none";
  /** Rows per row group (default: the writer's, one group for small tables). */
  rowGroupRows?: number;
}

/** Write a table as a Parquet file. */
export async function writeParquet(file: string, table: Table, options: ParquetWriteOptions = {}): Promise<void> {
  const parquet = await import("parquet-wasm");
  const codec = { snappy: parquet.Compression.SNAPPY, zstd: parquet.Compression.ZSTD, gzip: parquet.Compression.GZIP, none: parquet.Compression.UNCOMPRESSED }[options.compression ?? "snappy"];
  let builder = new parquet.WriterPropertiesBuilder().setCompression(codec);
  if (options.rowGroupRows !== undefined) builder = builder.setMaxRowGroupSize(options.rowGroupRows);
  writeFileSync(file, parquet.writeParquet(parquet.Table.fromIPCStream(tableToIPC(table, "stream")), builder.build()));
}

type H5 = typeof import("h5wasm/node");
let h5: Promise<H5> | null = null;

export async function h5wasm(): Promise<H5> {
  h5 ??= (async () => {
    const mod = await import("h5wasm/node");
    await mod.ready;
    return mod;
  })();
  return h5;
}

export interface H5DatasetSpec {
  data: Float32Array | Float64Array | Int8Array | Int32Array | BigInt64Array | Uint8Array;
  shape: number[];
  gzip?: boolean;
}

/** Write an HDF5 file: keys are dataset paths ("observations", "episode_3/rewards"); groups are made as needed. */
export async function writeHdf5(file: string, datasets: Record<string, H5DatasetSpec>): Promise<void> {
  const mod = await h5wasm();
  const f = new mod.File(file, "w");
  try {
    for (const [name, spec] of Object.entries(datasets)) {
      const parts = name.split("/");
      let group: import("h5wasm").Group = f;
      for (const g of parts.slice(0, -1)) {
        group = (group.keys().includes(g) ? group.get(g) : group.create_group(g)) as import("h5wasm").Group;
      }
      const chunkRows = Math.max(1, Math.min(spec.shape[0]!, 64));
      group.create_dataset({
        name: parts[parts.length - 1]!,
        data: spec.data,
        shape: spec.shape,
        ...(spec.gzip ? { compression: "gzip" as const, compression_opts: 4, chunks: [chunkRows, ...spec.shape.slice(1)] } : {}),
      });
    }
  } finally {
    f.close();
  }
}

/** A D4RL-style flat layout for episodes of the given lengths; the trailing `partial` steps have no end flag. */
export function d4rlArrays(lengths: number[], obsDim: number, actDim: number, partial = 0): {
  n: number;
  observations: Float32Array;
  actions: Float32Array;
  rewards: Float32Array;
  terminals: Int8Array;
  timeouts: Int8Array;
} {
  const n = lengths.reduce((a, b) => a + b, 0) + partial;
  const observations = Float32Array.from({ length: n * obsDim }, (_, i) => Math.sin(i) * 3);
  const actions = Float32Array.from({ length: n * actDim }, (_, i) => Math.cos(i) * 0.5);
  const rewards = Float32Array.from({ length: n }, (_, i) => (i % 7) - 2.5);
  const terminals = new Int8Array(n);
  const timeouts = new Int8Array(n);
  let end = 0;
  lengths.forEach((len, e) => {
    end += len;
    if (e % 2 === 0) terminals[end - 1] = 1;
    else timeouts[end - 1] = 1;
  });
  return { n, observations, actions, rewards, terminals, timeouts };
}
