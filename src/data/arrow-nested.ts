/**
 * Flattening Arrow columns of numbers, possibly nested in List / LargeList / FixedSizeList, into
 * flat typed arrays plus one offsets array per list level. Works on the buffers (valueOffsets and
 * child values), never per-row `.get(i)`, so a million-row column costs one copy.
 *
 * For a column with `depth` list levels, `offsets[k]` (k < depth) has one entry more than the items
 * of level k and gives, for item i, the range offsets[k][i]..offsets[k][i+1] of items of level k+1
 * (level `depth` items are the leaf values). Level 0 items are the table's rows.
 */
import { Type, type Data, type DataType, type Vector } from "apache-arrow";
import { InputError } from "../runtime/errors.js";

export interface NestedNumbers {
  rows: number;
  offsets: Int32Array[];
  values: Float32Array | Float64Array;
  /** The leaf type is an integer (Int8..Int64, Uint8..Uint64). */
  integerTyped: boolean;
  /** The leaf type is boolean (values are 0/1). */
  booleanTyped: boolean;
}

function isListType(type: DataType): boolean {
  return type.typeId === Type.List || type.typeId === Type.LargeList || type.typeId === Type.FixedSizeList;
}

/** Number of list levels above the leaf, and the leaf type. */
export function listDepth(type: DataType): { depth: number; leaf: DataType } {
  let depth = 0;
  let t = type;
  while (isListType(t)) {
    t = (t.children[0] as { type: DataType }).type;
    depth++;
  }
  return { depth, leaf: t };
}

function isNumericLeaf(type: DataType): boolean {
  return (
    type.typeId === Type.Int ||
    type.typeId === Type.Bool ||
    (type.typeId === Type.Float && (type as unknown as { precision: number }).precision !== 0)
  );
}

/** Whether the column holds numbers (or booleans), possibly in lists. */
export function holdsNumbers(vector: Vector): boolean {
  return isNumericLeaf(listDepth(vector.type).leaf);
}

interface Walk {
  file: string;
  column: string;
  counts: number[];
  cursors: number[];
  offsets: Int32Array[];
  values: Float32Array | Float64Array;
}

function nullError(w: Walk, data: Data, begin: number, end: number, level: number): InputError {
  let i = begin;
  while (i < end && data.getValid(i)) i++;
  const where = level === 0 ? `row ${w.cursors[0]! + (i - begin)}` : `a nested list (level ${level})`;
  return new InputError(`${w.file}: column "${w.column}" has a null value at ${where}; expected a number at every step.`);
}

/** Pass 1: how many items each level holds in data[begin, end). */
function count(w: Walk, data: Data, begin: number, end: number, level: number): void {
  w.counts[level]! += end - begin;
  const typeId = data.type.typeId;
  if (typeId === Type.List || typeId === Type.LargeList) {
    const o = data.valueOffsets as Int32Array | BigInt64Array;
    count(w, data.children[0]!, Number(o[begin]), Number(o[end]), level + 1);
  } else if (typeId === Type.FixedSizeList) {
    const size = (data.type as unknown as { listSize: number }).listSize;
    count(w, data.children[0]!, begin * size, end * size, level + 1);
  }
}

/** Pass 2: copy offsets and values of data[begin, end) at the cursors. */
function fill(w: Walk, data: Data, begin: number, end: number, level: number): void {
  if (data.nullCount > 0) {
    for (let i = begin; i < end; i++) if (!data.getValid(i)) throw nullError(w, data, begin, end, level);
  }
  const typeId = data.type.typeId;
  if (typeId === Type.List || typeId === Type.LargeList || typeId === Type.FixedSizeList) {
    const out = w.offsets[level]!;
    let at = w.cursors[level]!;
    let childBegin: number;
    let childEnd: number;
    if (typeId === Type.FixedSizeList) {
      const size = (data.type as unknown as { listSize: number }).listSize;
      for (let i = begin; i < end; i++) out[at + 1] = out[at++]! + size;
      childBegin = begin * size;
      childEnd = end * size;
    } else {
      const o = data.valueOffsets as Int32Array | BigInt64Array;
      if (o instanceof BigInt64Array) {
        for (let i = begin; i < end; i++) out[at + 1] = out[at++]! + Number(o[i + 1]! - o[i]!);
      } else {
        for (let i = begin; i < end; i++) out[at + 1] = out[at++]! + (o[i + 1]! - o[i]!);
      }
      childBegin = Number(o[begin]);
      childEnd = Number(o[end]);
    }
    w.cursors[level] = at;
    fill(w, data.children[0]!, childBegin, childEnd, level + 1);
    return;
  }
  const out = w.values;
  const at = w.cursors[level]!;
  const n = end - begin;
  if (typeId === Type.Bool) {
    const bits = data.values as Uint8Array;
    for (let i = 0; i < n; i++) {
      const bit = data.offset + begin + i;
      out[at + i] = (bits[bit >> 3]! >> (bit & 7)) & 1;
    }
  } else {
    const src = data.values as ArrayLike<number | bigint> & { subarray?: unknown };
    if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
      for (let i = 0; i < n; i++) out[at + i] = Number(src[begin + i]!);
    } else {
      out.set((src as Float32Array).subarray(begin, end), at);
    }
  }
  w.cursors[level] = at + n;
}

/**
 * Flatten `vector` (all its record-batch chunks) into offsets per list level and leaf values.
 * The leaf must be a number or boolean; anything else is an InputError naming the column and type.
 */
export function flattenNumbers(
  file: string,
  column: string,
  vector: Vector,
  valueType: "f32" | "f64",
): NestedNumbers {
  const { depth, leaf } = listDepth(vector.type);
  if (leaf.typeId === Type.Float && !isNumericLeaf(leaf)) {
    throw new InputError(`${file}: column "${column}" has type ${String(vector.type)}, half-precision floats, which snndt does not read; store it as float32 (e.g. astype("float32")).`);
  }
  if (!isNumericLeaf(leaf)) {
    throw new InputError(
      `${file}: column "${column}" has type ${String(vector.type)}; expected numbers (float, int or bool), possibly in lists.`,
    );
  }
  const w: Walk = {
    file,
    column,
    counts: new Array<number>(depth + 1).fill(0),
    cursors: new Array<number>(depth + 1).fill(0),
    offsets: [],
    values: new Float32Array(0),
  };
  for (const data of vector.data) count(w, data, 0, data.length, 0);
  w.offsets = w.counts.slice(0, depth).map((n) => new Int32Array(n + 1));
  w.values = valueType === "f32" ? new Float32Array(w.counts[depth]!) : new Float64Array(w.counts[depth]!);
  for (const data of vector.data) fill(w, data, 0, data.length, 0);
  return {
    rows: vector.length,
    offsets: w.offsets,
    values: w.values,
    integerTyped: leaf.typeId === Type.Int,
    booleanTyped: leaf.typeId === Type.Bool,
  };
}
