/**
 * Arrow IPC readers (file, Feather v2, stream; LZ4_FRAME/ZSTD bodies) for the two layouts:
 *
 * - per step: one row a step; episodes are runs of equal episode id, or end at rows whose terminal
 *   or timeout flag is set (steps after the last flag form an unfinished episode);
 * - per episode: one row an episode with list columns (observations, actions, rewards, dones), as
 *   the Hugging Face decision-transformer datasets store them. Observations may carry one extra
 *   final row (Minari's convention), which is dropped.
 *
 * The layout is per episode when the rewards column is a (Large)List, per step otherwise. A per-step
 * observation column may be a struct (a dict a row), flattened by observation-parts.
 */
import { promises as fs } from "node:fs";
import { Type, tableFromIPC, type Table, type Vector } from "apache-arrow";
import { InputError } from "../runtime/errors.js";
import { registerArrowCodecs } from "./codecs.js";
import { ambiguousEndsWarning, findColumn, lookUpColumns, MissingColumnError, refuseIdColumns, refuseSharedColumns, requireColumn, requireStepColumns, setAsideNote, requireVectorColumns, type ColumnNames } from "./columns.js";
import { flattenNumbers, holdsNumbers, listDepth, type NestedNumbers } from "./arrow-nested.js";
import { collectedByOf, endsEpisode, splitAtFlags, type RawDataset, type RawEpisode, type SourceFormat } from "./raw.js";
import { flattenObservationParts, type DeclaredObservation, type ObservationPart, type StoredPart } from "./observation-parts.js";

export interface ArrowReadOptions {
  columns?: ColumnNames;
  /** Keep the steps after the last episode end as an (unfinished) episode. */
  keepPartial?: boolean;
}

const ARROW_MAGIC = "ARROW1";

/** Parse the IPC bytes; any failure is reported as a corrupt/truncated file, not as a crash. */
function parseTable(file: string, format: SourceFormat, bytes: Uint8Array): Table {
  const kind = format === "arrow-file" ? "Arrow IPC file (Feather v2)" : "Arrow IPC stream";
  if (format === "arrow-file") {
    const tail = Buffer.from(bytes.subarray(Math.max(0, bytes.length - 6))).toString("latin1");
    if (tail !== ARROW_MAGIC) {
      throw new InputError(
        `${file}: the file starts like an ${kind} but does not end with the "ARROW1" footer magic ` +
          `(${bytes.length} bytes); it is truncated or corrupt.`,
      );
    }
  } else {
    // Writers end a stream with the end-of-stream marker ff ff ff ff 00 00 00 00; without it, a
    // stream cut at a message boundary would read as a shorter, valid-looking table.
    const end = Buffer.from(bytes.subarray(Math.max(0, bytes.length - 8)));
    const eos = end.length === 8 && end.readUInt32LE(0) === 0xffffffff && end.readUInt32LE(4) === 0;
    if (!eos) {
      throw new InputError(
        `${file}: the ${kind} does not end with the end-of-stream marker (ff ff ff ff 00 00 00 00; found ${[...end].map((b) => b.toString(16).padStart(2, "0")).join(" ")}); ` +
          `it is truncated or corrupt.`,
      );
    }
  }
  registerArrowCodecs();
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (err) {
    throw new InputError(`${file}: cannot read it as an ${kind} (${(err as Error).message.replace(/\.$/, "")}); the file is truncated or corrupt.`);
  }
  if (table.schema.fields.length === 0) {
    throw new InputError(`${file}: the ${kind} holds no schema or no columns; expected trajectory columns (observations, actions, rewards, ...).`);
  }
  return table;
}

function column(table: Table, name: string): Vector {
  return table.getChild(name)!;
}

/**
 * Episode ids as exact keys: 64-bit integers as bigints (as float64, ids above 2^53 would merge
 * episodes), strings (plain or dictionary-encoded) as themselves, other numbers as numbers.
 */
function episodeIds(file: string, name: string, vector: Vector): ArrayLike<number | bigint | string> {
  const type = vector.type;
  const values = type.typeId === Type.Dictionary ? type.dictionary : type;
  const exact = (type.typeId === Type.Int && type.bitWidth === 64) || values.typeId === Type.Utf8 || values.typeId === Type.LargeUtf8;
  if (!exact) return flattenNumbers(file, name, vector, "f64").values;
  if (vector.nullCount > 0) {
    throw new InputError(`${file}: column "${name}" has ${vector.nullCount} null value(s); expected an episode id on every row.`);
  }
  return vector.toArray() as ArrayLike<bigint | string>;
}

/** Per-row vectors of a constant width (a scalar column is width 1); ragged rows are an error. */
export function perStepWidth(file: string, name: string, nested: NestedNumbers): number {
  if (nested.offsets.length === 0) return 1;
  if (nested.offsets.length > 1) {
    throw new InputError(`${file}: column "${name}" is nested ${nested.offsets.length} lists deep; a per-step column holds a number or a list of numbers a row.`);
  }
  const o = nested.offsets[0]!;
  const width = nested.rows > 0 ? o[1]! - o[0]! : 0;
  for (let r = 0; r < nested.rows; r++) {
    const w = o[r + 1]! - o[r]!;
    if (w !== width) {
      throw new InputError(`${file}: column "${name}" has ${w} values at row ${r} but ${width} at row 0; every row must have the same width (ragged ${name}).`);
    }
  }
  return width;
}

/** The field names of a struct column, in the file's order. */
export function structFieldNames(vector: Vector): string[] {
  return (vector.type as unknown as { children: Array<{ name: string }> }).children.map((f) => f.name);
}

/** A struct column (a Dict or Tuple observation) as StoredParts; each field is read when flattening asks for it. */
function structParts(file: string, name: string, vector: Vector): StoredPart {
  if (vector.nullCount > 0) throw new InputError(`${file}: column "${name}" has ${vector.nullCount} null rows; expected a value in every row.`);
  const children = new Map<string, StoredPart>();
  structFieldNames(vector).forEach((field, i) => {
    const child = vector.getChildAt(i)!;
    const childName = `${name}/${field}`;
    if (child.type.typeId === Type.Struct) {
      children.set(field, structParts(file, childName, child));
      return;
    }
    children.set(field, {
      kind: "leaf",
      read: (precision) => {
        const nested = flattenNumbers(file, childName, child, precision);
        return { rows: nested.rows, width: perStepWidth(file, childName, nested), values: nested.values };
      },
    });
  });
  return { kind: "group", children };
}

/**
 * Null when every episode's rows are together (the common case: rows stay where they are); else
 * the row indices grouped by episode, episodes in order of first appearance, rows in file order.
 */
function interleavedOrder(ids: ArrayLike<number | bigint | string>): { order: Int32Array; firstSplit: { id: number | bigint | string; from: number; again: number } } | null {
  // One pass over the runs of equal ids: an id that starts a second run is interleaved.
  const started = new Map<number | bigint | string, number>();
  let firstSplit: { id: number | bigint | string; from: number; again: number } | null = null;
  for (let r = 0; r < ids.length && firstSplit === null; r++) {
    if (r > 0 && ids[r] === ids[r - 1]) continue;
    const from = started.get(ids[r]!);
    if (from !== undefined) firstSplit = { id: ids[r]!, from, again: r };
    started.set(ids[r]!, r);
  }
  if (firstSplit === null) return null;
  const rowsOf = new Map<number | bigint | string, number[]>();
  for (let r = 0; r < ids.length; r++) {
    const rowsOfId = rowsOf.get(ids[r]!);
    if (rowsOfId === undefined) rowsOf.set(ids[r]!, [r]);
    else rowsOfId.push(r);
  }
  const order = new Int32Array(ids.length);
  let at = 0;
  for (const rowsOfId of rowsOf.values()) for (const r of rowsOfId) order[at++] = r;
  return { order, firstSplit };
}

/** A step column's values, one number a row. */
function stepIndices(file: string, table: Table, name: string): Float64Array {
  const stepColumn = column(table, name);
  if (!holdsNumbers(stepColumn)) {
    throw new InputError(`${file}: column "${name}" has type ${String(stepColumn.type)}; expected step indices (integers). If it holds no step index, pass --step-column none.`);
  }
  const values = flattenNumbers(file, name, stepColumn, "f64");
  if (perStepWidth(file, name, values) !== 1) throw new InputError(`${file}: column "${name}" holds several values a row; expected one step index a row.`);
  return values.values as Float64Array;
}

/**
 * Null when the rows of every episode (grouped by `grouping`, null: as in the file) are in step
 * order; else that grouping with each episode's rows sorted by step (a query engine or a shuffle
 * may write them in any order), and which episodes were not in order.
 */
function stepOrder(ids: ArrayLike<number | bigint | string>, steps: Float64Array, grouping: Int32Array | null): { order: Int32Array; firstUnsorted: number | bigint | string; unsortedEpisodes: number } | null {
  const order = grouping ? Int32Array.from(grouping) : Int32Array.from({ length: ids.length }, (_, r) => r);
  let firstUnsorted: number | bigint | string | null = null;
  let unsortedEpisodes = 0;
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    let inOrder = true;
    for (; end < order.length && ids[order[end]!] === ids[order[start]!]; end++) inOrder &&= steps[order[end]!]! >= steps[order[end - 1]!]!;
    if (!inOrder) {
      firstUnsorted ??= ids[order[start]!]!;
      unsortedEpisodes++;
      order.subarray(start, end).sort((a, b) => steps[a]! - steps[b]! || a - b);
    }
    start = end;
  }
  return firstUnsorted === null ? null : { order, firstUnsorted, unsortedEpisodes };
}

/** `values` (rows of `width` numbers) with its rows taken in `order`. */
function gatherRows<T extends Float32Array | Float64Array>(values: T, width: number, order: Int32Array): T {
  const out = new (values.constructor as new (n: number) => T)(order.length * width);
  for (let i = 0; i < order.length; i++) out.set(values.subarray(order[i]! * width, (order[i]! + 1) * width), i * width);
  return out;
}

/** How messages and the summary name a vector spread over columns: "obs_0..obs_3". */
function spanName(names: string[]): string {
  return names.length === 1 ? names[0]! : `${names[0]}..${names[names.length - 1]}`;
}

/** One vector a row, from one column or from scalar columns side by side (obs_0, obs_1, ...). */
function vectorRows(file: string, table: Table, names: string[]): NestedNumbers {
  if (names.length === 1) return flattenNumbers(file, names[0]!, column(table, names[0]!), "f32");
  const parts = names.map((name) => {
    const part = flattenNumbers(file, name, column(table, name), "f32");
    if (part.offsets.length > 0) throw new InputError(`${file}: column "${name}" holds a list a row; columns that together hold a vector must hold one number a row each.`);
    return part;
  });
  const rows = table.numRows;
  const width = names.length;
  const values = new Float32Array(rows * width);
  parts.forEach((part, j) => {
    for (let r = 0; r < rows; r++) values[r * width + j] = part.values[r]!;
  });
  return {
    rows,
    offsets: [Int32Array.from({ length: rows + 1 }, (_, r) => r * width)],
    values,
    integerTyped: parts.every((part) => part.integerTyped),
    booleanTyped: parts.every((part) => part.booleanTyped),
  };
}

/**
 * Per-step observations, one vector a row: a column of numbers, scalar columns side by side, or a
 * struct column (a dict a row, as polars and pyarrow write one; Minari's Dict and Tuple spaces)
 * flattened as Gymnasium flattens a Dict, `parts` saying where each part went. `declared` is asked
 * for the declared space only when there are parts.
 */
export function observationRows(file: string, table: Table, names: string[], declared: () => DeclaredObservation | null): { values: Float32Array; width: number; parts: ObservationPart[] | null } {
  const name = spanName(names);
  const vector = names.length === 1 ? column(table, name) : null;
  if (vector?.type.typeId === Type.Struct) {
    const flat = flattenObservationParts(file, name, structParts(file, name, vector), "N", declared());
    return { values: flat.values, width: flat.width, parts: flat.parts };
  }
  const nested = vectorRows(file, table, names);
  return { values: nested.values as Float32Array, width: perStepWidth(file, name, nested), parts: null };
}

/**
 * A per-step struct observation is flattened in sorted key order, as Gymnasium flattens a Dict. A
 * struct of scalar fields stored in another order may instead be one vector's components in the
 * file's order (x, x_dot, theta, theta_dot); a Dict's parts (observation, achieved_goal,
 * desired_goal, as goal-conditioned environments return them) are rightly sorted and not warned of.
 */
function reorderedStructWarning(column: string, vector: Vector, parts: ObservationPart[]): string | null {
  const stored = structFieldNames(vector);
  const scalars = stored.every((_, i) => {
    const type = vector.getChildAt(i)!.type;
    return type.typeId !== Type.Struct && listDepth(type).depth === 0;
  });
  const flattened = parts.map((part) => part.name);
  if (!scalars || flattened.join("\u0000") === stored.join("\u0000")) return null;
  return (
    `struct column "${column}" is flattened in sorted key order (${flattened.join(", ")}), as Gymnasium flattens a Dict observation, ` +
    `not in the file's order (${stored.join(", ")}); if its fields are one vector's components in the file's order, ` +
    `write them as columns of their own (polars: df.unnest("${column}")) and pass --obs-column ${stored.join(",")}`
  );
}

/** The columns of a table of a row a step, every one the file lacks named in one error. */
function perStepColumns(file: string, names: readonly string[], cols: ColumnNames) {
  return lookUpColumns(
    () => requireVectorColumns(file, names, "observations", cols),
    () => requireVectorColumns(file, names, "actions", cols),
    () => requireColumn(file, names, "rewards", cols),
    () => findColumn(file, names, "terminals", cols),
    () => findColumn(file, names, "timeouts", cols),
    () => findColumn(file, names, "episode", cols),
    () => findColumn(file, names, "step", cols),
  );
}

function readPerStep(file: string, format: SourceFormat, table: Table, names: string[], options: ArrowReadOptions): RawDataset {
  const cols = options.columns ?? {};
  const [obsNames, actNames, rewName, termName, timeoutName, episodeName, stepName] = perStepColumns(file, names, cols);
  const obsName = spanName(obsNames);
  const actName = spanName(actNames);
  refuseSharedColumns(file, { actions: actNames, rewards: rewName, terminals: termName, timeouts: timeoutName }, cols);

  const obs = observationRows(file, table, obsNames, () => null);
  const reordered = obs.parts && reorderedStructWarning(obsName, column(table, obsName), obs.parts);
  const act = vectorRows(file, table, actNames);
  const rew = flattenNumbers(file, rewName, column(table, rewName), "f64");
  const obsDim = obs.width;
  const actWidth = perStepWidth(file, actName, act);
  if (perStepWidth(file, rewName, rew) !== 1) {
    throw new InputError(`${file}: column "${rewName}" holds several values a row; expected one reward a step.`);
  }
  const flagValues = (name: string | undefined): Float32Array | null => {
    if (name === undefined) return null;
    const nested = flattenNumbers(file, name, column(table, name), "f32");
    if (perStepWidth(file, name, nested) !== 1) throw new InputError(`${file}: column "${name}" holds several values a row; expected one flag a step.`);
    return nested.values as Float32Array;
  };
  const rows = table.numRows;
  // Rows grouped by episode: the identity for files that keep each episode's rows together, else
  // the rows of each episode in file order, episodes in the order they first appear (a vectorised
  // logger interleaves its environments' steps).
  const ids = episodeName === undefined ? undefined : episodeIds(file, episodeName, column(table, episodeName));
  const interleaved = ids === undefined ? null : interleavedOrder(ids);
  if (interleaved && stepName === undefined) {
    // Without step indices to confirm it, a repeating column may be a label, not interleaved episodes.
    const { id, from, again } = interleaved.firstSplit;
    throw new InputError(
      `${file}: column "${episodeName}": the rows of episode ${id} are not contiguous (rows from ${from} and again from row ${again}); ` +
        `interleaved episodes (as a vectorised logger writes them) are read when a step column confirms each episode's order ` +
        `(--step-column), else expected each episode's steps in one run of rows (if the column holds no episode ids, pass --episode-column none).`,
    );
  }
  const steps = stepName === undefined ? null : stepIndices(file, table, stepName);
  const sorted = ids !== undefined && steps !== null ? stepOrder(ids, steps, interleaved?.order ?? null) : null;
  const order = sorted?.order ?? interleaved?.order ?? null;
  const grouped = <T extends Float32Array | Float64Array>(values: T, width: number): T => (order ? gatherRows(values, width, order) : values);
  const terminalsInFile = flagValues(termName);
  const timeoutsInFile = flagValues(timeoutName);
  const terminals = terminalsInFile && grouped(terminalsInFile, 1);
  const timeouts = timeoutsInFile && grouped(timeoutsInFile, 1);
  const rowInFile = (row: number): number => (order ? order[row]! : row);

  // Each episode's steps must count up by one: checked before unfinished episodes are dropped, so a
  // gap is named as such and not taken for an episode no flag ends.
  const checkSteps = (episodeRanges: Array<[number, number]>): void => {
    if (steps === null) return;
    const inEpisodes = grouped(steps, 1);
    for (const [start, end] of episodeRanges) {
      for (let r = start + 1; r < end; r++) {
        if (inEpisodes[r] === inEpisodes[r - 1] && ids !== undefined) {
          throw new InputError(
            `${file}: column "${stepName}" holds step ${inEpisodes[r]} at rows ${rowInFile(r - 1)} and ${rowInFile(r)}, both of episode ${ids[rowInFile(r)]} (column "${episodeName}"); ` +
              `expected each step once an episode (two recordings joined with the same episode ids? give each episode its own id).`,
          );
        }
        if (inEpisodes[r] !== inEpisodes[r - 1]! + 1) {
          throw new InputError(
            `${file}: column "${stepName}" at row ${rowInFile(r)} holds ${inEpisodes[r]} after ${inEpisodes[r - 1]} at row ${rowInFile(r - 1)} in the same episode; expected consecutive steps in order (if it holds no step index, pass --step-column none).`,
          );
        }
      }
    }
  };

  // Episode ranges [start, end) in (grouped) rows.
  let ranges: Array<[number, number]> = [];
  let droppedPartialSteps = 0;
  const warnings = ambiguousEndsWarning(termName, timeoutName);
  if (reordered) warnings.push(reordered);
  if ((termName === undefined && cols.terminals !== "none") || (timeoutName === undefined && cols.timeouts !== "none")) {
    // Flags under names snndt does not know are left unread: say so, since episode ends then come from the ids alone.
    const used = new Set([...obsNames, ...actNames, rewName, termName, timeoutName, episodeName, stepName]);
    const unread = names.filter((name) => !used.has(name) && column(table, name).type.typeId === Type.Bool);
    if (unread.length > 0) {
      warnings.push(
        `boolean column${unread.length === 1 ? "" : "s"} ${unread.map((name) => `"${name}"`).join(", ")} ${unread.length === 1 ? "was" : "were"} not read; ` +
          `if ${unread.length === 1 ? "it marks" : "they mark"} episode ends, name ${unread.length === 1 ? "it" : "them"} with --terminal-column / --timeout-column`,
      );
    }
  }
  if (ids !== undefined) {
    const idOf = (row: number) => ids[rowInFile(row)]!;
    let start = 0;
    for (let r = 1; r <= rows; r++) {
      if (r < rows && idOf(r) === idOf(start)) continue;
      ranges.push([start, r]);
      start = r;
    }
    checkSteps(ranges);
    const earlyFlags = ranges.flatMap(([s, end]) => {
      for (let r = s; r < end - 1; r++) if (endsEpisode(terminals, timeouts, r)) return [{ s, end, r }];
      return [];
    });
    if (earlyFlags.length > 0) {
      const { s, end, r } = earlyFlags[0]!;
      warnings.push(
        `episode ${idOf(s)} (column "${episodeName}") has a terminal or timeout flag at row ${rowInFile(r)} (${r - s} ${r - s === 1 ? "row" : "rows"} into it) but goes on for ${end - 1 - r} more ${end - 1 - r === 1 ? "row" : "rows"}` +
          `${earlyFlags.length > 1 ? `, as do ${earlyFlags.length - 1} more episodes` : ""}: episodes were split by "${episodeName}", not at the flags; check that the two agree`,
      );
    }
    // As with flags alone: an episode that no flag ends and that was still running when the file's
    // last episode began was cut off by the recording. In a file that keeps episodes together that
    // is its last episode; interleaved, each environment's last (earlier unflagged ones are kept).
    if ((terminals || timeouts) && !options.keepPartial) {
      // In file rows: an episode's rows taken in step order need not run in file order.
      const fileRows = ranges.map(([s, end]) => {
        let first = rowInFile(s);
        let last = first;
        for (let r = s + 1; r < end; r++) {
          first = Math.min(first, rowInFile(r));
          last = Math.max(last, rowInFile(r));
        }
        return { first, last };
      });
      const lastStart = fileRows.reduce((latest, { first }) => Math.max(latest, first), 0);
      const unfinished = new Set(ranges.flatMap(([, end], i) => (fileRows[i]!.last >= lastStart && !endsEpisode(terminals, timeouts, end - 1) ? [i] : [])));
      for (const i of unfinished) {
        const [s, end] = ranges[i]!;
        droppedPartialSteps += end - s;
        const where = order ? `its last row ${fileRows[i]!.last}` : `rows ${s}..${end - 1}`;
        warnings.push(
          `dropped the ${order ? "unfinished" : "last"} episode (${episodeName} ${idOf(s)}, ${where}, ${end - s} steps): ` +
            `no terminal or timeout flag ends it, so it is unfinished (keep it with --keep-partial)`,
        );
      }
      ranges = ranges.filter((_, i) => !unfinished.has(i));
    }
  } else if (terminals || timeouts) {
    const split = splitAtFlags(rows, terminals, timeouts, options.keepPartial ?? false);
    for (const range of split.ranges) ranges.push(range); // one per episode: too many to spread as arguments
    droppedPartialSteps = split.droppedPartialSteps;
    warnings.push(...split.warnings);
  } else {
    throw new InputError(
      `${file}: cannot tell where episodes end: expected an episode id column (episode_id, episode, ...; or --episode-column) ` +
        `or terminal/timeout flag columns (terminals, terminated, dones, timeouts, truncated, ...), but found columns: ${names.map((n) => `"${n}"`).join(", ")}` +
        `${setAsideNote(cols, ["episode", "terminals", "timeouts"])}.`,
    );
  }
  if (sorted) {
    warnings.push(
      `the rows of episode ${sorted.firstUnsorted} ${sorted.unsortedEpisodes > 1 ? `and ${sorted.unsortedEpisodes - 1} more ` : ""}are not in step order` +
        `${interleaved ? ", and episodes' rows are interleaved" : ""}: each episode's rows were taken in the order of column "${stepName}"`,
    );
  } else if (interleaved) {
    warnings.push(`the rows of its episodes are interleaved (as a vectorised logger writes them): each episode's rows were taken in file order`);
  }

  if (ids === undefined) checkSteps(ranges);

  const obsValues = grouped(obs.values, obsDim);
  const actValues = grouped(act.values as Float32Array, actWidth);
  const rewValues = grouped(rew.values as Float64Array, 1);
  const episodes: RawEpisode[] = ranges.map(([start, end]) => ({
    length: end - start,
    observations: obsValues.subarray(start * obsDim, end * obsDim),
    actions: actValues.subarray(start * actWidth, end * actWidth),
    rewards: rewValues.subarray(start, end),
    terminated: terminals !== null && terminals[end - 1]! !== 0,
    truncated: timeouts !== null && timeouts[end - 1]! !== 0,
    locate: (t) => `row ${rowInFile(start + t)}`,
  }));
  const used: Record<string, string> = { observations: obsName, actions: actName, rewards: rewName };
  if (termName) used["terminals"] = termName;
  if (timeoutName) used["timeouts"] = timeoutName;
  if (episodeName) used["episode"] = episodeName;
  if (stepName) used["step"] = stepName;
  return {
    file,
    format,
    layout: "per-step",
    columns: used,
    obsDim,
    actWidth,
    actionsIntegerTyped: act.integerTyped,
    episodes,
    droppedPartialSteps,
    warnings,
    ...(obs.parts ? { observationParts: obs.parts } : {}),
    ...(obsNames.length > 1 || actNames.length > 1
      ? { spreadColumns: { ...(obsNames.length > 1 ? { observations: obsNames } : {}), ...(actNames.length > 1 ? { actions: actNames } : {}) } }
      : {}),
  };
}

/** Steps a row of a per-episode list column holds (level-0 offsets). */
function stepsOf(nested: NestedNumbers, row: number): number {
  return nested.offsets[0]![row + 1]! - nested.offsets[0]![row]!;
}

/** Width of per-step vectors inside a per-episode column (1 for a list of scalars); ragged is an error. */
function perEpisodeWidth(file: string, name: string, nested: NestedNumbers): number {
  if (nested.offsets.length === 1) return 1;
  if (nested.offsets.length !== 2) {
    throw new InputError(`${file}: column "${name}" is nested ${nested.offsets.length} lists deep; a per-episode column holds a list of steps, each a number or a list of numbers.`);
  }
  const [episodes, steps] = nested.offsets as [Int32Array, Int32Array];
  let width = -1;
  for (let e = 0; e < nested.rows; e++) {
    for (let s = episodes[e]!; s < episodes[e + 1]!; s++) {
      const w = steps[s + 1]! - steps[s]!;
      if (width === -1) width = w;
      else if (w !== width) {
        throw new InputError(
          `${file}: column "${name}" has ${w} values at row ${e} (episode ${e}) step ${s - episodes[e]!}, but ${width} earlier; every step must have the same width (ragged ${name}).`,
        );
      }
    }
  }
  return Math.max(width, 0);
}

/** Episodes of a table of an episode a row; `layoutSign` says what showed the layout. */
function readPerEpisode(file: string, format: SourceFormat, table: Table, names: string[], options: ArrowReadOptions, layoutSign: string): RawDataset {
  const cols = options.columns ?? {};
  refuseIdColumns(file, cols, `this file holds an episode a row (${layoutSign})`);
  const { observations: obsName, actions: actName, rewards: rewName, terminals: termName, timeouts: timeoutName } = requireStepColumns(file, names, cols);

  const listColumn = (name: string, valueType: "f32" | "f64"): NestedNumbers => {
    const nested = flattenNumbers(file, name, column(table, name), valueType);
    if (nested.offsets.length === 0) {
      // Told by the observations alone, the layout may be a misreading of one 2-D observation a step.
      const perStepAfterAll =
        layoutSign === OBSERVATION_EPISODES
          ? ` If a row is one step whose observation is a list of lists (a 2-D observation), flatten it to one list a row (row-major: numpy's reshape(steps, -1)).`
          : "";
      throw new InputError(`${file}: column "${name}" has type ${String(column(table, name).type)}; in the per-episode layout (one row an episode: ${layoutSign}) it must be a list of steps.${perStepAfterAll}`);
    }
    return nested;
  };
  const obs = listColumn(obsName, "f32");
  const act = listColumn(actName, "f32");
  const rew = listColumn(rewName, "f64");
  const term = termName !== undefined ? listColumn(termName, "f32") : null;
  const timeout = timeoutName !== undefined ? listColumn(timeoutName, "f32") : null;
  const obsDim = perEpisodeWidth(file, obsName, obs);
  const actWidth = perEpisodeWidth(file, actName, act);
  if (perEpisodeWidth(file, rewName, rew) !== 1) throw new InputError(`${file}: column "${rewName}" holds several values a step; expected one reward a step.`);

  // Flat index of the first leaf value of (row, step) for columns with and without vector steps.
  const leafIndex = (nested: NestedNumbers, row: number, step: number): number => {
    const s = nested.offsets[0]![row]! + step;
    return nested.offsets.length === 2 ? nested.offsets[1]![s]! : s;
  };
  const episodes: RawEpisode[] = [];
  for (let e = 0; e < table.numRows; e++) {
    const length = stepsOf(rew, e);
    const present = ([[obsName, obs], [actName, act], [rewName, rew], [termName, term], [timeoutName, timeout]] as const).filter(
      (column): column is readonly [string, NestedNumbers] => column[1] !== null,
    );
    // Observations may hold one more step (the final one).
    const fits = (nested: NestedNumbers): boolean => stepsOf(nested, e) === length || (nested === obs && stepsOf(nested, e) === length + 1);
    if (!present.every(([, nested]) => fits(nested))) {
      // Which column is off cannot be told from one row: each is named with its count.
      const counts = present.map(([name, nested]) => `"${name}" ${stepsOf(nested, e)}`);
      throw new InputError(
        `${file}: row ${e} (episode ${e}): its columns hold different numbers of steps (${counts.join(", ")}); ` +
          "expected the same number in each, observations one more if they include the final one (mismatched lengths).",
      );
    }
    const lastFlag = (nested: NestedNumbers | null): boolean => nested !== null && length > 0 && nested.values[leafIndex(nested, e, length - 1)]! !== 0;
    const obsStart = leafIndex(obs, e, 0);
    const actStart = leafIndex(act, e, 0);
    const rewStart = leafIndex(rew, e, 0);
    episodes.push({
      length,
      observations: (obs.values as Float32Array).subarray(obsStart, obsStart + length * obsDim),
      actions: (act.values as Float32Array).subarray(actStart, actStart + length * actWidth),
      rewards: (rew.values as Float64Array).subarray(rewStart, rewStart + length),
      terminated: lastFlag(term),
      truncated: lastFlag(timeout),
      locate: (t) => `row ${e} (episode ${e}) step ${t}`,
    });
  }
  const used: Record<string, string> = { observations: obsName, actions: actName, rewards: rewName };
  if (termName) used["terminals"] = termName;
  if (timeoutName) used["timeouts"] = timeoutName;
  return {
    file,
    format,
    layout: "per-episode",
    columns: used,
    obsDim,
    actWidth,
    actionsIntegerTyped: act.integerTyped,
    episodes,
    droppedPartialSteps: 0,
    warnings: ambiguousEndsWarning(termName, timeoutName),
  };
}

/** The most fs.readFile reads (2 GiB); larger files are refused before reading. */
export const MAX_WHOLE_FILE_BYTES = 2 ** 31 - 1;

/** What to do with a file too large to be read whole. */
export function tooLargeError(file: string, bytes: number, kind: string): InputError {
  return new InputError(
    `${file}: the ${kind} is ${bytes} bytes; snndt reads such files whole, up to ${MAX_WHOLE_FILE_BYTES} bytes (2 GiB). ` +
      `Split it into several files, or convert it to HDF5 (read in slices).`,
  );
}

/** Read and parse an Arrow IPC file or stream (codecs registered, truncation reported). */
export async function parseArrowFile(file: string, format: SourceFormat): Promise<Table> {
  const { size } = await fs.stat(file);
  if (size > MAX_WHOLE_FILE_BYTES) throw tooLargeError(file, size, format === "arrow-file" ? "Arrow IPC file" : "Arrow IPC stream");
  return parseTable(file, format, await fs.readFile(file));
}

/** True if every row of the list column `name` holds exactly one value (an episode a row cannot be that). */
function everyRowHoldsOne(file: string, name: string, table: Table): boolean {
  const rows = flattenNumbers(file, name, column(table, name), "f64").offsets[0]!;
  for (let r = 0; r + 1 < rows.length; r++) if (rows[r + 1]! - rows[r]! !== 1) return false;
  return rows.length > 1;
}

/** What shows the per-episode layout when the rewards do not. */
const OBSERVATION_EPISODES = "its observations are lists of steps";

/**
 * The columns that tell the layout: the rewards, and the observations unless several columns are
 * given for them (per-step scalars). One that cannot be found leaves the layout unknown; the file is
 * then told of every column it lacks as a table of a row a step, the layout most files have.
 */
function layoutColumns(file: string, names: readonly string[], cols: ColumnNames): { rewName: string; obsName: string | undefined } {
  try {
    return {
      rewName: requireColumn(file, names, "rewards", cols),
      obsName: cols.observations?.includes(",") ? undefined : findColumn(file, names, "observations", cols),
    };
  } catch (err) {
    if (err instanceof MissingColumnError) perStepColumns(file, names, cols);
    throw err;
  }
}

/** Episodes of a parsed Arrow table, in whichever layout it has. */
export function rawFromTable(file: string, format: SourceFormat, table: Table, given: ArrowReadOptions = {}): RawDataset {
  // snndt's own steps files (prepare-dataset, collect; "snndt." metadata) hold only episodes kept on
  // purpose: an unfinished one there was kept with --keep-partial.
  const ownFile = [...table.schema.metadata.keys()].some((key) => key.startsWith("snndt."));
  const options = ownFile ? { ...given, keepPartial: true } : given;
  const names = table.schema.fields.map((f) => f.name);
  const cols = options.columns ?? {};
  const { rewName, obsName } = layoutColumns(file, names, cols);
  const rewType = column(table, rewName).type;
  // A FixedSizeList[1] reward is one number a step: per step. So is a List reward of one value in
  // every row beside observations one list deep: pyarrow writes 2-D numpy columns (D4RL's rewards of
  // shape (N, 1)) as lists. Per-episode observations are lists of steps of vectors, two lists deep.
  const obsType = obsName === undefined ? null : column(table, obsName).type;
  const vectorSteps = obsType !== null && listDepth(obsType).depth <= 1;
  const rewardEpisodes = listDepth(rewType).depth >= 1 && rewType.typeId !== Type.FixedSizeList && !(vectorSteps && everyRowHoldsOne(file, rewName, table));
  // Observations as lists (of any length) of vectors are episodes, whatever the reward column holds:
  // given one that is no list, the reward column is then the one to blame. (A list of fixed size of
  // vectors is one multi-axis observation a row.)
  const observationEpisodes = obsType !== null && listDepth(obsType).depth >= 2 && obsType.typeId !== Type.FixedSizeList;
  const raw =
    rewardEpisodes || observationEpisodes
      ? readPerEpisode(file, format, table, names, options, rewardEpisodes ? "its rewards are lists of steps" : OBSERVATION_EPISODES)
      : readPerStep(file, format, table, names, options);
  const collectedBy = collectedByOf(table.schema.metadata);
  return collectedBy ? { ...raw, collectedBy } : raw;
}

/** Read an Arrow IPC file or stream in either layout. */
export async function readArrow(file: string, format: SourceFormat, options: ArrowReadOptions = {}): Promise<RawDataset> {
  return rawFromTable(file, format, await parseArrowFile(file, format), options);
}
