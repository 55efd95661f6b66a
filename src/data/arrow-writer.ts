/**
 * The per-step Arrow IPC file snndt writes: `snndt collect`'s output, the prepared dataset's
 * `steps.arrow` and (with columns of its own after these) eval's `trajectories.arrow`. One row a
 * step, episodes contiguous and in order:
 *
 *   episode_id int32 | step int32 | observation FixedSizeList<Float32>[obsDim]
 *   action (discrete: int32, continuous: FixedSizeList<Float32>[dim]) | reward float32
 *   return_to_go float32 | terminated bool | truncated bool
 *
 * `terminated`/`truncated` are true only on an episode's last row, so any per-step reader that splits
 * episodes by flags or by `episode_id` finds the same episodes. Rows go in record batches of about
 * BATCH_ROWS: streamed to disk by writeStepsArrow (memory stays near one batch beyond the episodes),
 * or collected into bytes by stepsArrowBytes, for a file written together with others.
 */
import { closeSync, createWriteStream, openSync, promises as fs } from "node:fs";
import { once } from "node:events";
import { createHash } from "node:crypto";
import { pipeline } from "node:stream/promises";
import * as path from "node:path";
import { makeDirectory, namingPath, outputError, temporarySibling } from "../runtime/fs-atomic.js";
import {
  Bool,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int32,
  RecordBatch,
  RecordBatchFileWriter,
  Schema,
  Struct,
  Uint32,
  makeData,
  type Data,
  type DataType,
} from "apache-arrow";
import type { ActionSpace, Episode } from "./types.js";
import { actionWidth } from "./types.js";
import { InputError } from "../runtime/errors.js";
import { yieldToEventLoop } from "../runtime/event-loop.js";

/** Rows per record batch: large enough for fast IO, small enough to keep the copy buffers small. */
const BATCH_ROWS = 65_536;

export const STEP_COLUMNS = {
  episodeId: "episode_id",
  step: "step",
  observation: "observation",
  action: "action",
  reward: "reward",
  returnToGo: "return_to_go",
  terminated: "terminated",
  truncated: "truncated",
} as const;

/**
 * A column after the steps schema's own, one value (or `width` values) a row, given episode by
 * episode: what a reader of steps files ignores and an analysis wants (eval's trajectories).
 */
export interface ExtraStepColumn {
  name: string;
  type: "int32" | "uint32" | "float32" | "float64";
  /** Values per row: a FixedSizeList column of this width (default: one value, a plain column). */
  width?: number;
  /** Episode e's values, `width` per step, row-major. */
  values: (episode: number) => Int32Array | Uint32Array | Float32Array | Float64Array;
  /** A plain column's rows that hold a value (1) or null (0), for episode e; without it, every row holds one. */
  present?: (episode: number) => ArrayLike<number>;
}

const EXTRA_ARRAYS = { int32: Int32Array, uint32: Uint32Array, float32: Float32Array, float64: Float64Array } as const;

function extraItemType(column: ExtraStepColumn): Int32 | Uint32 | Float32 | Float64 {
  switch (column.type) {
    case "int32":
      return new Int32();
    case "uint32":
      return new Uint32();
    case "float32":
      return new Float32();
    case "float64":
      return new Float64();
  }
}

function extraType(column: ExtraStepColumn): DataType {
  const item = extraItemType(column);
  return column.width === undefined ? item : new FixedSizeList(column.width, new Field("item", item, false));
}

function vectorType(width: number): FixedSizeList<Float32> {
  return new FixedSizeList(width, new Field("item", new Float32(), false));
}

/** The schema of a steps file for observations of `obsDim` and the given action space, then `extra`'s columns. */
export function stepsSchema(obsDim: number, actionSpace: ActionSpace, metadata: Record<string, string> = {}, extra: readonly ExtraStepColumn[] = []): Schema {
  const actionType: DataType = actionSpace.kind === "discrete" ? new Int32() : vectorType(actionSpace.dim);
  return new Schema(
    [
      new Field(STEP_COLUMNS.episodeId, new Int32(), false),
      new Field(STEP_COLUMNS.step, new Int32(), false),
      new Field(STEP_COLUMNS.observation, vectorType(obsDim), false),
      new Field(STEP_COLUMNS.action, actionType, false),
      new Field(STEP_COLUMNS.reward, new Float32(), false),
      new Field(STEP_COLUMNS.returnToGo, new Float32(), false),
      new Field(STEP_COLUMNS.terminated, new Bool(), false),
      new Field(STEP_COLUMNS.truncated, new Bool(), false),
      ...extra.map((column) => new Field(column.name, extraType(column), column.present !== undefined)),
    ],
    new Map(Object.entries(metadata)),
  );
}

/**
 * One array holding `parts` in order: a view when they already lie back to back in one buffer (as
 * readers' episodes do), so the batch is serialised without an extra copy; otherwise a copy.
 */
function joined(parts: Float32Array[]): Float32Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const head = parts[0];
  if (head !== undefined) {
    let contiguous = true;
    for (let i = 1; i < parts.length && contiguous; i++) {
      const prev = parts[i - 1]!;
      contiguous = parts[i]!.buffer === head.buffer && parts[i]!.byteOffset === prev.byteOffset + prev.byteLength;
    }
    if (contiguous) return new Float32Array(head.buffer, head.byteOffset, total);
  }
  const out = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A plain Arrow column of `values`, which `new EXTRA_ARRAYS[type]` allocated. */
function plainData(type: ExtraStepColumn["type"], values: Int32Array | Uint32Array | Float32Array | Float64Array, length: number, nullCount: number, nullBitmap?: Uint8Array): Data {
  const common = { length, nullCount, ...(nullBitmap ? { nullBitmap } : {}) };
  switch (type) {
    case "int32":
      return makeData({ type: new Int32(), data: values as Int32Array, ...common });
    case "uint32":
      return makeData({ type: new Uint32(), data: values as Uint32Array, ...common });
    case "float32":
      return makeData({ type: new Float32(), data: values as Float32Array, ...common });
    case "float64":
      return makeData({ type: new Float64(), data: values as Float64Array, ...common });
  }
}

/** Episodes [first, last)'s values of an extra column, as one Arrow column of `rows` rows. */
function extraData(column: ExtraStepColumn, episodes: Episode[], first: number, last: number, rows: number): Data {
  const width = column.width ?? 1;
  if (column.present && column.width !== undefined) throw new Error(`extra column ${column.name}: only a plain column can hold nulls`);
  const values = new EXTRA_ARRAYS[column.type](rows * width);
  // Arrow's validity bitmap: bit i set when row i holds a value.
  const validity = column.present ? new Uint8Array((rows + 7) >> 3) : undefined;
  let nullCount = 0;
  let row = 0;
  for (let e = first; e < last; e++) {
    const mine = column.values(e);
    const length = episodes[e]!.length;
    if (mine.length !== length * width) throw new Error(`extra column ${column.name}: episode ${e} has ${length} steps but ${mine.length} values (${width} a step expected)`);
    values.set(mine, row * width);
    if (column.present && validity) {
      const present = column.present(e);
      for (let t = 0; t < length; t++, row++) {
        if (present[t]) validity[row >> 3]! |= 1 << (row & 7);
        else nullCount++;
      }
    } else {
      row += length;
    }
  }
  const itemData = plainData(column.type, values, rows * width, nullCount, validity);
  if (column.width === undefined) return itemData;
  return makeData({ type: extraType(column) as FixedSizeList, length: rows, nullCount: 0, child: itemData });
}

/** Episodes [first, last) with their global episode indices, packed into one record batch. */
function buildBatch(
  schema: Schema,
  episodes: Episode[],
  first: number,
  last: number,
  obsDim: number,
  actionSpace: ActionSpace,
  extra: readonly ExtraStepColumn[],
): RecordBatch {
  const actWidth = actionWidth(actionSpace);
  let rows = 0;
  for (let e = first; e < last; e++) rows += episodes[e]!.length;
  const episodeIds = new Int32Array(rows);
  const steps = new Int32Array(rows);
  const range = episodes.slice(first, last);
  const observations = joined(range.map((ep) => ep.observations.subarray(0, ep.length * obsDim)));
  const discreteActions = actionSpace.kind === "discrete" ? new Int32Array(rows) : null;
  const continuousActions = actionSpace.kind === "continuous" ? joined(range.map((ep) => ep.actions.subarray(0, ep.length * actWidth))) : null;
  const rewards = joined(range.map((ep) => ep.rewards.subarray(0, ep.length)));
  const returnsToGo = joined(range.map((ep) => ep.returnsToGo.subarray(0, ep.length)));
  // Validity-free bit-packed booleans, least significant bit first (Arrow's layout).
  const terminated = new Uint8Array((rows + 7) >> 3);
  const truncated = new Uint8Array((rows + 7) >> 3);
  let row = 0;
  for (let e = first; e < last; e++) {
    const ep = episodes[e]!;
    episodeIds.fill(e, row, row + ep.length);
    for (let t = 0; t < ep.length; t++) steps[row + t] = t;
    if (discreteActions) {
      for (let t = 0; t < ep.length; t++) discreteActions[row + t] = ep.actions[t]!;
    }
    const lastRow = row + ep.length - 1;
    if (ep.terminated) terminated[lastRow >> 3]! |= 1 << (lastRow & 7);
    if (ep.truncated) truncated[lastRow >> 3]! |= 1 << (lastRow & 7);
    row += ep.length;
  }
  const vectorData = (values: Float32Array, width: number): Data =>
    makeData({
      type: vectorType(width),
      length: rows,
      nullCount: 0,
      child: makeData({ type: new Float32(), length: rows * width, nullCount: 0, data: values }),
    });
  const children: Data[] = [
    makeData({ type: new Int32(), length: rows, nullCount: 0, data: episodeIds }),
    makeData({ type: new Int32(), length: rows, nullCount: 0, data: steps }),
    vectorData(observations, obsDim),
    discreteActions
      ? makeData({ type: new Int32(), length: rows, nullCount: 0, data: discreteActions })
      : vectorData(continuousActions!, actWidth),
    makeData({ type: new Float32(), length: rows, nullCount: 0, data: rewards }),
    makeData({ type: new Float32(), length: rows, nullCount: 0, data: returnsToGo }),
    makeData({ type: new Bool(), length: rows, nullCount: 0, data: terminated }),
    makeData({ type: new Bool(), length: rows, nullCount: 0, data: truncated }),
    ...extra.map((column) => extraData(column, episodes, first, last, rows)),
  ];
  const structData = makeData({ type: new Struct(schema.fields), length: rows, nullCount: 0, children });
  return new RecordBatch(schema, structData);
}

/** Check that every episode has the shapes the schema promises, before anything is written. */
function checkEpisodes(file: string, episodes: Episode[], obsDim: number, actionSpace: ActionSpace): void {
  const actWidth = actionWidth(actionSpace);
  episodes.forEach((ep, e) => {
    const expect: Array<[string, number, number]> = [
      ["observations", ep.observations.length, ep.length * obsDim],
      ["actions", ep.actions.length, ep.length * actWidth],
      ["rewards", ep.rewards.length, ep.length],
      ["returnsToGo", ep.returnsToGo.length, ep.length],
    ];
    for (const [name, found, expected] of expect) {
      if (found < expected) {
        throw new InputError(
          `cannot write ${file}: episode ${e} has ${ep.length} steps, so ${name} needs ${expected} values, but it holds ${found}.`,
        );
      }
    }
    if (actionSpace.kind === "discrete") {
      for (let t = 0; t < ep.length; t++) {
        const a = ep.actions[t]!;
        if (!Number.isInteger(a) || a < 0 || a >= actionSpace.n) {
          throw new InputError(
            `cannot write ${file}: episode ${e} step ${t} has action ${a}, expected an integer in [0, ${actionSpace.n}).`,
          );
        }
      }
    }
  });
}

/** The observation width shared by all episodes (0 when there are no steps). */
function inferObsDim(file: string, episodes: Episode[]): number {
  let obsDim = -1;
  episodes.forEach((ep, e) => {
    if (ep.length === 0) return;
    const width = ep.observations.length / ep.length;
    if (!Number.isInteger(width)) {
      throw new InputError(
        `cannot write ${file}: episode ${e} has ${ep.length} steps but ${ep.observations.length} observation values (not a multiple).`,
      );
    }
    if (obsDim === -1) obsDim = width;
    else if (width !== obsDim) {
      throw new InputError(
        `cannot write ${file}: episode ${e} has observations of width ${width}, earlier episodes have width ${obsDim}.`,
      );
    }
  });
  return Math.max(obsDim, 0);
}

/** The episodes as record batches of about BATCH_ROWS rows (whole episodes each). */
function* stepBatches(schema: Schema, episodes: Episode[], obsDim: number, actionSpace: ActionSpace, extra: readonly ExtraStepColumn[]): Generator<RecordBatch> {
  let first = 0;
  while (first < episodes.length) {
    let last = first;
    let rows = 0;
    while (last < episodes.length && (rows === 0 || rows + episodes[last]!.length <= BATCH_ROWS)) {
      rows += episodes[last]!.length;
      last++;
    }
    yield buildBatch(schema, episodes, first, last, obsDim, actionSpace, extra);
    first = last;
  }
}

/**
 * A steps file with `extra` columns after its own, as the bytes of an Arrow IPC file, for a file
 * written together with others (eval's outputs). `name` is the file in error messages.
 */
export function stepsArrowBytes(
  name: string,
  episodes: Episode[],
  actionSpace: ActionSpace,
  metadata: Record<string, string>,
  extra: readonly ExtraStepColumn[],
): Uint8Array {
  const obsDim = inferObsDim(name, episodes);
  checkEpisodes(name, episodes, obsDim, actionSpace);
  const schema = stepsSchema(obsDim, actionSpace, metadata, extra);
  const writer = new RecordBatchFileWriter();
  writer.reset(undefined, schema);
  for (const batch of stepBatches(schema, episodes, obsDim, actionSpace, extra)) writer.write(batch);
  writer.finish();
  return writer.toUint8Array(true);
}

/**
 * Write episodes as a per-step Arrow IPC file (atomic): columns episode_id int32, step int32,
 * observation FixedSizeList<Float32>[obsDim], action (discrete: int32; continuous: FixedSizeList<Float32>[dim]),
 * reward float32, return_to_go float32, terminated bool, truncated bool (flags set on the episode's last row).
 * `metadata` goes into the Arrow schema's metadata (e.g. env id, policy, seed).
 */
export async function writeStepsArrow(
  file: string,
  episodes: Episode[],
  actionSpace: ActionSpace,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeStepsArrowHashed(file, episodes, actionSpace, metadata);
}

/** writeStepsArrow that also returns the sha256 (hex) of the bytes written, hashed while they stream out. */
export async function writeStepsArrowHashed(
  file: string,
  episodes: Episode[],
  actionSpace: ActionSpace,
  metadata?: Record<string, string>,
): Promise<string> {
  const obsDim = inferObsDim(file, episodes);
  checkEpisodes(file, episodes, obsDim, actionSpace);
  const schema = stepsSchema(obsDim, actionSpace, metadata);

  // Resolved: the OS would read "missing/.." in a path as a directory that must exist.
  const target = path.resolve(file);
  await makeDirectory(path.dirname(target));
  const { tmp, release } = temporarySibling(target);
  // Hashed on this thread as the bytes stream out: with the CPU's SHA extensions that is cheaper
  // than copying each chunk to a worker.
  const hash = createHash("sha256");
  try {
    const writer = new RecordBatchFileWriter();
    closeSync(openSync(tmp, "w"));
    // "r+" never creates: if an exit removed the file meanwhile, this fails instead of leaving one.
    const out = createWriteStream(tmp, { flags: "r+" });
    const written = pipeline(
      writer.toNodeStream(),
      async function* (source: AsyncIterable<Uint8Array>) {
        for await (const chunk of source) {
          hash.update(chunk);
          yield chunk;
        }
      },
      out,
    );
    // A write that fails (a full disk) rejects `written` while the loop below waits: handled there, not left unhandled.
    written.catch(() => {});
    writer.reset(undefined, schema);
    for (const batch of stepBatches(schema, episodes, obsDim, actionSpace, [])) {
      writer.write(batch);
      // Let the file stream catch up so the serialised batches do not pile up in memory.
      await Promise.race([written, out.writableNeedDrain ? once(out, "drain") : yieldToEventLoop()]);
    }
    writer.close();
    await written;
    const handle = await fs.open(tmp, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, target);
    return hash.digest("hex");
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw outputError(namingPath(err, tmp), tmp, target);
  } finally {
    release();
  }
}
